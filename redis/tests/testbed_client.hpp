// Drives execkit-redis-testbed from a test: a private redis-server on a unix
// socket and N execkit-node agents, torn down when this object goes away
// (or when the test process dies: the testbed sees its stdin close).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

namespace execkit::redis::testing {

struct TestbedOptions {
  int nodes = 2;
  std::chrono::milliseconds lease{1000};
  int max_workers_per_node = 2;
  std::string password;  // empty: no AUTH
};

class Testbed {
 public:
  explicit Testbed(const TestbedOptions& options);
  ~Testbed();
  Testbed(const Testbed&) = delete;
  Testbed& operator=(const Testbed&) = delete;

  std::string address() const { return "unix:" + socket_; }
  const std::string& pool() const { return pool_; }

  void kill_node(int index) { command("kill-node " + std::to_string(index)); }
  void start_node(int index) { command("start-node " + std::to_string(index)); }
  void stop_node(int index) { command("stop-node " + std::to_string(index)); }
  pid_t node_pid(int index);
  void kill_redis() { command("kill-redis"); }
  void start_redis() { command("start-redis"); }

 private:
  std::string command(const std::string& line);
  std::string read_line();

  int to_testbed_ = -1;
  std::FILE* from_testbed_ = nullptr;
  std::string socket_, pool_;
};

// Where the test binaries find execkit-redis-testbed: $EXECKIT_REDIS_TESTBED, else next to themselves.
std::filesystem::path testbed_path();

}  // namespace execkit::redis::testing
