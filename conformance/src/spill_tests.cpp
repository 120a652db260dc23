// SPILL: large results, spill files and their cleanup (CONTRACT.md, SPILL-1..SPILL-7).
#include <sys/inotify.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "child_caller.hpp"
#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "proc.hpp"
#include "scoped_env.hpp"
#include "test_support.hpp"

namespace execkit::conformance {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool address_sanitized = true;
#else
constexpr bool address_sanitized = false;
#endif
namespace {

constexpr std::uint64_t mib = std::uint64_t{1} << 20;
constexpr std::uint64_t gib = std::uint64_t{1} << 30;

// A result large enough to leave any inline path.
constexpr std::uint64_t spilled_size = 4 * mib;

std::string write_bytes_input(std::uint64_t size, std::uint64_t seed) {
  return std::to_string(size) + "," + std::to_string(seed);
}

void expect_stream(const Outcome& outcome, std::uint64_t size, std::uint64_t seed) {
  ASSERT_TRUE(succeeded(outcome)) << "a result of " << size << " bytes";
  const auto bytes = outcome.value().bytes();
  ASSERT_EQ(bytes.size(), size);
  const auto mismatch = first_stream_mismatch(bytes, seed);
  EXPECT_FALSE(mismatch.has_value()) << "a result of " << size << " bytes differs from what the task wrote at offset "
                                     << mismatch.value_or(0);
}

// Entries of `dir` not in `before`.
std::vector<std::string> new_entries(const std::filesystem::path& dir, const std::vector<std::string>& before) {
  std::vector<std::string> added;
  for (const auto& name : list_dir(dir)) {
    if (std::find(before.begin(), before.end(), name) == before.end()) added.push_back(name);
  }
  return added;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(saved_); }

 private:
  mode_t saved_;
};

// Whether `path`'s bytes lie in a file-backed mapping of this process.
bool in_file_mapping(const void* address) {
  std::ifstream maps("/proc/self/maps");
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, device;
    unsigned long long inode = 0;
    fields >> range >> perms >> offset >> device >> inode;
    const auto dash = range.find('-');
    const auto start = std::stoull(range.substr(0, dash), nullptr, 16);
    const auto end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (target >= start && target < end) return inode != 0;
  }
  return false;
}

// Reports whether anyone opened or read a file (inotify), e.g. a canary that
// a refused spill file points at. A hard link to it cannot be refused without
// opening it (its link count is a property of the opened file): watch reads only.
class OpenWatch {
 public:
  explicit OpenWatch(const std::filesystem::path& file, std::uint32_t events = IN_OPEN | IN_ACCESS)
      : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_ >= 0) ::inotify_add_watch(fd_, file.c_str(), events);
  }
  OpenWatch(const OpenWatch&) = delete;
  OpenWatch& operator=(const OpenWatch&) = delete;
  ~OpenWatch() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool touched() const {
    char buffer[4096];
    return fd_ >= 0 && ::read(fd_, buffer, sizeof buffer) > 0;
  }

 private:
  int fd_;
};

// How `config` was refused: the SpillError text from the factory or from the
// first call that spills; nullopt (and a description) if it was accepted.
std::optional<std::string> spill_refusal(const BackendUnderTest& backend_under_test, const WorkerConfig& config,
                                         const Call& spilling_call, Deadline deadline, std::string& accepted) {
  std::unique_ptr<ExecutorBackend> backend;
  try {
    backend = backend_under_test.make(config);
  } catch (const SpillError& e) {
    return std::string(e.what());
  }
  const auto outcome = outcome_of([&] { return backend->execute(spilling_call, deadline); });
  backend->shutdown(true);
  if (const auto* error = outcome.error_as<SpillError>()) return std::string(error->what());
  accepted = describe(outcome);
  return std::nullopt;
}

}  // namespace

