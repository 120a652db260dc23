#include "call_builder.hpp"

#include <fcntl.h>

#include <cerrno>
#include <system_error>

#include "cli_error.hpp"
#include "fd_io.hpp"
#include "module_lookup.hpp"
#include "unique_fd.hpp"

namespace execkit::cli {
namespace {

std::filesystem::path absolute_path(const std::filesystem::path& path) {
  return std::filesystem::absolute(path).lexically_normal();
}

std::string reason(int error_number) { return std::system_category().message(error_number); }

std::vector<std::byte> read_input(const std::string& source, int stdin_fd) {
  if (source == "-") {
    try {
      return read_all(stdin_fd);
    } catch (const std::system_error& e) {
      throw usage_error("cannot read standard input: " + e.code().message());
    }
  }
  const UniqueFd file(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) throw usage_error("cannot open --input '" + source + "': " + reason(errno));
  try {
    return read_all(file.get());
  } catch (const std::system_error& e) {
    throw usage_error("cannot read --input '" + source + "': " + e.code().message());
  }
}

std::filesystem::path checked_cwd(const std::filesystem::path& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error)) {
    const std::string why = error ? error.message() : "not a directory";
    throw usage_error("bad --cwd '" + dir.string() + "': " + why);
  }
  return absolute_path(dir);
}

}  // namespace

Call build_call(const RunOptions& options, int stdin_fd) {
  Call call;
  for (const auto& dir : options.search_path) call.search_path.push_back(absolute_path(dir));

  const auto module_file = find_module(options.module, call.search_path);
  if (!module_file) throw usage_error(describe_missing_module(options.module, call.search_path));
  call.module = names_module_file(options.module) ? absolute_path(*module_file).string() : options.module;
  call.function = options.function;
  call.env_updates = options.env_updates;
  if (options.cwd) call.cwd = checked_cwd(*options.cwd);
  if (options.input) call.input = read_input(*options.input, stdin_fd);
  return call;
}

}  // namespace execkit::cli
