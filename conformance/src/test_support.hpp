// Helpers shared by the area test files: parsing probe output, checking
// byte streams, file-based gates, typed-outcome assertions.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "execkit/conformance/fixture.hpp"
#include "execkit/outcome.hpp"

namespace execkit::conformance {

// "NAME=VALUE\n" lines (the env probe) or NUL-separated entries (proc_environ).
std::map<std::string, std::string> parse_env_lines(std::string_view text);
std::map<std::string, std::string> parse_env_block(std::string_view block);

// Non-empty lines of `text`.
std::vector<std::string> split_lines(std::string_view text);

// The identity/gate/rendezvous probes: "pid=..\nworker_id=..\nnode_id=..\n".
struct TaskIdentity {
  pid_t pid = 0;
  std::string worker_id;
  std::string node_id;
};
TaskIdentity parse_identity(std::string_view text);

// Offset of the first byte of `bytes` that differs from probe::ByteStream(seed), if any.
std::optional<std::uint64_t> first_stream_mismatch(std::span<const std::byte> bytes, std::uint64_t seed);
std::vector<std::byte> stream_bytes(std::uint64_t size, std::uint64_t seed);

// A pool of one, so that consecutive calls meet the same worker.
WorkerConfig single_worker(WorkerConfig config);

std::vector<std::string> list_dir(const std::filesystem::path& dir);
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view content);
std::uint64_t file_size_or_zero(const std::filesystem::path& path);

// Tasks that run until the test releases them (probe task "gate").
class Gates {
 public:
  explicit Gates(std::filesystem::path dir);
  // The input of a gate task with this id.
  std::string input(const std::string& id) const;
  bool started(const std::string& id) const;
  bool finished(const std::string& id) const;
  std::size_t started_count() const;
  std::size_t finished_count() const;
  // The pid the task wrote when it started (0 if not started).
  pid_t pid_of(const std::string& id) const;
  void release(const std::string& id) const;
  void release_all() const;

 private:
  std::filesystem::path dir_;
};

// Samples this process's anonymous RSS (RssAnon) every millisecond in a
// background thread and keeps the peak.
// Raises RLIMIT_NOFILE to `wanted` for the scope, or, without
// CAP_SYS_RESOURCE, as far as the hard limit allows.
class ScopedFdLimit {
 public:
  explicit ScopedFdLimit(rlim_t wanted);
  ~ScopedFdLimit();
  ScopedFdLimit(const ScopedFdLimit&) = delete;
  ScopedFdLimit& operator=(const ScopedFdLimit&) = delete;
  rlim_t limit() const { return limit_; }

 private:
  rlimit saved_{};
  rlim_t limit_ = 0;
};

class AnonRssSampler {
 public:
  AnonRssSampler();
  AnonRssSampler(const AnonRssSampler&) = delete;
  AnonRssSampler& operator=(const AnonRssSampler&) = delete;
  ~AnonRssSampler();
  std::int64_t baseline_kib() const { return baseline_kib_; }
  // Peak since construction minus the baseline.
  std::int64_t peak_growth_kib() const;

 private:
  std::int64_t baseline_kib_ = 0;
  std::atomic<std::int64_t> peak_kib_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};
std::int64_t anon_rss_kib();

// A fresh, empty directory under `parent`.
std::filesystem::path make_dir(const std::filesystem::path& parent, const std::string& name);

// Success when the outcome is the error E; otherwise names what it was.
template <class E>
::testing::AssertionResult ended_with(const Outcome& outcome) {
  if (outcome.error_as<E>() != nullptr) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected " << ::testing::internal::GetTypeName<E>()
                                       << " but the call ended with " << describe(outcome);
}

inline ::testing::AssertionResult succeeded(const Outcome& outcome) {
  if (outcome.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected success but the call ended with " << describe(outcome);
}

inline std::string text_of(const Outcome& outcome) { return std::string(outcome.value().text()); }

// Milliseconds since `start`.
inline long long elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace execkit::conformance
