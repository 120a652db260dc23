// End to end: runs the built `execkit` binary against the probe module.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "unique_fd.hpp"

extern char** environ;

namespace execkit::cli {
namespace {

using test_support::TempDir;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string execkit_path = EXECKIT_CLI_PATH;
const std::string probe_dir = EXECKIT_PROBE_DIR;
// Generous: nothing here should take more than a few seconds.
constexpr auto process_timeout = 60s;

struct Finished {
  std::optional<int> exit_code;
  std::optional<int> term_signal;
  std::string out;
  std::string err;
  Clock::duration elapsed{};
};

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
  Pipe() {
    std::array<int, 2> fds{};
    if (::pipe2(fds.data(), O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
};

struct RunSpec {
  std::vector<std::string> args;
  std::string stdin_data;
  std::map<std::string, std::string> env;  // added to the inherited one, minus its EXECKIT_*
  bool stdout_closed = false;              // the reader of stdout is gone before the start
};

// The environment for execkit: this process's, without EXECKIT_* settings
// that could change its configuration, plus `extra`.
std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "EXECKIT_", 8) != 0) env.emplace_back(*entry);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

// A running execkit with piped stdin, stdout and stderr.
class CliProcess {
 public:
  explicit CliProcess(const RunSpec& spec) : stdin_data_(spec.stdin_data), started_(Clock::now()) {
    // Writing stdin of an execkit that stopped reading must be EPIPE here,
    // not a SIGPIPE; the child gets the default disposition back below.
    ::signal(SIGPIPE, SIG_IGN);
    Pipe in, out, err;
    if (spec.stdout_closed) out.read_end.reset();

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in.read_end.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out.write_end.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err.write_end.get(), STDERR_FILENO);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    std::vector<std::string> args{execkit_path};
    args.insert(args.end(), spec.args.begin(), spec.args.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = child_environment(spec.env);
    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);

    const int error = ::posix_spawn(&pid_, execkit_path.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (error != 0) throw std::system_error(error, std::generic_category(), "posix_spawn " + execkit_path);
    stdin_ = std::move(in.write_end);
    stdout_ = std::move(out.read_end);
    stderr_ = std::move(err.read_end);
    if (stdin_data_.empty()) stdin_.reset();
  }

  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;
  ~CliProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  // Feeds stdin, collects stdout and stderr until both close, then reaps.
  // A process still running after process_timeout is killed and reported.
  Finished finish() {
    Finished result;
    const auto give_up = Clock::now() + process_timeout;
    std::size_t written = 0;
    while (stdin_ || stdout_ || stderr_) {
      std::array<pollfd, 3> fds{{{stdin_ ? stdin_.get() : -1, POLLOUT, 0},
                                 {stdout_ ? stdout_.get() : -1, POLLIN, 0},
                                 {stderr_ ? stderr_.get() : -1, POLLIN, 0}}};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - Clock::now()).count();
      if (left <= 0) {
        ADD_FAILURE() << "execkit did not finish within " << process_timeout.count() << " s";
        ::kill(pid_, SIGKILL);
        break;
      }
      if (::poll(fds.data(), fds.size(), static_cast<int>(left)) < 0 && errno != EINTR) {
        throw std::system_error(errno, std::generic_category(), "poll");
      }
      if (fds[0].revents != 0) {
        const ssize_t n = ::write(stdin_.get(), stdin_data_.data() + written, stdin_data_.size() - written);
        if (n > 0) written += static_cast<std::size_t>(n);
        if (n < 0 || written == stdin_data_.size()) stdin_.reset();
      }
      drain(fds[1].revents, stdout_, result.out);
      drain(fds[2].revents, stderr_, result.err);
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    result.elapsed = Clock::now() - started_;
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
    return result;
  }

 private:
  static void drain(short revents, UniqueFd& fd, std::string& sink) {
    if (revents == 0) return;
    std::array<char, 65536> buffer{};
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n > 0) {
      sink.append(buffer.data(), static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      fd.reset();
    }
  }

