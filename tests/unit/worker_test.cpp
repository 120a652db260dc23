// Drives execkit-worker directly over its control socket, the way
// reference/src/worker_process.cpp does, with the probe module as the task.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "envelope.hpp"
#include "execkit/call.hpp"
#include "probe_support.hpp"
#include "unique_fd.hpp"
#include "temp_dir.hpp"

namespace execkit {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test_support::TempDir;

constexpr auto generous_timeout = 30s;
constexpr const char* worker_id = "0123456789ab";

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string text_of(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::vector<std::byte> probe_bytes(std::size_t count, std::uint64_t seed) {
  std::vector<std::byte> bytes(count);
  probe::ByteStream(seed).fill(bytes);
  return bytes;
}

std::vector<std::byte> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return to_bytes(text);
}

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so call the kernel directly.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
void kill_via_pidfd(int pidfd, int sig) { ::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0); }

UniqueFd move_above_std_fds(int fd) {
  UniqueFd original(fd);
  UniqueFd moved(::fcntl(fd, F_DUPFD_CLOEXEC, 10));
  if (!moved) throw_errno("fcntl F_DUPFD_CLOEXEC");
  return moved;
}

// One execkit-worker process with its control socket and output pipes.
class WorkerHarness {
 public:
  explicit WorkerHarness(const fs::path& base_dir, std::vector<std::string> args = default_args()) {
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) throw_errno("socketpair");
    control_ = move_above_std_fds(sockets[0]);
    UniqueFd worker_end = move_above_std_fds(sockets[1]);
    auto [stdout_read, stdout_write] = make_pipe();
    auto [stderr_read, stderr_write] = make_pipe();
    stdout_ = std::move(stdout_read);
    stderr_ = std::move(stderr_read);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, stdout_write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, stderr_write.get(), 2);
    posix_spawn_file_actions_adddup2(&actions, worker_end.get(), 3);
    posix_spawn_file_actions_addchdir_np(&actions, base_dir.c_str());

    std::vector<std::string> argv_strings{EXECKIT_WORKER_PATH};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<std::string> env_strings{std::string("EXECKIT_WORKER_ID=") + worker_id,
                                         "EXECKIT_NODE_ID=test-node", "PATH=/usr/bin:/bin"};
    auto argv = pointers(argv_strings);
    auto envp = pointers(env_strings);
    const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "posix_spawn execkit-worker");
    pidfd_ = UniqueFd(open_pidfd(pid_));
    if (!pidfd_) throw_errno("pidfd_open");
  }

  ~WorkerHarness() {
    if (exit_status_) return;
    control_.reset();  // EOF: the worker exits on its own
    if (!wait_for_exit(generous_timeout)) {
      kill_via_pidfd(pidfd_.get(), SIGKILL);
      wait_for_exit(generous_timeout);
    }
  }

  static std::vector<std::string> default_args() {
    return {"--control-fd=3", "--parent-pid=" + std::to_string(::getpid()), "--pdeathsig"};
  }

  pid_t pid() const { return pid_; }

  void send(std::span<const std::byte> bytes, int attached_fd = -1) {
    iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (attached_fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &attached_fd, sizeof attached_fd);
    }
    if (::sendmsg(control_.get(), &msg, MSG_NOSIGNAL) < 0) throw_errno("sendmsg to the worker");
  }

  wire::Response receive() {
    pollfd p{control_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms(generous_timeout)) != 1)
      throw std::runtime_error("no response from the worker");
    std::vector<std::byte> buffer(wire::max_message_bytes);
    const ssize_t n = ::recv(control_.get(), buffer.data(), buffer.size(), 0);
    if (n <= 0) throw std::runtime_error("worker closed the control socket; stderr: " + stderr_text());
    buffer.resize(static_cast<std::size_t>(n));
    auto response = wire::decode_response(buffer);
    if (!response) throw std::runtime_error("undecodable response from the worker");
    return *response;
  }

  wire::Response call(const wire::Request& request, int input_fd = -1) {
    send(wire::encode(request), input_fd);
    auto response = receive();
    EXPECT_EQ(response.call_id, request.call_id);
    return response;
  }

  void close_control() { control_.reset(); }
  // The worker sees the end of the channel after what was sent; we can still read.
  void end_requests() {
    if (::shutdown(control_.get(), SHUT_WR) != 0) throw_errno("shutdown");
  }
  // A datagram already waiting, without blocking.
  bool response_waiting() {
    std::byte byte{};
    return ::recv(control_.get(), &byte, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
  }

  // The wait status once the worker has exited, nullopt after `timeout`.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) {
    if (exit_status_) return exit_status_;
    pollfd p{pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms(timeout)) != 1) return std::nullopt;
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) throw_errno("waitpid");
    exit_status_ = status;
    return status;
  }

  // Everything the worker wrote to stderr so far, waiting up to `timeout`
  // for `expected` to show up.
  std::string stderr_text(std::string_view expected = {}, std::chrono::milliseconds timeout = 0ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      drain(stderr_.get(), stderr_seen_);
      if (expected.empty() || stderr_seen_.find(expected) != std::string::npos) return stderr_seen_;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return stderr_seen_;
      pollfd p{stderr_.get(), POLLIN, 0};
      ::poll(&p, 1, timeout_ms(left));
    }
  }

 private:
  static int timeout_ms(std::chrono::milliseconds timeout) { return static_cast<int>(timeout.count()); }

  static std::pair<UniqueFd, UniqueFd> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    UniqueFd read_end = move_above_std_fds(fds[0]);
    UniqueFd write_end = move_above_std_fds(fds[1]);
    if (::fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0) throw_errno("fcntl O_NONBLOCK");
    return {std::move(read_end), std::move(write_end)};
  }

  static std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  }

  static void drain(int fd, std::string& into) {
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) into.append(buffer, static_cast<std::size_t>(n));
  }

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd control_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  std::string stderr_seen_;
  std::optional<int> exit_status_;
};

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest() : worker_(base_.path()) {}

  // A run request for a probe task, its module found through probe_dir_.
  wire::Request probe_call(std::string function, std::string_view input = {}) {
    wire::Request request;
    request.call_id = ++last_call_id_;
    request.module = "execkit_probe";
    request.function = std::move(function);
    request.search_path = {probe_dir_.string()};
    request.inline_input = to_bytes(input);
    request.input_size = request.inline_input.size();
    request.spill_path = spill_path(request.call_id);
    request.max_result_bytes = std::uint64_t{1} << 30;
    return request;
  }

  std::string spill_path(std::uint64_t call_id) const {
    return (spill_.path() / ("call-" + std::to_string(call_id) + ".spill")).string();
  }

  // Runs a probe task that must succeed with an inline result; returns it as text.
  std::string run_ok(const wire::Request& request) {
    auto response = worker_.call(request);
    EXPECT_EQ(response.kind, wire::ResponseKind::ok) << response.error_type << ": " << response.error_message;
    EXPECT_EQ(response.location, wire::ResultLocation::inline_bytes);
    EXPECT_FALSE(response.retire) << response.retire_reason;
    return text_of(response.inline_result);
  }

  std::string run_ok(std::string function, std::string_view input = {}) {
    return run_ok(probe_call(std::move(function), input));
  }

  void expect_task_error(const wire::Response& response, std::string_view type) {
    EXPECT_EQ(response.kind, wire::ResponseKind::task_error);
    EXPECT_EQ(response.error_type, type) << response.error_message;
    EXPECT_FALSE(response.retire) << response.retire_reason;
    EXPECT_GT(response.metrics.finished_at_ns, 0);
  }

  TempDir base_;
  TempDir spill_;
  fs::path probe_dir_ = fs::path(EXECKIT_PROBE_PATH).parent_path();
  WorkerHarness worker_;
  std::uint64_t last_call_id_ = 0;
};

