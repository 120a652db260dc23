#include "call_builder.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

#include "cli_error.hpp"
#include "temp_dir.hpp"
#include "fd_io.hpp"
#include "module_lookup.hpp"
#include "unique_fd.hpp"

namespace execkit::cli {
namespace {

using test_support::TempDir;

namespace fs = std::filesystem;

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out) << path;
}

// Restores the working directory the test changed.
class CwdGuard {
 public:
  explicit CwdGuard(const fs::path& dir) : previous_(fs::current_path()) { fs::current_path(dir); }
  ~CwdGuard() { fs::current_path(previous_); }
  CwdGuard(const CwdGuard&) = delete;
  CwdGuard& operator=(const CwdGuard&) = delete;

 private:
  fs::path previous_;
};

std::string text(const std::vector<std::byte>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The usage error's message, or "" when building succeeded.
std::string build_error(const RunOptions& options, int stdin_fd = -1) {
  try {
    build_call(options, stdin_fd);
  } catch (const CliError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  return "";
}

class CliCallBuilder : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "a");
    fs::create_directories(dir_.path() / "b");
    write_file(dir_.path() / "a" / "libfirst.so", "");
    write_file(dir_.path() / "b" / "libfirst.so", "");
    write_file(dir_.path() / "b" / "plain.so", "");
    write_file(dir_.path() / "b" / "libboth.so", "");
    write_file(dir_.path() / "b" / "both.so", "");
    write_file(dir_.path() / "input.bin", std::string("in\0put", 6));
  }

  RunOptions options_for(std::string module) const {
    RunOptions options;
    options.module = std::move(module);
    options.function = "task";
    options.search_path = {dir_.path() / "a", dir_.path() / "b"};
    return options;
  }

  TempDir dir_;
};

TEST_F(CliCallBuilder, FindModuleSearchesDirectoriesInOrder) {
  const std::vector<fs::path> path{dir_.path() / "a", dir_.path() / "b"};
  EXPECT_EQ(find_module("first", path), dir_.path() / "a" / "libfirst.so");
  EXPECT_EQ(find_module("plain", path), dir_.path() / "b" / "plain.so");
  EXPECT_EQ(find_module("both", path), dir_.path() / "b" / "libboth.so");
  EXPECT_EQ(find_module("absent", path), std::nullopt);
  EXPECT_EQ(find_module("first", {}), std::nullopt);
}

TEST_F(CliCallBuilder, FindModuleIgnoresDirectoriesNamedLikeModules) {
  fs::create_directories(dir_.path() / "c" / "libdir.so");
  const std::vector<fs::path> path{dir_.path() / "c"};
  EXPECT_EQ(find_module("dir", path), std::nullopt);
}

TEST_F(CliCallBuilder, NameWithSlashIsAFileNotASearch) {
  const std::vector<fs::path> path{dir_.path() / "a"};
  EXPECT_TRUE(names_module_file("./x.so"));
  EXPECT_FALSE(names_module_file("x.so"));
  EXPECT_EQ(find_module((dir_.path() / "b" / "plain.so").string(), path), dir_.path() / "b" / "plain.so");
  EXPECT_EQ(find_module((dir_.path() / "a" / "missing.so").string(), path), std::nullopt);
  EXPECT_EQ(find_module((dir_.path() / "a").string(), path), std::nullopt);
}

TEST_F(CliCallBuilder, BuildsTheCallFromEveryOption) {
  RunOptions options = options_for("first");
  options.env_updates = {{"A", "1"}, {"B", std::nullopt}};
  options.cwd = dir_.path() / "b";
  options.input = (dir_.path() / "input.bin").string();
  const Call call = build_call(options, -1);
  EXPECT_EQ(call.module, "first");
  EXPECT_EQ(call.function, "task");
  EXPECT_EQ(call.search_path, options.search_path);
  EXPECT_EQ(call.env_updates, options.env_updates);
  EXPECT_EQ(call.cwd, dir_.path() / "b");
  EXPECT_EQ(text(call.input), std::string("in\0put", 6));
}

TEST_F(CliCallBuilder, NoInputOptionMeansEmptyInputAndStdinIsNotRead) {
  const Call call = build_call(options_for("first"), -1);
  EXPECT_TRUE(call.input.empty());
  EXPECT_FALSE(call.cwd);
}

