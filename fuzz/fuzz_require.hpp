// An invariant of a fuzz target: names the broken condition, then aborts so
// that libFuzzer keeps the input as a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_REQUIRE(condition)                                                                       \
  do {                                                                                                \
    if (!(condition)) {                                                                               \
      std::fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", #condition, __FILE__, __LINE__);   \
      std::abort();                                                                                   \
    }                                                                                                 \
  } while (false)
