#include "bench_paths.hpp"

#include <stdexcept>

namespace execkit::bench {
namespace {

std::filesystem::path existing(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error("execkit_bench: " + path.string() + " is missing; build the execkit_bench target");
  return path;
}

}  // namespace

BenchPaths BenchPaths::next_to_this_program() {
  const auto dir = std::filesystem::canonical("/proc/self/exe").parent_path();
  return {existing(dir / "libexeckit_probe.so"), existing(dir / "libexeckit_bench_tasks.so"),
          existing(dir / "execkit_bench_true"), existing(dir / "execkit_bench_peer"),
          existing(dir / "execkit-worker")};
}

}  // namespace execkit::bench
