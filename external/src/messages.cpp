#include "messages.hpp"

#include <array>
#include <chrono>
#include <limits>
#include <vector>

namespace execkit::external {
namespace {

using std::chrono::steady_clock;

std::string within(const std::string& context) { return context.empty() ? "" : " in " + context; }

std::vector<std::string> string_list(const Json& object, const char* name, const std::string& context) {
  const auto& list = member(object, name, context);
  if (!list.is_array()) throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is not an array");
  std::vector<std::string> out;
  for (const auto& item : list) {
    if (!item.is_string()) throw ProtocolError("an entry of '" + std::string(name) + "'" + within(context) + " is not a string");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::optional<int> optional_int(const Json& object, const char* name, const std::string& context) {
  if (!object.contains(name) || object.at(name).is_null()) return std::nullopt;
  const auto value = integer_member(object, name, context);
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
    throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is out of range");
  }
  return static_cast<int>(value);
}

std::string optional_string(const Json& object, const char* name, const std::string& context) {
  return object.contains(name) ? string_member(object, name, context) : std::string();
}

ResultError::Reason reason_from(const std::string& text, const std::string& context) {
  if (text == "too_large") return ResultError::Reason::too_large;
  if (text == "write_failed") return ResultError::Reason::write_failed;
  if (text == "unreadable") return ResultError::Reason::unreadable;
  throw ProtocolError("unknown result error reason '" + text + "'" + within(context));
}

const char* reason_name(ResultError::Reason reason) {
  switch (reason) {
    case ResultError::Reason::too_large: return "too_large";
    case ResultError::Reason::write_failed: return "write_failed";
    case ResultError::Reason::unreadable: return "unreadable";
  }
  return "unreadable";
}

// ConfigError's text is "invalid <setting>=<quoted value>: <why>"; the wire carries why.
std::string config_reason(const ConfigError& error) {
  const std::string text = error.what();
  const std::string prefix = "invalid " + error.setting() + "=";
  if (!text.starts_with(prefix) || text.size() <= prefix.size() || text[prefix.size()] != '"') return text;
  // The value is quoted with '"' and '\\' escaped, and may hold '": ' itself.
  for (auto i = prefix.size() + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return text.compare(i + 1, 2, ": ") == 0 ? text.substr(i + 3) : text;
    }
  }
  return text;
}

}  // namespace

Json parse_message(const std::string& line, const std::string& what) {
  Json message = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) throw ProtocolError(what + " is not valid JSON: " + line.substr(0, 200));
  if (!message.is_object()) throw ProtocolError(what + " is not a JSON object: " + line.substr(0, 200));
  return message;
}

std::string type_of(const Json& message) { return string_member(message, "type", "a message"); }

const Json& member(const Json& object, const char* name, const std::string& context) {
  const auto it = object.find(name);
  if (it == object.end()) throw ProtocolError("member '" + std::string(name) + "' is missing" + within(context));
  return *it;
}

std::string string_member(const Json& object, const char* name, const std::string& context) {
  const auto& value = member(object, name, context);
  if (!value.is_string()) throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is not a string");
  return value.get<std::string>();
}

bool bool_member(const Json& object, const char* name, const std::string& context) {
  const auto& value = member(object, name, context);
  if (!value.is_boolean()) throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is not true or false");
  return value.get<bool>();
}

std::uint64_t unsigned_member(const Json& object, const char* name, const std::string& context) {
  const auto& value = member(object, name, context);
  if (!value.is_number_unsigned()) {
    throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is not an unsigned integer");
  }
  return value.get<std::uint64_t>();
}

std::int64_t integer_member(const Json& object, const char* name, const std::string& context) {
  const auto& value = member(object, name, context);
  if (!value.is_number_integer()) throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is not an integer");
  if (value.is_number_unsigned() && value.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
    throw ProtocolError("member '" + std::string(name) + "'" + within(context) + " is out of range");
  }
  return value.get<std::int64_t>();
}

