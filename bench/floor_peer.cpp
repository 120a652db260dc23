// The child end of the floors; only libc, so it costs what a process costs.
//
//   execkit_bench_peer echo     echoes each byte from fd 0 to fd 1 until EOF
//   execkit_bench_peer writer   for each WriteCommand on fd 0: creates the
//                               file, writes the bytes in write_piece_bytes
//                               pieces, then answers one byte on fd 1
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_layout.hpp"
#include "floor_command.hpp"

namespace {

bool read_exactly(int fd, void* buffer, std::size_t size) {
  auto* at = static_cast<char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::read(fd, at, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_all(int fd, const void* buffer, std::size_t size) {
  const auto* at = static_cast<const char*>(buffer);
  while (size > 0) {
    const ssize_t n = ::write(fd, at, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    at += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

int echo() {
  char byte;
  while (read_exactly(0, &byte, 1))
    if (!write_all(1, &byte, 1)) return 1;
  return 0;
}

bool write_file(const execkit::bench::WriteCommand& command, const char* piece) {
  const int fd = ::open(command.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "execkit_bench_peer: cannot create %s: %s\n", command.path, std::strerror(errno));
    return false;
  }
  bool ok = true;
  for (std::uint64_t left = command.size; ok && left > 0;) {
    const std::size_t n = left < execkit::bench::write_piece_bytes ? static_cast<std::size_t>(left)
                                                                   : execkit::bench::write_piece_bytes;
    ok = write_all(fd, piece, n);
    left -= n;
  }
  ::close(fd);
  return ok;
}

int writer() {
  // Page-aligned like the benchmark task's buffer: the kernel's copy into the
  // page cache is up to a third slower from an unaligned source here.
  char* piece = static_cast<char*>(std::aligned_alloc(4096, execkit::bench::write_piece_bytes));
  if (piece == nullptr) return 1;
  std::memset(piece, execkit::bench::fill_byte, execkit::bench::write_piece_bytes);
  execkit::bench::WriteCommand command{};
  int status = 0;
  while (status == 0 && read_exactly(0, &command, sizeof command)) {
    command.path[sizeof command.path - 1] = '\0';
    const char done = write_file(command, piece) ? 'k' : 'e';
    if (!write_all(1, &done, 1)) status = 1;
  }
  std::free(piece);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "echo") == 0) return echo();
  if (argc == 2 && std::strcmp(argv[1], "writer") == 0) return writer();
  std::fprintf(stderr, "usage: execkit_bench_peer echo|writer (got %d arguments)\n", argc - 1);
  return 2;
}
