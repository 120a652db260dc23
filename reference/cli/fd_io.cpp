#include "fd_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace execkit::cli {
namespace {

constexpr std::size_t read_chunk = 64 * 1024;
// Bounded so one write() never asks the kernel for more than it accepts.
constexpr std::size_t write_chunk = std::size_t{1} << 30;

}  // namespace

std::vector<std::byte> read_all(int fd) {
  std::vector<std::byte> data;
  std::size_t filled = 0;
  for (;;) {
    data.resize(filled + read_chunk);
    const ssize_t n = ::read(fd, data.data() + filled, read_chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "read");
    }
    if (n == 0) break;
    filled += static_cast<std::size_t>(n);
  }
  data.resize(filled);
  return data;
}

void write_all(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const std::size_t chunk = bytes.size() < write_chunk ? bytes.size() : write_chunk;
    const ssize_t n = ::write(fd, bytes.data(), chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "write");
    }
    bytes = bytes.subspan(static_cast<std::size_t>(n));
  }
}

}  // namespace execkit::cli
