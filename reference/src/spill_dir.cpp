#include "spill_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string_view>
#include <system_error>
#include <vector>

#include "execkit/errors.hpp"

namespace execkit {
namespace {

namespace fs = std::filesystem;

// Names in the spill dir (see docs/spill.md):
//   "<pool_id>.lock"                 held with flock(LOCK_EX) while the pool lives
//   "<pool_id>.<16 hex>.newlock"     a lock being created, renamed into place
//   "<pool_id>.<call_id>.spill"      one call's result
// A pool id never contains '.', so the first '.' ends it.
constexpr std::string_view lock_suffix = ".lock";
constexpr std::string_view pending_lock_suffix = ".newlock";
constexpr std::string_view spill_suffix = ".spill";
constexpr std::size_t max_pool_id_length = 64;
constexpr int max_lock_attempts = 16;

bool is_pool_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool is_valid_pool_id(std::string_view id) {
  return !id.empty() && id.size() <= max_pool_id_length && std::all_of(id.begin(), id.end(), is_pool_id_char);
}

bool all_of_chars(std::string_view s, std::string_view allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string_view::npos;
}

enum class EntryKind { lock, pending_lock, spill };

struct Entry {
  EntryKind kind;
  std::string pool_id;
  std::string name;
};

std::optional<Entry> parse_entry(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto pool_id = name.substr(0, dot);
  if (!is_valid_pool_id(pool_id)) return std::nullopt;
  const auto rest = name.substr(dot);
  if (rest == lock_suffix) return Entry{EntryKind::lock, std::string(pool_id), std::string(name)};
  const auto second_dot = rest.find('.', 1);
  if (second_dot == std::string_view::npos) return std::nullopt;
  const auto middle = rest.substr(1, second_dot - 1);
  const auto suffix = rest.substr(second_dot);
  if (suffix == spill_suffix && middle.size() <= 20 && all_of_chars(middle, "0123456789"))
    return Entry{EntryKind::spill, std::string(pool_id), std::string(name)};
  if (suffix == pending_lock_suffix && all_of_chars(middle, "0123456789abcdef"))
    return Entry{EntryKind::pending_lock, std::string(pool_id), std::string(name)};
  return std::nullopt;
}

std::string lock_name(const std::string& pool_id) { return pool_id + std::string(lock_suffix); }

std::string pending_lock_name(const std::string& pool_id) {
  std::random_device random;
  const auto value = (std::uint64_t{random()} << 32) | random();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(value));
  return pool_id + "." + hex + std::string(pending_lock_suffix);
}

std::string in_quotes(const fs::path& path) { return "\"" + path.string() + "\""; }

[[noreturn]] void refuse(const fs::path& dir, const std::string& problem) {
  throw SpillError("spill dir " + in_quotes(dir) + ": " + problem);
}

[[noreturn]] void refuse_errno(const fs::path& dir, const std::string& what, int err) {
  refuse(dir, what + ": " + std::strerror(err));
}

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

void check_dir_stat(const struct stat& st, const fs::path& dir) {
  if (S_ISLNK(st.st_mode)) refuse(dir, "is a symlink");
  if (!S_ISDIR(st.st_mode)) refuse(dir, "is not a directory");
  const uid_t me = ::geteuid();
  if (st.st_uid != me) refuse(dir, "owned by uid " + std::to_string(st.st_uid) + ", not " + std::to_string(me));
  if ((st.st_mode & 077) != 0) refuse(dir, "mode " + octal_mode(st.st_mode) + " grants group/other access");
}

// Creates `dir` and any missing parents, each mode 0700 (the umask can only
// remove bits, never grant group/other access).
void create_dirs(const fs::path& dir) {
  fs::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), 0700) == 0) continue;
    const int err = errno;
    if (err != EEXIST) refuse_errno(dir, "cannot create " + in_quotes(prefix), err);
  }
}

UniqueFd open_validated_dir(const fs::path& dir) {
  struct stat before {};
  if (::lstat(dir.c_str(), &before) != 0) {
    const int err = errno;
    if (err != ENOENT) refuse_errno(dir, "cannot be inspected", err);
    create_dirs(dir);
    if (::lstat(dir.c_str(), &before) != 0) {
      const int again = errno;
      refuse_errno(dir, "cannot be inspected", again);
    }
  }
  check_dir_stat(before, dir);

  // The path may have been swapped since lstat: open without following a
  // symlink and validate what was actually opened.
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ELOOP) refuse(dir, "is a symlink");
    if (err == ENOTDIR) refuse(dir, "is not a directory");
    refuse_errno(dir, "cannot be opened", err);
  }
  struct stat after {};
  if (::fstat(fd.get(), &after) != 0) {
    const int err = errno;
    refuse_errno(dir, "cannot be inspected", err);
  }
  check_dir_stat(after, dir);
  if (after.st_dev != before.st_dev || after.st_ino != before.st_ino) refuse(dir, "was replaced while being opened");
  return fd;
}

