// probe_runner: runs tasks of a C++ task module in this process, one after
// the other, with nothing restored between them. The self-test runs the
// Python probe through probe_runner.py, which does the same, so both probes
// are compared under identical conditions (docs/probe.md "Self-test").
//
//   probe_runner --out DIR [--spill-dir DIR] [--python-signals yes] [--thread yes] [-L DIR]...
//                -- (MODULE FUNCTION INPUT_FILE)...
//
// --thread: each call runs in a thread of its own, as in backends that keep
// the main thread for themselves.
//
// --python-signals: start with the signal state CPython gives itself (a
// handler for SIGINT, SIGPIPE and SIGXFSZ ignored), as a Python backend
// that never resets it would.
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "execkit/task.hpp"

// Sanitizer builds only (weak hooks the runtimes call at start-up), as in
// execkit-worker: a task's crash signal must end the runner as it would
// without the sanitizer, so both runners end the same way.
extern "C" __attribute__((used, visibility("default"))) const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}
extern "C" __attribute__((used, visibility("default"))) const char* __tsan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0";
}

namespace {

constexpr std::size_t inline_limit = 32 * 1024;  // as the reference worker: larger results spill

struct Options {
  std::string out;
  std::string spill_dir;
  std::vector<std::string> search_path;
  bool python_signals = false;
  bool thread_per_call = false;
  std::vector<std::string> calls;  // module, function, input file, ...
};

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_whole(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

bool regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Holds a result inline up to inline_limit, then in spill_dir/call.<n>.
class RunnerContext final : public execkit::TaskContext {
 public:
  RunnerContext(std::string input, std::string spill_path) : input_(std::move(input)), spill_path_(std::move(spill_path)) {}
  RunnerContext(const RunnerContext&) = delete;
  RunnerContext& operator=(const RunnerContext&) = delete;
  ~RunnerContext() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::span<const std::byte> input() const override {
    return {reinterpret_cast<const std::byte*>(input_.data()), input_.size()};
  }
  using TaskContext::write;
  void write(std::span<const std::byte> bytes) override {
    if (write_error_) throw std::runtime_error(*write_error_);
    if (fd_ < 0 && (spill_path_.empty() || inline_.size() + bytes.size() <= inline_limit)) {
      inline_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      return;
    }
    if (fd_ < 0) {
      fd_ = ::open(spill_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd_ < 0) refuse_write();
      const std::string held = std::move(inline_);
      inline_.clear();
      append(held);
    }
    append({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
  }
  void fail(std::string_view type, std::string_view message) override {
    if (!failure_) failure_ = std::string(type) + "\n" + std::string(message);
  }

  // Writes the call's outcome files <out>/<n>.*.
  void report(const std::string& prefix) {
    if (write_error_) return write_whole(prefix + ".refused", *write_error_);
    if (failure_) return write_whole(prefix + ".error", *failure_);
    if (fd_ < 0) return write_whole(prefix + ".result", inline_);
    if (!spill_intact()) return write_whole(prefix + ".refused", "the spill file was replaced or changed");
    write_whole(prefix + ".spilled", spill_path_);
  }

 private:
  [[noreturn]] void refuse_write() {
    write_error_ = std::string("cannot write the result: ") + std::strerror(errno);
    throw std::runtime_error(*write_error_);
  }

  void append(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) refuse_write();
      bytes.remove_prefix(static_cast<std::size_t>(n));
      written_ += static_cast<std::size_t>(n);
    }
  }

  // The name still leads to the file this context wrote, unchanged.
  bool spill_intact() const {
    struct stat held {}, named {};
    if (::fstat(fd_, &held) != 0 || ::lstat(spill_path_.c_str(), &named) != 0) return false;
    return S_ISREG(named.st_mode) && named.st_dev == held.st_dev && named.st_ino == held.st_ino &&
           named.st_nlink == 1 && named.st_uid == ::geteuid() && static_cast<std::size_t>(named.st_size) == written_;
  }

  std::string input_;
  std::string spill_path_;
  std::string inline_;
  int fd_ = -1;
  std::size_t written_ = 0;
  std::optional<std::string> failure_;
  std::optional<std::string> write_error_;
};

Options parse(int argc, char** argv) {
  Options options;
  int i = 1;
  for (; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    const std::string_view flag(argv[i]);
    if (i + 1 >= argc) throw std::runtime_error("option " + std::string(flag) + " needs a value");
    const std::string value(argv[++i]);
    if (flag == "--out") {
      options.out = value;
    } else if (flag == "--spill-dir") {
      options.spill_dir = value;
    } else if (flag == "--python-signals") {
      options.python_signals = value == "yes";
    } else if (flag == "--thread") {
      options.thread_per_call = value == "yes";
    } else if (flag == "-L") {
      options.search_path.push_back(value);
    } else {
      throw std::runtime_error("unknown option " + std::string(flag));
    }
  }
  options.calls.assign(argv + std::min(i + 1, argc), argv + argc);
  if (options.out.empty() || options.calls.size() % 3 != 0) throw std::runtime_error("usage: see probe_runner.cpp");
  return options;
}

std::optional<std::string> find_module(const std::string& module, const std::vector<std::string>& search_path) {
  if (module.find('/') != std::string::npos) return regular_file(module) ? std::optional(module) : std::nullopt;
  for (const auto& dir : search_path) {
    for (const auto& name : {"lib" + module + ".so", module + ".so"}) {
      if (regular_file(dir + "/" + name)) return dir + "/" + name;
    }
  }
  return std::nullopt;
}

using EntryPoint = int (*)(execkit::TaskContext*);

void do_nothing(int) {}

void start_like_python() {
  struct sigaction handled {};
  handled.sa_handler = &do_nothing;
  ::sigaction(SIGINT, &handled, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGXFSZ, SIG_IGN);
}

void run_call(const Options& options, std::size_t index, std::map<std::string, void*>& loaded) {
  const std::string& module = options.calls[3 * index];
  const std::string& function = options.calls[3 * index + 1];
  const std::string prefix = options.out + "/" + std::to_string(index);
  const auto path = find_module(module, options.search_path);
  if (!path) return write_whole(prefix + ".load", "module '" + module + "' not found");
  void*& handle = loaded[*path];
  if (handle == nullptr) handle = ::dlopen(path->c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return write_whole(prefix + ".load", ::dlerror());
  const std::string symbol = EXECKIT_TASK_SYMBOL_PREFIX + function;
  void* address = ::dlsym(handle, symbol.c_str());
  if (address == nullptr) return write_whole(prefix + ".missing", "no task '" + function + "'");
  const std::string spill_path =
      options.spill_dir.empty() ? std::string() : options.spill_dir + "/call." + std::to_string(index);
  RunnerContext context(read_whole(options.calls[3 * index + 2]), spill_path);
  const auto entry = reinterpret_cast<EntryPoint>(address);
  entry(&context);
  std::fflush(nullptr);
  context.report(prefix);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    // Both runners name their main thread alike, so "threads" compares exactly.
    ::prctl(PR_SET_NAME, "probe-runner", 0, 0, 0);
    if (options.python_signals) start_like_python();
    std::map<std::string, void*> loaded;
    for (std::size_t i = 0; i < options.calls.size() / 3; ++i) {
      if (!options.thread_per_call) {
        run_call(options, i, loaded);
        continue;
      }
      std::exception_ptr failure;
      std::thread([&] {
        try {
          run_call(options, i, loaded);
        } catch (...) {
          failure = std::current_exception();
        }
      }).join();
      if (failure) std::rethrow_exception(failure);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "probe_runner: %s\n", e.what());
    return 70;
  }
  std::fflush(nullptr);
  ::_exit(0);
}
