#include "result_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "execkit/errors.hpp"
#include "mapping.hpp"

namespace execkit::redis {

ResultFile::ResultFile(int spill_dir_fd, std::uint64_t expected_size) : expected_(expected_size) {
  fd_.reset(::openat(spill_dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd_)
    throw ResultError(ResultError::Reason::write_failed,
                      std::string("cannot create a result file in the spill dir: ") + std::strerror(errno));
}

void ResultFile::append(std::string_view bytes) {
  if (bytes.size() > expected_ - written_)
    throw ResultError(ResultError::Reason::unreadable, "the node sent more result bytes than the " +
                                                           std::to_string(expected_) + " it announced");
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_.get(), bytes.data(), bytes.size(), static_cast<off_t>(written_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw ResultError(ResultError::Reason::write_failed, "writing the result to the spill dir failed after " +
                                                               std::to_string(written_) + " bytes: " +
                                                               std::strerror(n < 0 ? errno : ENOSPC));
    written_ += static_cast<std::uint64_t>(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

Result ResultFile::finish(ExecutionMetrics metrics) {
  if (written_ != expected_)
    throw ResultError(ResultError::Reason::unreadable, "the node ended the result after " + std::to_string(written_) +
                                                           " of " + std::to_string(expected_) + " bytes");
  auto mapping = std::make_shared<Mapping>(Mapping::map_readonly(fd_.get(), static_cast<std::size_t>(expected_)));
  fd_.reset();
  const auto bytes = mapping->bytes();
  return Result(std::move(mapping), bytes, std::move(metrics));
}

}  // namespace execkit::redis
