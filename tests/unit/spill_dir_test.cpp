#include "spill_dir.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "execkit/errors.hpp"
#include "temp_dir.hpp"

namespace execkit {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;

bool exists_no_follow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

struct stat lstat_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

void write_file(const fs::path& path, const std::string& content = "x") {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

void make_dir(const fs::path& path, mode_t mode) {
  ASSERT_EQ(::mkdir(path.c_str(), mode), 0) << path;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;  // not subject to the umask
}

std::string spill_error_of(const fs::path& dir, const std::string& pool_id = "pool") {
  try {
    SpillDir::open(dir, pool_id);
  } catch (const SpillError& e) {
    return e.what();
  }
  ADD_FAILURE() << "SpillDir::open(" << dir << ") was not refused";
  return {};
}

bool is_locked_by_someone(const fs::path& lock_file) {
  const int fd = ::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << lock_file;
  const bool locked = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return locked;
}

const std::string euid = std::to_string(::geteuid());

TEST(ResolveSpillDir, DefaultIsPerUidUnderTmpdir) {
  EXPECT_EQ(resolve_spill_dir({}, {{"TMPDIR", "/var/tmp/work"}}), fs::path("/var/tmp/work/execkit-" + euid));
}

TEST(ResolveSpillDir, DefaultFallsBackToTmpWhenTmpdirMissingOrEmpty) {
  EXPECT_EQ(resolve_spill_dir({}, {}), fs::path("/tmp/execkit-" + euid));
  EXPECT_EQ(resolve_spill_dir({}, {{"TMPDIR", ""}}), fs::path("/tmp/execkit-" + euid));
}

TEST(ResolveSpillDir, DotDotSegmentsAreResolved) {
  EXPECT_EQ(resolve_spill_dir("/a/b/../c/./d/", {}), fs::path("/a/c/d"));
  EXPECT_EQ(resolve_spill_dir("/a/../../spill", {}), fs::path("/spill"));
  EXPECT_EQ(resolve_spill_dir({}, {{"TMPDIR", "/x/../y/"}}), fs::path("/y/execkit-" + euid));
}

TEST(ResolveSpillDir, RelativeIsMadeAbsolute) {
  EXPECT_EQ(resolve_spill_dir("rel/../spill", {}), fs::current_path() / "spill");
}

TEST(ResolveSpillDir, DoesNotFollowASymlinkSoOpenCanRefuseIt) {
  TempDir tmp("spill_dir_test");
  make_dir(tmp.path() / "real", 0700);
  fs::create_directory_symlink(tmp.path() / "real", tmp.path() / "link");
  EXPECT_EQ(resolve_spill_dir(tmp.path() / "link", {}), tmp.path() / "link");
}

TEST(SpillDirOpen, CreatesTheDefaultDirWithMode0700) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = resolve_spill_dir({}, {{"TMPDIR", tmp.path().string()}});
  ASSERT_EQ(dir, tmp.path() / ("execkit-" + euid));
  auto spill = SpillDir::open(dir, "pool");
  EXPECT_EQ(spill.path(), dir);
  const auto st = lstat_of(dir);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(spill.swept_on_open(), 0u);
}

TEST(SpillDirOpen, CreatesMissingParentsWithMode0700) {
  TempDir tmp("spill_dir_test");
  auto spill = SpillDir::open(tmp.path() / "a" / "b" / "c", "pool");
  for (const auto& dir : {tmp.path() / "a", tmp.path() / "a" / "b", tmp.path() / "a" / "b" / "c"}) {
    const auto st = lstat_of(dir);
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << dir;
    EXPECT_EQ(st.st_mode & 07777, 0700u) << dir;
  }
}

TEST(SpillDirOpen, AConfiguredDotDotPathLandsWhereItResolves) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = resolve_spill_dir(tmp.path() / "detour" / ".." / "spill", {});
  auto spill = SpillDir::open(dir, "pool");
  EXPECT_TRUE(exists_no_follow(tmp.path() / "spill" / "pool.lock"));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "detour"));
}

