#include "wire.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace execkit::redis::wire {
namespace {

constexpr std::string_view kind_field = "kind";

class FieldReader {
 public:
  explicit FieldReader(const Fields& fields) : fields_(fields) {}

  std::optional<std::string_view> maybe(std::string_view name) const {
    for (const auto& [key, value] : fields_)
      if (key == name) return std::string_view(value);
    return std::nullopt;
  }
  std::string_view need(std::string_view name) const {
    if (auto value = maybe(name)) return *value;
    throw WireError("entry has no field '" + std::string(name) + "'");
  }
  template <class Int>
  Int need_int(std::string_view name) const {
    return parse_int<Int>(name, need(name));
  }
  template <class Int>
  std::optional<Int> maybe_int(std::string_view name) const {
    if (auto value = maybe(name)) return parse_int<Int>(name, *value);
    return std::nullopt;
  }

 private:
  template <class Int>
  static Int parse_int(std::string_view name, std::string_view text) {
    Int value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
      throw WireError("field '" + std::string(name) + "' is not an integer: '" + std::string(text.substr(0, 40)) + "'");
    return value;
  }
  const Fields& fields_;
};

void put(Fields& out, std::string_view name, std::string value) { out.emplace_back(std::string(name), std::move(value)); }
void put(Fields& out, std::string_view name, std::int64_t value) { put(out, name, std::to_string(value)); }

void check_version(const FieldReader& in) {
  const auto v = in.maybe("v");
  if (!v) throw WireError("entry has no version field 'v'");
  if (*v != version)
    throw WireError("unsupported wire version '" + std::string(v->substr(0, 20)) + "' (this build speaks " +
                    std::string(version) + ")");
}

void check_kind(const FieldReader& in, std::string_view expected) {
  const auto kind = in.need(kind_field);
  if (kind != expected)
    throw WireError("entry of kind '" + std::string(kind.substr(0, 20)) + "' where '" + std::string(expected) + "' was expected");
}

std::vector<std::string_view> split_nul(std::string_view text) {
  std::vector<std::string_view> parts;
  if (text.empty()) return parts;
  std::size_t start = 0;
  while (true) {
    const auto nul = text.find('\0', start);
    parts.push_back(text.substr(start, nul == std::string_view::npos ? std::string_view::npos : nul - start));
    if (nul == std::string_view::npos) return parts;
    start = nul + 1;
  }
}

template <class Range, class ToText>
std::string join_nul(const Range& range, ToText to_text) {
  std::string out;
  bool first = true;
  for (const auto& item : range) {
    if (!first) out += '\0';
    first = false;
    out += to_text(item);
  }
  return out;
}

std::string encode_env(const std::map<std::string, std::optional<std::string>>& updates) {
  return join_nul(updates, [](const auto& update) {
    return update.second ? update.first + "=" + *update.second : update.first;
  });
}

std::map<std::string, std::optional<std::string>> decode_env(std::string_view text) {
  std::map<std::string, std::optional<std::string>> updates;
  for (const auto item : split_nul(text)) {
    const auto eq = item.find('=');
    const auto name = item.substr(0, eq);
    if (name.empty()) throw WireError("field 'env' has an update with an empty name");
    updates[std::string(name)] =
        eq == std::string_view::npos ? std::nullopt : std::optional<std::string>(std::string(item.substr(eq + 1)));
  }
  return updates;
}

const char* reason_text(ResultError::Reason reason) {
  switch (reason) {
    case ResultError::Reason::too_large: return "too_large";
    case ResultError::Reason::write_failed: return "write_failed";
    case ResultError::Reason::unreadable: return "unreadable";
  }
  return "unreadable";
}

ResultError::Reason reason_from(std::string_view text) {
  if (text == "too_large") return ResultError::Reason::too_large;
  if (text == "write_failed") return ResultError::Reason::write_failed;
  if (text == "unreadable") return ResultError::Reason::unreadable;
  throw WireError("field 'e.reason' has an unknown value '" + std::string(text.substr(0, 20)) + "'");
}

}  // namespace

