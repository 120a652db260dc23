// Whole-buffer reads and writes on file descriptors, retrying on EINTR and
// short transfers.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace execkit::cli {

// Reads until end of file. Throws std::system_error with the errno.
std::vector<std::byte> read_all(int fd);

// Writes every byte. Throws std::system_error with the errno (EPIPE included:
// the caller ignores SIGPIPE so a closed reader is an error, not a crash).
void write_all(int fd, std::span<const std::byte> bytes);

}  // namespace execkit::cli
