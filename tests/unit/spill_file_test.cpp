#include "spill_file.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "execkit/errors.hpp"
#include "unique_fd.hpp"
#include "temp_dir.hpp"

namespace execkit {
namespace {

namespace fs = std::filesystem;
using test_support::TempDir;

// A temporary directory and an O_DIRECTORY fd on it, as take_spill_file wants.
class SpillTestDir : public TempDir {
 public:
  SpillTestDir() : TempDir("spill_file_test"), fd_(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (!fd_) throw std::system_error(errno, std::generic_category(), "open temp dir");
  }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};
using ::testing::AllOf;
using ::testing::HasSubstr;

bool exists_no_follow(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void write_file(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string random_bytes(std::size_t size) {
  std::mt19937 generator(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(byte(generator));
  return bytes;
}

std::string as_string(const Mapping& mapping) {
  const auto bytes = mapping.bytes();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// The refusal's message, after checking it is a SpillError.
std::string refusal_of(int dir_fd, const std::string& name, std::uint64_t expected_size) {
  try {
    take_spill_file(dir_fd, name, expected_size);
  } catch (const SpillError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::spill);
    return e.what();
  }
  ADD_FAILURE() << "spill file " << name << " was accepted";
  return {};
}

TEST(TakeSpillFile, ReturnsTheExactBytesAndUnlinksTheName) {
  SpillTestDir tmp;
  const std::string content = random_bytes(300'000);
  write_file(tmp.path() / "p.1.spill", content);
  const Mapping mapping = take_spill_file(tmp.fd(), "p.1.spill", content.size());
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.1.spill"));
  ASSERT_EQ(mapping.bytes().size(), content.size());
  EXPECT_TRUE(as_string(mapping) == content) << "mapped bytes differ from the file";
}

TEST(TakeSpillFile, AZeroByteFileWorks) {
  SpillTestDir tmp;
  write_file(tmp.path() / "p.2.spill", "");
  const Mapping mapping = take_spill_file(tmp.fd(), "p.2.spill", 0);
  EXPECT_TRUE(mapping.bytes().empty());
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.2.spill"));
}

TEST(TakeSpillFile, RefusesASymlinkWithoutTouchingItsTarget) {
  SpillTestDir tmp;
  const fs::path canary = tmp.path() / "canary";
  write_file(canary, "secret");
  fs::create_symlink(canary, tmp.path() / "p.3.spill");
  EXPECT_THAT(refusal_of(tmp.fd(), "p.3.spill", 6), AllOf(HasSubstr("p.3.spill"), HasSubstr("is a symlink")));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.3.spill"));
  EXPECT_EQ(read_file(canary), "secret");
}

TEST(TakeSpillFile, RefusesAWrongSize) {
  SpillTestDir tmp;
  write_file(tmp.path() / "p.4.spill", "0123456789");
  EXPECT_THAT(refusal_of(tmp.fd(), "p.4.spill", 11),
              AllOf(HasSubstr("p.4.spill"), HasSubstr("is 10 bytes, expected 11")));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.4.spill"));

  write_file(tmp.path() / "p.5.spill", "0123456789");
  EXPECT_THAT(refusal_of(tmp.fd(), "p.5.spill", 0), HasSubstr("is 10 bytes, expected 0"));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.5.spill"));
}

TEST(TakeSpillFile, RefusesAFifoWithoutBlocking) {
  SpillTestDir tmp;
  const fs::path fifo = tmp.path() / "p.6.spill";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto refusal = std::async(std::launch::async, [&] { return refusal_of(tmp.fd(), "p.6.spill", 0); });
  if (refusal.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    // Release the blocked open so the test can report instead of hanging.
    UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    refusal.wait();
    FAIL() << "opening a FIFO spill file blocked";
  }
  EXPECT_THAT(refusal.get(), AllOf(HasSubstr("p.6.spill"), HasSubstr("is a FIFO, not a regular file")));
  EXPECT_FALSE(exists_no_follow(fifo));
}

TEST(TakeSpillFile, RefusesADirectory) {
  SpillTestDir tmp;
  ASSERT_EQ(::mkdir((tmp.path() / "p.7.spill").c_str(), 0700), 0);
  EXPECT_THAT(refusal_of(tmp.fd(), "p.7.spill", 0), HasSubstr("is a directory, not a regular file"));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.7.spill"));
}

TEST(TakeSpillFile, RefusesAHardLinkedFile) {
  SpillTestDir tmp;
  const fs::path elsewhere = tmp.path() / "elsewhere";
  write_file(elsewhere, "abc");
  fs::create_hard_link(elsewhere, tmp.path() / "p.8.spill");
  EXPECT_THAT(refusal_of(tmp.fd(), "p.8.spill", 3),
              AllOf(HasSubstr("p.8.spill"), HasSubstr("has 2 links, expected 1")));
  EXPECT_FALSE(exists_no_follow(tmp.path() / "p.8.spill"));
  EXPECT_EQ(read_file(elsewhere), "abc");
}

TEST(TakeSpillFile, RefusesAFileOwnedByAnotherUid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the file to another uid";
  SpillTestDir tmp;
  const fs::path file = tmp.path() / "p.9.spill";
  write_file(file, "abc");
  ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
  EXPECT_THAT(refusal_of(tmp.fd(), "p.9.spill", 3),
              AllOf(HasSubstr("p.9.spill"), HasSubstr("owned by uid 65534, not " + std::to_string(::geteuid()))));
  EXPECT_FALSE(exists_no_follow(file));
}

TEST(TakeSpillFile, RefusesANameThatLeavesTheDirAndUnlinksNothing) {
  SpillTestDir tmp;
  const fs::path inner = tmp.path() / "inner";
  ASSERT_EQ(::mkdir(inner.c_str(), 0700), 0);
  const UniqueFd inner_fd(::open(inner.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(inner_fd);
  write_file(tmp.path() / "outside", "abc");
  for (const std::string bad : {"../outside", "", ".", ".."})
    EXPECT_THAT(refusal_of(inner_fd.get(), bad, 3), HasSubstr("is not a plain file name")) << bad;
  EXPECT_EQ(read_file(tmp.path() / "outside"), "abc");
  EXPECT_TRUE(exists_no_follow(inner));
}

TEST(TakeSpillFile, AMissingFileIsASpillError) {
  SpillTestDir tmp;
  EXPECT_THAT(refusal_of(tmp.fd(), "p.10.spill", 0), AllOf(HasSubstr("p.10.spill"), HasSubstr("cannot be opened")));
}

TEST(TakeSpillFile, TheMappingOutlivesTheDirAndTheFd) {
  std::string content = random_bytes(4096 * 3 + 17);
  Mapping mapping;
  {
    SpillTestDir tmp;
    write_file(tmp.path() / "p.11.spill", content);
    mapping = take_spill_file(tmp.fd(), "p.11.spill", content.size());
  }
  EXPECT_TRUE(as_string(mapping) == content);
}

}  // namespace
}  // namespace execkit
