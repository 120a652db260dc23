// A call: which task to run, with what input, in which per-call context.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace execkit {

// An absolute point in time for the whole call, queueing included (RUN-2).
// Uses steady_clock, i.e. CLOCK_MONOTONIC on Linux.
struct Deadline {
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::time_point::max();

  static Deadline never() { return {}; }
  static Deadline after(std::chrono::steady_clock::duration d) {
    return {std::chrono::steady_clock::now() + d};
  }
  bool is_never() const { return at == std::chrono::steady_clock::time_point::max(); }
};

struct Call {
  // "probe" finds libprobe.so (or probe.so) along search_path; a name containing
  // '/' is a path to the module file.
  std::string module;
  // Name given to EXECKIT_TASK in that module.
  std::string function;
  std::vector<std::byte> input;
  // Searched in order; applies to this call only (ISO-2).
  std::vector<std::filesystem::path> search_path;
  // Applied for this call only; std::nullopt unsets the variable (ENV-4).
  std::map<std::string, std::optional<std::string>> env_updates;
  // Working directory for this call; unset means the backend's base directory.
  std::optional<std::filesystem::path> cwd;
};

// Convenience for text inputs.
inline std::vector<std::byte> to_bytes(std::string_view text) {
  const auto* first = reinterpret_cast<const std::byte*>(text.data());
  return {first, first + text.size()};
}

}  // namespace execkit