TEST(SpillDirOpen, AcceptsAnExistingPrivateDir) {
  TempDir tmp("spill_dir_test");
  make_dir(tmp.path() / "spill", 0700);
  EXPECT_NO_THROW(SpillDir::open(tmp.path() / "spill", "pool"));
}

TEST(SpillDirOpen, RefusesAnExistingDirWithGroupOrOtherAccess) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = tmp.path() / "spill";
  make_dir(dir, 0755);
  EXPECT_THAT(spill_error_of(dir), AllOf(HasSubstr(dir.string()), HasSubstr("mode 0755 grants group/other access")));
  ASSERT_EQ(::chmod(dir.c_str(), 0710), 0);
  EXPECT_THAT(spill_error_of(dir), HasSubstr("mode 0710 grants group/other access"));
  ASSERT_EQ(::chmod(dir.c_str(), 0701), 0);
  EXPECT_THAT(spill_error_of(dir), HasSubstr("mode 0701 grants group/other access"));
  EXPECT_FALSE(exists_no_follow(dir / "pool.lock")) << "a refused dir must not be written to";
}

TEST(SpillDirOpen, RefusesASymlinkInPlaceOfTheDir) {
  TempDir tmp("spill_dir_test");
  make_dir(tmp.path() / "real", 0700);
  const fs::path link = tmp.path() / "spill";
  fs::create_directory_symlink(tmp.path() / "real", link);
  EXPECT_THAT(spill_error_of(link), AllOf(HasSubstr(link.string()), HasSubstr("is a symlink")));
  EXPECT_TRUE(fs::is_empty(tmp.path() / "real"));
}

TEST(SpillDirOpen, RefusesADirOwnedByAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the dir to another uid";
  TempDir tmp("spill_dir_test");
  const fs::path dir = tmp.path() / "spill";
  make_dir(dir, 0700);
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  EXPECT_THAT(spill_error_of(dir), AllOf(HasSubstr(dir.string()), HasSubstr("owned by uid 65534, not " + euid)));
}

TEST(SpillDirOpen, RefusesARegularFileInPlaceOfTheDir) {
  TempDir tmp("spill_dir_test");
  write_file(tmp.path() / "spill");
  EXPECT_THAT(spill_error_of(tmp.path() / "spill"), HasSubstr("is not a directory"));
}

TEST(SpillDirOpen, RefusesAPoolIdThatIsNotAPlainName) {
  TempDir tmp("spill_dir_test");
  for (const std::string& bad :
       std::vector<std::string>{"a/b", "..", "", "a.b", "../escape", "sp ace", std::string(65, 'x')}) {
    try {
      SpillDir::open(tmp.path() / "spill", bad);
      ADD_FAILURE() << "pool_id '" << bad << "' was accepted";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.setting(), "pool_id");
      EXPECT_EQ(e.value(), bad);
    }
  }
  EXPECT_NO_THROW(SpillDir::open(tmp.path() / "spill", std::string(64, 'x')));
  EXPECT_NO_THROW(SpillDir::open(tmp.path() / "spill", "Az09_-"));
}

TEST(SpillDir, NamesFilesAfterPoolAndCall) {
  TempDir tmp("spill_dir_test");
  auto spill = SpillDir::open(tmp.path(), "pool-7");
  EXPECT_EQ(spill.file_name(42), "pool-7.42.spill");
  EXPECT_EQ(spill.file_path(42), tmp.path() / "pool-7.42.spill");
}

TEST(SpillDir, HoldsItsLockWhileOpenAndRemovesItAfter) {
  TempDir tmp("spill_dir_test");
  const fs::path lock = tmp.path() / "pool.lock";
  {
    auto spill = SpillDir::open(tmp.path(), "pool");
    ASSERT_TRUE(exists_no_follow(lock));
    EXPECT_TRUE(is_locked_by_someone(lock));
    const auto st = lstat_of(lock);
    EXPECT_EQ(st.st_nlink, 1u) << "the temporary name must be gone";
    EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 1);
  }
  EXPECT_FALSE(exists_no_follow(lock));
}

