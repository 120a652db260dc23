#include "module_lookup.hpp"

#include <system_error>

namespace execkit::cli {
namespace {

bool is_existing_regular_file(const std::filesystem::path& path) {
  std::error_code ignored;
  return std::filesystem::is_regular_file(path, ignored);
}

}  // namespace

bool names_module_file(std::string_view module) { return module.find('/') != std::string_view::npos; }

std::optional<std::filesystem::path> find_module(std::string_view module,
                                                 std::span<const std::filesystem::path> search_path) {
  if (names_module_file(module)) {
    std::filesystem::path file(module);
    if (is_existing_regular_file(file)) return file;
    return std::nullopt;
  }
  const std::string name(module);
  for (const auto& dir : search_path) {
    for (const auto& candidate : {dir / ("lib" + name + ".so"), dir / (name + ".so")}) {
      if (is_existing_regular_file(candidate)) return candidate;
    }
  }
  return std::nullopt;
}

std::string describe_missing_module(std::string_view module, std::span<const std::filesystem::path> search_path) {
  const std::string quoted = "'" + std::string(module) + "'";
  if (names_module_file(module)) return "module file " + quoted + " not found or not a regular file";
  if (search_path.empty()) {
    return "module " + quoted + " not found: no search path given (use -L DIR, or a path containing '/')";
  }
  std::string dirs;
  for (const auto& dir : search_path) {
    if (!dirs.empty()) dirs += ", ";
    dirs += dir.string();
  }
  return "module " + quoted + " not found on search path [" + dirs + "]";
}

}  // namespace execkit::cli