TEST_F(CliCallBuilder, DashReadsAllOfStdinBinarySafe) {
  std::array<int, 2> fds{};
  ASSERT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  {
    UniqueFd write_end(fds[1]);
    const std::string payload("\0\xff\n-binary", 10);
    write_all(write_end.get(), std::as_bytes(std::span(payload)));
  }
  RunOptions options = options_for("first");
  options.input = "-";
  EXPECT_EQ(text(build_call(options, read_end.get()).input), std::string("\0\xff\n-binary", 10));
}

TEST_F(CliCallBuilder, RelativePathsAreMadeAbsoluteAgainstTheCurrentDirectory) {
  const CwdGuard in_temp(dir_.path());
  RunOptions options;
  options.module = "./b/plain.so";
  options.function = "task";
  options.search_path = {"a", "./b/../b"};
  options.cwd = "b";
  options.input = "input.bin";
  const Call call = build_call(options, -1);
  EXPECT_EQ(call.module, (dir_.path() / "b" / "plain.so").string());
  EXPECT_EQ(call.search_path, (std::vector<fs::path>{dir_.path() / "a", dir_.path() / "b"}));
  EXPECT_EQ(call.cwd, dir_.path() / "b");
  EXPECT_EQ(call.input.size(), 6U);
}

TEST_F(CliCallBuilder, MissingModuleNamesTheModuleAndTheSearchPath) {
  EXPECT_EQ(build_error(options_for("foo")), "module 'foo' not found on search path [" +
                                                 (dir_.path() / "a").string() + ", " +
                                                 (dir_.path() / "b").string() + "]");
  RunOptions no_path = options_for("foo");
  no_path.search_path.clear();
  EXPECT_EQ(build_error(no_path),
            "module 'foo' not found: no search path given (use -L DIR, or a path containing '/')");
  EXPECT_EQ(build_error(options_for("./nope.so")), "module file './nope.so' not found or not a regular file");
}

TEST_F(CliCallBuilder, BadCwdIsNamed) {
  RunOptions options = options_for("first");
  options.cwd = dir_.path() / "missing";
  EXPECT_EQ(build_error(options), "bad --cwd '" + (dir_.path() / "missing").string() + "': No such file or directory");
  options.cwd = dir_.path() / "input.bin";
  EXPECT_EQ(build_error(options), "bad --cwd '" + (dir_.path() / "input.bin").string() + "': not a directory");
}

TEST_F(CliCallBuilder, UnreadableInputIsNamedWithTheReason) {
  RunOptions options = options_for("first");
  options.input = (dir_.path() / "missing.bin").string();
  EXPECT_EQ(build_error(options), "cannot open --input '" + *options.input + "': No such file or directory");
  options.input = (dir_.path() / "a").string();
  EXPECT_EQ(build_error(options), "cannot read --input '" + *options.input + "': Is a directory");
}

TEST(CliFdIo, ReadAllReadsPastOneChunkAndWriteAllWritesEverything) {
  std::array<int, 2> fds{};
  ASSERT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  std::string payload(200 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 251);
  // A pipe holds less than the payload: write on one thread, read on this one.
  std::thread writer([&] {
    write_all(write_end.get(), std::as_bytes(std::span(payload)));
    write_end.reset();
  });
  const std::vector<std::byte> got = read_all(read_end.get());
  writer.join();
  EXPECT_EQ(text(got), payload);
}

TEST(CliFdIo, WriteToClosedPipeIsEpipeNotACrash) {
  std::array<int, 2> fds{};
  ASSERT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
  UniqueFd write_end(fds[1]);
  ::close(fds[0]);
  // Blocked in this thread, so the write fails with EPIPE instead of killing the test.
  sigset_t pipe_signal, previous;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous), 0);
  int error = 0;
  const std::string byte = "x";
  try {
    write_all(write_end.get(), std::as_bytes(std::span(byte)));
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  // Consume the pending SIGPIPE before unblocking it.
  const timespec no_wait{};
  sigtimedwait(&pipe_signal, nullptr, &no_wait);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  EXPECT_EQ(error, EPIPE);
}

}  // namespace
}  // namespace execkit::cli
