// Registers one case: a fixed number of manually timed iterations (so a run
// takes a known time), microseconds, and an exception as a skip with its message.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <exception>
#include <string>

namespace execkit::bench {

template <class Body>
void timed_case(const std::string& name, std::int64_t iterations, Body body) {
  benchmark::RegisterBenchmark(name.c_str(),
                               [body](benchmark::State& state) {
                                 try {
                                   body(state);
                                 } catch (const std::exception& e) {
                                   state.SkipWithError(e.what());
                                 }
                               })
      ->UseManualTime()
      ->Iterations(iterations)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace execkit::bench
