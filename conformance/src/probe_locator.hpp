// Finds the probe module shipped with the suite.
#pragma once

#include <filesystem>

namespace execkit::conformance {

// The directory holding libexeckit_probe.so: $EXECKIT_PROBE_MODULE's
// directory if set, else next to the binary holding the suite, else
// ../lib/execkit/ from there (an install tree). Throws std::runtime_error
// listing the places it looked.
std::filesystem::path locate_probe_dir();

inline constexpr const char* probe_module_name = "execkit_probe";

}  // namespace execkit::conformance
