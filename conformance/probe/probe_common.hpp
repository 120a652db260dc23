// Helpers shared by the conformance suite's own probe tasks.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace execkit::probe {

// "a,b,c" -> {"a", "b", "c"}
inline std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

inline std::vector<std::string_view> fields(std::string_view text, char separator, std::size_t count,
                                            std::string_view task) {
  auto parts = split(text, separator);
  if (parts.size() != count) {
    throw std::invalid_argument("probe: " + std::string(task) + ": expected " + std::to_string(count) +
                                " fields separated by '" + separator + "', got '" + std::string(text) + "'");
  }
  return parts;
}

inline void sleep_for_ms(long ms) {
  timespec left{ms / 1000, (ms % 1000) * 1'000'000};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

// Blocks until the process is killed (how a backend must stop a task).
[[noreturn]] inline void hang_forever() {
  for (;;) ::pause();
}

// Writes `content` to `path` so that readers never see a partial file.
inline void write_file_atomically(const std::string& path, std::string_view content) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "probe: create " + temporary);
  const auto written = ::write(fd, content.data(), content.size());
  ::close(fd);
  if (written != static_cast<ssize_t>(content.size()) || ::rename(temporary.c_str(), path.c_str()) != 0) {
    throw std::system_error(errno, std::generic_category(), "probe: write " + path);
  }
}

inline bool path_exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

// Polls for `path` (1 ms steps); throws after `limit`, so that a test that
// forgets to release a task cannot hang a worker forever.
inline void wait_for_path(const std::string& path, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!path_exists(path)) {
    if (std::chrono::steady_clock::now() > until) {
      throw std::runtime_error("probe: waited " + std::to_string(limit.count()) + " ms for " + path);
    }
    sleep_for_ms(1);
  }
}

}  // namespace execkit::probe
