// Finds the module file a call names (ISO-2): a name containing '/' is a path
// (relative to the call's cwd); otherwise "lib<module>.so", then "<module>.so"
// in each search path directory, in order.
#pragma once

#include <string>
#include <variant>
#include <vector>

namespace execkit::worker {

struct ModuleNotFound {
  std::string message;
};

// The path of the module file as found (not yet canonical).
std::variant<std::string, ModuleNotFound> find_module_file(const std::string& module,
                                                           const std::vector<std::string>& search_path);

}  // namespace execkit::worker
