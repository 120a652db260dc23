#include "kept_proc_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace execkit::worker {

KeptProcFile::KeptProcFile(const char* path) : path_(path) { open(); }

void KeptProcFile::open() {
  fd_.reset(::open(path_, O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (fd_ && ::fstat(fd_.get(), &st) == 0) {
    device_ = st.st_dev;
    inode_ = st.st_ino;
  }
}

std::optional<std::string_view> KeptProcFile::read(std::span<char> buffer) {
  if (auto text = read_once(buffer)) return text;
  reopen();
  return read_once(buffer);
}

void KeptProcFile::reopen() {
  fd_.release();
  open();
}

std::optional<std::string_view> KeptProcFile::read_once(std::span<char> buffer) const {
  if (!fd_) return std::nullopt;
  const ssize_t n = ::pread(fd_.get(), buffer.data(), buffer.size(), 0);
  if (n < 0 || static_cast<std::size_t>(n) == buffer.size()) return std::nullopt;
  if (n == 0) {
    // Empty is a valid answer (no timers), but so is an fd the task swapped for /dev/null.
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0 || st.st_dev != device_ || st.st_ino != inode_) return std::nullopt;
  }
  return std::string_view(buffer.data(), static_cast<std::size_t>(n));
}

}  // namespace execkit::worker
