// The spill dir is shared with task code (same uid): whatever a task leaves
// there, SpillDir::open's sweep and take_spill_file must neither crash, hang
// (a FIFO), follow a symlink, nor remove anything that is not a dead pool's
// file. Input: a scenario, one command per line:
//   pool ID               the pool id to open the dir with (default "fuzzpool")
//   file NAME SIZE        a regular file of SIZE bytes (pattern(i) = i * 31 + 7)
//   dir NAME | fifo NAME  an empty directory | a FIFO
//   link NAME TARGET      a symlink (TARGET "canary": the canary outside the dir)
//   hard NAME OTHER       a hard link to OTHER (an entry, or "canary")
//   live NAME             a regular file this process holds flock(LOCK_EX) on
//   take NAME SIZE        after the sweep: take_spill_file(NAME, SIZE)
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "execkit/errors.hpp"
#include "spill_dir.hpp"
#include "spill_file.hpp"
#include "fuzz_require.hpp"

namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t max_file_size = 1 << 16;
const std::string canary_text = "canary: never read, never removed";


std::byte pattern(std::uint64_t i) { return static_cast<std::byte>(i * 31 + 7); }

const fs::path& base_dir() {
  static const fs::path base = [] {
    const char* shm = "/dev/shm";
    auto pattern_text = (fs::is_directory(shm) ? fs::path(shm) : fs::temp_directory_path()) / "execkit-fuzz-spill-XXXXXX";
    std::string text = pattern_text.string();
    FUZZ_REQUIRE(::mkdtemp(text.data()) != nullptr);
    return fs::path(text);
  }();
  return base;
}

bool plain_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.size() <= 200 && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::optional<struct stat> lstat_of(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return st;
}

// The names of docs/spill.md, parsed independently of spill_dir.cpp.
struct Parsed {
  enum Kind { lock, pending, spill } kind;
  std::string pool;
};

bool all_in(const std::string& text, const char* allowed) {
  return !text.empty() && text.find_first_not_of(allowed) == std::string::npos;
}

std::optional<Parsed> parse_name(const std::string& name) {
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 64) return std::nullopt;
  const auto pool = name.substr(0, dot);
  if (!all_in(pool, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")) return std::nullopt;
  const auto rest = name.substr(dot + 1);
  if (rest == "lock") return Parsed{Parsed::lock, pool};
  const auto second = rest.find('.');
  if (second == std::string::npos) return std::nullopt;
  const auto middle = rest.substr(0, second), suffix = rest.substr(second + 1);
  if (suffix == "spill" && middle.size() <= 20 && all_in(middle, "0123456789")) return Parsed{Parsed::spill, pool};
  if (suffix == "newlock" && all_in(middle, "0123456789abcdef")) return Parsed{Parsed::pending, pool};
  return std::nullopt;
}

struct Scenario {
  std::string pool = "fuzzpool";
  std::vector<std::vector<std::string>> creates;
  std::vector<std::pair<std::string, std::uint64_t>> takes;
};

std::optional<std::uint64_t> number(const std::string& text) {
  if (text.empty() || text.size() > 19 || !all_in(text, "0123456789")) return std::nullopt;
  return std::stoull(text);
}

Scenario parse_scenario(const std::string& text) {
  Scenario scenario;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string word; words >> word;) w.push_back(word);
    if (w.empty()) continue;
    if (w[0] == "pool" && w.size() == 2) scenario.pool = w[1];
    if (w[0] == "take" && w.size() == 3)
      if (const auto n = number(w[2])) scenario.takes.emplace_back(w[1], *n);
    if ((w[0] == "file" || w[0] == "link" || w[0] == "hard") && w.size() == 3) scenario.creates.push_back(w);
    if ((w[0] == "dir" || w[0] == "fifo" || w[0] == "live") && w.size() == 2) scenario.creates.push_back(w);
  }
  return scenario;
}