TEST(SpillDir, DestructorRemovesItsOwnFilesOnly) {
  TempDir tmp("spill_dir_test");
  auto other = SpillDir::open(tmp.path(), "other");
  write_file(other.file_path(1));
  {
    auto mine = SpillDir::open(tmp.path(), "mine");
    write_file(mine.file_path(1));
    write_file(mine.file_path(2));
  }
  EXPECT_FALSE(exists_no_follow(tmp.path() / "mine.1.spill"));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "mine.2.spill"));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "mine.lock"));
  EXPECT_TRUE(exists_no_follow(other.file_path(1)));
  EXPECT_TRUE(exists_no_follow(tmp.path() / "other.lock"));
}

TEST(SpillDir, RemoveUnlinksTheCallsFileAndNeverFollowsASymlink) {
  TempDir tmp("spill_dir_test");
  auto spill = SpillDir::open(tmp.path() / "spill", "pool");
  write_file(spill.file_path(1));
  write_file(spill.file_path(2));
  spill.remove(1);
  EXPECT_FALSE(exists_no_follow(spill.file_path(1)));
  EXPECT_TRUE(exists_no_follow(spill.file_path(2)));
  spill.remove(1);  // already gone: no error

  const fs::path canary = tmp.path() / "canary";
  write_file(canary, "keep me");
  fs::create_symlink(canary, spill.file_path(3));
  spill.remove(3);
  EXPECT_FALSE(exists_no_follow(spill.file_path(3)));
  EXPECT_TRUE(exists_no_follow(canary));
}

TEST(SpillDir, SweepRemovesFilesOfPoolsWhoseLockIsFree) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = tmp.path();
  auto live = SpillDir::open(dir, "live");
  write_file(live.file_path(1));
  // A dead pool: its lock file exists but nobody holds it.
  write_file(dir / "dead.lock");
  write_file(dir / "dead.1.spill");
  write_file(dir / "dead.77.spill");
  // A spill file whose pool never got to publish a lock.
  write_file(dir / "orphan.3.spill");
  // A lock that was still being created when its owner died.
  write_file(dir / "gone.0123456789abcdef.newlock");
  // Not ours in shape: never touched.
  write_file(dir / "notes.txt");
  write_file(dir / "dead.txt");
  write_file(dir / "dead.x.spill");

  auto fresh = SpillDir::open(dir, "fresh");

  EXPECT_EQ(fresh.swept_on_open(), 5u);
  for (const char* gone :
       {"dead.lock", "dead.1.spill", "dead.77.spill", "orphan.3.spill", "gone.0123456789abcdef.newlock"})
    EXPECT_FALSE(exists_no_follow(dir / gone)) << gone;
  for (const char* kept : {"live.lock", "live.1.spill", "notes.txt", "dead.txt", "dead.x.spill", "fresh.lock"})
    EXPECT_TRUE(exists_no_follow(dir / kept)) << kept;
}

TEST(SpillDir, SweepNeverFollowsASymlinkedSpillFile) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = tmp.path() / "spill";
  make_dir(dir, 0700);
  const fs::path canary = tmp.path() / "canary";
  write_file(canary, "keep me");
  fs::create_symlink(canary, dir / "orphan.1.spill");
  auto spill = SpillDir::open(dir, "pool");
  EXPECT_EQ(spill.swept_on_open(), 1u);
  EXPECT_FALSE(exists_no_follow(dir / "orphan.1.spill"));
  EXPECT_TRUE(exists_no_follow(canary));
}

// SPILL-6 with a real process: a pool in a child that is SIGKILLed.
TEST(SpillDir, SweepRemovesFilesOfAKilledPoolButNotWhileItLives) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = tmp.path() / "spill";
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    try {
      auto spill = SpillDir::open(dir, "child");
      std::ofstream(spill.file_path(5)) << "result";
      std::ofstream(spill.file_path(6)) << "result";
      const char ok = 1;
      if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
      for (;;) ::pause();
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(ready[1]);
  char ok = 0;
  const auto got = ::read(ready[0], &ok, 1);
  ::close(ready[0]);
  ASSERT_EQ(got, 1) << "child failed to open its spill dir";

  {
    auto while_alive = SpillDir::open(dir, "observer");
    EXPECT_EQ(while_alive.swept_on_open(), 0u);
    EXPECT_TRUE(exists_no_follow(dir / "child.5.spill"));
  }

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(exists_no_follow(dir / "child.lock"));

  auto after = SpillDir::open(dir, "observer");
  EXPECT_EQ(after.swept_on_open(), 3u);
  EXPECT_FALSE(exists_no_follow(dir / "child.5.spill"));
  EXPECT_FALSE(exists_no_follow(dir / "child.6.spill"));
  EXPECT_FALSE(exists_no_follow(dir / "child.lock"));
}

