// Where the benchmark finds what it runs: everything sits next to
// execkit_bench in the build's bin/ directory.
#pragma once

#include <filesystem>

namespace execkit::bench {

struct BenchPaths {
  std::filesystem::path probe_module;   // libexeckit_probe.so
  std::filesystem::path tasks_module;   // libexeckit_bench_tasks.so
  std::filesystem::path true_program;   // execkit_bench_true
  std::filesystem::path peer_program;   // execkit_bench_peer
  std::filesystem::path worker_program; // execkit-worker

  // Throws std::runtime_error naming the first missing file.
  static BenchPaths next_to_this_program();
};

}  // namespace execkit::bench
