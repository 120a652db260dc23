#include "metrics_json.hpp"

#include <cstdint>
#include <string_view>

namespace execkit::cli {
namespace {

void append_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\u00";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_field(std::string& out, std::string_view name, std::int64_t value) {
  out += out.size() > 1 ? "," : "";
  append_string(out, name);
  out += ':';
  out += std::to_string(value);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += out.size() > 1 ? "," : "";
  append_string(out, name);
  out += ':';
  append_string(out, value);
}

}  // namespace

std::string metrics_to_json(const ExecutionMetrics& metrics) {
  std::string out = "{";
  append_field(out, "peak_rss_kib", metrics.peak_rss_kib);
  append_field(out, "user_time_us", metrics.user_time_us);
  append_field(out, "system_time_us", metrics.system_time_us);
  append_field(out, "started_at_ns", metrics.started_at_ns);
  append_field(out, "finished_at_ns", metrics.finished_at_ns);
  append_field(out, "wall_time_ns", metrics.wall_time_ns);
  append_field(out, "worker_pid", std::int64_t{metrics.worker_pid});
  append_field(out, "worker_id", metrics.worker_id);
  append_field(out, "node_id", metrics.node_id);
  out += '}';
  return out;
}

}  // namespace execkit::cli