// Pools starting and stopping at once sweep each other's pending locks only
// when those are really abandoned: every open succeeds and a live pool's
// files survive all the sweeps.
TEST(SpillDir, ConcurrentPoolsNeverSweepALivePool) {
  TempDir tmp("spill_dir_test");
  const fs::path dir = tmp.path() / "spill";
  auto live = SpillDir::open(dir, "live");
  write_file(live.file_path(1));
  constexpr int children = 8;
  constexpr int rounds = 40;
  std::vector<pid_t> pids;
  for (int c = 0; c < children; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (int r = 0; r < rounds; ++r) {
          auto spill = SpillDir::open(dir, "c" + std::to_string(c) + "-" + std::to_string(r));
          std::ofstream(spill.file_path(1)) << "x";
          struct stat st {};
          if (::lstat(live.file_path(1).c_str(), &st) != 0) ::_exit(3);
        }
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    pids.push_back(pid);
  }
  for (const pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  EXPECT_TRUE(exists_no_follow(live.file_path(1)));
  EXPECT_TRUE(is_locked_by_someone(dir / "live.lock"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2)
      << "only the live pool's files remain";
}

TEST(SpillDir, ALivePoolIdCannotBeOpenedTwiceAndTheRefusalTouchesNothing) {
  TempDir tmp("spill_dir_test");
  auto first = SpillDir::open(tmp.path(), "dup");
  write_file(first.file_path(1));
  try {
    SpillDir::open(tmp.path(), "dup");
    ADD_FAILURE() << "a live pool id was opened twice";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.setting(), "pool_id");
    EXPECT_EQ(e.value(), "dup");
  }
  EXPECT_TRUE(exists_no_follow(first.file_path(1)));
  EXPECT_TRUE(is_locked_by_someone(tmp.path() / "dup.lock"));
  EXPECT_EQ(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()), 2)
      << "no temporary lock file may remain";
}

TEST(SpillDir, ADeadPoolsIdCanBeReused) {
  TempDir tmp("spill_dir_test");
  write_file(tmp.path() / "again.lock");
  write_file(tmp.path() / "again.4.spill");
  auto spill = SpillDir::open(tmp.path(), "again");
  EXPECT_EQ(spill.swept_on_open(), 2u);
  EXPECT_FALSE(exists_no_follow(tmp.path() / "again.4.spill"));
  EXPECT_TRUE(is_locked_by_someone(tmp.path() / "again.lock"));
}

TEST(SpillDir, AMovedFromDirLeavesTheFilesToItsSuccessor) {
  TempDir tmp("spill_dir_test");
  std::optional<SpillDir> first(SpillDir::open(tmp.path(), "pool"));
  write_file(first->file_path(1));
  SpillDir second(std::move(*first));
  first.reset();
  EXPECT_TRUE(exists_no_follow(second.file_path(1)));
  EXPECT_TRUE(is_locked_by_someone(tmp.path() / "pool.lock"));
}

TEST(SpillDir, MoveAssignmentReleasesTheOverwrittenPool) {
  TempDir tmp("spill_dir_test");
  auto target = SpillDir::open(tmp.path(), "old");
  auto source = SpillDir::open(tmp.path(), "new");
  write_file(target.file_path(1));
  write_file(source.file_path(1));
  target = std::move(source);
  EXPECT_FALSE(exists_no_follow(tmp.path() / "old.1.spill"));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "old.lock"));
  EXPECT_EQ(target.file_name(1), "new.1.spill");
  EXPECT_TRUE(exists_no_follow(target.file_path(1)));
  EXPECT_TRUE(is_locked_by_someone(tmp.path() / "new.lock"));
}

}  // namespace
}  // namespace execkit
