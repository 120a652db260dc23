#include "proc_status.hpp"

#include <array>
#include <charconv>
#include <string_view>

namespace execkit::worker {
namespace {

template <class T>
bool parse_field(std::string_view line, std::string_view key, int base, T& out) {
  if (!line.starts_with(key)) return false;
  auto value = line.substr(key.size());
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out, base);
  return ec == std::errc{};
}

std::optional<ProcStatus> parse_status(std::string_view text) {
  ProcStatus status;
  int found = 0;
  std::uint64_t thread_pending = 0, shared_pending = 0;
  while (!text.empty()) {
    auto eol = text.find('\n');
    auto line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    found += parse_field(line, "Threads:", 10, status.threads);
    found += parse_field(line, "SigPnd:", 16, thread_pending);
    found += parse_field(line, "ShdPnd:", 16, shared_pending);
    found += parse_field(line, "SigBlk:", 16, status.blocked);
    found += parse_field(line, "SigIgn:", 16, status.ignored);
    found += parse_field(line, "SigCgt:", 16, status.caught);
    if (line.starts_with("Uid:") || line.starts_with("Gid:") || line.starts_with("Groups:")) {
      status.credentials.append(line).push_back('\n');
      ++found;
    }
  }
  if (found != 9) return std::nullopt;
  status.pending = thread_pending | shared_pending;
  return status;
}

}  // namespace

ProcStatusReader::ProcStatusReader() : file_("/proc/self/status") {}

std::optional<ProcStatus> ProcStatusReader::read() {
  std::array<char, 8192> buf;
  if (const auto text = file_.read(buf))
    if (auto status = parse_status(*text)) return status;
  file_.reopen();
  const auto text = file_.read(buf);
  return text ? parse_status(*text) : std::nullopt;
}

}  // namespace execkit::worker
