// Probe tasks that try to change their own result after the caller has it
// (SPILL-8): from a thread or a process they leave behind, or from a later
// call on the same worker through a handle or a mapping they kept.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <ctime>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "probe_common.hpp"
#include "probe_support.hpp"

using execkit::probe::input_text;
using execkit::probe::parse_decimal;

namespace {

// The bytes the tests expect: ByteStream(41).
constexpr std::uint64_t result_seed = 41;
constexpr std::size_t junk_bytes = 4096;
constexpr auto longest_wait = std::chrono::seconds(120);

bool is_result_file(std::string_view target, const std::string& spill_dir) {
  return target.starts_with(spill_dir + "/") || target.starts_with("/memfd:");
}

struct ResultFd {
  int fd;
  std::string path;  // its name; "" for a memfd or a file without one (O_TMPFILE)
};

// Fds of this process that refer to a file that may hold a result: one under
// the spill dir (named, or without a name as an O_TMPFILE or a file already
// unlinked), or a memfd.
std::vector<ResultFd> result_fds(const std::string& spill_dir) {
  DIR* fds = ::opendir("/proc/self/fd");
  if (fds == nullptr) throw std::system_error(errno, std::generic_category(), "probe: opendir /proc/self/fd");
  std::vector<ResultFd> found;
  while (const dirent* entry = ::readdir(fds)) {
    if (entry->d_name[0] == '.') continue;
    std::array<char, 4096> target{};
    const auto n = ::readlinkat(::dirfd(fds), entry->d_name, target.data(), target.size() - 1);
    if (n <= 0) continue;
    const std::string_view path(target.data(), static_cast<std::size_t>(n));
    if (!is_result_file(path, spill_dir)) continue;
    const bool named = !path.starts_with("/memfd:") && !path.ends_with(" (deleted)");
    found.push_back({std::atoi(entry->d_name), named ? std::string(path) : ""});
  }
  ::closedir(fds);
  return found;
}

// A new handle to the file behind `fd`, opened through /proc: a read-only
// one holds the file without counting as a writer.
int reopen(int fd, int flags) { return ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), flags | O_CLOEXEC); }

// Changes the file behind `fd` through a writable handle reopened from it.
// Only system calls: it also runs in a forked child. Returns 0 or an errno.
int tamper(const char* reopen_path, char action, off_t size, const char* junk) {
  const int w = ::open(reopen_path, O_RDWR | O_CLOEXEC);
  if (w < 0) return errno;
  int rc = 0;
  switch (action) {
    case 't':  // truncate
      rc = ::ftruncate(w, 0);
      break;
    case 'e':  // extend
      rc = ::ftruncate(w, size * 2) != 0 || ::pwrite(w, junk, junk_bytes, size) < 0 ? -1 : 0;
      break;
    default:  // overwrite
      rc = ::pwrite(w, junk, junk_bytes, 0) < 0 || ::pwrite(w, junk, junk_bytes, size / 2) < 0 ? -1 : 0;
      break;
  }
  const int err = rc == 0 ? 0 : errno;
  ::close(w);
  return err;
}

char action_code(std::string_view action) {
  if (action == "truncate" || action == "extend" || action == "overwrite") return action[0];
  throw std::invalid_argument("probe: unknown tamper action '" + std::string(action) + "'");
}

// What a left-behind attacker needs, built before any fork: no allocation after.
struct Attack {
  std::string reopen_path, name, go, acted, acted_tmp;
  char action;
  off_t size;
  std::array<char, junk_bytes> junk;

  // `name`: the result file's path, when it has one: the caller removing it
  // is the first sign that it has the result.
  Attack(int handle, std::string result_name, const std::string& dir, char action_code, std::uint64_t result_size)
      : reopen_path("/proc/self/fd/" + std::to_string(handle)),
        name(std::move(result_name)),
        go(dir + "/go"),
        acted(dir + "/acted"),
        acted_tmp(dir + "/acted.tmp"),
        action(action_code),
        size(static_cast<off_t>(result_size)) {
    junk.fill('\xa5');
  }

  // As soon as the caller has the result (the test's go, or the file's
  // name gone), tampers; reports "<errno>" in dir/acted. Spins rather than
  // sleeps: a backend may kill what the task left behind right after
  // delivering, and the attack must come first to show the defect.
  void run() const {
    timespec start{}, now{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    struct stat st {};
    while (::stat(go.c_str(), &st) != 0 && (name.empty() || ::stat(name.c_str(), &st) == 0)) {
      ::clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec - start.tv_sec > 120) return;
    }
    const int err = tamper(reopen_path.c_str(), action, size, junk.data());
    char text[16];
    int len = 0;
    for (int v = err; len == 0 || v != 0; v /= 10) text[len++] = static_cast<char>('0' + v % 10);
    for (int i = 0; i < len / 2; ++i) std::swap(text[i], text[len - 1 - i]);
    const int out = ::open(acted_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return;
    [[maybe_unused]] auto n = ::write(out, text, static_cast<std::size_t>(len));
    ::close(out);
    ::rename(acted_tmp.c_str(), acted.c_str());
  }
};

void write_result(execkit::TaskContext& ctx, std::uint64_t size) {
  execkit::probe::ByteStream stream(result_seed);
  std::vector<std::byte> chunk(std::size_t{1} << 20);
  for (std::uint64_t left = size; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    stream.fill(std::span(chunk.data(), n));
    ctx.write(std::span<const std::byte>(chunk.data(), n));
    left -= n;
  }
}

}  // namespace