  std::string stdin_data_;
  Clock::time_point started_;
  pid_t pid_ = -1;
  UniqueFd stdin_, stdout_, stderr_;
};

Finished run_execkit(const RunSpec& spec) { return CliProcess(spec).finish(); }

// `execkit run -L <probe dir> [options...] execkit_probe <function>`.
RunSpec probe_call(const std::string& function, std::vector<std::string> options = {}, std::string stdin_data = "") {
  RunSpec spec;
  spec.args = {"run", "-L", probe_dir};
  spec.args.insert(spec.args.end(), options.begin(), options.end());
  spec.args.push_back("execkit_probe");
  spec.args.push_back(function);
  spec.stdin_data = std::move(stdin_data);
  return spec;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The direct children of `parent`, from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat_file("/proc/" + name + "/stat");
    std::string stat;
    std::getline(stat_file, stat, '\0');  // a failed read (ESRCH) must not throw
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent) {
      children.push_back(static_cast<pid_t>(std::stoi(name)));
    }
  }
  return children;
}

template <class Predicate>
bool wait_until(Predicate predicate, Clock::duration timeout) {
  const auto give_up = Clock::now() + timeout;
  while (!predicate()) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(10ms);  // polling a condition, not timing a race
  }
  return true;
}

std::string random_bytes(std::size_t size) {
  std::mt19937_64 generator(12345);
  std::string bytes(size, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(generator());
  return bytes;
}

TEST(Cli, EchoCopiesBinaryStdinToStdout) {
  const std::string payload("a\0b\xff\n\r\x7f", 7);
  const Finished done = run_execkit(probe_call("echo", {"--input", "-"}, payload));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, payload);
  EXPECT_EQ(done.err, "");
}

TEST(Cli, WithoutInputOptionTheInputIsEmptyAndStdinUnread) {
  const Finished done = run_execkit(probe_call("echo", {}, "ignored"));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "");
}

TEST(Cli, LargeInputFileComesBackByteExact) {
  const TempDir dir;
  const std::string payload = random_bytes(3 * 1024 * 1024 + 17);
  const auto input = dir.path() / "input.bin";
  std::ofstream(input, std::ios::binary) << payload;
  const Finished done = run_execkit(probe_call("echo", {"--input", input.string()}));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out.size(), payload.size());
  EXPECT_TRUE(done.out == payload);
}

TEST(Cli, ModuleGivenAsAPath) {
  RunSpec spec;
  spec.args = {"run", "--input=-", probe_dir + "/libexeckit_probe.so", "echo"};
  spec.stdin_data = "by path";
  const Finished done = run_execkit(spec);
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "by path");
}

TEST(Cli, EnvAndUnsetApplyToTheCall) {
  const Finished done = run_execkit(
      probe_call("env", {"--env", "EXECKIT_CLI_SET=a=b", "--env", "EXECKIT_CLI_GONE=x", "--unset", "EXECKIT_CLI_GONE"}));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_NE(("\n" + done.out).find("\nEXECKIT_CLI_SET=a=b\n"), std::string::npos) << done.out;
  EXPECT_EQ(done.out.find("EXECKIT_CLI_GONE"), std::string::npos) << done.out;
}

TEST(Cli, UnsetRemovesAnInheritedWhitelistedVariable) {
  RunSpec spec = probe_call("env", {"--unset", "LANG"});
  spec.env["LANG"] = "C.UTF-8";
  const Finished done = run_execkit(spec);
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(("\n" + done.out).find("\nLANG="), std::string::npos) << done.out;

  RunSpec kept = probe_call("env");
  kept.env["LANG"] = "C.UTF-8";
  EXPECT_NE(("\n" + run_execkit(kept).out).find("\nLANG=C.UTF-8\n"), std::string::npos);
}

TEST(Cli, CwdSetsTheTaskDirectory) {
  const TempDir dir;
  const auto canonical = std::filesystem::canonical(dir.path());
  const Finished done = run_execkit(probe_call("cwd", {"--cwd", canonical.string()}));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, canonical.string());
}

