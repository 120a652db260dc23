#include "testbed_client.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

extern char** environ;

namespace execkit::redis::testing {

std::filesystem::path testbed_path() {
  if (const char* path = std::getenv("EXECKIT_REDIS_TESTBED"); path && *path) return path;
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "execkit-redis-testbed";
}

Testbed::Testbed(const TestbedOptions& options) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv{testbed_path().string(), "--nodes", std::to_string(options.nodes), "--lease-ms",
                                std::to_string(options.lease.count()), "--max-workers",
                                std::to_string(options.max_workers_per_node)};
  std::string password_file;
  if (!options.password.empty()) {
    char name[] = "/tmp/execkit-testbed-pw-XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    password_file = name;
    std::ofstream(password_file) << options.password << "\n";
    argv.insert(argv.end(), {"--password-file", password_file});
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  ::waitpid(pid, nullptr, 0);  // the detaching parent; the testbed lives on
  to_testbed_ = in[1];
  from_testbed_ = ::fdopen(out[0], "r");
  const auto ready = read_line();
  if (!password_file.empty()) std::filesystem::remove(password_file);
  std::istringstream words(ready);
  std::string word;
  words >> word >> socket_ >> pool_;
  if (word != "ready") throw std::runtime_error("execkit-redis-testbed failed: " + ready);
}

Testbed::~Testbed() {
  if (to_testbed_ >= 0) {
    [[maybe_unused]] auto n = ::write(to_testbed_, "stop\n", 5);
    ::close(to_testbed_);
  }
  if (from_testbed_ != nullptr) {
    // EOF once the testbed has stopped everything and exited.
    while (std::fgetc(from_testbed_) != EOF) {
    }
    std::fclose(from_testbed_);
  }
}

std::string Testbed::read_line() {
  std::string line;
  for (int c = std::fgetc(from_testbed_); c != EOF && c != '\n'; c = std::fgetc(from_testbed_)) line += static_cast<char>(c);
  return line;
}

std::string Testbed::command(const std::string& line) {
  const std::string text = line + "\n";
  if (::write(to_testbed_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    throw std::runtime_error("testbed command failed: " + line);
  const auto answer = read_line();
  if (!answer.starts_with("ok")) throw std::runtime_error("testbed command '" + line + "' failed: " + answer);
  return answer.size() > 3 ? answer.substr(3) : "";
}

pid_t Testbed::node_pid(int index) { return static_cast<pid_t>(std::stoi(command("node-pid " + std::to_string(index)))); }

}  // namespace execkit::redis::testing
