// The last bytes of a worker's stderr, kept in bounded memory however much
// the task writes (RUN-3, RUN-6).
#pragma once

#include <cerrno>
#include <cstddef>
#include <string>

#include <unistd.h>

namespace oneshot {

class StderrTail {
 public:
  explicit StderrTail(std::size_t limit) : limit_(limit) {}

  // Reads what the non-blocking `fd` has now; false at end of file.
  bool read_from(int fd) {
    char buffer[65536];
    for (;;) {
      const auto n = ::read(fd, buffer, sizeof buffer);
      if (n > 0) {
        append(buffer, static_cast<std::size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return n < 0;  // 0: end of file; EAGAIN: nothing more for now
      }
    }
  }

  std::string take() { return bytes_.size() > limit_ ? bytes_.substr(bytes_.size() - limit_) : std::move(bytes_); }

 private:
  void append(const char* data, std::size_t size) {
    bytes_.append(data, size);
    if (bytes_.size() > 2 * limit_ + 65536) bytes_.erase(0, bytes_.size() - limit_);
  }

  std::size_t limit_;
  std::string bytes_;
};

}  // namespace oneshot