TEST_F(WorkerTest, EchoReturnsInputInlineWithMetrics) {
  auto response = worker_.call(probe_call("echo", "hello worker"));
  ASSERT_EQ(response.kind, wire::ResponseKind::ok);
  EXPECT_EQ(response.location, wire::ResultLocation::inline_bytes);
  EXPECT_EQ(text_of(response.inline_result), "hello worker");
  EXPECT_EQ(response.result_size, 12u);
  EXPECT_GT(response.metrics.peak_rss_kib, 0);
  EXPECT_GT(response.metrics.started_at_ns, 0);
  EXPECT_GE(response.metrics.finished_at_ns, response.metrics.started_at_ns);
  EXPECT_FALSE(response.retire) << response.retire_reason;
}

TEST_F(WorkerTest, PidIsTheWorkersPid) { EXPECT_EQ(run_ok("pid"), std::to_string(worker_.pid())); }

TEST_F(WorkerTest, ResultAtTheInlineLimitStaysInline) {
  const auto size = wire::max_inline_result;
  auto response = worker_.call(probe_call("write_bytes", std::to_string(size) + ",3"));
  ASSERT_EQ(response.kind, wire::ResponseKind::ok) << response.error_message;
  EXPECT_EQ(response.location, wire::ResultLocation::inline_bytes);
  EXPECT_EQ(response.inline_result, probe_bytes(size, 3));
  EXPECT_FALSE(fs::exists(spill_path(last_call_id_)));
}

