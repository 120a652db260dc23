// A /proc/self file kept open for the worker's life and read with one pread
// per call (a seq_file is generated anew when read from offset 0). The fd is
// one the task sees (documented, ENV-7); a task that closes or replaces it
// only costs a reopen.
#pragma once

#include <sys/types.h>

#include <optional>
#include <span>
#include <string_view>

#include "unique_fd.hpp"

namespace execkit::worker {

class KeptProcFile {
 public:
  explicit KeptProcFile(const char* path);

  // The whole file in `buffer`; nullopt if it cannot be read or does not fit.
  std::optional<std::string_view> read(std::span<char> buffer);
  // For contents that read but make no sense: the task put another file
  // in our fd's place. Whatever holds that number now is not ours to close.
  void reopen();

 private:
  std::optional<std::string_view> read_once(std::span<char> buffer) const;
  void open();

  const char* path_;
  UniqueFd fd_;
  // Of the file we opened: an empty read is only trusted from it.
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace execkit::worker
