// A large result arriving in chunks: written to an unnamed file (O_TMPFILE)
// in the spill directory and mapped read-only once complete, so the caller's
// heap never holds it and no file is ever left behind, even on SIGKILL.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "execkit/result.hpp"
#include "unique_fd.hpp"

namespace execkit::redis {

class ResultFile {
 public:
  // Throws ResultError(write_failed) naming the directory.
  ResultFile(int spill_dir_fd, std::uint64_t expected_size);
  // Throws ResultError: write_failed (ENOSPC, ...) or unreadable (more bytes than announced).
  void append(std::string_view bytes);
  // Throws ResultError(unreadable) when fewer bytes arrived than announced.
  Result finish(ExecutionMetrics metrics);

 private:
  UniqueFd fd_;
  std::uint64_t expected_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace execkit::redis
