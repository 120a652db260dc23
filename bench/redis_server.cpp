#include "redis_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

namespace execkit::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// A file descriptor closed on scope exit (this file needs nothing more).
class OwnedFd {
 public:
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::filesystem::path make_private_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/execkit-bench-redis-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno(errno, "mkdtemp " + pattern);
  return pattern;  // mkdtemp made it 0700
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// In the child between fork and exec: async-signal-safe calls only.
void child_fd(int fd, int target) {
  if (fd == target) {
    ::fcntl(fd, F_SETFD, 0);  // keep it across exec
  } else if (::dup2(fd, target) < 0) {
    ::_exit(127);
  }
}

enum class Probe { not_listening, not_ready, ready };

// One connect + PING. not_listening: no socket yet, or nobody listens on it;
// not_ready: connected, but the answer is an error such as -LOADING.
Probe probe(const std::filesystem::path& socket_path, Clock::time_point deadline) {
  OwnedFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno(errno, "socket");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.native().size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED || errno == EAGAIN || errno == EINTR) return Probe::not_listening;
    throw_errno(errno, "connect " + socket_path.string());
  }
  constexpr std::string_view ping = "PING\r\n";
  if (::send(fd.get(), ping.data(), ping.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ping.size()))
    return Probe::not_listening;
  std::string answer;
  while (answer.find("\r\n") == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<decltype(left)>(left, 0)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return Probe::not_ready;  // the deadline passed; the caller reports it
    char buffer[256];
    const ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Probe::not_listening;
    answer.append(buffer, static_cast<std::size_t>(n));
  }
  if (answer.starts_with("+PONG")) return Probe::ready;
  if (answer.starts_with("-")) return Probe::not_ready;
  throw std::runtime_error("redis-server answered PING with '" + answer.substr(0, answer.find("\r\n")) + "'");
}

}  // namespace

RedisServer::RedisServer() : RedisServer(RedisServerOptions{}) {}

RedisServer::RedisServer(const RedisServerOptions& options) {
  try {
    start(options);
    wait_until_ready(options.start_timeout);
  } catch (...) {
    stop();
    throw;
  }
}

RedisServer::~RedisServer() { stop(); }

void RedisServer::start(const RedisServerOptions& options) {
  dir_ = make_private_dir();
  socket_path_ = dir_ / "redis.sock";
  log_path_ = dir_ / "redis.log";
  if (socket_path_.native().size() >= sizeof(sockaddr_un{}.sun_path))
    throw std::runtime_error("socket path too long for AF_UNIX (set TMPDIR shorter): " + socket_path_.string());

  if (::access(options.program.c_str(), X_OK) != 0) throw_errno(errno, "redis-server program " + options.program.string());
  std::vector<std::string> args{options.program.string(),
                                "--port", "0",
                                "--unixsocket", socket_path_.string(),
                                "--unixsocketperm", "700",
                                "--save", "",
                                "--appendonly", "no",
                                "--dir", dir_.string()};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const OwnedFd log(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (log.get() < 0) throw_errno(errno, "open " + log_path_.string());
  const OwnedFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null.get() < 0) throw_errno(errno, "open /dev/null");

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno(errno, "fork");
  if (pid == 0) {
    // Dies with the thread that started it; if that already happened, now.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    child_fd(null.get(), 0);
    child_fd(log.get(), 1);
    child_fd(log.get(), 2);
    ::close_range(3, ~0U, 0);
    ::execv(argv[0], argv.data());
    constexpr std::string_view failed = "redis_server: execv of the redis-server program failed\n";
    [[maybe_unused]] const auto ignored = ::write(2, failed.data(), failed.size());
    ::_exit(127);
  }
  pid_ = pid;
}

void RedisServer::wait_until_ready(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto pause = std::chrono::microseconds(50);
  while (true) {
    int status = 0;
    const pid_t ended = ::waitpid(pid_, &status, WNOHANG);
    if (ended == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited while starting (" + describe_wait_status(status) +
                               "); its log ends with:\n" + log_tail());
    }
    if (ended < 0 && errno != EINTR) throw_errno(errno, "waitpid redis-server");
    if (probe(socket_path_, deadline) == Probe::ready) return;
    if (Clock::now() >= deadline)
      throw std::runtime_error("redis-server did not answer PING on " + socket_path_.string() + " within " +
                               std::to_string(timeout.count()) + " ms; its log ends with:\n" + log_tail());
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

void RedisServer::stop() noexcept {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string RedisServer::log_tail(std::size_t max_bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

}  // namespace execkit::bench
