// execkit_bench: the reference backend and the floors, in one run.
//
//   execkit_bench [--execkit_profile=full|smoke] [Google Benchmark flags]
//
// full (default) is what scripts/bench-compare records in
// docs/performance.md; smoke runs every case briefly (ctest -L bench).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>

#include "bench_context.hpp"

namespace {

constexpr std::string_view profile_flag = "--execkit_profile=";

// Removes --execkit_profile=... from argv; nullopt on a bad value.
std::optional<execkit::bench::Profile> take_profile(int& argc, char** argv) {
  execkit::bench::Profile profile;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (!arg.starts_with(profile_flag)) {
      argv[kept++] = argv[i];
      continue;
    }
    const auto value = arg.substr(profile_flag.size());
    if (value == "smoke") {
      profile.smoke = true;
    } else if (value == "full") {
      profile.smoke = false;
    } else {
      std::fprintf(stderr, "execkit_bench: --execkit_profile must be full or smoke, got '%.*s'\n",
                   static_cast<int>(value.size()), value.data());
      return std::nullopt;
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  return profile;
}

}  // namespace

int main(int argc, char** argv) {
  const auto profile = take_profile(argc, argv);
  if (!profile) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  try {
    const execkit::bench::BenchContext context{execkit::bench::BenchPaths::next_to_this_program(), {}, *profile};
    benchmark::AddCustomContext("execkit_profile", profile->smoke ? "smoke" : "full");
    benchmark::AddCustomContext("execkit_build_type", EXECKIT_BENCH_BUILD_TYPE);
    execkit::bench::register_floor_cases(context);
    execkit::bench::register_reference_cases(context);
    execkit::bench::register_anatomy_cases(context);
    execkit::bench::register_redis_floor_cases(context);
    execkit::bench::register_redis_cases(context);
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "execkit_bench: %s\n", e.what());
    return 1;
  }
  benchmark::Shutdown();
  return 0;
}
