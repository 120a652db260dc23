// Out of space (RUN-5 on a real full filesystem): the spill dir sits on a
// size-limited tmpfs mounted in a private mount namespace of a child
// process (a user namespace too when not root, where the kernel allows it;
// otherwise the test is skipped with the reason). A result larger than the
// filesystem must end with ResultError — not a crash, not a partial result
// — leave no spill file, and the worker must go on serving.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "execkit/process_pool.hpp"
#include "stress_support.hpp"
#include "test_support.hpp"

namespace execkit::stress {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int skipped = 77;
constexpr std::uint64_t tmpfs_mib = 8;

struct Verdict {
  int code = 0;  // 0 passed, 1 failed, skipped
  std::string text;
};

bool write_text(const char* path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out.flush());
}

// A private mount namespace in which this process may mount a tmpfs.
Verdict enter_private_mounts() {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (uid == 0) {
    if (::unshare(CLONE_NEWNS) != 0) return {skipped, std::string("unshare(CLONE_NEWNS) as root: ") + std::strerror(errno)};
  } else {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
      return {skipped, std::string("no user namespaces for an unprivileged caller: ") + std::strerror(errno)};
    if (!write_text("/proc/self/setgroups", "deny") ||
        !write_text("/proc/self/uid_map", std::to_string(uid) + " " + std::to_string(uid) + " 1") ||
        !write_text("/proc/self/gid_map", std::to_string(gid) + " " + std::to_string(gid) + " 1"))
      return {skipped, "cannot map the caller's uid into a user namespace"};
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return {skipped, std::string("cannot make mounts private: ") + std::strerror(errno)};
  return {};
}

Verdict fail(const std::string& text) { return {1, text}; }

Verdict run_out_of_space(const fs::path& mount_point) {
  if (auto entered = enter_private_mounts(); entered.code != 0) return entered;
  const auto options = "size=" + std::to_string(tmpfs_mib) + "m,mode=0700";
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
    return {skipped, std::string("cannot mount a tmpfs: ") + std::strerror(errno)};

  const auto spill = mount_point / "spill";
  ProcessPoolBackend backend(stress_config(spill, 1));
  const auto before = backend.execute(probe_call("pid"), Deadline::after(60s));
  const auto worker = std::string(before.text());

  std::string message;
  const auto too_big = std::to_string((tmpfs_mib * 4) << 20) + ",3";
  try {
    const auto result = backend.execute(probe_call("write_bytes", too_big), Deadline::after(120s));
    return fail("a " + std::to_string(tmpfs_mib * 4) + " MiB result on an " + std::to_string(tmpfs_mib) +
                " MiB filesystem came back with " + std::to_string(result.bytes().size()) + " bytes");
  } catch (const ResultError& e) {
    if (e.reason() != ResultError::Reason::write_failed) return fail(std::string("ResultError with the wrong reason: ") + e.what());
    message = e.what();
  } catch (const Error& e) {
    return fail(std::string("expected ResultError(write_failed), got ") + to_string(e.kind()) + ": " + e.what());
  }
  const auto left = conformance::list_dir(spill);
  if (left.size() != 1) return fail("the failed result left files in the spill dir (only the lock may remain)");

  const auto fits = backend.execute(probe_call("write_bytes", std::to_string(std::uint64_t{2} << 20) + ",4"), Deadline::after(60s));
  if (fits.bytes().size() != (std::uint64_t{2} << 20) || conformance::first_stream_mismatch(fits.bytes(), 4))
    return fail("a result that fits came back wrong after the failure");
  const auto after = backend.execute(probe_call("pid"), Deadline::after(60s));
  if (std::string(after.text()) != worker) return fail("the worker did not survive the failed write (RUN-5)");
  return {0, message};
}

TEST(OutOfSpace, FullSpillFilesystemGivesResultErrorAndTheWorkerSurvives) {
  TempDir dir("execkit-stress-enospc");
  const auto mount_point = dir.path() / "small";
  fs::create_directory(mount_point);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    Verdict verdict;
    try {
      verdict = run_out_of_space(mount_point);
    } catch (const std::exception& e) {
      verdict = fail(std::string("exception: ") + e.what());
    }
    [[maybe_unused]] auto n = ::write(report[1], verdict.text.data(), verdict.text.size());
    ::_exit(verdict.code);
  }
  ::close(report[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(report[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the child running the backend on a full filesystem crashed (status " << status << ")";
  if (WEXITSTATUS(status) == skipped) GTEST_SKIP() << "no size-limited tmpfs on this machine: " << text;
  EXPECT_EQ(WEXITSTATUS(status), 0) << text;
  std::cout << "[stress] out of space on a " << tmpfs_mib << " MiB tmpfs: " << text
            << "; no spill file left, the worker kept serving\n";
}

}  // namespace
}  // namespace execkit::stress
