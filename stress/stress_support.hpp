// Helpers shared by the stress tests (docs/robustness.md): temp dirs, probe
// calls, sizing results to the free disk space, and counting what a backend
// may leave behind (worker processes, mappings of spill files).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "execkit/call.hpp"
#include "execkit/config.hpp"
#include "proc.hpp"

namespace execkit::stress {

// A fresh directory under $TMPDIR (default /tmp), removed with everything in it.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A backend config for stress runs: spill dir `spill`, base dir its parent,
// `max_workers` workers, diagnostics to stderr.
WorkerConfig stress_config(const std::filesystem::path& spill, std::size_t max_workers);

// A call of probe task `function` (the probe module found as the conformance suite finds it).
Call probe_call(std::string function, std::string_view input = {});

// Bytes free for an unprivileged writer on the filesystem holding `dir` (or its nearest existing parent).
std::uint64_t free_bytes(std::filesystem::path dir);

// The largest size, `wanted` halved as often as needed, such that `count`
// results of that size fit into the free space of `dir` with a 512 MiB
// margin. Prints a line saying so whenever it has to size down.
std::uint64_t fit_results(const std::filesystem::path& dir, std::uint64_t wanted, std::size_t count);

std::string in_mib(std::uint64_t bytes);

// A positive whole number of seconds from the environment, or `fallback`.
std::chrono::seconds seconds_from_env(const char* name, std::chrono::seconds fallback);

// This process's descendants (the backend's workers and whatever they started).
std::vector<conformance::ProcStat> own_descendants();

// Lines of /proc/self/maps that map a file under `dir` (a result's mapping).
std::size_t mappings_under(const std::filesystem::path& dir);

}  // namespace execkit::stress