TEST_P(Spill, SPILL_1_ResultsOfEverySizeRoundTripByteExactly) {
  auto backend = make_backend();
  std::uint64_t seed = 100;
  for (const std::uint64_t size : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{4095}, std::uint64_t{4096},
                                   std::uint64_t{32767}, std::uint64_t{32768}, std::uint64_t{32769},
                                   std::uint64_t{65539}, mib + 7, 16 * mib + 1}) {
    ++seed;
    expect_stream(run(*backend, probe_call("write_bytes", write_bytes_input(size, seed))), size, seed);
  }
  // Written in 4 KiB pieces, a result outgrows any inline buffer while the task runs.
  for (const std::uint64_t size : {std::uint64_t{32769}, mib + 7}) {
    ++seed;
    expect_stream(run(*backend, probe_call("write_bytes", write_bytes_input(size, seed) + ",4096")), size, seed);
  }
}

TEST_P(Spill, SPILL_1_OneGibResultRoundTripsByteExactly) {
  auto backend = make_backend();
  expect_stream(run(*backend, probe_call("write_bytes", write_bytes_input(gib, 11))), gib, 11);
}

TEST_P(Spill, SPILL_2_OneGibResultDoesNotGrowCallerMemory) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  AnonRssSampler rss;
  const auto outcome = run(*backend, probe_call("write_bytes", write_bytes_input(gib, 12)));
  ASSERT_TRUE(succeeded(outcome));
  ASSERT_EQ(outcome.value().bytes().size(), gib);
  EXPECT_FALSE(first_stream_mismatch(outcome.value().bytes(), 12).has_value());  // touches every page
  // ASan's mmap interceptor clears the shadow of every new mapping: 1/8 of
  // its size in anonymous memory that the backend does not control. ASan
  // also keeps freed heap blocks in its quarantine (256 MiB by default), so
  // a backend that streams the result through bounded buffers (a remote
  // one) looks that much bigger. A copy of the whole result still fails.
  constexpr std::int64_t sanitizer_shadow_kib =
      address_sanitized ? static_cast<std::int64_t>(gib / 8 / 1024) + 256 * 1024 : 0;
  EXPECT_LT(rss.peak_growth_kib(), 64 * 1024 + sanitizer_shadow_kib)
      << "a 1 GiB result raised the caller's anonymous RSS by " << rss.peak_growth_kib() / 1024 << " MiB";
  if (capabilities().has_named_spill_files) {
    EXPECT_TRUE(in_file_mapping(outcome.value().bytes().data())) << "a 1 GiB result is not a file mapping: it was copied";
  }
}

TEST_P(Spill, SPILL_3_DefaultSpillDirIsTmpdirExeckitUidWithMode0700) {
  EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);
  const auto tmpdir = make_dir(temp_dir(), "tmpdir");
  const auto expected = tmpdir / ("execkit-" + std::to_string(::getuid()));
  track_spill_dir(expected);
  ScopedEnv env;
  env.set("TMPDIR", tmpdir.string());
  ScopedUmask permissive(0);
  auto cfg = config();
  cfg.spill_dir.clear();
  auto backend = make_backend(cfg);
  expect_stream(run(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, 2))), spilled_size, 2);
  struct stat info {};
  ASSERT_EQ(::lstat(expected.c_str(), &info), 0) << expected << " was not created";
  EXPECT_TRUE(S_ISDIR(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0700u) << "the default spill dir has mode " << std::oct << (info.st_mode & 07777);
  EXPECT_EQ(info.st_uid, ::getuid());
}

TEST_P(Spill, SPILL_3_ConfiguredSpillDirIsCreatedWithMode0700) {
  EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);
  ScopedUmask permissive(0);
  auto backend = make_backend();  // config().spill_dir does not exist yet
  expect_stream(run(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, 3))), spilled_size, 3);
  struct stat info {};
  ASSERT_EQ(::lstat(spill_dir().c_str(), &info), 0) << spill_dir() << " was not created";
  EXPECT_EQ(info.st_mode & 07777, 0700u) << "the spill dir was created with mode " << std::oct << (info.st_mode & 07777);
}

TEST_P(Spill, SPILL_3_DotDotSegmentsAreResolved) {
  EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);
  const auto resolved = temp_dir() / "resolved-spill";
  track_spill_dir(resolved);
  auto cfg = config();
  cfg.spill_dir = temp_dir() / "never-created" / ".." / "resolved-spill";
  auto backend = make_backend(cfg);
  expect_stream(run(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, 4))), spilled_size, 4);
  EXPECT_TRUE(std::filesystem::is_directory(resolved)) << "the spill dir was not created at " << resolved;
  EXPECT_FALSE(std::filesystem::exists(temp_dir() / "never-created")) << "'..' was not resolved: the segment before it was created";
}