bool valid_pool_name(std::string_view pool) {
  return !pool.empty() && pool.size() <= 64 && std::all_of(pool.begin(), pool.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

Keys::Keys(std::string_view pool) : prefix_("execkit:" + std::string(pool) + ":") {
  calls = prefix_ + "calls";
  cancels = prefix_ + "cancel";
}
std::string Keys::reply(std::string_view caller) const { return prefix_ + "reply:" + std::string(caller); }
std::string Keys::caller(std::string_view caller) const { return prefix_ + "caller:" + std::string(caller); }
std::string Keys::node(std::string_view node) const { return prefix_ + "node:" + std::string(node); }
std::string Keys::credit(std::string_view call) const { return prefix_ + "credit:" + std::string(call); }

Fields encode(const CallRequest& request) {
  Fields out;
  put(out, "v", std::string(version));
  put(out, kind_field, "call");
  put(out, "call", request.call_id);
  put(out, "caller", request.caller_id);
  put(out, "module", request.call.module);
  put(out, "function", request.call.function);
  put(out, "input", std::string(reinterpret_cast<const char*>(request.call.input.data()), request.call.input.size()));
  put(out, "path", join_nul(request.call.search_path, [](const auto& p) { return p.string(); }));
  put(out, "env", encode_env(request.call.env_updates));
  if (request.call.cwd) put(out, "cwd", request.call.cwd->string());
  put(out, "deadline_us", request.deadline_us);
  put(out, "max_result", std::to_string(request.max_result_bytes));
  put(out, "stderr_tail", std::to_string(request.stderr_tail_bytes));
  return out;
}

CallRequest decode_call(const Fields& fields) {
  const FieldReader in(fields);
  check_version(in);
  check_kind(in, "call");
  CallRequest request;
  request.call_id = std::string(in.need("call"));
  request.caller_id = std::string(in.need("caller"));
  if (request.call_id.empty() || request.caller_id.empty()) throw WireError("entry has an empty call or caller id");
  request.call.module = std::string(in.need("module"));
  request.call.function = std::string(in.need("function"));
  const auto input = in.need("input");
  const auto* first = reinterpret_cast<const std::byte*>(input.data());
  request.call.input.assign(first, first + input.size());
  for (const auto part : split_nul(in.need("path"))) request.call.search_path.emplace_back(std::string(part));
  request.call.env_updates = decode_env(in.need("env"));
  if (auto cwd = in.maybe("cwd")) request.call.cwd = std::string(*cwd);
  request.deadline_us = in.need_int<std::int64_t>("deadline_us");
  request.max_result_bytes = in.need_int<std::uint64_t>("max_result");
  request.stderr_tail_bytes = in.need_int<std::uint64_t>("stderr_tail");
  return request;
}

Fields encode(const CancelRequest& request) {
  Fields out;
  put(out, "v", std::string(version));
  put(out, kind_field, "cancel");
  put(out, "call", request.call_id);
  put(out, "caller", request.caller_id);
  return out;
}

CancelRequest decode_cancel(const Fields& fields) {
  const FieldReader in(fields);
  check_version(in);
  check_kind(in, "cancel");
  return {std::string(in.need("call")), std::string(in.need("caller"))};
}

void encode_metrics(const ExecutionMetrics& m, Fields& out) {
  put(out, "m.rss", m.peak_rss_kib);
  put(out, "m.utime", m.user_time_us);
  put(out, "m.stime", m.system_time_us);
  put(out, "m.start", m.started_at_ns);
  put(out, "m.end", m.finished_at_ns);
  put(out, "m.wall", m.wall_time_ns);
  put(out, "m.pid", std::int64_t{m.worker_pid});
  put(out, "m.worker", m.worker_id);
  put(out, "m.node", m.node_id);
}

ExecutionMetrics decode_metrics(const Fields& fields) {
  const FieldReader in(fields);
  ExecutionMetrics m;
  m.peak_rss_kib = in.need_int<std::int64_t>("m.rss");
  m.user_time_us = in.need_int<std::int64_t>("m.utime");
  m.system_time_us = in.need_int<std::int64_t>("m.stime");
  m.started_at_ns = in.need_int<std::int64_t>("m.start");
  m.finished_at_ns = in.need_int<std::int64_t>("m.end");
  m.wall_time_ns = in.need_int<std::int64_t>("m.wall");
  m.worker_pid = in.need_int<pid_t>("m.pid");
  m.worker_id = std::string(in.need("m.worker"));
  m.node_id = std::string(in.need("m.node"));
  return m;
}

void encode_error(const Error& error, Fields& out) {
  put(out, "e.kind", to_string(error.kind()));
  put(out, "e.what", error.what());
  if (const auto* task = dynamic_cast<const TaskError*>(&error)) {
    put(out, "e.type", task->type());
    put(out, "e.message", task->message());
    put(out, "e.tail", task->stderr_tail());
    encode_metrics(task->metrics(), out);
  } else if (const auto* crashed = dynamic_cast<const WorkerCrashed*>(&error)) {
    if (crashed->term_signal()) put(out, "e.signal", std::int64_t{*crashed->term_signal()});
    if (crashed->exit_status()) put(out, "e.status", std::int64_t{*crashed->exit_status()});
    put(out, "e.tail", crashed->stderr_tail());
  } else if (const auto* result = dynamic_cast<const ResultError*>(&error)) {
    put(out, "e.reason", reason_text(result->reason()));
  } else if (const auto* config = dynamic_cast<const ConfigError*>(&error)) {
    put(out, "e.setting", config->setting());
    put(out, "e.value", config->value());
  }
}

std::shared_ptr<const Error> decode_error(const Fields& fields) {
  const FieldReader in(fields);
  const auto kind = in.need("e.kind");
  const std::string what(in.need("e.what"));
  if (kind == "task")
    return std::make_shared<TaskError>(std::string(in.need("e.type")), std::string(in.need("e.message")),
                                       std::string(in.need("e.tail")), decode_metrics(fields));
  if (kind == "worker_crashed") {
    const auto signal = in.maybe_int<int>("e.signal");
    const auto status = in.maybe_int<int>("e.status");
    if (!signal && !status) return std::make_shared<WorkerCrashed>(what);
    return std::make_shared<WorkerCrashed>(signal, signal ? std::nullopt : status, std::string(in.need("e.tail")));
  }
  if (kind == "timeout") return std::make_shared<TimeoutError>(what);
  if (kind == "cancelled") return std::make_shared<CancelledError>(what);
  if (kind == "result") return std::make_shared<ResultError>(reason_from(in.need("e.reason")), what);
  if (kind == "spill") return std::make_shared<SpillError>(what);
  if (kind == "backend_closed") return std::make_shared<BackendClosed>(what);
  if (kind == "config") return std::make_shared<ConfigError>(std::string(in.need("e.setting")), std::string(in.need("e.value")), what);
  throw WireError("field 'e.kind' has an unknown value '" + std::string(kind.substr(0, 20)) + "'");
}

Fields encode(const Reply& reply) {
  Fields out;
  put(out, "v", std::string(version));
  put(out, "call", reply.call_id);
  switch (reply.kind) {
    case Reply::Kind::claimed:
      put(out, kind_field, "claimed");
      put(out, "node", reply.node_id);
      put(out, "token", reply.node_token);
      break;
    case Reply::Kind::begin:
      put(out, kind_field, "begin");
      put(out, "size", std::to_string(reply.size));
      break;
    case Reply::Kind::chunk:
      put(out, kind_field, "chunk");
      put(out, "data", reply.data);
      break;
    case Reply::Kind::ok:
      put(out, kind_field, "ok");
      put(out, "size", std::to_string(reply.size));
      put(out, "chunked", reply.chunked ? "1" : "0");
      if (!reply.chunked) put(out, "data", reply.data);
      encode_metrics(reply.metrics, out);
      break;
    case Reply::Kind::error:
      put(out, kind_field, "error");
      encode_error(*reply.error, out);
      break;
  }
  return out;
}

std::vector<std::string_view> chunk_xadd_args(std::string_view reply_key, std::string_view call_id, std::string_view data) {
  return {"XADD", reply_key, "*", "v", version, "call", call_id, kind_field, "chunk", "data", data};
}

Reply decode_reply(const Fields& fields) {
  const FieldReader in(fields);
  check_version(in);
  Reply reply;
  reply.call_id = std::string(in.need("call"));
  const auto kind = in.need(kind_field);
  if (kind == "claimed") {
    reply.kind = Reply::Kind::claimed;
    reply.node_id = std::string(in.need("node"));
    reply.node_token = std::string(in.need("token"));
  } else if (kind == "begin") {
    reply.kind = Reply::Kind::begin;
    reply.size = in.need_int<std::uint64_t>("size");
  } else if (kind == "chunk") {
    reply.kind = Reply::Kind::chunk;
    reply.data = std::string(in.need("data"));
  } else if (kind == "ok") {
    reply.kind = Reply::Kind::ok;
    reply.size = in.need_int<std::uint64_t>("size");
    const auto chunked = in.need("chunked");
    if (chunked != "0" && chunked != "1") throw WireError("field 'chunked' is neither 0 nor 1");
    reply.chunked = chunked == "1";
    if (!reply.chunked) {
      reply.data = std::string(in.need("data"));
      if (reply.data.size() != reply.size) throw WireError("field 'data' has " + std::to_string(reply.data.size()) +
                                                           " bytes where 'size' says " + std::to_string(reply.size));
    }
    reply.metrics = decode_metrics(fields);
  } else if (kind == "error") {
    reply.kind = Reply::Kind::error;
    reply.error = decode_error(fields);
  } else {
    throw WireError("entry of unknown kind '" + std::string(kind.substr(0, 20)) + "'");
  }
  return reply;
}

std::optional<std::pair<std::string, std::string>> reply_address(const Fields& fields) {
  const FieldReader in(fields);
  const auto caller = in.maybe("caller");
  const auto call = in.maybe("call");
  if (!caller || !call || caller->empty() || call->empty() || !valid_pool_name(*caller)) return std::nullopt;
  return std::make_pair(std::string(*caller), std::string(*call));
}

ExecutionMetrics shifted(ExecutionMetrics metrics, std::int64_t delta_ns) {
  metrics.started_at_ns += delta_ns;
  metrics.finished_at_ns += delta_ns;
  return metrics;
}

std::shared_ptr<const Error> shifted(const std::shared_ptr<const Error>& error, std::int64_t delta_ns) {
  if (const auto* task = dynamic_cast<const TaskError*>(error.get()))
    return std::make_shared<TaskError>(task->type(), task->message(), task->stderr_tail(),
                                       shifted(task->metrics(), delta_ns));
  return error;
}

std::string frame(const Fields& fields) {
  std::string out;
  auto put_length = [&out](std::size_t n) {
    const auto length = static_cast<std::uint32_t>(n);
    char bytes[4];
    std::memcpy(bytes, &length, 4);
    out.append(bytes, 4);
  };
  for (const auto& [key, value] : fields) {
    put_length(key.size());
    out += key;
    put_length(value.size());
    out += value;
  }
  return out;
}

Fields unframe(std::string_view bytes) {
  Fields fields;
  auto take = [&bytes]() {
    if (bytes.size() < 4) throw WireError("framed fields end inside a length");
    std::uint32_t length = 0;
    std::memcpy(&length, bytes.data(), 4);
    bytes.remove_prefix(4);
    if (length > bytes.size()) throw WireError("framed field longer than the rest of the input");
    std::string text(bytes.substr(0, length));
    bytes.remove_prefix(length);
    return text;
  };
  while (!bytes.empty()) {
    auto key = take();
    auto value = take();
    fields.emplace_back(std::move(key), std::move(value));
  }
  return fields;
}

}  // namespace execkit::redis::wire
