// locate_worker (reference/src/worker_locator.cpp): which execkit-worker a
// backend starts. An explicit WorkerConfig::worker_path wins over
// $EXECKIT_WORKER_PATH, which wins over the one next to the caller's code;
// a candidate counts only if it is an executable regular file, and when none
// is, the ConfigError names worker_path and every place looked at.
#include "worker_locator.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "execkit/errors.hpp"
#include "temp_dir.hpp"

namespace execkit {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

// A file `name` with `mode` in `dir`; its content does not matter, only what stat says.
fs::path make_file(const TempDir& dir, const std::string& name, mode_t mode) {
  const fs::path p = dir.path() / name;
  std::ofstream(p) << "#!/bin/sh\n";
  if (::chmod(p.c_str(), mode) != 0) throw std::system_error(errno, std::generic_category(), "chmod");
  return p;
}
using ::testing::AllOf;
using ::testing::HasSubstr;

// The ConfigError locate_worker throws for these arguments, or a test failure.
ConfigError locate_error(const fs::path& configured, const char* env_value) {
  try {
    const auto found = locate_worker(configured, env_value);
    ADD_FAILURE() << "expected a ConfigError, found " << found;
  } catch (const ConfigError& e) {
    return e;
  }
  return ConfigError("", "", "");
}

TEST(LocateWorker, AConfiguredPathWinsOverTheEnvironment) {
  TempDir tmp("worker_locator_test");
  const auto configured = make_file(tmp, "configured-worker", 0755);
  const auto from_env = make_file(tmp, "env-worker", 0755);
  EXPECT_EQ(locate_worker(configured, from_env.c_str()), configured);
}

TEST(LocateWorker, ARelativeConfiguredPathComesBackAbsolute) {
  TempDir tmp("worker_locator_test");
  const auto worker = make_file(tmp, "worker", 0755);
  const auto relative = fs::relative(worker, fs::current_path());
  ASSERT_TRUE(relative.is_relative()) << relative;
  const auto found = locate_worker(relative, nullptr);
  EXPECT_TRUE(found.is_absolute()) << found;
  EXPECT_TRUE(fs::equivalent(found, worker)) << found << " vs " << worker;
}

TEST(LocateWorker, TheEnvironmentIsUsedWhenNothingIsConfigured) {
  TempDir tmp("worker_locator_test");
  const auto from_env = make_file(tmp, "env-worker", 0755);
  EXPECT_EQ(locate_worker({}, from_env.c_str()), from_env);
}

TEST(LocateWorker, WithNeitherTheWorkerNextToThisCodeIsFound) {
  // This test binary lies in the build tree's bin/, next to execkit-worker.
  const fs::path expected = EXECKIT_WORKER_PATH;
  for (const char* env_value : {static_cast<const char*>(nullptr), ""}) {
    const auto found = locate_worker({}, env_value);
    EXPECT_TRUE(fs::equivalent(found, expected)) << found << " vs " << expected;
  }
}

TEST(LocateWorker, AConfiguredFileThatIsNotExecutableIsAConfigErrorAndTheEnvironmentIsNotTried) {
  TempDir tmp("worker_locator_test");
  const auto configured = make_file(tmp, "not-executable", 0644);
  const auto from_env = make_file(tmp, "env-worker", 0755);
  if (::access(configured.c_str(), X_OK) == 0) GTEST_SKIP() << "this user may execute any file (root without a noexec check)";
  const auto e = locate_error(configured, from_env.c_str());
  EXPECT_EQ(e.setting(), "worker_path");
  EXPECT_EQ(e.value(), configured.string());
  EXPECT_THAT(e.what(), AllOf(HasSubstr("looked at: " + configured.string() + ")"),
                              HasSubstr("WorkerConfig::worker_path"), HasSubstr("EXECKIT_WORKER_PATH")));
}

TEST(LocateWorker, ADirectoryIsNotAWorker) {
  TempDir tmp("worker_locator_test");
  const auto e = locate_error(tmp.path(), nullptr);
  EXPECT_EQ(e.setting(), "worker_path");
  EXPECT_EQ(e.value(), tmp.path().string());
}

TEST(LocateWorker, AMissingWorkerNamedByTheEnvironmentIsAConfigErrorNamingIt) {
  TempDir tmp("worker_locator_test");
  const auto missing = tmp.path() / "no-such-worker";
  const auto e = locate_error({}, missing.c_str());
  EXPECT_EQ(e.setting(), "worker_path");
  EXPECT_EQ(e.value(), missing.string());
  EXPECT_THAT(e.what(), HasSubstr("looked at: " + missing.string() + ")"));
}

}  // namespace
}  // namespace execkit
