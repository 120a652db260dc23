// Finds a task module the way Call::module names it, so that the tool can
// report a missing module before starting any worker.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace execkit::cli {

// A module name containing '/' is a path to the module file.
bool names_module_file(std::string_view module);

// For a plain name, the first lib<name>.so or <name>.so that is a regular file
// (symlinks followed) along `search_path`, in order; for a path, the path if it
// is a regular file.
std::optional<std::filesystem::path> find_module(std::string_view module,
                                                 std::span<const std::filesystem::path> search_path);

// "module 'foo' not found on search path [/a, /b]" and its variants.
std::string describe_missing_module(std::string_view module, std::span<const std::filesystem::path> search_path);

}  // namespace execkit::cli