TEST_F(WorkerTest, LargeResultGoesToTheSpillFileByteExactly) {
  const std::size_t size = 3 * (std::size_t{1} << 20) + 12345;  // several 1 MiB chunks plus a tail
  auto response = worker_.call(probe_call("write_bytes", std::to_string(size) + ",7"));
  ASSERT_EQ(response.kind, wire::ResponseKind::ok) << response.error_message;
  ASSERT_EQ(response.location, wire::ResultLocation::spill_file);
  EXPECT_EQ(response.result_size, size);
  EXPECT_TRUE(response.inline_result.empty());
  const auto path = spill_path(last_call_id_);
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(read_file(path) == probe_bytes(size, 7)) << "spill file bytes differ from the probe stream";
}

TEST_F(WorkerTest, InputPassedInAMemfdIsSeenByTheTask) {
  const auto input = probe_bytes(wire::max_inline_input * 3, 11);
  UniqueFd memfd(::memfd_create("input", MFD_CLOEXEC));
  ASSERT_TRUE(memfd);
  ASSERT_EQ(::write(memfd.get(), input.data(), input.size()), static_cast<ssize_t>(input.size()));
  auto request = probe_call("echo");
  request.input_in_fd = true;
  request.input_size = input.size();
  auto response = worker_.call(request, memfd.get());
  ASSERT_EQ(response.kind, wire::ResponseKind::ok) << response.error_message;
  ASSERT_EQ(response.location, wire::ResultLocation::spill_file);
  EXPECT_TRUE(read_file(spill_path(request.call_id)) == input);
}

TEST_F(WorkerTest, ResultOverTheCapIsTooLargeAndLeavesNoSpillFile) {
  for (std::uint64_t cap : {std::uint64_t{100}, std::uint64_t{1} << 20}) {
    auto request = probe_call("write_bytes", std::to_string(cap + 1));
    request.max_result_bytes = cap;
    auto response = worker_.call(request);
    EXPECT_EQ(response.kind, wire::ResponseKind::result_error) << "cap " << cap;
    EXPECT_EQ(response.result_error_reason, wire::ResultErrorReason::too_large);
    EXPECT_NE(response.error_message.find(std::to_string(cap)), std::string::npos) << response.error_message;
    EXPECT_FALSE(fs::exists(request.spill_path)) << "cap " << cap;
  }
  auto request = probe_call("write_bytes", "100");
  request.max_result_bytes = 100;
  EXPECT_EQ(run_ok(request).size(), 100u) << "a result exactly at the cap is fine";
}

TEST_F(WorkerTest, UncreatableSpillFileIsAWriteFailure) {
  auto request = probe_call("write_bytes", std::to_string(wire::max_inline_result + 1));
  request.spill_path = (spill_.path() / "missing-dir" / "x.spill").string();
  auto response = worker_.call(request);
  EXPECT_EQ(response.kind, wire::ResponseKind::result_error);
  EXPECT_EQ(response.result_error_reason, wire::ResultErrorReason::write_failed);
  EXPECT_NE(response.error_message.find("missing-dir"), std::string::npos) << response.error_message;
  EXPECT_EQ(run_ok("echo", "still serving"), "still serving");
}

