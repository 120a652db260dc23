// execkit-conformance's command line. The options also travel as environment
// variables, so that the suite's child callers (the binary re-run in a role,
// with only a test filter) judge the same backend.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "execkit/external_backend.hpp"

namespace execkit::external {

struct ToolOptions {
  std::string backend_cmd;
  std::string backend_dir;                  // where the tool started: the command runs there
  std::string junit;                        // --junit FILE
  std::optional<std::string> name;          // --name NAME, else the backend's declared name
  std::vector<std::string> capability_overrides;  // --capability NAME=VALUE, checked, in order
  bool help = false;
  bool report = true;                       // --no-report: gtest output only
  std::vector<std::string> gtest_args;      // everything else, passed to GoogleTest
};

// Throws std::invalid_argument naming the bad argument.
ToolOptions parse_tool_options(const std::vector<std::string>& args);
// Stores the options in the environment / reads them back in a child caller.
void export_tool_options(const ToolOptions& options);
ToolOptions imported_tool_options();
// What the backend declared, with the --capability overrides applied.
void apply_capability_overrides(const ToolOptions& options, BackendDeclaration& declared);

extern const char* const tool_usage;

}  // namespace execkit::external
