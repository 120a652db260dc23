// Probe tasks about large results: a result followed by another outcome
// (SPILL-5), and a task that tampers with its own spill file (SPILL-4).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "probe_common.hpp"
#include "probe_support.hpp"

using execkit::probe::input_text;
using execkit::probe::parse_decimal;

namespace {

void write_stream(execkit::TaskContext& ctx, std::uint64_t size, std::uint64_t seed) {
  execkit::probe::ByteStream stream(seed);
  std::vector<std::byte> chunk(std::size_t{1} << 20);
  for (std::uint64_t left = size; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    std::span<std::byte> part(chunk.data(), n);
    stream.fill(part);
    ctx.write(part);
    left -= n;
  }
}

// The path of a file this process has open under `dir`, or "".
std::string open_file_under(const std::string& dir) {
  DIR* fds = ::opendir("/proc/self/fd");
  if (fds == nullptr) throw std::system_error(errno, std::generic_category(), "probe: opendir /proc/self/fd");
  std::string found;
  while (const dirent* entry = ::readdir(fds)) {
    std::array<char, 4096> target{};
    const auto n = ::readlinkat(::dirfd(fds), entry->d_name, target.data(), target.size() - 1);
    if (n <= 0) continue;
    const std::string path(target.data(), static_cast<std::size_t>(n));
    if (path.starts_with(dir + "/") && !path.ends_with(" (deleted)")) found = path;
  }
  ::closedir(fds);
  return found;
}

void write_file(const std::string& path, std::uint64_t size, std::uint64_t seed) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "probe: create " + path);
  execkit::probe::ByteStream stream(seed);
  std::vector<std::byte> chunk(std::size_t{1} << 16);
  for (std::uint64_t left = size; left > 0;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    stream.fill(std::span(chunk.data(), n));
    if (::write(fd, chunk.data(), n) != static_cast<ssize_t>(n)) throw std::system_error(errno, std::generic_category(), "probe: write " + path);
    left -= n;
  }
  ::close(fd);
}

void check(int rc, const std::string& what) {
  if (rc != 0) throw std::system_error(errno, std::generic_category(), "probe: " + what);
}

}  // namespace

// Input "N,action,marker": writes N bytes of ByteStream(7) as the result,
// creates the file `marker` ("-": none), then: ok (returns), fail, hang,
// abort, exit (_exit(3)), or wait=<path> (returns once path exists).
EXECKIT_TASK(write_then)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 3, "write_then");
  write_stream(ctx, parse_decimal(parts[0], "write_then size"), 7);
  if (parts[2] != "-") execkit::probe::write_file_atomically(std::string(parts[2]), "");
  const auto action = parts[1];
  if (action == "ok") return;
  if (action == "fail") throw std::runtime_error("probe: write_then failing as asked");
  if (action == "hang") execkit::probe::hang_forever();
  if (action == "abort") std::abort();
  if (action == "exit") ::_exit(3);
  if (action.starts_with("wait=")) {
    execkit::probe::wait_for_path(std::string(action.substr(5)), std::chrono::seconds(120));
    return;
  }
  throw std::invalid_argument("probe: write_then: unknown action '" + std::string(action) + "'");
}

// Input "spill_dir,kind,size,canary": writes `size` bytes of ByteStream(1) as
// the result, finds the spill file it is writing under spill_dir, and puts
// something else in its place (SPILL-4):
//   symlink       a symlink to `canary`
//   fifo          a FIFO
//   wrong_size    a regular file one page larger
//   directory     a directory
//   foreign_owner a regular file with the same bytes, owned by uid/gid 65534
//   hardlink      a hard link to `canary` (a file the caller owns, of the
//                 expected size); fails with type "CannotLink" where the
//                 canary cannot be linked into the spill dir
// Fails with type "NoOpenSpillFile" when it has no spill file open.
EXECKIT_TASK(swap_spill)(execkit::TaskContext& ctx) {
  const auto parts = execkit::probe::fields(input_text(ctx), ',', 4, "swap_spill");
  const std::string dir(parts[0]);
  const auto kind = parts[1];
  const auto size = parse_decimal(parts[2], "swap_spill size");
  const std::string canary(parts[3]);
  write_stream(ctx, size, 1);
  const auto spill = open_file_under(dir);
  if (spill.empty()) {
    ctx.fail("NoOpenSpillFile", "no file under " + dir + " is open while the task runs");
    return;
  }
  const std::string swap = spill + ".swap";
  if (kind == "symlink") {
    check(::symlink(canary.c_str(), swap.c_str()), "symlink " + swap);
  } else if (kind == "fifo") {
    check(::mkfifo(swap.c_str(), 0600), "mkfifo " + swap);
  } else if (kind == "wrong_size") {
    write_file(swap, size + 4096, 1);
  } else if (kind == "foreign_owner") {
    write_file(swap, size, 1);
    check(::chown(swap.c_str(), 65534, 65534), "chown " + swap);
  } else if (kind == "hardlink") {
    if (::link(canary.c_str(), swap.c_str()) != 0) {
      ctx.fail("CannotLink", "cannot link " + canary + " to " + swap + ": " + std::strerror(errno));
      return;
    }
  } else if (kind == "directory") {
    check(::unlink(spill.c_str()), "unlink " + spill);
    check(::mkdir(spill.c_str(), 0700), "mkdir " + spill);
    return;
  } else {
    throw std::invalid_argument("probe: swap_spill: unknown kind '" + std::string(kind) + "'");
  }
  check(::rename(swap.c_str(), spill.c_str()), "rename " + swap);
}
