#include "env_scrub.hpp"

#include <algorithm>
#include <stdexcept>
#include <unistd.h>

namespace execkit {
namespace {

// Whether "NAME=VALUE" survives as a C string and splits back into the same name and value.
bool representable(std::string_view name, std::string_view value) noexcept {
  return !name.empty() && name.find('=') == std::string_view::npos && name.find('\0') == std::string_view::npos &&
         value.find('\0') == std::string_view::npos;
}

}  // namespace

EnvMap snapshot_environment() {
  EnvMap env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const auto eq = text.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    // getenv() returns the first of duplicated names; emplace keeps the first too.
    env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return env;
}

bool env_name_allowed(std::string_view name, const std::set<std::string>& whitelist,
                      const std::vector<std::string>& prefixes) {
  if (whitelist.find(std::string(name)) != whitelist.end()) return true;
  // An empty prefix would let every secret through (ENV-1), so it matches nothing.
  return std::any_of(prefixes.begin(), prefixes.end(), [name](const std::string& prefix) {
    return !prefix.empty() && name.starts_with(prefix);
  });
}

std::vector<std::string> build_worker_env(const EnvMap& parent, const std::set<std::string>& whitelist,
                                          const std::vector<std::string>& prefixes, const EnvMap& extra) {
  EnvMap chosen;
  for (const auto& [name, value] : parent) {
    if (representable(name, value) && env_name_allowed(name, whitelist, prefixes)) chosen.emplace(name, value);
  }
  for (const auto& [name, value] : extra) {
    if (!representable(name, value)) {
      throw std::invalid_argument("cannot put \"" + name + "\" in a worker environment: a name must be non-empty "
                                  "and contain no '=' or NUL, and a value no NUL");
    }
    chosen.insert_or_assign(name, value);
  }
  std::vector<std::string> block;
  block.reserve(chosen.size());
  for (const auto& [name, value] : chosen) block.push_back(name + "=" + value);
  return block;
}

}  // namespace execkit