TEST_P(Spill, SPILL_3_SpillDirWithGroupOrOtherAccessIsRefused) {
  for (const unsigned mode : {0755u, 0770u, 0701u, 0707u}) {
    const auto dir = make_dir(temp_dir(), "open-spill-" + std::to_string(mode));
    std::filesystem::permissions(dir, static_cast<std::filesystem::perms>(mode));
    auto cfg = config();
    cfg.spill_dir = dir;
    cfg.max_result_bytes = std::uint64_t{1} << 32;
    std::string accepted;
    const auto refusal = spill_refusal(backend_under_test(), cfg, probe_call("write_bytes", write_bytes_input(spilled_size, 1)),
                                       call_deadline(), accepted);
    ASSERT_TRUE(refusal.has_value()) << "a spill dir with mode " << std::oct << mode << " was accepted: " << accepted;
    EXPECT_NE(refusal->find(dir.string()), std::string::npos) << "the error does not name the dir: " << *refusal;
  }
}

TEST_P(Spill, SPILL_3_SpillDirOwnedByAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a directory to another user needs root; the suite runs unprivileged";
  const auto dir = make_dir(temp_dir(), "foreign-spill");
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  auto cfg = config();
  cfg.spill_dir = dir;
  std::string accepted;
  const auto refusal = spill_refusal(backend_under_test(), cfg, probe_call("write_bytes", write_bytes_input(spilled_size, 1)),
                                       call_deadline(), accepted);
  ASSERT_TRUE(refusal.has_value()) << "a spill dir owned by uid 65534 was accepted: " << accepted;
  EXPECT_NE(refusal->find(dir.string()), std::string::npos) << "the error does not name the dir: " << *refusal;
}

// SPILL-4: the task replaces its own spill file while it runs.
class SpillSwap {
 public:
  static constexpr std::uint64_t size = 2 * mib;

  explicit SpillSwap(const std::filesystem::path& temp_dir) : canary_(temp_dir / "canary") {
    const auto bytes = stream_bytes(size, 2);
    write_file(canary_, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  }
  std::string input(const std::filesystem::path& spill_dir, const std::string& kind) const {
    return spill_dir.string() + "," + kind + "," + std::to_string(size) + "," + canary_.string();
  }
  const std::filesystem::path& canary() const { return canary_; }

 private:
  std::filesystem::path canary_;
};

#define EXECKIT_SPILL_SWAP_TEST(kind, watched_events)                                                           \
  EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);                                                            \
  SpillSwap swap(temp_dir());                                                                                   \
  auto backend = make_backend();                                                                                \
  OpenWatch canary_watch(swap.canary(), watched_events);                                                        \
  const auto outcome = run(*backend, probe_call("swap_spill", swap.input(spill_dir(), kind)));                  \
  if (const auto* error = outcome.error_as<TaskError>(); error && error->type() == "NoOpenSpillFile") {         \
    GTEST_SKIP() << "the backend does not write the spill file while the task runs: " << error->message();     \
  }                                                                                                             \
  EXPECT_TRUE(ended_with<SpillError>(outcome)) << "a " kind " in place of the spill file must be refused";     \
  EXPECT_FALSE(canary_watch.touched()) << "the caller opened or read the file the swapped-in entry points to";  \
  EXPECT_TRUE(succeeded(run(*backend, probe_call("echo", "after")))) << "the backend stopped serving after a refused spill file"

constexpr std::uint32_t open_or_read = IN_OPEN | IN_ACCESS;

