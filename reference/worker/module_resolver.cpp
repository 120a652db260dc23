#include "module_resolver.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace execkit::worker {
namespace {

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += "'" + item + "'";
  }
  return out;
}

}  // namespace

std::variant<std::string, ModuleNotFound> find_module_file(const std::string& module,
                                                           const std::vector<std::string>& search_path) {
  if (module.empty()) return ModuleNotFound{"the call names no module"};
  if (module.find('\0') != std::string::npos) return ModuleNotFound{"module name contains a NUL byte"};
  if (module.find('/') != std::string::npos) {
    struct stat st {};
    if (::stat(module.c_str(), &st) != 0) {
      return ModuleNotFound{"module file '" + module + "' not found: " + std::strerror(errno)};
    }
    if (!S_ISREG(st.st_mode)) return ModuleNotFound{"module file '" + module + "' is not a regular file"};
    return module;
  }
  for (const auto& dir : search_path) {
    for (const auto& file_name : {"lib" + module + ".so", module + ".so"}) {
      auto candidate = dir.empty() ? file_name : dir + "/" + file_name;
      if (is_regular_file(candidate)) return candidate;
    }
  }
  if (search_path.empty())
    return ModuleNotFound{"module '" + module + "' not found: the search path is empty"};
  return ModuleNotFound{"module '" + module + "' (lib" + module + ".so or " + module +
                        ".so) not found in the search path: " + quoted_list(search_path)};
}

}  // namespace execkit::worker