// Input "spill_dir,size,mode,action,dir": writes `size` bytes of
// ByteStream(41) as the result, finds the files open in its process that may
// hold it (under spill_dir, with or without a name, or memfds) and, per mode:
//   thread      leaves a thread holding a read-only handle to each
//   grandchild  leaves a child process holding read-only handles
//   keep_handle keeps a read-only handle open and returns
//   keep_mapping keeps a writable shared mapping (no fd) and returns
// The thread or child writes its pid to dir/attacker, waits until dir/go
// exists or the file's name is gone (the caller took it), then reopens each
// handle for writing and applies `action`
// (truncate | extend | overwrite) and writes the errno (0: done) to
// dir/acted. keep_* leave the work to a later call (tamper_kept).
// Fails with type "NoResultHandle" when no such file is open.
EXECKIT_TASK(tamper_later)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 5, "tamper_later");
  const std::string spill_dir(parts[0]);
  const auto size = parse_decimal(parts[1], "tamper_later size");
  const auto mode = parts[2];
  const char action = action_code(parts[3]);
  const std::string dir(parts[4]);
  write_result(ctx, size);
  const auto fds = result_fds(spill_dir);
  if (fds.empty()) {
    ctx.fail("NoResultHandle", "no file under " + spill_dir + " and no memfd is open while the task runs");
    return;
  }
  std::vector<int> handles;
  for (const auto& [fd, path] : fds) {
    const int handle = mode == "keep_mapping" ? reopen(fd, O_RDWR) : reopen(fd, O_RDONLY);
    if (handle < 0) throw std::system_error(errno, std::generic_category(), "probe: reopen fd " + std::to_string(fd));
    handles.push_back(handle);
  }
  if (mode == "keep_handle") return;  // the handles stay open
  if (mode == "keep_mapping") {
    for (int handle : handles) {
      if (::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, handle, 0) == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(), "probe: mmap result file");
      ::close(handle);
    }
    return;
  }
  std::vector<Attack> attacks;
  for (std::size_t i = 0; i < handles.size(); ++i) attacks.emplace_back(handles[i], fds[i].path, dir, action, size);
  if (mode == "thread") {
    execkit::probe::write_file_atomically(dir + "/attacker", std::to_string(::getpid()));
    std::thread([attacks = std::move(attacks)] {
      for (const auto& attack : attacks) attack.run();
    }).detach();
    return;
  }
  if (mode != "grandchild") throw std::invalid_argument("probe: tamper_later: unknown mode '" + std::string(mode) + "'");
  const pid_t child = ::fork();
  if (child < 0) throw std::system_error(errno, std::generic_category(), "probe: fork");
  if (child == 0) {
    // Only the read-only handles: a copy of a writable fd would count as a writer.
    for (const auto& [fd, path] : fds) ::close(fd);
    for (const auto& attack : attacks) attack.run();
    ::_exit(0);
  }
  for (int handle : handles) ::close(handle);
  execkit::probe::write_file_atomically(dir + "/attacker", std::to_string(child));
}

// Input "spill_dir,action,size": a later call on the worker where
// tamper_later kept a handle or a mapping. Reopens for writing every fd of
// its process under spill_dir (also deleted files) or memfd and applies
// `action`; writes junk through every shared writable mapping of such a file.
// Result: "acted <n>", the number of handles and mappings it changed.
EXECKIT_TASK(tamper_kept)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 3, "tamper_kept");
  const std::string spill_dir(parts[0]);
  const char action = action_code(parts[1]);
  const auto size = static_cast<off_t>(parse_decimal(parts[2], "tamper_kept size"));
  std::array<char, junk_bytes> junk;
  junk.fill('\xa5');
  int acted = 0;
  for (const auto& kept : result_fds(spill_dir)) {
    acted += tamper(("/proc/self/fd/" + std::to_string(kept.fd)).c_str(), action, size, junk.data()) == 0;
  }
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos || !is_result_file(std::string_view(line).substr(slash), spill_dir)) continue;
    if (line.find(" rw-s ") == std::string::npos) continue;
    const auto start = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    std::memcpy(reinterpret_cast<void*>(start), junk.data(), junk.size());
    ++acted;
  }
  ctx.write("acted " + std::to_string(acted));
}