TEST_P(Spill, SPILL_4_RefusesSymlinkSwap) { EXECKIT_SPILL_SWAP_TEST("symlink", open_or_read); }
TEST_P(Spill, SPILL_4_RefusesFifoSwap) { EXECKIT_SPILL_SWAP_TEST("fifo", open_or_read); }
TEST_P(Spill, SPILL_4_RefusesWrongSizeSwap) { EXECKIT_SPILL_SWAP_TEST("wrong_size", open_or_read); }
TEST_P(Spill, SPILL_4_RefusesDirectorySwap) { EXECKIT_SPILL_SWAP_TEST("directory", open_or_read); }
TEST_P(Spill, SPILL_4_RefusesForeignOwnedSwap) {
  if (::geteuid() != 0) GTEST_SKIP() << "creating a file owned by another user needs root; the suite runs unprivileged";
  EXECKIT_SPILL_SWAP_TEST("foreign_owner", open_or_read);
}

// A hard link to a file the caller owns, of exactly the expected size: only
// the link count tells it from the real spill file.
TEST_P(Spill, SPILL_4_RefusesHardLinkSwap) {
  const auto canary_bytes = stream_bytes(SpillSwap::size, 2);
  {
    const auto outcome_check = [&] {
      if (HasFatalFailure() || IsSkipped()) return;
      // Whatever the backend did, the file the link pointed to is untouched.
      struct stat st {};
      ASSERT_EQ(::stat((temp_dir() / "canary").c_str(), &st), 0);
      EXPECT_EQ(st.st_nlink, 1u) << "the hard link swapped in for the spill file was left behind";
      const auto content = read_file(temp_dir() / "canary");
      EXPECT_TRUE(content.size() == canary_bytes.size() &&
                  std::memcmp(content.data(), canary_bytes.data(), content.size()) == 0)
          << "the file a refused hard link pointed to was changed";
    };
    {
      EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);
      SpillSwap swap(temp_dir());
      auto backend = make_backend();
      OpenWatch canary_watch(swap.canary(), IN_ACCESS | IN_MODIFY);
      const auto outcome = run(*backend, probe_call("swap_spill", swap.input(spill_dir(), "hardlink")));
      if (const auto* error = outcome.error_as<TaskError>();
          error && (error->type() == "NoOpenSpillFile" || error->type() == "CannotLink")) {
        GTEST_SKIP() << "the task could not put a hard link in place of its spill file: " << error->message();
      }
      EXPECT_TRUE(ended_with<SpillError>(outcome)) << "a hard link to another file in place of the spill file must be refused";
      EXPECT_FALSE(canary_watch.touched()) << "the caller read or wrote the file the hard link points to";
      EXPECT_TRUE(succeeded(run(*backend, probe_call("echo", "after")))) << "the backend stopped serving after a refused spill file";
    }
    outcome_check();
  }
}

// SPILL-8: a task tries to change its result after the caller has it.
class Tamper {
 public:
  // Sizes: just past any inline threshold, and a few MiB.
  static constexpr std::array<std::uint64_t, 2> sizes{40000, 4 * mib};
  static constexpr std::uint64_t seed = 41;  // the probe's tamper_later stream

