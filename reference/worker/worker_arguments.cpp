#include "worker_arguments.hpp"

#include <charconv>
#include <optional>
#include <string_view>

namespace execkit::worker {
namespace {

template <class Int>
std::optional<Int> parse_at_least(std::string_view text, Int minimum) {
  Int value{};
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value < minimum) return std::nullopt;
  return value;
}

std::string bad_value(std::string_view option, std::string_view value, std::string_view expected) {
  return "invalid value '" + std::string(value) + "' for " + std::string(option) + ": expected " +
         std::string(expected);
}

}  // namespace

std::variant<WorkerArguments, std::string> parse_arguments(std::span<const char* const> args) {
  constexpr std::string_view control_option = "--control-fd=";
  constexpr std::string_view parent_option = "--parent-pid=";
  WorkerArguments parsed;
  bool have_control = false;
  bool have_parent = false;
  for (std::string_view arg : args) {
    if (arg.starts_with(control_option)) {
      auto value = arg.substr(control_option.size());
      auto fd = parse_at_least<int>(value, 0);
      if (!fd) return bad_value("--control-fd", value, "a file descriptor number");
      if (have_control) return std::string("--control-fd given more than once");
      parsed.control_fd = *fd;
      have_control = true;
    } else if (arg.starts_with(parent_option)) {
      auto value = arg.substr(parent_option.size());
      auto pid = parse_at_least<pid_t>(value, 1);
      if (!pid) return bad_value("--parent-pid", value, "a positive process id");
      if (have_parent) return std::string("--parent-pid given more than once");
      parsed.parent_pid = *pid;
      have_parent = true;
    } else if (arg == "--pdeathsig") {
      parsed.pdeathsig = true;
    } else {
      return "unknown argument '" + std::string(arg) + "'";
    }
  }
  if (!have_control) return std::string("missing required argument --control-fd=<fd>");
  if (!have_parent) return std::string("missing required argument --parent-pid=<pid>");
  return parsed;
}

}  // namespace execkit::worker
