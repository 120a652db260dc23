#include "call_files.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <string>
#include <system_error>

#include "execkit/errors.hpp"
#include "status.hpp"

namespace oneshot {
namespace {

[[noreturn]] void throw_errno(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

// Above 0..4, so that moving the files into place in the worker never overwrites one of them.
UniqueFd above_stdio(int fd, const std::string& what) {
  if (fd < 0) throw_errno(what);
  UniqueFd owned(fd);
  if (fd > status_fd) return owned;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, status_fd + 1);
  if (moved < 0) throw_errno(what);
  return UniqueFd(moved);
}

UniqueFd memory_file(const char* name, std::span<const std::byte> content) {
  auto fd = above_stdio(::memfd_create(name, MFD_CLOEXEC), std::string("memfd_create ") + name);
  while (!content.empty()) {
    const auto n = ::write(fd.get(), content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(std::string("write ") + name);
    content = content.subspan(static_cast<std::size_t>(n));
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) throw_errno("lseek");
  return fd;
}

}  // namespace

CallFiles open_call_files(const WorkerSettings& settings, const execkit::Call& call) {
  CallFiles files;
  files.input = memory_file("oneshot-input", call.input);
  const int result = ::open(settings.spill_dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (result < 0) {
    throw execkit::SpillError("cannot create a result file in spill dir '" + settings.spill_dir.string() +
                              "': " + std::strerror(errno));
  }
  files.result = above_stdio(result, "result file");
  files.status = memory_file("oneshot-status", {});
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw_errno("pipe2");
  files.stderr_read = UniqueFd(pipe_fds[0]);
  files.stderr_write = above_stdio(pipe_fds[1], "stderr pipe");
  ::fcntl(files.stderr_read.get(), F_SETFL, O_NONBLOCK);
  return files;
}

}  // namespace oneshot