  explicit Tamper(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::string input(const std::filesystem::path& spill_dir, std::uint64_t size, const std::string& mode,
                    const std::string& action) const {
    return spill_dir.string() + "," + std::to_string(size) + "," + mode + "," + action + "," + dir_.string();
  }
  // Lets a left-behind attacker act, then waits until it did or (a local
  // process, `local_pids`) is gone.
  bool release_and_wait(std::chrono::milliseconds limit, bool local_pids) const {
    write_file(dir_ / "go", "");
    const auto attacker_file = dir_ / "attacker";
    std::optional<ProcessIdentity> attacker;
    return wait_until([&] {
      if (std::filesystem::exists(dir_ / "acted") || !std::filesystem::exists(attacker_file)) return true;
      if (!local_pids) return false;
      if (!attacker) attacker = identify(static_cast<pid_t>(std::stol(read_file(attacker_file))));
      return !attacker || has_exited(*attacker);
    }, limit);
  }
  std::string report() const {
    return std::filesystem::exists(dir_ / "acted") ? "errno " + read_file(dir_ / "acted") : "never acted";
  }

 private:
  std::filesystem::path dir_;
};

// "" if the result can be read without a fault and holds `seed`'s stream;
// else what is wrong. Read with process_vm_readv: a page that would raise
// SIGBUS makes the read fail instead of killing the suite.
std::string damage_to(std::span<const std::byte> bytes, std::uint64_t seed) {
  const auto expected = stream_bytes(bytes.size(), seed);
  std::vector<std::byte> copy(std::min<std::size_t>(bytes.size(), mib));
  for (std::size_t offset = 0; offset < bytes.size(); offset += copy.size()) {
    const auto n = std::min(copy.size(), bytes.size() - offset);
    iovec local{copy.data(), n};
    iovec remote{const_cast<std::byte*>(bytes.data() + offset), n};
    const auto got = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
    if (got != static_cast<ssize_t>(n)) {
      return "reading the result at offset " + std::to_string(offset) + " faults (" +
             (got < 0 ? std::string(std::strerror(errno)) : "short read") + "): the caller would die of SIGBUS";
    }
    if (std::memcmp(copy.data(), expected.data() + offset, n) != 0)
      return "the result's bytes changed after it was delivered (in the MiB at offset " + std::to_string(offset) + ")";
  }
  return "";
}

// Refusing the result is allowed; delivering a wrong or faulting one is not.
::testing::AssertionResult refused_or_intact(const Outcome& outcome, std::uint64_t seed) {
  if (!outcome.ok()) {
    if (outcome.error_as<SpillError>() || outcome.error_as<ResultError>()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "expected the result or a SpillError/ResultError refusing it, got "
                                         << describe(outcome);
  }
  const auto damage = damage_to(outcome.value().bytes(), seed);
  if (damage.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << damage;
}

bool no_result_handle(const Outcome& outcome) {
  const auto* error = outcome.error_as<TaskError>();
  return error && error->type() == "NoResultHandle";
}

// SPILL-5: after each terminal outcome, no spill file of the call remains.
class SpillCleanup {
 public:
  // Entries already in spill_dir (e.g. a backend's lock file) are not the call's.
  SpillCleanup(std::filesystem::path spill_dir, std::filesystem::path marker)
      : spill_dir_(std::move(spill_dir)), marker_(std::move(marker)) {
    baseline_ = list_dir(spill_dir_);
  }
  std::string input(const std::string& action) const {
    return std::to_string(spilled_size) + "," + action + "," + marker_.string();
  }
  bool written() const { return std::filesystem::exists(marker_); }
  std::vector<std::string> leftovers() const { return new_entries(spill_dir_, baseline_); }

 private:
  std::filesystem::path spill_dir_, marker_;
  std::vector<std::string> baseline_;
};

TEST_P(Spill, SPILL_5_NoSpillFileAfterSuccessOnceReleased) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  SpillCleanup cleanup(spill_dir(), temp_dir() / "written");
  {
    const auto outcome = run(*backend, probe_call("write_then", cleanup.input("ok")));
    expect_stream(outcome, spilled_size, 7);
  }
  EXPECT_TRUE(wait_until([&] { return cleanup.leftovers().empty(); }, bounds().deadline_grace))
      << "spill files remain after the result was released: " << joined(cleanup.leftovers());
}

TEST_P(Spill, SPILL_5_NoSpillFileAfterTaskError) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  SpillCleanup cleanup(spill_dir(), temp_dir() / "written");
  EXPECT_TRUE(ended_with<TaskError>(run(*backend, probe_call("write_then", cleanup.input("fail")))));
  EXPECT_TRUE(wait_until([&] { return cleanup.leftovers().empty(); }, bounds().deadline_grace))
      << "spill files remain after a task error: " << joined(cleanup.leftovers());
}

TEST_P(Spill, SPILL_5_NoSpillFileAfterWorkerCrash) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  SpillCleanup cleanup(spill_dir(), temp_dir() / "written");
  EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("write_then", cleanup.input("abort")))));
  EXPECT_TRUE(wait_until([&] { return cleanup.leftovers().empty(); }, bounds().deadline_grace))
      << "spill files remain after a worker crash: " << joined(cleanup.leftovers());
}