TEST(Cli, MetricsAreOneJsonLineOnStderr) {
  const Finished done = run_execkit(probe_call("echo", {"--metrics", "--input", "-"}, "x"));
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "x");
  ASSERT_FALSE(done.err.empty());
  EXPECT_EQ(done.err.find('\n'), done.err.size() - 1) << done.err;
  EXPECT_EQ(done.err.front(), '{');
  EXPECT_EQ(done.err.substr(done.err.size() - 2), "}\n");
  for (const char* key : {"peak_rss_kib", "user_time_us", "system_time_us", "started_at_ns", "finished_at_ns",
                          "wall_time_ns", "worker_pid", "worker_id", "node_id"}) {
    EXPECT_NE(done.err.find(std::string("\"") + key + "\":"), std::string::npos) << key;
  }
  EXPECT_EQ(done.err.find("\"worker_pid\":0,"), std::string::npos) << done.err;
}

TEST(Cli, TaskFailureNamesTypeAndMessageThenIndentedStderr) {
  const Finished done = run_execkit(probe_call("fail", {"--input", "-"}, "boom"));
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_EQ(done.out, "");
  EXPECT_EQ(done.err, "execkit: task failed: std::runtime_error: boom\n  probe stderr: boom\n");
}

TEST(Cli, TaskFailureWithMetricsPrintsTheJsonLineFirst) {
  const Finished done = run_execkit(probe_call("fail", {"--metrics", "--input", "-"}, "boom"));
  EXPECT_EQ(done.exit_code, 3);
  ASSERT_EQ(done.err.front(), '{') << done.err;
  const auto json_end = done.err.find("}\n");
  ASSERT_NE(json_end, std::string::npos) << done.err;
  EXPECT_NE(done.err.find("\"worker_pid\":"), std::string::npos) << done.err;
  EXPECT_EQ(done.err.substr(json_end + 2), "execkit: task failed: std::runtime_error: boom\n  probe stderr: boom\n");
}

TEST(Cli, MissingFunctionIsATaskErrorNamingIt) {
  const Finished done = run_execkit(probe_call("no_such_task"));
  EXPECT_EQ(done.exit_code, 3);
  EXPECT_EQ(first_line(done.err).rfind("execkit: task failed: ", 0), 0U) << done.err;
  EXPECT_NE(first_line(done.err).find("no_such_task"), std::string::npos) << done.err;
}

TEST(Cli, TimeoutNamesTheDeadlineAndStopsEarly) {
  const Finished done = run_execkit(probe_call("sleep_ms", {"--deadline", "0.3", "--input", "-"}, "30000"));
  EXPECT_EQ(done.exit_code, 4);
  EXPECT_EQ(done.err, "execkit: timed out after 0.3 s\n");
  EXPECT_LT(done.elapsed, 20s);
}

TEST(Cli, WorkerKilledBySignalNamesIt) {
  const Finished done = run_execkit(probe_call("crash_signal", {"--input", "-"}, "6"));
  EXPECT_EQ(done.exit_code, 5) << done.err;
  EXPECT_EQ(first_line(done.err), "execkit: worker killed by signal 6 (SIGABRT)");
}

TEST(Cli, WorkerExitNamesTheStatus) {
  const Finished done = run_execkit(probe_call("exit_code", {"--input", "-"}, "3"));
  EXPECT_EQ(done.exit_code, 5) << done.err;
  EXPECT_EQ(first_line(done.err), "execkit: worker exited with status 3");
}

TEST(Cli, MissingModuleIsAUsageErrorNamingTheSearchPath) {
  RunSpec spec;
  spec.args = {"run", "-L", probe_dir, "nope", "echo"};
  const Finished done = run_execkit(spec);
  EXPECT_EQ(done.exit_code, 2);
  EXPECT_EQ(done.err, "execkit: module 'nope' not found on search path [" + probe_dir + "]\n");
}

