#include "base_state.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <system_error>

extern char** environ;

namespace execkit::worker {
namespace {

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

FileIdentity identify_fd(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino, true};
}

const char* rlimit_name(int resource) noexcept {
  switch (resource) {
    case RLIMIT_CPU:
      return "RLIMIT_CPU";
    case RLIMIT_FSIZE:
      return "RLIMIT_FSIZE";
    case RLIMIT_DATA:
      return "RLIMIT_DATA";
    case RLIMIT_STACK:
      return "RLIMIT_STACK";
    case RLIMIT_CORE:
      return "RLIMIT_CORE";
    case RLIMIT_RSS:
      return "RLIMIT_RSS";
    case RLIMIT_NPROC:
      return "RLIMIT_NPROC";
    case RLIMIT_NOFILE:
      return "RLIMIT_NOFILE";
    case RLIMIT_MEMLOCK:
      return "RLIMIT_MEMLOCK";
    case RLIMIT_AS:
      return "RLIMIT_AS";
    case RLIMIT_LOCKS:
      return "RLIMIT_LOCKS";
    case RLIMIT_SIGPENDING:
      return "RLIMIT_SIGPENDING";
    case RLIMIT_MSGQUEUE:
      return "RLIMIT_MSGQUEUE";
    case RLIMIT_NICE:
      return "RLIMIT_NICE";
    case RLIMIT_RTPRIO:
      return "RLIMIT_RTPRIO";
    case RLIMIT_RTTIME:
      return "RLIMIT_RTTIME";
    default:
      return "RLIMIT_(unknown)";
  }
}

BaseState capture_base_state(int control_fd, ProcStatusReader& status) {
  BaseState base;
  // A name-less entry cannot be set again, so it is not part of the base:
  // the first restore drops it and every call sees the same block.
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto equals = text.find('=');
    if (equals != std::string_view::npos && equals != 0) base.environment.emplace_back(text);
  }
  std::unique_ptr<char, decltype(&std::free)> cwd(::getcwd(nullptr, 0), &std::free);
  if (!cwd) throw_errno("getcwd");
  base.cwd = cwd.get();
  base.umask = ::umask(0);
  ::umask(base.umask);
  for (int resource = 0; resource < RLIM_NLIMITS; ++resource) {
    if (::getrlimit(resource, &base.limits[resource]) != 0) throw_errno("getrlimit");
  }
  const auto now = status.read();
  if (!now) throw std::runtime_error("cannot read /proc/self/status");
  base.credentials = now->credentials;
  for (int fd = 0; fd < 3; ++fd) base.standard_fds[fd] = identify_fd(fd);
  base.control_channel = identify_fd(control_fd);
  return base;
}

}  // namespace execkit::worker