TEST_F(WorkerTest, EnvUpdatesApplyToOneCallOnly) {
  const auto base_env = run_ok("env");
  EXPECT_NE(base_env.find(std::string("EXECKIT_WORKER_ID=") + worker_id + "\n"), std::string::npos)
      << base_env;
  EXPECT_NE(base_env.find("EXECKIT_NODE_ID=test-node\n"), std::string::npos) << base_env;

  auto with_update = probe_call("env");
  with_update.env_updates = {{"PROBE_VAR", "some value"}, {"EXECKIT_NODE_ID", std::nullopt}};
  const auto updated_env = run_ok(with_update);
  EXPECT_NE(updated_env.find("PROBE_VAR=some value\n"), std::string::npos) << updated_env;
  EXPECT_EQ(updated_env.find("EXECKIT_NODE_ID"), std::string::npos) << updated_env;

  EXPECT_EQ(run_ok("env"), base_env);
}

TEST_F(WorkerTest, EnvUpdatesAreUndoneAfterAFailedCall) {
  const auto base_env = run_ok("env");
  auto failing = probe_call("fail", "boom");
  failing.env_updates = {{"PROBE_VAR", "x"}};
  expect_task_error(worker_.call(failing), "std::runtime_error");
  EXPECT_EQ(run_ok("env"), base_env);
}

TEST_F(WorkerTest, TaskOwnSetenvDoesNotPersist) {
  const auto base_env = run_ok("env");
  EXPECT_EQ(run_ok("setenv", "LEAKED_BY_TASK=1"), "ok");
  EXPECT_EQ(run_ok("setenv", "EXECKIT_NODE_ID=changed"), "ok");
  EXPECT_EQ(run_ok("env"), base_env);
}

TEST_F(WorkerTest, ProcEnvironHoldsTheSpawnEnvironment) {
  const auto environ_block = run_ok("proc_environ");
  EXPECT_NE(environ_block.find(std::string("EXECKIT_WORKER_ID=") + worker_id + '\0'), std::string::npos);
}

TEST_F(WorkerTest, CwdIsPerCall) {
  const auto base_cwd = fs::canonical(base_.path()).string();
  EXPECT_EQ(run_ok("cwd"), base_cwd);
  EXPECT_EQ(run_ok("chdir", "/"), "ok");
  EXPECT_EQ(run_ok("cwd"), base_cwd);

  auto elsewhere = probe_call("cwd");
  elsewhere.cwd = spill_.path().string();
  EXPECT_EQ(run_ok(elsewhere), fs::canonical(spill_.path()).string());
  EXPECT_EQ(run_ok("cwd"), base_cwd);
}

TEST_F(WorkerTest, MissingCwdIsATaskError) {
  auto request = probe_call("cwd");
  request.cwd = (base_.path() / "no-such-dir").string();
  auto response = worker_.call(request);
  expect_task_error(response, "execkit.CwdError");
  EXPECT_NE(response.error_message.find("no-such-dir"), std::string::npos) << response.error_message;
  EXPECT_EQ(run_ok("cwd"), fs::canonical(base_.path()).string());
}

TEST_F(WorkerTest, MissingModuleIsATaskErrorAndTheWorkerSurvives) {
  auto request = probe_call("echo");
  request.module = "no_such_module";
  auto response = worker_.call(request);
  expect_task_error(response, "execkit.ModuleNotFound");
  EXPECT_NE(response.error_message.find("no_such_module"), std::string::npos) << response.error_message;
  EXPECT_NE(response.error_message.find(probe_dir_.string()), std::string::npos) << response.error_message;
  EXPECT_EQ(run_ok("echo", "after"), "after");
}

TEST_F(WorkerTest, MissingFunctionIsATaskErrorAndTheWorkerSurvives) {
  auto response = worker_.call(probe_call("no_such_function"));
  expect_task_error(response, "execkit.FunctionNotFound");
  EXPECT_NE(response.error_message.find("no_such_function"), std::string::npos) << response.error_message;
  EXPECT_NE(response.error_message.find("libexeckit_probe.so"), std::string::npos) << response.error_message;
  EXPECT_EQ(run_ok("echo", "after"), "after");
}