class Case {
 public:
  Case() : dir_(base_dir() / "case"), canary_(base_dir() / "canary") {
    fs::remove_all(dir_);
    FUZZ_REQUIRE(::mkdir(dir_.c_str(), 0700) == 0);
    if (!fs::exists(canary_)) {
      const int fd = ::open(canary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      FUZZ_REQUIRE(fd >= 0 && ::write(fd, canary_text.data(), canary_text.size()) == static_cast<ssize_t>(canary_text.size()));
      ::close(fd);
    }
  }
  ~Case() {
    for (const int fd : live_fds_) ::close(fd);
    fs::remove_all(dir_);
  }

  const fs::path& dir() const { return dir_; }
  const std::map<std::string, std::string>& created() const { return created_; }
  const std::set<std::string>& live() const { return live_; }

  void create(const std::vector<std::string>& w) {
    const auto& name = w[1];
    if (!plain_name(name) || created_.count(name) != 0) return;
    const auto path = dir_ / name;
    bool made = false;
    if (w[0] == "file") {
      const auto size = number(w[2]);
      if (!size || *size > max_file_size) return;
      made = write_file(path, *size);
    } else if (w[0] == "dir") {
      made = ::mkdir(path.c_str(), 0700) == 0;
    } else if (w[0] == "fifo") {
      made = ::mkfifo(path.c_str(), 0600) == 0;
    } else if (w[0] == "link") {
      made = ::symlink(w[2] == "canary" ? canary_.c_str() : w[2].c_str(), path.c_str()) == 0;
    } else if (w[0] == "hard") {
      const auto target = w[2] == "canary" ? canary_ : dir_ / w[2];
      made = plain_name(w[2]) && ::link(target.c_str(), path.c_str()) == 0;
    } else if (w[0] == "live") {
      const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      made = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
      if (fd >= 0) live_fds_.push_back(fd);
      if (made) live_.insert(name);
    }
    if (made) created_[name] = w[0];
  }

  void check_canary() const {
    const auto st = lstat_of(canary_);
    FUZZ_REQUIRE(st && S_ISREG(st->st_mode) && st->st_size == static_cast<off_t>(canary_text.size()));
  }

 private:
  static bool write_file(const fs::path& path, std::uint64_t size) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::vector<std::byte> bytes(size);
    for (std::uint64_t i = 0; i < size; ++i) bytes[i] = pattern(i);
    const bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
    ::close(fd);
    return ok;
  }

  fs::path dir_, canary_;
  std::map<std::string, std::string> created_;  // name -> kind
  std::set<std::string> live_;
  std::vector<int> live_fds_;
};

// May the sweep remove `name`? Only a dead pool's lock, pending lock or spill
// file, never a directory, never a held lock or a spill file of its pool.
bool removable(const Case& c, const std::string& name, const std::string& kind) {
  if (kind == "dir") return false;
  const auto parsed = parse_name(name);
  if (!parsed) return false;
  // A held flock protects a lock file; a spill file only through its pool's lock.
  if (parsed->kind != Parsed::spill) return c.live().count(name) == 0;
  for (const auto& live : c.live())
    if (const auto owner = parse_name(live); owner && owner->kind == Parsed::lock && owner->pool == parsed->pool) return false;
  return true;
}

void take(const execkit::SpillDir& spill, const Case& c, const std::string& name, std::uint64_t size) {
  const auto before = lstat_of(c.dir() / name);
  try {
    const auto mapping = execkit::take_spill_file(spill.dir_fd(), name, size);
    // Accepted: a regular file of this size with one link, read as written.
    FUZZ_REQUIRE(before && S_ISREG(before->st_mode) && before->st_nlink == 1);
    FUZZ_REQUIRE(mapping.bytes().size() == size);
    for (std::uint64_t i = 0; i < size; ++i) FUZZ_REQUIRE(mapping.bytes()[i] == pattern(i));
  } catch (const execkit::SpillError&) {
  } catch (const execkit::ResultError&) {
  }
  // Once opened, the name is gone whether it was accepted or refused.
  if (plain_name(name) && before && !S_ISDIR(before->st_mode)) FUZZ_REQUIRE(!lstat_of(c.dir() / name));
  c.check_canary();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return -1;
  const auto scenario = parse_scenario(std::string(reinterpret_cast<const char*>(data), size));
  Case c;
  for (const auto& create : scenario.creates) c.create(create);

  std::optional<execkit::SpillDir> spill;
  try {
    spill.emplace(execkit::SpillDir::open(c.dir(), scenario.pool));
  } catch (const execkit::ConfigError&) {
  } catch (const execkit::SpillError&) {
  }
  c.check_canary();
  for (const auto& [name, kind] : c.created())
    if (!removable(c, name, kind)) FUZZ_REQUIRE(lstat_of(c.dir() / name).has_value());
  if (!spill) return 0;

  const auto own_lock = lstat_of(c.dir() / (scenario.pool + ".lock"));
  FUZZ_REQUIRE(own_lock && S_ISREG(own_lock->st_mode));
  for (const auto& [name, wanted] : scenario.takes) take(*spill, c, name, wanted);

  spill.reset();
  // The pool's own lock is gone with it; what the sweep must keep is still there.
  FUZZ_REQUIRE(!lstat_of(c.dir() / (scenario.pool + ".lock")));
  std::set<std::string> taken;
  for (const auto& take_line : scenario.takes) taken.insert(take_line.first);
  for (const auto& [name, kind] : c.created())
    if (!removable(c, name, kind) && taken.count(name) == 0) FUZZ_REQUIRE(lstat_of(c.dir() / name).has_value());
  c.check_canary();
  return 0;
}
