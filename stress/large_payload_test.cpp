// mmap large-payload stress of the reference backend (SPILL-1, SPILL-2,
// SPILL-7 at scale): a 1 GiB result round-trips byte-exactly while the
// caller's anonymous RSS grows by less than 64 MiB; 8 concurrent 128 MiB
// results; results kept past shutdown and past their spill file's unlink;
// results released in random order. Sizes shrink (with a message) when the
// spill dir's filesystem lacks room.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <random>

#include "execkit/process_pool.hpp"
#include "pending_call.hpp"
#include "stress_support.hpp"
#include "test_support.hpp"

namespace execkit::stress {
namespace {

using conformance::AnonRssSampler;
using conformance::first_stream_mismatch;
using conformance::PendingCall;

constexpr std::int64_t rss_bound_kib = 64 * 1024;
constexpr std::uint64_t gib = std::uint64_t{1} << 30;
constexpr std::uint64_t mib = std::uint64_t{1} << 20;

Call write_bytes(std::uint64_t size, std::uint64_t seed) {
  return probe_call("write_bytes", std::to_string(size) + "," + std::to_string(seed));
}

Deadline generous() { return Deadline::after(std::chrono::minutes(10)); }

::testing::AssertionResult intact(const Result& result, std::uint64_t size, std::uint64_t seed) {
  if (result.bytes().size() != size)
    return ::testing::AssertionFailure() << "result has " << result.bytes().size() << " bytes, expected " << size;
  if (const auto at = first_stream_mismatch(result.bytes(), seed))
    return ::testing::AssertionFailure() << "result of " << size << " bytes (seed " << seed << ") differs at byte " << *at;
  return ::testing::AssertionSuccess();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(LargePayload, OneGiBResultRoundTripsWithinTheRssBound) {
  TempDir dir("execkit-stress-1gib");
  const auto size = fit_results(dir.path(), gib, 1);
  ProcessPoolBackend backend(stress_config(dir.path() / "spill", 1));
  backend.execute(probe_call("echo", "warm"), generous());  // the worker exists before the baseline

  AnonRssSampler rss;
  const auto start = std::chrono::steady_clock::now();
  const auto result = backend.execute(write_bytes(size, 7), generous());
  const double produced = seconds_since(start);
  ASSERT_TRUE(intact(result, size, 7));
  const double checked = seconds_since(start) - produced;
  const auto growth = rss.peak_growth_kib();
  std::cout << "[stress] " << in_mib(size) << " result: produced and mapped in " << produced << " s, checked in "
            << checked << " s; caller RssAnon grew by " << growth << " KiB (bound 65536 KiB)\n";
  RecordProperty("result_mib", std::to_string(size / mib));
  RecordProperty("rss_anon_growth_kib", std::to_string(growth));
  EXPECT_LT(growth, rss_bound_kib) << "the caller's anonymous RSS grew with the result: it was copied, not mapped";
}

TEST(LargePayload, EightConcurrent128MiBResults) {
  TempDir dir("execkit-stress-8x128");
  constexpr std::size_t count = 8;
  const auto size = fit_results(dir.path(), 128 * mib, count);
  ProcessPoolBackend backend(stress_config(dir.path() / "spill", count));

  AnonRssSampler rss;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<PendingCall>> calls;
  for (std::size_t i = 0; i < count; ++i) calls.push_back(std::make_unique<PendingCall>(backend, write_bytes(size, 100 + i), generous()));
  std::vector<Result> results;
  for (std::size_t i = 0; i < count; ++i) {
    const auto outcome = calls[i]->wait(std::chrono::minutes(10));
    ASSERT_TRUE(outcome.has_value()) << "call " << i << " never completed";
    ASSERT_TRUE(outcome->ok()) << conformance::describe(*outcome);
    results.push_back(outcome->value());
    EXPECT_EQ(calls[i]->completions(), 1);
  }
  for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(intact(results[i], size, 100 + i)) << "result " << i << " aliases another";
  const auto growth = rss.peak_growth_kib();
  std::cout << "[stress] " << count << " concurrent results of " << in_mib(size) << " in " << seconds_since(start)
            << " s; caller RssAnon grew by " << growth << " KiB\n";
  EXPECT_LT(growth, rss_bound_kib);
}

TEST(LargePayload, ResultsOutliveShutdownAndTheirSpillFiles) {
  TempDir dir("execkit-stress-outlive");
  constexpr std::size_t count = 4;
  const auto size = fit_results(dir.path(), 64 * mib, count);
  const auto spill = dir.path() / "spill";
  std::vector<Result> results;
  {
    ProcessPoolBackend backend(stress_config(spill, 2));
    for (std::size_t i = 0; i < count; ++i) results.push_back(backend.execute(write_bytes(size, 200 + i), generous()));
    EXPECT_TRUE(conformance::list_dir(spill).size() <= 1) << "spill files outlived their calls (only the lock may remain)";
    backend.shutdown(true);
  }
  EXPECT_TRUE(conformance::list_dir(spill).empty()) << "the spill dir is not empty after the backend is gone";
  EXPECT_EQ(mappings_under(spill), count) << "each result is one mapping of its (now unlinked) spill file";
  for (std::size_t i = 0; i < count; ++i) EXPECT_TRUE(intact(results[i], size, 200 + i)) << "after shutdown and unlink";
  results.clear();
  EXPECT_EQ(mappings_under(spill), 0u) << "a released result left its mapping behind";
}

TEST(LargePayload, ResultsReleasedInRandomOrder) {
  TempDir dir("execkit-stress-order");
  constexpr std::size_t count = 16;
  const auto largest = fit_results(dir.path(), 32 * mib, count);
  const auto seed = std::random_device{}();
  std::mt19937_64 random(seed);
  RecordProperty("shuffle_seed", std::to_string(seed));
  const auto spill = dir.path() / "spill";
  ProcessPoolBackend backend(stress_config(spill, 4));

  struct Held {
    Result result;
    std::uint64_t size, seed;
  };
  std::vector<Held> held;
  for (std::size_t i = 0; i < count; ++i) {
    const auto size = std::uniform_int_distribution<std::uint64_t>(32 * 1024 + 1, largest)(random);
    held.push_back({backend.execute(write_bytes(size, 300 + i), generous()), size, 300 + i});
  }
  std::shuffle(held.begin(), held.end(), random);
  while (!held.empty()) {
    held.pop_back();
    for (const auto& h : held) ASSERT_TRUE(intact(h.result, h.size, h.seed)) << "after a release (shuffle seed " << seed << ")";
    EXPECT_EQ(mappings_under(spill), held.size()) << "shuffle seed " << seed;
  }
  std::cout << "[stress] " << count << " results up to " << in_mib(largest) << " released in random order (seed " << seed
            << "), each release left the others intact and unmapped only itself\n";
}

}  // namespace
}  // namespace execkit::stress
