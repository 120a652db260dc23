// What every benchmark case needs, and how long a run should take.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench_paths.hpp"
#include "execkit/call.hpp"
#include "scratch_dir.hpp"

namespace execkit::bench {

// A call of `function` in the module file `module`, for every backend's cases.
inline Call task_call(const std::filesystem::path& module, std::string function, std::string_view input) {
  Call call;
  call.module = module.string();
  call.function = std::move(function);
  call.input = to_bytes(input);
  return call;
}

struct Profile {
  // A ~10 s pass that only checks the cases still run (ctest label bench).
  bool smoke = false;
  std::int64_t iterations(std::int64_t full, std::int64_t in_smoke) const { return smoke ? in_smoke : full; }
};

struct BenchContext {
  BenchPaths paths;
  ScratchDir scratch;
  Profile profile;
};

// Result sizes measured for the backend and the write-then-map floor alike.
inline const std::vector<std::int64_t>& result_sizes() {
  static const std::vector<std::int64_t> sizes{0, 1 << 10, 64 << 10, 1 << 20, 64 << 20, std::int64_t{1} << 30};
  return sizes;
}

// Iterations for one result size: the largest are slow, and skipped in a smoke run.
inline std::int64_t result_iterations(const Profile& profile, std::int64_t size) {
  if (size >= (std::int64_t{1} << 30)) return profile.iterations(2, 0);
  if (size >= (std::int64_t{64} << 20)) return profile.iterations(8, 1);
  if (size >= (std::int64_t{1} << 20)) return profile.iterations(150, 10);
  return profile.iterations(1500, 100);
}

void register_floor_cases(const BenchContext& context);
void register_reference_cases(const BenchContext& context);
void register_anatomy_cases(const BenchContext& context);
// The Redis Streams floors (redis_floor_cases.cpp): each case starts its own redis-server.
void register_redis_floor_cases(const BenchContext& context);
// RedisStreamBackend with two execkit-node agents (redis_cases.cpp).
void register_redis_cases(const BenchContext& context);

}  // namespace execkit::bench
