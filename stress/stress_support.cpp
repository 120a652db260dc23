#include "stress_support.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <system_error>

#include "probe_locator.hpp"

namespace execkit::stress {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  auto pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
  path_ = fs::canonical(pattern);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

WorkerConfig stress_config(const fs::path& spill, std::size_t max_workers) {
  WorkerConfig config;
  config.max_workers = max_workers;
  config.idle_timeout = std::chrono::seconds(60);
  config.spill_dir = spill;
  config.base_dir = spill.parent_path();
  config.log = [](std::string_view line) { std::cerr << "[backend log] " << line << "\n"; };
  return config;
}

Call probe_call(std::string function, std::string_view input) {
  Call call;
  call.module = conformance::probe_module_name;
  call.function = std::move(function);
  call.input = to_bytes(input);
  call.search_path = {conformance::locate_probe_dir()};
  return call;
}

std::uint64_t free_bytes(fs::path dir) {
  while (!dir.empty() && !fs::exists(dir) && dir != dir.parent_path()) dir = dir.parent_path();
  struct statvfs info {};
  if (::statvfs(dir.c_str(), &info) != 0) throw std::system_error(errno, std::generic_category(), "statvfs " + dir.string());
  return static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
}

std::uint64_t fit_results(const fs::path& dir, std::uint64_t wanted, std::size_t count) {
  constexpr std::uint64_t margin = std::uint64_t{512} << 20;
  const auto free = free_bytes(dir);
  auto size = wanted;
  while (size > (std::uint64_t{1} << 20) && count * size + margin > free) size /= 2;
  if (size != wanted) {
    std::cout << "[stress] " << dir << " has " << in_mib(free) << " free: " << count << " result(s) of " << in_mib(wanted)
              << " sized down to " << in_mib(size) << " each\n";
  }
  return size;
}

std::string in_mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

std::chrono::seconds seconds_from_env(const char* name, std::chrono::seconds fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long long value = std::strtoll(text, &end, 10);
  if (*end != '\0' || value <= 0) throw std::invalid_argument(std::string(name) + "=\"" + text + "\": expected a positive number of seconds");
  return std::chrono::seconds(value);
}

std::vector<conformance::ProcStat> own_descendants() { return conformance::descendants_of(::getpid()); }

std::size_t mappings_under(const fs::path& dir) {
  std::ifstream maps("/proc/self/maps");
  std::size_t count = 0;
  const auto prefix = dir.string() + "/";
  for (std::string line; std::getline(maps, line);)
    if (line.find(prefix) != std::string::npos) ++count;
  return count;
}

}  // namespace execkit::stress
