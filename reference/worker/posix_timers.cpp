#include "posix_timers.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <string_view>

namespace execkit::worker {

PosixTimerSweeper::PosixTimerSweeper() : timers_("/proc/self/timers") {}

bool PosixTimerSweeper::delete_all() {
  std::array<char, 16384> buffer;
  const auto text = timers_.read(buffer);
  if (!text) return false;
  bool all_deleted = true;
  // One block per timer, starting "ID: <kernel timer id>".
  for (std::string_view rest = *text; !rest.empty();) {
    const auto eol = rest.find('\n');
    const auto line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    constexpr std::string_view key = "ID: ";
    if (!line.starts_with(key)) continue;
    int id = 0;
    const auto digits = line.substr(key.size());
    if (std::from_chars(digits.data(), digits.data() + digits.size(), id).ec != std::errc{}) return false;
    // The raw syscall: glibc's timer_t is not always the kernel's id.
    if (::syscall(SYS_timer_delete, id) != 0) all_deleted = false;
  }
  return all_deleted;
}

}  // namespace execkit::worker