std::vector<std::string> list_names(int dir_fd) {
  // A fresh open file description, so listing never moves dir_fd's offset.
  UniqueFd fd(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw std::system_error(errno, std::generic_category(), "open spill dir for listing");
  std::unique_ptr<DIR, int (*)(DIR*)> stream(::fdopendir(fd.get()), &::closedir);
  if (!stream) throw std::system_error(errno, std::generic_category(), "list spill dir");
  fd.release();
  std::vector<std::string> names;
  for (;;) {
    errno = 0;  // readdir reports an error only through errno
    const dirent* entry = ::readdir(stream.get());
    if (entry == nullptr) break;
    names.emplace_back(entry->d_name);
  }
  if (errno != 0) throw std::system_error(errno, std::generic_category(), "list spill dir");
  return names;
}

std::vector<Entry> list_entries(int dir_fd) {
  std::vector<Entry> entries;
  for (const auto& name : list_names(dir_fd))
    if (auto entry = parse_entry(name)) entries.push_back(std::move(*entry));
  return entries;
}

// True if `name` in `dir_fd` is (still) the file open as `fd`.
bool names_open_file(int dir_fd, const std::string& name, int fd) {
  struct stat by_name {
  }, by_fd{};
  return ::fstatat(dir_fd, name.c_str(), &by_name, AT_SYMLINK_NOFOLLOW) == 0 && ::fstat(fd, &by_fd) == 0 &&
         by_name.st_dev == by_fd.st_dev && by_name.st_ino == by_fd.st_ino;
}

// Locks a lock file whose owner is gone. Empty if the owner is alive, the name
// is not a regular file, or another sweeper already removed it.
UniqueFd lock_if_abandoned(int dir_fd, const std::string& name) {
  UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return {};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return {};
  if (!names_open_file(dir_fd, name, fd.get())) return {};
  return fd;
}

bool unlink_name(int dir_fd, const std::string& name) { return ::unlinkat(dir_fd, name.c_str(), 0) == 0; }

bool lock_exists(int dir_fd, const std::string& pool_id) {
  struct stat st {};
  return ::fstatat(dir_fd, lock_name(pool_id).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

// Removes the files of dead pools; returns how many. `own_pending` is skipped.
std::size_t sweep(int dir_fd, const std::string& own_pending) {
  const auto entries = list_entries(dir_fd);
  std::size_t removed = 0;
  for (const auto& lock : entries) {
    if (lock.kind == EntryKind::spill || lock.name == own_pending) continue;
    const UniqueFd held = lock_if_abandoned(dir_fd, lock.name);
    if (!held) continue;
    // A pending lock never had spill files: its owner died before publishing it.
    if (lock.kind == EntryKind::lock) {
      for (const auto& spill : entries)
        if (spill.kind == EntryKind::spill && spill.pool_id == lock.pool_id) removed += unlink_name(dir_fd, spill.name);
    }
    // Unlinked while still held, so nobody can take it for a live lock.
    removed += unlink_name(dir_fd, lock.name);
  }
  // A pool publishes its lock before any spill file exists and removes it only
  // after its spill files, so a spill file without a lock is always stale.
  for (const auto& spill : entries)
    if (spill.kind == EntryKind::spill && !lock_exists(dir_fd, spill.pool_id))
      removed += unlink_name(dir_fd, spill.name);
  return removed;
}

}  // namespace

fs::path resolve_spill_dir(const fs::path& configured, const EnvMap& env) {
  fs::path dir = configured;
  if (dir.empty()) {
    const auto tmpdir = env.find("TMPDIR");
    const fs::path base = (tmpdir == env.end() || tmpdir->second.empty()) ? fs::path("/tmp") : fs::path(tmpdir->second);
    dir = base / ("execkit-" + std::to_string(::geteuid()));
  }
  // Lexical, not weakly_canonical: canonicalising would follow a symlink
  // planted at the spill dir itself and hide it from SpillDir::open's check.
  std::error_code error;
  fs::path absolute = fs::absolute(dir, error);
  if (error) throw ConfigError("spill_dir", dir.string(), "cannot be made absolute: " + error.message());
  fs::path normal = absolute.lexically_normal();
  if (normal.has_relative_path() && !normal.has_filename()) normal = normal.parent_path();  // trailing '/'
  // libstdc++ keeps a leading "//" (POSIX: implementation-defined; "/" on Linux).
  const auto& text = normal.native();
  if (const auto first = text.find_first_not_of('/'); first != 1)
    normal = "/" + (first == std::string::npos ? std::string() : text.substr(first));
  return normal;
}

SpillDir SpillDir::open(const fs::path& dir, const std::string& pool_id) {
  if (!is_valid_pool_id(pool_id))
    throw ConfigError("pool_id", pool_id, "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'");
  SpillDir spill_dir;
  spill_dir.path_ = dir;
  spill_dir.pool_id_ = pool_id;
  spill_dir.dir_fd_ = open_validated_dir(dir);
  spill_dir.take_lock();
  return spill_dir;
}

// The lock is created under a temporary name and locked before it gets its
// final name, so a sweeper never finds an unlocked lock file of a live pool.
void SpillDir::take_lock() {
  const int dir = dir_fd_.get();
  for (int attempt = 0; attempt < max_lock_attempts; ++attempt) {
    const std::string pending = pending_lock_name(pool_id_);
    UniqueFd fd(::openat(dir, pending.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
      const int err = errno;
      if (err == EEXIST) continue;
      refuse_errno(path_, "cannot create lock file " + in_quotes(pending), err);
    }
    // Blocking: a sweeper may hold it for the moment it takes to unlink it.
    while (::flock(fd.get(), LOCK_EX) != 0) {
      const int err = errno;
      if (err != EINTR) {
        unlink_name(dir, pending);
        refuse_errno(path_, "cannot lock " + in_quotes(pending), err);
      }
    }

    try {
      swept_ += sweep(dir, pending);
    } catch (const std::system_error& e) {
      unlink_name(dir, pending);
      refuse(path_, std::string("cannot sweep stale files: ") + e.what());
    }

    // linkat never replaces, so a live pool with the same id is detected.
    const std::string final_name = lock_name(pool_id_);
    if (::linkat(dir, pending.c_str(), dir, final_name.c_str(), 0) != 0) {
      const int err = errno;
      unlink_name(dir, pending);
      if (err == ENOENT) continue;  // a concurrent sweeper took it before we locked it
      if (err == EEXIST)
        throw ConfigError("pool_id", pool_id_, "is already in use by a live pool in spill dir " + in_quotes(path_));
      refuse_errno(path_, "cannot create lock file " + in_quotes(final_name), err);
    }
    unlink_name(dir, pending);
    lock_fd_ = std::move(fd);
    return;
  }
  refuse(path_, "could not create a lock file in " + std::to_string(max_lock_attempts) + " attempts");
}

SpillDir& SpillDir::operator=(SpillDir&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    pool_id_ = std::move(other.pool_id_);
    dir_fd_ = std::move(other.dir_fd_);
    lock_fd_ = std::move(other.lock_fd_);
    swept_ = other.swept_;
  }
  return *this;
}

SpillDir::~SpillDir() { release(); }

void SpillDir::release() noexcept {
  // Moved from, or open() failed before the lock: the files are not ours.
  if (!dir_fd_ || !lock_fd_) {
    dir_fd_.reset();
    return;
  }
  const int dir = dir_fd_.get();
  try {
    for (const auto& entry : list_entries(dir))
      if (entry.kind == EntryKind::spill && entry.pool_id == pool_id_) unlink_name(dir, entry.name);
  } catch (...) {
    // Best effort: once the lock is gone, the next open() sweeps what is left.
  }
  try {
    const std::string name = lock_name(pool_id_);
    if (names_open_file(dir, name, lock_fd_.get())) unlink_name(dir, name);
  } catch (...) {
  }
  lock_fd_.reset();
  dir_fd_.reset();
}

std::string SpillDir::file_name(std::uint64_t call_id) const {
  return pool_id_ + "." + std::to_string(call_id) + std::string(spill_suffix);
}

void SpillDir::remove(std::uint64_t call_id) const noexcept {
  try {
    unlink_name(dir_fd_.get(), file_name(call_id));
  } catch (...) {
    // Only the name's allocation can throw; the destructor removes it anyway.
  }
}

}  // namespace execkit
