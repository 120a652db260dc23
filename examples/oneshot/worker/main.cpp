// oneshot-worker: runs one task, reports how it ended and exits.
//
//   oneshot-worker <caller pid, 0: no pdeathsig> <max result bytes> <cwd> <module> <function> [<search dir>...]
//
// stdin holds the call's input, fd 3 is the (unnamed) result file, fd 4 the
// status file (status.hpp). The backend starts it with a scrubbed
// environment, default signal state and no other fds.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "execkit/task.hpp"
#include "process_tree.hpp"
#include "status.hpp"

namespace {

using oneshot::Status;
using oneshot::StatusKind;

// The worker side of execkit::TaskContext: the result streams into fd 3.
class Context final : public execkit::TaskContext {
 public:
  Context(std::vector<std::byte> input, std::uint64_t cap) : input_(std::move(input)), cap_(cap) {}

  std::span<const std::byte> input() const override { return input_; }

  using execkit::TaskContext::write;
  void write(std::span<const std::byte> bytes) override {
    if (result_error_) throw std::runtime_error(result_error_->message);
    if (bytes.size() > cap_ - written_) {
      result_error_ = Status{StatusKind::too_large, "", "the result exceeds max_result_bytes (" + std::to_string(cap_) + " bytes)"};
      throw std::length_error(result_error_->message);
    }
    for (auto left = bytes; !left.empty();) {
      const auto n = ::write(oneshot::result_fd, left.data(), left.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int error = errno;
        result_error_ = Status{StatusKind::write_failed, "", std::string("cannot write the result: ") + std::strerror(error)};
        throw std::system_error(error, std::generic_category(), result_error_->message);
      }
      left = left.subspan(static_cast<std::size_t>(n));
    }
    written_ += bytes.size();
  }

  void fail(std::string_view type, std::string_view message) override {
    failure_ = Status{StatusKind::task_error, std::string(type), std::string(message)};
  }

  // A result that could not be delivered outranks how the task ended (RUN-5).
  Status outcome() const {
    if (result_error_) return *result_error_;
    if (failure_) return *failure_;
    return {};
  }

 private:
  std::vector<std::byte> input_;
  std::uint64_t cap_;
  std::uint64_t written_ = 0;
  std::optional<Status> result_error_, failure_;
};

// As a child subreaper the worker has adopted whatever its task's children
// left behind; all of it ends with the call (RUN-7, ISO-8).
void end_descendants() {
  ::signal(SIGCHLD, SIG_DFL);  // a task that ignored it would make waitpid wait for all of them at once
  for (;;) {
    for (pid_t child : oneshot::children_of(::getpid())) ::kill(child, SIGKILL);
    if (::waitpid(-1, nullptr, __WALL) < 0 && errno == ECHILD) return;
  }
}

[[noreturn]] void finish(Status status) {
  end_descendants();
  if (status.message.size() > 65536) status.message.resize(65536);
  const auto record = oneshot::encode(status);
  if (::pwrite(oneshot::status_fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size())) {
    std::fprintf(stderr, "oneshot-worker: cannot write the status record: %s\n", std::strerror(errno));
    ::_exit(125);
  }
  ::_exit(0);  // no atexit handlers or static destructors of the task's module
}

[[noreturn]] void task_error(std::string type, std::string message) {
  finish(Status{StatusKind::task_error, std::move(type), std::move(message)});
}

std::vector<std::byte> read_stdin() {
  std::vector<std::byte> input;
  std::byte buffer[65536];
  for (;;) {
    const auto n = ::read(0, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) task_error("oneshot::InputError", std::string("cannot read the call's input: ") + std::strerror(errno));
    if (n == 0) break;
    input.insert(input.end(), buffer, buffer + n);
  }
  const int null = ::open("/dev/null", O_RDONLY);  // the task's stdin
  ::dup2(null, 0);
  ::close(null);
  return input;
}

bool is_regular_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

// "name" is lib<name>.so or <name>.so in the first search dir that has one; a name with '/' is a path.
std::string find_module(const std::string& module, const std::vector<std::string>& search_path) {
  if (module.find('/') != std::string::npos) {
    if (is_regular_file(module)) return module;
    task_error("ModuleNotFound", "module file '" + module + "' does not exist or is not a regular file");
  }
  std::string looked;
  for (const auto& dir : search_path) {
    for (const auto& file : {dir + "/lib" + module + ".so", dir + "/" + module + ".so"}) {
      if (is_regular_file(file)) return file;
    }
    looked += (looked.empty() ? "'" : ", '") + dir + "'";
  }
  task_error("ModuleNotFound", "module '" + module + "' (lib" + module + ".so or " + module + ".so) not found in " +
                                   (looked.empty() ? "an empty search path" : "the search path " + looked));
}

template <class Int>
Int number_argument(const char* text, const char* what) {
  Int value{};
  const char* end = text + std::strlen(text);
  const auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc{} || ptr != end || ptr == text) {
    std::fprintf(stderr, "oneshot-worker: %s must be a number, got '%s'\n", what, text);
    ::_exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: oneshot-worker <caller pid|0> <max result bytes> <cwd> <module> <function> [<search dir>...]\n"
                 "(started by the oneshot backend, one process per call)\n");
    return 2;
  }
  const auto caller = number_argument<pid_t>(argv[1], "the caller pid");
  const auto cap = number_argument<std::uint64_t>(argv[2], "the result cap");
  const std::string cwd = argv[3], module = argv[4], function = argv[5];
  const std::vector<std::string> search_path(argv + 6, argv + argc);

  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (caller != 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != caller) ::_exit(1);  // the caller died before the prctl
  }
  auto input = read_stdin();
  if (::chdir(cwd.c_str()) != 0) task_error("oneshot::CwdError", "cannot change into the call's cwd '" + cwd + "': " + std::strerror(errno));

  const auto file = find_module(module, search_path);
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) task_error("ModuleLoadError", "cannot load module '" + module + "' (" + file + "): " + ::dlerror());
  void* symbol = ::dlsym(handle, (EXECKIT_TASK_SYMBOL_PREFIX + function).c_str());
  if (symbol == nullptr) task_error("FunctionNotFound", "module '" + module + "' (" + file + ") has no task '" + function + "'");

  Context context(std::move(input), cap);
  reinterpret_cast<int (*)(execkit::TaskContext*) noexcept>(symbol)(&context);
  finish(context.outcome());
}
