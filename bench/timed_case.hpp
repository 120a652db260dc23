// Registering a case: an exception from its body becomes a skip with its message.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <exception>
#include <string>
#include <utility>

namespace execkit::bench {

template <class Body>
benchmark::internal::Benchmark* register_case(const std::string& name, Body body) {
  return benchmark::RegisterBenchmark(name.c_str(), [body](benchmark::State& state) {
    try {
      body(state);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
    }
  });
}

// A fixed number of manually timed iterations (so a run takes a known time), in microseconds.
template <class Body>
void timed_case(const std::string& name, std::int64_t iterations, Body body) {
  register_case(name, std::move(body))->UseManualTime()->Iterations(iterations)->Unit(benchmark::kMicrosecond);
}

}  // namespace execkit::bench
