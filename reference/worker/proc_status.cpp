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

std::optional<ProcStatus> read_proc_status() {
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::array<char, 8192> buf;
  std::size_t size = 0;
  while (size < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + size, buf.size() - size);
    if (n <= 0) break;
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);

  ProcStatus status;
  int found = 0;
  std::uint64_t thread_pending = 0, shared_pending = 0;
  std::string_view text(buf.data(), size);
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
  }
  if (found != 6) return std::nullopt;
  status.pending = thread_pending | shared_pending;
  return status;
}

}  // namespace execkit::worker