Json encode_config(const WorkerConfig& config) {
  return Json{{"max_workers", config.max_workers},
              {"idle_timeout_ms", config.idle_timeout.count()},
              {"spill_dir", config.spill_dir.string()},
              {"env_whitelist", config.env_whitelist},
              {"env_prefixes", config.env_prefixes},
              {"enable_pdeathsig", config.enable_pdeathsig},
              {"pool_id", config.pool_id},
              {"node_id", config.node_id},
              {"base_dir", config.base_dir.string()},
              {"max_result_bytes", config.max_result_bytes},
              {"stderr_tail_bytes", config.stderr_tail_bytes}};
}

WorkerConfig decode_config(const Json& config, WorkerConfig defaults) {
  const std::string context = "the configuration";
  if (!config.is_object()) throw ProtocolError("the configuration is not an object");
  WorkerConfig out = std::move(defaults);
  if (config.contains("max_workers")) out.max_workers = unsigned_member(config, "max_workers", context);
  if (config.contains("idle_timeout_ms")) {
    out.idle_timeout = std::chrono::milliseconds(integer_member(config, "idle_timeout_ms", context));
  }
  if (config.contains("spill_dir")) out.spill_dir = string_member(config, "spill_dir", context);
  if (config.contains("env_whitelist")) {
    const auto names = string_list(config, "env_whitelist", context);
    out.env_whitelist = {names.begin(), names.end()};
  }
  if (config.contains("env_prefixes")) out.env_prefixes = string_list(config, "env_prefixes", context);
  if (config.contains("enable_pdeathsig")) out.enable_pdeathsig = bool_member(config, "enable_pdeathsig", context);
  if (config.contains("pool_id")) out.pool_id = string_member(config, "pool_id", context);
  if (config.contains("node_id")) out.node_id = string_member(config, "node_id", context);
  if (config.contains("base_dir")) out.base_dir = string_member(config, "base_dir", context);
  if (config.contains("max_result_bytes")) out.max_result_bytes = unsigned_member(config, "max_result_bytes", context);
  if (config.contains("stderr_tail_bytes")) out.stderr_tail_bytes = unsigned_member(config, "stderr_tail_bytes", context);
  return out;
}

Json encode_submit(std::uint64_t id, const Call& call, Deadline deadline) {
  Json search_path = Json::array();
  for (const auto& dir : call.search_path) search_path.push_back(dir.string());
  Json env_updates = Json::object();
  for (const auto& [name, value] : call.env_updates) env_updates[name] = value ? Json(*value) : Json(nullptr);
  Json timeout = nullptr;
  if (!deadline.is_never()) {
    timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.at - steady_clock::now()).count();
  }
  return Json{{"type", "submit"},
              {"id", id},
              {"module", call.module},
              {"function", call.function},
              {"input", base64_encode(call.input.data(), call.input.size())},
              {"search_path", std::move(search_path)},
              {"env_updates", std::move(env_updates)},
              {"cwd", call.cwd ? Json(call.cwd->string()) : Json(nullptr)},
              {"timeout_ns", std::move(timeout)}};
}

std::size_t submit_size_bound(const Call& call) {
  // A JSON string escapes a byte into at most 6 ("\u00XX"); the rest of the
  // message (keys, id, timeout, punctuation) is under 256 bytes.
  constexpr std::size_t escaped = 6, quoted_overhead = 3, fixed = 256;
  std::size_t bound = fixed + (call.input.size() + 2) / 3 * 4;
  const auto text = [&](const std::string& value) { bound += value.size() * escaped + quoted_overhead; };
  text(call.module);
  text(call.function);
  for (const auto& dir : call.search_path) text(dir.string());
  for (const auto& [name, value] : call.env_updates) {
    text(name);
    text(value.value_or("null"));
  }
  if (call.cwd) text(call.cwd->string());
  return bound;
}

