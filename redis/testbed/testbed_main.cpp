// execkit-redis-testbed: a private redis-server and N execkit-node agents for
// tests. It detaches from the process that started it (so the test's
// resource tracker does not count the nodes' workers as the test's), serves
// commands on stdin, and tears everything down when stdin closes:
//
//   start:     execkit-redis-testbed --nodes N [--lease-ms L] [--max-workers M] [--password-file F]
//   prints:    ready <socket path> <pool>
//   commands:  kill-node I | start-node I | stop-node I | node-pid I | kill-redis | start-redis | stop
//   replies:   ok [value] | error <why>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct Options {
  int nodes = 2;
  int lease_ms = 1000;
  int max_workers = 2;
  std::string password;
};

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env, int keep_fd = -1) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  for (const auto& e : extra_env) env_storage.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  posix_spawn_file_actions_adddup2(&actions, devnull, 0);
  posix_spawn_file_actions_adddup2(&actions, devnull, 1);
  if (keep_fd >= 0) posix_spawn_file_actions_adddup2(&actions, keep_fd, 3);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(devnull);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

void kill_and_reap(pid_t& pid, int signal) {
  if (pid <= 0) return;
  ::kill(pid, signal);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

class Testbed {
 public:
  explicit Testbed(Options options) : options_(std::move(options)) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/execkit-redis-XXXXXX";
    std::vector<char> buffer(templ.begin(), templ.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = buffer.data();
    socket_ = (dir_ / "redis.sock").string();
    pool_ = "testbed-" + std::to_string(::getpid());
    std::ofstream conf(dir_ / "redis.conf");
    conf << "port 0\nunixsocket " << socket_ << "\nunixsocketperm 700\nsave \"\"\nappendonly no\n"
         << "dir " << dir_.string() << "\nlogfile " << (dir_ / "redis.log").string() << "\n";
    if (!options_.password.empty()) conf << "requirepass " << options_.password << "\n";
    conf.close();
    ::chmod((dir_ / "redis.conf").c_str(), 0600);
    nodes_.assign(static_cast<std::size_t>(options_.nodes), -1);
    try {
      start_redis();
      for (std::size_t i = 0; i < nodes_.size(); ++i) start_node(i);
    } catch (...) {
      tear_down();  // a half-built testbed leaves nothing running either
      throw;
    }
  }

  ~Testbed() { tear_down(); }

  void tear_down() {
    for (const auto pid : nodes_)
      if (pid > 0) ::kill(pid, SIGTERM);  // all at once; each drains in parallel
    for (auto& pid : nodes_) stop_node_pid(pid);
    kill_and_reap(redis_, SIGKILL);
    // As subreaper, whatever the nodes left (their workers) is reparented here.
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  const std::string& socket() const { return socket_; }
  const std::string& pool() const { return pool_; }

  void start_redis() {
    const char* server = std::getenv("EXECKIT_REDIS_SERVER");
    redis_ = spawn({server && *server ? server : "/usr/bin/redis-server", (dir_ / "redis.conf").string()}, {});
    for (auto wait = 1ms; wait < 10s; wait *= 2) {
      if (answers_ping()) return;
      std::this_thread::sleep_for(wait);  // backoff while polling for readiness
    }
    throw std::runtime_error("redis-server did not answer within 10 s");
  }

  void kill_redis() { kill_and_reap(redis_, SIGKILL); }

  void start_node(std::size_t i) {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    // $EXECKIT_REDIS_NODE (a mutant's node), else the execkit-node next to this binary.
    const char* override_node = std::getenv("EXECKIT_REDIS_NODE");
    const fs::path node = override_node && *override_node ? fs::path(override_node)
                                                          : fs::read_symlink("/proc/self/exe").parent_path() / "execkit-node";
    // Nodes of one pool are configured alike (docs/distributed.md); only their ids differ.
    std::vector<std::string> env;
    if (!options_.password.empty()) env.push_back("EXECKIT_REDIS_PASSWORD=" + options_.password);
    nodes_[i] = spawn({node.string(), "--redis", "unix:" + socket_, "--pool", pool_, "--node-id",
                       "node-" + std::to_string(i), "--lease-ms", std::to_string(options_.lease_ms), "--max-workers",
                       std::to_string(options_.max_workers), "--drain-ms", "2000", "--spill-dir", (dir_ / ("node" + std::to_string(i))).string(),
                       "--ready-fd", "3"},
                      env, ready[1]);
    ::close(ready[1]);
    char buf[8] = {};
    const ssize_t n = ::read(ready[0], buf, sizeof buf);
    ::close(ready[0]);
    if (n <= 0) {
      int status = 0;
      ::waitpid(nodes_[i], &status, 0);
      nodes_[i] = -1;
      throw std::runtime_error("execkit-node " + std::to_string(i) + " exited before it was ready (status " +
                               std::to_string(status) + ")");
    }
  }

  void kill_node(std::size_t i) { kill_and_reap(nodes_.at(i), SIGKILL); }
  void stop_node(std::size_t i) { stop_node_pid(nodes_.at(i)); }
  pid_t node_pid(std::size_t i) const { return nodes_.at(i); }

 private:
  static void stop_node_pid(pid_t& pid) {
    if (pid <= 0) return;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    ::kill(pid, SIGTERM);
    pollfd exited{pidfd, POLLIN, 0};
    // A node drains for at most --drain-ms (2 s); past 20 s it is hung.
    if (pidfd >= 0 && ::poll(&exited, 1, 20000) == 1) {
      ::close(pidfd);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
      return;
    }
    if (pidfd >= 0) ::close(pidfd);
    kill_and_reap(pid, SIGKILL);
  }

  bool answers_ping() const {
    timeval timeout{1, 0};
    redisContext* c = redisConnectUnixWithTimeout(socket_.c_str(), timeout);
    bool ok = false;
    if (c != nullptr && c->err == 0) {
      if (!options_.password.empty()) {
        auto* auth = static_cast<redisReply*>(redisCommand(c, "AUTH %s", options_.password.c_str()));
        if (auth) freeReplyObject(auth);
      }
      auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
      ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
      if (reply) freeReplyObject(reply);
    }
    if (c) redisFree(c);
    return ok;
  }

  Options options_;
  fs::path dir_;
  std::string socket_, pool_;
  pid_t redis_ = -1;
  std::vector<pid_t> nodes_;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i], value = argv[i + 1];
    if (option == "--nodes") options.nodes = std::stoi(value);
    else if (option == "--lease-ms") options.lease_ms = std::stoi(value);
    else if (option == "--max-workers") options.max_workers = std::stoi(value);
    else if (option == "--password-file") std::getline(std::ifstream(value), options.password);
    else throw std::runtime_error("unknown option " + option);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options options = parse(argc, argv);
    // Detach: the starter reaps this parent at once; the child lives on, reparented.
    const pid_t child = ::fork();
    if (child < 0) return 2;
    if (child > 0) return 0;
    ::setsid();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    ::signal(SIGPIPE, SIG_IGN);
    Testbed testbed(options);
    std::cout << "ready " << testbed.socket() << " " << testbed.pool() << std::endl;
    std::string verb;
    while (std::cin >> verb) {
      try {
        std::size_t index = 0;
        if (verb == "kill-node" || verb == "start-node" || verb == "stop-node" || verb == "node-pid") std::cin >> index;
        if (verb == "kill-node") testbed.kill_node(index);
        else if (verb == "start-node") testbed.start_node(index);
        else if (verb == "stop-node") testbed.stop_node(index);
        else if (verb == "node-pid") {
          std::cout << "ok " << testbed.node_pid(index) << std::endl;
          continue;
        } else if (verb == "kill-redis") testbed.kill_redis();
        else if (verb == "start-redis") testbed.start_redis();
        else if (verb == "stop") break;
        else throw std::runtime_error("unknown command " + verb);
        std::cout << "ok" << std::endl;
      } catch (const std::exception& e) {
        std::cout << "error " << e.what() << std::endl;
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cout << "error " << e.what() << std::endl;
    std::cerr << "execkit-redis-testbed: " << e.what() << '\n';
    return 2;
  }
}