TEST_F(WorkerTest, UnloadableModuleIsATaskError) {
  const auto bogus = base_.path() / "libbogus.so";
  std::ofstream(bogus) << "not an ELF file";
  auto request = probe_call("echo");
  request.module = "bogus";
  request.search_path = {base_.path().string()};
  auto response = worker_.call(request);
  expect_task_error(response, "execkit.ModuleLoadFailed");
  EXPECT_NE(response.error_message.find("libbogus.so"), std::string::npos) << response.error_message;
  EXPECT_EQ(run_ok("echo", "after"), "after");
}

TEST_F(WorkerTest, FailingTaskCarriesTypeMessageAndStderr) {
  auto response = worker_.call(probe_call("fail", "the reason"));
  expect_task_error(response, "std::runtime_error");
  EXPECT_EQ(response.error_message, "the reason");
  EXPECT_NE(
      worker_.stderr_text("probe stderr: the reason\n", generous_timeout).find("probe stderr: the reason\n"),
      std::string::npos);
  EXPECT_EQ(run_ok("echo", "after"), "after");
}

bool worker_maps(pid_t pid, const fs::path& module) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.ends_with(" " + module.string())) return true;
  }
  return false;
}

TEST_F(WorkerTest, EachCallRunsTheModuleCopyItsSearchPathNames) {
  TempDir copies;
  const auto dir_a = fs::canonical(copies.path()) / "a";
  const auto dir_b = fs::canonical(copies.path()) / "b";
  for (const auto& dir : {dir_a, dir_b}) {
    fs::create_directory(dir);
    fs::copy_file(EXECKIT_PROBE_PATH, dir / "libexeckit_probe.so");
  }
  auto via_a = probe_call("echo", "a");
  via_a.search_path = {dir_a.string()};
  auto via_b = probe_call("echo", "b");
  via_b.search_path = {dir_b.string()};

  EXPECT_EQ(run_ok(via_a), "a");
  EXPECT_TRUE(worker_maps(worker_.pid(), dir_a / "libexeckit_probe.so"));
  EXPECT_EQ(run_ok(via_b), "b");
  EXPECT_TRUE(worker_maps(worker_.pid(), dir_b / "libexeckit_probe.so"));
  EXPECT_FALSE(worker_maps(worker_.pid(), dir_a / "libexeckit_probe.so")) << "copy a was not unloaded";

  // A path-like module name resolves against the call's cwd.
  auto by_path = probe_call("echo", "path");
  by_path.module = "./libexeckit_probe.so";
  by_path.search_path = {};
  by_path.cwd = dir_a.string();
  EXPECT_EQ(run_ok(by_path), "path");
  EXPECT_TRUE(worker_maps(worker_.pid(), dir_a / "libexeckit_probe.so"));
  EXPECT_FALSE(worker_maps(worker_.pid(), dir_b / "libexeckit_probe.so"));
}

TEST_F(WorkerTest, ReplacedFileOfAnUnloadableModuleNeedsAFreshWorker) {
  TempDir dir;
  const auto module_file = dir.path() / "libpinned.so";
  fs::copy_file(EXECKIT_NODELETE_PROBE_PATH, module_file);
  auto pinned = probe_call("echo", "pinned");
  pinned.module = "pinned";
  pinned.search_path = {dir.path().string()};
  EXPECT_EQ(run_ok(pinned), "pinned");
  EXPECT_EQ(run_ok("echo", "other module"), "other module");
  pinned.call_id = ++last_call_id_;
  EXPECT_EQ(run_ok(pinned), "pinned") << "the very same file may be reused";
  EXPECT_EQ(run_ok("echo", "other module"), "other module");

  fs::remove(module_file);
  fs::copy_file(EXECKIT_NODELETE_PROBE_PATH, module_file);  // same path, new file
  pinned.call_id = ++last_call_id_;
  auto response = worker_.call(pinned);
  EXPECT_EQ(response.kind, wire::ResponseKind::not_started);
  EXPECT_TRUE(response.retire);
  EXPECT_NE(response.retire_reason.find("libpinned.so"), std::string::npos) << response.retire_reason;
}

