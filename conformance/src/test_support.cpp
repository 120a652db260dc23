#include "test_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

#include "probe_support.hpp"

namespace execkit::conformance {
namespace {

void add_entry(std::map<std::string, std::string>& into, std::string_view entry) {
  if (entry.empty()) return;
  const auto equals = entry.find('=');
  if (equals == std::string_view::npos) {
    into[std::string(entry)] = "";
  } else {
    into[std::string(entry.substr(0, equals))] = std::string(entry.substr(equals + 1));
  }
}

std::map<std::string, std::string> parse_separated(std::string_view text, char separator) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const auto end = text.find(separator);
    add_entry(out, text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_env_lines(std::string_view text) { return parse_separated(text, '\n'); }
std::map<std::string, std::string> parse_env_block(std::string_view block) { return parse_separated(block, '\0'); }

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    if (end != 0) lines.emplace_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

TaskIdentity parse_identity(std::string_view text) {
  const auto values = parse_env_lines(text);
  TaskIdentity identity;
  if (auto it = values.find("pid"); it != values.end()) identity.pid = static_cast<pid_t>(std::stol(it->second));
  if (auto it = values.find("worker_id"); it != values.end()) identity.worker_id = it->second;
  if (auto it = values.find("node_id"); it != values.end()) identity.node_id = it->second;
  if (identity.pid == 0) throw std::runtime_error("probe output has no pid: '" + std::string(text) + "'");
  return identity;
}

std::vector<std::byte> stream_bytes(std::uint64_t size, std::uint64_t seed) {
  std::vector<std::byte> bytes(size);
  probe::ByteStream(seed).fill(bytes);
  return bytes;
}

// Not instrumented: a sanitizer's shadow memory for 1 GiB of checked bytes
// would itself be anonymous memory and hide what SPILL-2 measures.
__attribute__((no_sanitize("address", "thread", "undefined")))
std::optional<std::uint64_t> first_stream_mismatch(std::span<const std::byte> bytes, std::uint64_t seed) {
  // A word at a time: checking 1 GiB must not take longer than writing it.
  const probe::ByteStream stream(seed);
  const std::uint64_t whole_words = bytes.size() / 8;
  for (std::uint64_t index = 0; index <= whole_words; ++index) {
    const std::uint64_t offset = index * 8;
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(8, bytes.size() - offset));
    if (n == 0) break;
    const std::uint64_t expected = stream.word(index);
    if (n == 8) {
      std::uint64_t actual = 0;
      __builtin_memcpy(&actual, bytes.data() + offset, 8);  // a plain load, not an intercepted call
      if (actual == expected) continue;
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (bytes[offset + i] != static_cast<std::byte>(expected >> (8 * i))) return offset + i;
    }
  }
  return std::nullopt;
}

WorkerConfig single_worker(WorkerConfig config) {
  config.max_workers = 1;
  return config;
}

std::vector<std::string> list_dir(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_file(const std::filesystem::path& path) {
  // POSIX reads, not ifstream: libstdc++'s filebuf throws when a read fails,
  // and /proc files of a process that exits mid-read fail with ESRCH.
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(fd);
  return out;
}

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::uint64_t file_size_or_zero(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

Gates::Gates(std::filesystem::path dir) : dir_(std::move(dir)) { std::filesystem::create_directories(dir_); }

std::string Gates::input(const std::string& id) const { return dir_.string() + "," + id; }
bool Gates::started(const std::string& id) const { return std::filesystem::exists(dir_ / ("started." + id)); }
bool Gates::finished(const std::string& id) const { return std::filesystem::exists(dir_ / ("finished." + id)); }

std::size_t Gates::started_count() const {
  const auto names = list_dir(dir_);
  return static_cast<std::size_t>(std::count_if(names.begin(), names.end(), [](const std::string& name) {
    return name.starts_with("started.") && name.find(".tmp.") == std::string::npos;
  }));
}

std::size_t Gates::finished_count() const {
  const auto names = list_dir(dir_);
  return static_cast<std::size_t>(std::count_if(names.begin(), names.end(), [](const std::string& name) {
    return name.starts_with("finished.") && name.find(".tmp.") == std::string::npos;
  }));
}

pid_t Gates::pid_of(const std::string& id) const {
  const auto text = read_file(dir_ / ("started." + id));
  return text.empty() ? 0 : static_cast<pid_t>(std::stol(text));
}

void Gates::release(const std::string& id) const { write_file(dir_ / ("release." + id), ""); }
void Gates::release_all() const { write_file(dir_ / "release.all", ""); }

ScopedFdLimit::ScopedFdLimit(rlim_t wanted) {
  ::getrlimit(RLIMIT_NOFILE, &saved_);
  rlimit raised{wanted, std::max(wanted, saved_.rlim_max)};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    raised = {std::min(wanted, saved_.rlim_max), saved_.rlim_max};
    ::setrlimit(RLIMIT_NOFILE, &raised);
  }
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  limit_ = now.rlim_cur;
}

ScopedFdLimit::~ScopedFdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

std::int64_t anon_rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("RssAnon:")) return std::stoll(line.substr(8));
  }
  return 0;
}

AnonRssSampler::AnonRssSampler() : baseline_kib_(anon_rss_kib()), peak_kib_(baseline_kib_) {
  thread_ = std::thread([this] {
    while (!stop_) {
      const auto now = anon_rss_kib();
      if (now > peak_kib_) peak_kib_ = now;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
}

AnonRssSampler::~AnonRssSampler() {
  stop_ = true;
  thread_.join();
}

std::int64_t AnonRssSampler::peak_growth_kib() const {
  return std::max<std::int64_t>(peak_kib_, anon_rss_kib()) - baseline_kib_;
}

std::filesystem::path make_dir(const std::filesystem::path& parent, const std::string& name) {
  const auto dir = parent / name;
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace execkit::conformance