WireCall decode_submit(const Json& message) {
  WireCall out;
  out.id = unsigned_member(message, "id", "submit");
  const std::string context = "submit " + std::to_string(out.id);
  out.call.module = string_member(message, "module", context);
  out.call.function = string_member(message, "function", context);
  const auto input = base64_decode(string_member(message, "input", context), context + " member 'input'");
  const auto* first = reinterpret_cast<const std::byte*>(input.data());
  out.call.input.assign(first, first + input.size());
  for (auto& dir : string_list(message, "search_path", context)) out.call.search_path.emplace_back(std::move(dir));
  const auto& env_updates = member(message, "env_updates", context);
  if (!env_updates.is_object()) throw ProtocolError("member 'env_updates' in " + context + " is not an object");
  for (const auto& [name, value] : env_updates.items()) {
    if (value.is_null()) {
      out.call.env_updates[name] = std::nullopt;
    } else if (value.is_string()) {
      out.call.env_updates[name] = value.get<std::string>();
    } else {
      throw ProtocolError("env_updates['" + name + "'] in " + context + " is neither a string nor null");
    }
  }
  const auto& cwd = member(message, "cwd", context);
  if (cwd.is_string()) {
    out.call.cwd = cwd.get<std::string>();
  } else if (!cwd.is_null()) {
    throw ProtocolError("member 'cwd' in " + context + " is neither a string nor null");
  }
  if (!member(message, "timeout_ns", context).is_null()) out.timeout_ns = integer_member(message, "timeout_ns", context);
  return out;
}

Deadline deadline_from(std::optional<std::int64_t> timeout_ns) {
  if (!timeout_ns) return Deadline::never();
  return Deadline{steady_clock::now() + std::chrono::nanoseconds(*timeout_ns)};
}

Json encode_metrics(const ExecutionMetrics& metrics) {
  return Json{{"peak_rss_kib", metrics.peak_rss_kib},   {"user_time_us", metrics.user_time_us},
              {"system_time_us", metrics.system_time_us}, {"started_at_ns", metrics.started_at_ns},
              {"finished_at_ns", metrics.finished_at_ns}, {"wall_time_ns", metrics.wall_time_ns},
              {"worker_pid", metrics.worker_pid},         {"worker_id", metrics.worker_id},
              {"node_id", metrics.node_id}};
}

ExecutionMetrics decode_metrics(const Json& metrics, const std::string& context) {
  const std::string where = "the metrics of " + context;
  if (!metrics.is_object()) throw ProtocolError(where + " are not an object");
  ExecutionMetrics out;
  out.peak_rss_kib = integer_member(metrics, "peak_rss_kib", where);
  out.user_time_us = integer_member(metrics, "user_time_us", where);
  out.system_time_us = integer_member(metrics, "system_time_us", where);
  out.started_at_ns = integer_member(metrics, "started_at_ns", where);
  out.finished_at_ns = integer_member(metrics, "finished_at_ns", where);
  out.wall_time_ns = integer_member(metrics, "wall_time_ns", where);
  const auto pid = integer_member(metrics, "worker_pid", where);
  if (pid < 0 || pid > std::numeric_limits<pid_t>::max()) throw ProtocolError("member 'worker_pid' in " + where + " is out of range");
  out.worker_pid = static_cast<pid_t>(pid);
  out.worker_id = string_member(metrics, "worker_id", where);
  out.node_id = string_member(metrics, "node_id", where);
  return out;
}