TEST_P(Spill, SPILL_5_NoSpillFileAfterTimeout) {
  auto backend = make_backend();
  run_text(*backend, probe_call("echo"));
  SpillCleanup cleanup(spill_dir(), temp_dir() / "written");
  PendingCall call(*backend, probe_call("write_then", cleanup.input("hang")), Deadline::after(bounds().deadline_grace * 2));
  ASSERT_TRUE(wait_until([&] { return cleanup.written(); }, bounds().condition_wait)) << "the task never wrote its result";
  const bool spilled = !cleanup.leftovers().empty();
  if (capabilities().has_named_spill_files && !call.done()) {  // still running when the dir was listed
    EXPECT_TRUE(spilled) << "no spill file appeared for a 4 MiB result";
  }
  const auto outcome = call.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(ended_with<TimeoutError>(*outcome));
  EXPECT_TRUE(wait_until([&] { return cleanup.leftovers().empty(); }, bounds().deadline_grace))
      << "spill files remain after a timeout: " << joined(cleanup.leftovers());
}

TEST_P(Spill, SPILL_5_NoSpillFileAfterCancel) {
  auto backend = make_backend();
  SpillCleanup cleanup(spill_dir(), temp_dir() / "written");
  PendingCall call(*backend, probe_call("write_then", cleanup.input("hang")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return cleanup.written(); }, bounds().condition_wait)) << "the task never wrote its result";
  if (capabilities().has_named_spill_files) {
    EXPECT_FALSE(cleanup.leftovers().empty()) << "no spill file appeared for a 4 MiB result";
  }
  EXPECT_TRUE(call.cancel());
  const auto outcome = call.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(ended_with<CancelledError>(*outcome));
  EXPECT_TRUE(wait_until([&] { return cleanup.leftovers().empty(); }, bounds().deadline_grace))
      << "spill files remain after a cancellation: " << joined(cleanup.leftovers());
}

TEST_P(Spill, SPILL_5_NoSpillFileAfterShutdown) {
  auto backend = make_backend();
  SpillCleanup cleanup(spill_dir(), temp_dir() / "written");
  PendingCall call(*backend, probe_call("write_then", cleanup.input("hang")), call_deadline());
  ASSERT_TRUE(wait_until([&] { return cleanup.written(); }, bounds().condition_wait)) << "the task never wrote its result";
  backend->shutdown(true);
  EXPECT_TRUE(cleanup.leftovers().empty()) << "spill files remain after shutdown(wait=true) returned: "
                                           << joined(cleanup.leftovers());
  const auto outcome = call.wait(bounds().condition_wait);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(ended_with<BackendClosed>(*outcome));
}

// What the task leaves behind (a thread, a process) holds read-only handles,
// so no writer exists when the result is delivered, and reopens them for
// writing once the caller has it.
TEST_P(Spill, SPILL_8_LeftoversCannotChangeADeliveredResult) {
  auto backend = make_backend();
  const bool local = capabilities().has_local_process_workers;
  int attempts = 0, round = 0;
  for (const std::string mode : {"thread", "grandchild"}) {
    for (const std::uint64_t size : Tamper::sizes) {
      for (const std::string action : {"truncate", "extend", "overwrite"}) {
        const Tamper tamper(make_dir(temp_dir(), "tamper-" + std::to_string(round++)));
        const auto outcome = run(*backend, probe_call("tamper_later", tamper.input(spill_dir(), size, mode, action)));
        if (no_result_handle(outcome)) continue;
        ++attempts;
        EXPECT_TRUE(tamper.release_and_wait(bounds().condition_wait, local))
            << "the " << mode << " left behind neither acted nor ended";
        EXPECT_TRUE(refused_or_intact(outcome, Tamper::seed))
            << "a " << mode << " the task left behind tried to " << action << " its " << size
            << "-byte result after delivery (" << tamper.report() << ")";
      }
    }
  }
  if (attempts == 0) GTEST_SKIP() << "the task found no handle to its result while it ran: nothing to tamper with";
}

