// A private redis-server for one benchmark case (or test): its own temporary
// directory, a unix socket in it and no TCP port, no persistence. The
// constructor returns once the server answers PING; the destructor kills it
// (SIGKILL: there is nothing to save), reaps it and removes the directory.
//
//   RedisServer server;                       // /usr/bin/redis-server
//   redisConnectUnix(server.socket_path().c_str());
//
// The server is started with
//   --port 0 --unixsocket DIR/redis.sock --unixsocketperm 700
//   --save "" --appendonly no --dir DIR  [options.extra_args...]
// and its stdout and stderr go to DIR/redis.log (log_tail() reads it; the
// constructor's exceptions quote it). It gets no file descriptor of this
// process but stdin (/dev/null) and the log, so sockets of other servers'
// clients never leak into it, and it is sent SIGKILL if the thread that
// constructed the object exits first (PR_SET_PDEATHSIG): a crashed benchmark
// leaves no server behind. Construct it on a thread that outlives it.
//
// Depends on the standard library and POSIX only (no hiredis).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace execkit::bench {

struct RedisServerOptions {
  std::filesystem::path program = "/usr/bin/redis-server";
  // Appended after the fixed flags (later flags win), e.g. {"--maxmemory", "1gb"}.
  std::vector<std::string> extra_args;
  // How long the server may take to answer PING before the constructor throws.
  std::chrono::milliseconds start_timeout{10'000};
};

class RedisServer {
 public:
  // Starts the server and waits until it answers PING: polls connect() with
  // exponential backoff (50 µs doubling to 20 ms), fails at once if the
  // server exits. Throws std::system_error or std::runtime_error (with the
  // end of the server's log); nothing is left behind when it throws.
  RedisServer();
  explicit RedisServer(const RedisServerOptions& options);
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  RedisServer(RedisServer&&) = delete;
  RedisServer& operator=(RedisServer&&) = delete;

  // DIR/redis.sock: what redisConnectUnix and redis+socket:// URLs want.
  const std::filesystem::path& socket_path() const noexcept { return socket_path_; }
  // The server's private directory (mode 0700), removed by the destructor.
  const std::filesystem::path& dir() const noexcept { return dir_; }
  // The redis-server process (its main thread runs every command).
  pid_t pid() const noexcept { return pid_; }
  // The last `max_bytes` of the server's stdout + stderr.
  std::string log_tail(std::size_t max_bytes = 2000) const;

 private:
  void start(const RedisServerOptions& options);
  void wait_until_ready(std::chrono::milliseconds timeout);
  void stop() noexcept;

  std::filesystem::path dir_, socket_path_, log_path_;
  pid_t pid_ = -1;
};

}  // namespace execkit::bench