TEST(Cli, BadDeadlineIsAUsageErrorNamingTheValue) {
  const Finished done = run_execkit(probe_call("echo", {"--deadline", "abc"}));
  EXPECT_EQ(done.exit_code, 2);
  EXPECT_EQ(done.err, "execkit: bad --deadline 'abc': not a positive number of seconds\n");
}

TEST(Cli, UnknownOptionAndMissingValueAreUsageErrors) {
  const Finished unknown = run_execkit(probe_call("echo", {"--frobnicate"}));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err, "execkit: unknown option '--frobnicate'\n");
  RunSpec missing;
  missing.args = {"run", "execkit_probe", "echo", "--input"};
  const Finished done = run_execkit(missing);
  EXPECT_EQ(done.exit_code, 2);
  EXPECT_EQ(done.err, "execkit: option '--input' needs a value\n");
}

TEST(Cli, BadConfigurationFromTheEnvironmentIsExitSeven) {
  RunSpec spec = probe_call("echo");
  spec.env["EXECKIT_MAX_WORKERS"] = "abc";
  const Finished done = run_execkit(spec);
  EXPECT_EQ(done.exit_code, 7);
  EXPECT_EQ(done.err.rfind("execkit: configuration error: ", 0), 0U) << done.err;
  EXPECT_NE(done.err.find("EXECKIT_MAX_WORKERS"), std::string::npos) << done.err;
  EXPECT_NE(done.err.find("abc"), std::string::npos) << done.err;
  EXPECT_EQ(done.err.find('\n'), done.err.size() - 1) << done.err;
}

TEST(Cli, HelpAndVersionGoToStdout) {
  RunSpec help;
  help.args = {"--help"};
  const Finished general = run_execkit(help);
  EXPECT_EQ(general.exit_code, 0);
  EXPECT_NE(general.out.find("Usage: execkit run"), std::string::npos);
  EXPECT_NE(general.out.find("Exit codes"), std::string::npos);

  help.args = {"run", "--help"};
  const Finished run = run_execkit(help);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("--deadline SECONDS"), std::string::npos);

  help.args = {"--version"};
  const Finished version = run_execkit(help);
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("execkit ", 0), 0U);
}

TEST(Cli, ClosedStdoutIsAnErrorNotACrash) {
  const TempDir dir;
  const auto input = dir.path() / "input.bin";
  std::ofstream(input, std::ios::binary) << random_bytes(1024 * 1024);
  RunSpec spec = probe_call("echo", {"--input", input.string()});
  spec.stdout_closed = true;
  const Finished done = run_execkit(spec);
  EXPECT_EQ(done.term_signal, std::nullopt);
  EXPECT_EQ(done.exit_code, 1);
  EXPECT_EQ(done.err, "execkit: cannot write the result to standard output: Broken pipe\n");
}

TEST(Cli, InterruptCancelsTheCallAndReapsTheWorker) {
  const TempDir dir;
  const auto input = dir.path() / "sleep_ms.txt";
  std::ofstream(input) << "60000";
  // Input from a file: stdin is only fed by finish().
  CliProcess process(probe_call("sleep_ms", {"--input", input.string()}));
  std::vector<pid_t> workers;
  // A worker exists only once execkit's signal handling is in place.
  ASSERT_TRUE(wait_until([&] { return !(workers = children_of(process.pid())).empty(); }, 20s));
  ASSERT_EQ(::kill(process.pid(), SIGINT), 0);
  const Finished done = process.finish();
  EXPECT_EQ(done.exit_code, 130) << done.err;
  EXPECT_EQ(done.err, "execkit: interrupted by SIGINT; call cancelled\n");
  EXPECT_LT(done.elapsed, 30s);
  for (const pid_t worker : workers) {
    EXPECT_NE(::kill(worker, 0), 0) << "worker " << worker << " outlived execkit";
  }
}

}  // namespace
}  // namespace execkit::cli