// Nothing runs on after the task: it keeps a handle or a mapping, and the
// next call on the same worker uses it.
TEST_P(Spill, SPILL_8_LaterCallCannotChangeAResultThroughWhatATaskKept) {
  auto backend = make_backend(single_worker(config()));
  int attempts = 0, round = 0;
  for (const std::string mode : {"keep_handle", "keep_mapping"}) {
    for (const std::uint64_t size : Tamper::sizes) {
      for (const std::string action : {"truncate", "extend", "overwrite"}) {
        if (mode == "keep_mapping" && action != "overwrite") continue;  // a mapping can only write
        const Tamper tamper(make_dir(temp_dir(), "tamper-kept-" + std::to_string(round++)));
        const auto outcome = run(*backend, probe_call("tamper_later", tamper.input(spill_dir(), size, mode, action)));
        if (no_result_handle(outcome)) continue;
        ++attempts;
        const auto later = run(*backend, probe_call("tamper_kept", spill_dir().string() + "," + action + "," +
                                                                   std::to_string(size)));
        EXPECT_TRUE(refused_or_intact(outcome, Tamper::seed))
            << "a later call used the " << (mode == "keep_handle" ? "read-only handle" : "writable mapping")
            << " a task kept to " << action << " its " << size << "-byte result after delivery (later call: "
            << describe(later) << ")";
      }
    }
  }
  if (attempts == 0) GTEST_SKIP() << "the task found no handle to its result while it ran: nothing to tamper with";
}

TEST_P(Spill, SPILL_6_FilesOfAKilledCallerAreSweptOnNextStart) {
  const auto marker = temp_dir() / "dead-caller-wrote";
  if (child_role() == "dead_caller") {
    auto backend = make_backend();
    PendingCall call(*backend, probe_call("write_then", std::to_string(spilled_size) + ",hang," + marker.string()),
                     call_deadline());
    if (!wait_until([&] { return std::filesystem::exists(marker); }, bounds().condition_wait)) std::abort();
    report_to_parent_and_wait("ready");
  }
  EXECKIT_REQUIRE_CAPABILITY(has_named_spill_files);
  EXECKIT_REQUIRE_CAPABILITY(has_local_process_workers);
  std::vector<std::string> stale;
  {
    ChildCaller caller("dead_caller", temp_dir());
    ASSERT_EQ(caller.read_report(bounds().condition_wait), "ready");
    stale = list_dir(spill_dir());
    caller.kill_and_reap();
  }
  ASSERT_FALSE(stale.empty()) << "the killed caller left no file in the spill dir to sweep";
  auto backend = make_backend();
  run_text(*backend, probe_call("echo", "first call"));
  const auto remaining = list_dir(spill_dir());
  std::vector<std::string> unswept;
  for (const auto& name : stale) {
    if (std::find(remaining.begin(), remaining.end(), name) != remaining.end()) unswept.push_back(name);
  }
  EXPECT_TRUE(unswept.empty()) << "files of a SIGKILLed caller survived the next backend start: " << joined(unswept);
}

TEST_P(Spill, SPILL_7_ResultOutlivesShutdownAndUnlinkedSpillFile) {
  std::optional<Outcome> kept;
  {
    auto backend = make_backend();
    const auto baseline = list_dir(spill_dir());
    kept = run(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, 21)));
    ASSERT_TRUE(succeeded(*kept));
    for (const auto& name : new_entries(spill_dir(), baseline)) std::filesystem::remove(spill_dir() / name);
    backend->shutdown(true);
  }
  expect_stream(*kept, spilled_size, 21);
}

TEST_P(Spill, SPILL_7_LargeResultsDoNotAliasEachOther) {
  auto backend = make_backend();  // two workers
  PendingCall first(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, 31)), call_deadline());
  PendingCall second(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, 32)), call_deadline());
  const auto a = first.wait(bounds().call_timeout);
  const auto b = second.wait(bounds().call_timeout);
  ASSERT_TRUE(a && b);
  // Later results on the same workers must not change earlier ones either.
  std::vector<Outcome> later;
  for (std::uint64_t seed = 33; seed < 37; ++seed) {
    later.push_back(run(*backend, probe_call("write_bytes", write_bytes_input(spilled_size, seed))));
  }
  expect_stream(*a, spilled_size, 31);
  expect_stream(*b, spilled_size, 32);
  for (std::uint64_t i = 0; i < later.size(); ++i) expect_stream(later[i], spilled_size, 33 + i);
  const auto* pa = a->value().bytes().data();
  const auto* pb = b->value().bytes().data();
  EXPECT_TRUE(pa + spilled_size <= pb || pb + spilled_size <= pa) << "two concurrent results share memory";
}

}  // namespace execkit::conformance