Json encode_error(const Error& error) {
  Json out{{"kind", to_string(error.kind())}, {"message", error.what()}};
  if (const auto* task = dynamic_cast<const TaskError*>(&error)) {
    out["error_type"] = task->type();
    out["error_message"] = task->message();
    out["stderr_tail"] = task->stderr_tail();
    out["metrics"] = encode_metrics(task->metrics());
  } else if (const auto* crash = dynamic_cast<const WorkerCrashed*>(&error)) {
    out["term_signal"] = crash->term_signal() ? Json(*crash->term_signal()) : Json(nullptr);
    out["exit_status"] = crash->exit_status() ? Json(*crash->exit_status()) : Json(nullptr);
    out["stderr_tail"] = crash->stderr_tail();
  } else if (const auto* result = dynamic_cast<const ResultError*>(&error)) {
    out["reason"] = reason_name(result->reason());
  } else if (const auto* config = dynamic_cast<const ConfigError*>(&error)) {
    out["setting"] = config->setting();
    out["value"] = config->value();
    out["message"] = config_reason(*config);
  }
  return out;
}

std::shared_ptr<const Error> decode_error(const Json& error, const std::string& context) {
  const std::string where = "the error of " + context;
  if (!error.is_object()) throw ProtocolError(where + " is not an object");
  const auto kind = string_member(error, "kind", where);
  const auto message = string_member(error, "message", where);
  if (kind == "task") {
    return std::make_shared<TaskError>(string_member(error, "error_type", where), string_member(error, "error_message", where),
                                       optional_string(error, "stderr_tail", where),
                                       decode_metrics(member(error, "metrics", where), context));
  }
  if (kind == "timeout") return std::make_shared<TimeoutError>(message);
  if (kind == "cancelled") return std::make_shared<CancelledError>(message);
  if (kind == "worker_crashed") {
    const auto term_signal = optional_int(error, "term_signal", where);
    const auto exit_status = optional_int(error, "exit_status", where);
    if (term_signal && exit_status) throw ProtocolError(where + " has both a term_signal and an exit_status");
    if (!term_signal && !exit_status) return std::make_shared<WorkerCrashed>(message);
    return std::make_shared<WorkerCrashed>(term_signal, exit_status, optional_string(error, "stderr_tail", where));
  }
  if (kind == "result") return std::make_shared<ResultError>(reason_from(string_member(error, "reason", where), where), message);
  if (kind == "spill") return std::make_shared<SpillError>(message);
  if (kind == "backend_closed") return std::make_shared<BackendClosed>(message);
  if (kind == "config") {
    return std::make_shared<ConfigError>(string_member(error, "setting", where), string_member(error, "value", where), message);
  }
  throw ProtocolError("unknown error kind '" + kind + "' in " + where);
}

namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
}  // namespace

std::string base64_encode(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    const std::uint32_t group = (std::uint32_t{bytes[i]} << 16) | (i + 1 < size ? std::uint32_t{bytes[i + 1]} << 8 : 0) |
                                (i + 2 < size ? std::uint32_t{bytes[i + 2]} : 0);
    out += alphabet[(group >> 18) & 63];
    out += alphabet[(group >> 12) & 63];
    out += i + 1 < size ? alphabet[(group >> 6) & 63] : '=';
    out += i + 2 < size ? alphabet[group & 63] : '=';
  }
  return out;
}

std::string base64_decode(const std::string& text, const std::string& context) {
  if (text.size() % 4 != 0) throw ProtocolError(context + " is not base64: its length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    std::array<int, 4> values{};
    int padding = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      const bool last_group = i + 4 == text.size();
      if (c == '=' && last_group && j >= 2 && (j == 3 || text[i + 3] == '=')) {
        ++padding;
        values[j] = 0;
        continue;
      }
      values[j] = sextet(c);
      if (values[j] < 0 || padding > 0) throw ProtocolError(context + " is not base64: bad character at offset " + std::to_string(i + j));
    }
    const std::uint32_t group = (std::uint32_t(values[0]) << 18) | (std::uint32_t(values[1]) << 12) |
                                (std::uint32_t(values[2]) << 6) | std::uint32_t(values[3]);
    out += static_cast<char>((group >> 16) & 0xff);
    if (padding < 2) out += static_cast<char>((group >> 8) & 0xff);
    if (padding < 1) out += static_cast<char>(group & 0xff);
  }
  return out;
}

}  // namespace execkit::external
