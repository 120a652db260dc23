#include "spill_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "execkit/errors.hpp"
#include "unique_fd.hpp"

namespace execkit {
namespace {

[[noreturn]] void refuse(const std::string& name, const std::string& problem) {
  throw SpillError("spill file \"" + name + "\": " + problem);
}

// One entry of the directory: a name with a '/' could reach outside dir_fd.
bool is_plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

const char* describe_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symlink";
  return "of an unknown type";
}

// Removes the name once the file is open, whether it is accepted or refused,
// so no spill file outlives its call (SPILL-5).
class NameRemover {
 public:
  NameRemover(int dir_fd, const std::string& name) : dir_fd_(dir_fd), name_(name) {}
  NameRemover(const NameRemover&) = delete;
  NameRemover& operator=(const NameRemover&) = delete;
  ~NameRemover() { ::unlinkat(dir_fd_, name_.c_str(), flags_); }
  void expect_directory() noexcept { flags_ = AT_REMOVEDIR; }

 private:
  int dir_fd_;
  const std::string& name_;
  int flags_ = 0;
};

// SPILL-8: a mapping of a file someone can still write may change under the
// caller or fault (SIGBUS) once the file shrinks. The kernel grants a read
// lease only while no one holds the file open for writing (an fd or a
// writable shared mapping, in any process); the lease is dropped at once.
void refuse_if_writable_elsewhere(int fd, const std::string& name) {
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) != 0) {
    const int err = errno;
    if (err == EAGAIN || err == EBUSY) refuse(name, "is still open for writing by another process or mapping");
    refuse(name, std::string("cannot be proven free of writers (F_SETLEASE: ") + std::strerror(err) + ")");
  }
  ::fcntl(fd, F_SETLEASE, F_UNLCK);
}

}  // namespace

Mapping take_spill_file(int dir_fd, const std::string& name, std::uint64_t expected_size) {
  if (!is_plain_name(name)) refuse(name, "is not a plain file name");

  // O_NONBLOCK: opening a FIFO must not wait for a writer. O_NOFOLLOW: a
  // symlink swapped in for the file fails here, before anything is read.
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    const int err = errno;
    if (err != ENOENT) ::unlinkat(dir_fd, name.c_str(), 0);
    if (err == ELOOP) refuse(name, "is a symlink");
    refuse(name, std::string("cannot be opened: ") + std::strerror(err));
  }
  NameRemover remover(dir_fd, name);

  // Everything below judges the opened file, not whatever the name points to now.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    const int err = errno;
    refuse(name, std::string("cannot be inspected: ") + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) remover.expect_directory();
  if (!S_ISREG(st.st_mode)) refuse(name, std::string("is ") + describe_type(st.st_mode) + ", not a regular file");
  const uid_t me = ::geteuid();
  if (st.st_uid != me) refuse(name, "owned by uid " + std::to_string(st.st_uid) + ", not " + std::to_string(me));
  if (st.st_nlink != 1) refuse(name, "has " + std::to_string(st.st_nlink) + " links, expected 1");
  if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) != expected_size)
    refuse(name, "is " + std::to_string(st.st_size) + " bytes, expected " + std::to_string(expected_size));
  static_assert(sizeof(std::size_t) >= sizeof(std::uint64_t), "a spill file's size must fit in size_t");
  refuse_if_writable_elsewhere(fd.get(), name);

  try {
    return Mapping::map_readonly(fd.get(), static_cast<std::size_t>(expected_size));
  } catch (const std::system_error& e) {
    throw ResultError(ResultError::Reason::unreadable, "spill file \"" + name + "\": " + e.what());
  }
}

}  // namespace execkit