// The worker replies before it restores its state; state it cannot restore
// (here a thread the task left running) retires it with a notice naming the
// call it answered, and any request after that is never run.
TEST_F(WorkerTest, UnrestorableStateIsNoticedAfterTheReplyAndNothingRunsAfterIt) {
  const auto left_thread = probe_call("leave_thread");
  EXPECT_EQ(run_ok(left_thread), "ok");
  const auto notice = worker_.receive();
  EXPECT_EQ(notice.kind, wire::ResponseKind::not_started);
  EXPECT_EQ(notice.call_id, left_thread.call_id);
  EXPECT_TRUE(notice.retire);
  EXPECT_NE(notice.retire_reason.find("threads"), std::string::npos) << notice.retire_reason;

  const auto ignored = probe_call("bump_counter", (base_.path() / "ran").string() + "|ok");
  worker_.send(wire::encode(ignored));
  worker_.end_requests();
  auto status = worker_.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_FALSE(worker_.response_waiting()) << "the worker answered a request after its retirement notice";
  EXPECT_FALSE(fs::exists(base_.path() / "ran"));
}

// The worker reads /proc/self/status through fd 4 after every call; a task
// that closes it must not blind the checks that read depends on.
TEST_F(WorkerTest, ATaskClosingTheStatusFdDoesNotBlindTheStateChecks) {
  EXPECT_EQ(run_ok("close_fd", "4"), "ok");
  EXPECT_EQ(run_ok("echo", "still serving"), "still serving");
  const auto left_thread = probe_call("leave_thread");
  EXPECT_EQ(run_ok(left_thread), "ok");
  const auto notice = worker_.receive();
  EXPECT_EQ(notice.kind, wire::ResponseKind::not_started);
  EXPECT_EQ(notice.call_id, left_thread.call_id);
  EXPECT_NE(notice.retire_reason.find("threads"), std::string::npos) << notice.retire_reason;
}

TEST_F(WorkerTest, EndOfChannelMakesTheWorkerExitZero) {
  EXPECT_EQ(run_ok("echo", "x"), "x");
  worker_.close_control();
  auto status = worker_.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(WorkerTest, ExitRequestMakesTheWorkerExitZero) {
  wire::Request request;
  request.kind = wire::RequestKind::exit;
  worker_.send(wire::encode(request));
  auto status = worker_.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST_F(WorkerTest, GarbageMakesTheWorkerExitNonZero) {
  const auto garbage = to_bytes("this is not a request");
  worker_.send(garbage);
  auto status = worker_.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
  EXPECT_NE(worker_.stderr_text().find("undecodable"), std::string::npos) << worker_.stderr_text();
}

TEST_F(WorkerTest, UnannouncedFdMakesTheWorkerExitNonZero) {
  UniqueFd memfd(::memfd_create("input", MFD_CLOEXEC));
  ASSERT_TRUE(memfd);
  worker_.send(wire::encode(probe_call("echo", "x")), memfd.get());
  auto status = worker_.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 3);
}

TEST_F(WorkerTest, TaskExitAndSignalEndTheWorkerVisibly) {
  worker_.send(wire::encode(probe_call("exit_code", "7")));
  auto status = worker_.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 7);

  WorkerHarness second(base_.path());
  second.send(wire::encode(probe_call("crash_signal", std::to_string(SIGABRT))));
  status = second.wait_for_exit(generous_timeout);
  ASSERT_TRUE(status);
  ASSERT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGABRT);
}

TEST(WorkerArguments, BadCommandLinesExitTwoNamingTheArgument) {
  TempDir base;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--control-fd=3", "--parent-pid=1", "--bogus"}, "--bogus"},
      {{"--control-fd=three", "--parent-pid=1"}, "three"},
      {{"--control-fd=3", "--parent-pid=0"}, "--parent-pid"},
      {{"--parent-pid=1"}, "--control-fd"},
  };
  for (const auto& [args, named] : cases) {
    WorkerHarness worker(base.path(), args);
    auto status = worker.wait_for_exit(generous_timeout);
    ASSERT_TRUE(status) << named;
    ASSERT_TRUE(WIFEXITED(*status)) << named;
    EXPECT_EQ(WEXITSTATUS(*status), 2) << named;
    EXPECT_NE(worker.stderr_text().find(named), std::string::npos) << worker.stderr_text();
  }
}

}  // namespace
}  // namespace execkit
