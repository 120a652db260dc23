#include "proc_status.hpp"

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace

ProcStatusReader::ProcStatusReader() : fd_(::open("/proc/self/status", O_RDONLY | O_CLOEXEC)) {}

std::optional<ProcStatus> ProcStatusReader::read() {
  if (auto status = read_once()) return status;
  // The task closed or replaced our fd: whatever holds that number now is
  // a leftover of the task, not ours to close.
  fd_.release();
  fd_.reset(::open("/proc/self/status", O_RDONLY | O_CLOEXEC));
  return read_once();
}

std::optional<ProcStatus> ProcStatusReader::read_once() {
  if (!fd_) return std::nullopt;
  std::array<char, 8192> buf;
  // A seq_file is generated anew when read from offset 0.
  const ssize_t n = ::pread(fd_.get(), buf.data(), buf.size(), 0);
  if (n <= 0 || static_cast<std::size_t>(n) == buf.size()) return std::nullopt;

  ProcStatus status;
  int found = 0;
  std::uint64_t thread_pending = 0, shared_pending = 0;
  std::string_view text(buf.data(), static_cast<std::size_t>(n));
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

}  // namespace execkit::worker
