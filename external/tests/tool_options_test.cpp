// execkit-conformance's command line: every bad argument is refused before a
// backend starts, with a message naming it.
#include "tool_options.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace execkit::external {
namespace {

std::string refusal_of(const std::vector<std::string>& args) {
  try {
    parse_tool_options(args);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << "in: " << (text)

TEST(ToolOptions, BackendCommandIsRequiredAndNotBlank) {
  EXPECT_HAS(refusal_of({}), "--backend-cmd is required");
  EXPECT_HAS(refusal_of({"--backend-cmd", "  "}), "--backend-cmd '  ' is empty");
  EXPECT_HAS(refusal_of({"--backend-cmd"}), "--backend-cmd needs a value");
  EXPECT_EQ(parse_tool_options({"--backend-cmd", "./b --x"}).backend_cmd, "./b --x");
  EXPECT_EQ(parse_tool_options({"--backend-cmd=./b"}).backend_cmd, "./b");
  EXPECT_TRUE(parse_tool_options({"--help"}).help) << "--help needs no backend";
}

TEST(ToolOptions, OptionsAndGoogleTestFlagsAreKeptAndUnknownOnesNamed) {
  const auto options = parse_tool_options({"--backend-cmd", "b", "--name=mine", "--junit", "out.xml", "--no-report",
                                           "--capabilities-from-handshake", "--gtest_filter=*RUN_1*"});
  EXPECT_EQ(options.name, "mine");
  EXPECT_EQ(options.junit, "out.xml");
  EXPECT_FALSE(options.report);
  EXPECT_EQ(options.gtest_args, std::vector<std::string>{"--gtest_filter=*RUN_1*"});
  EXPECT_HAS(refusal_of({"--backend-cmd", "b", "--bogus"}), "unknown argument '--bogus'");
}

TEST(ToolOptions, EveryMalformedCapabilityOverrideIsRefusedNamingIt) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"supports_pdeathsig", "is not NAME=VALUE"},
      {"=true", "is not NAME=VALUE"},
      {"no_such_thing=true", "no capability 'no_such_thing'"},
      {"supports_pdeathsig=maybe", "must be true or false"},
      {"has_local_process_workers=", "must be true or false"},
      {"documented_task_fds=-1", "non-negative integer"},
      {"documented_task_fds=3x", "non-negative integer"},
      {"documented_task_fds=", "non-negative integer"},
      {"documented_task_fds=99999999999999999999999", "non-negative integer"},
      {"task_sigpipe=loud", "one of unspecified, default, ignored"},
      {"task_language=rust", "one of native, python"},
  };
  for (const auto& [text, reason] : cases) {
    const auto what = refusal_of({"--backend-cmd", "b", "--capability", text});
    EXPECT_HAS(what, "'" + text + "'");
    EXPECT_HAS(what, reason);
  }
}

TEST(ToolOptions, OverridesApplyInOrderOverTheDeclaration) {
  const auto options = parse_tool_options({"--backend-cmd", "b", "--capability", "supports_pdeathsig=true",
                                           "--capability=documented_task_fds=4", "--capability", "task_sigpipe=ignored",
                                           "--capability", "task_language=python", "--capability",
                                           "supports_pdeathsig=0"});
  BackendDeclaration declared;
  declared.supports_pdeathsig = true;
  declared.has_named_spill_files = true;
  declared.task_language = "native";
  apply_capability_overrides(options, declared);
  EXPECT_FALSE(declared.supports_pdeathsig) << "the later override wins";
  EXPECT_TRUE(declared.has_named_spill_files) << "a capability not overridden keeps its declared value";
  EXPECT_EQ(declared.documented_task_fds, 4u);
  EXPECT_EQ(declared.task_sigpipe, "ignored");
  EXPECT_EQ(declared.task_language, "python");
}

TEST(ToolOptions, ChildCallersImportWhatTheToolExported) {
  auto options = parse_tool_options(
      {"--backend-cmd", "python3 -m b", "--name", "n", "--capability", "supports_worker_reuse=false"});
  options.backend_dir = "/where/it/started";
  export_tool_options(options);
  const auto imported = imported_tool_options();
  EXPECT_EQ(imported.backend_cmd, "python3 -m b");
  EXPECT_EQ(imported.backend_dir, "/where/it/started");
  EXPECT_EQ(imported.name, "n");
  EXPECT_EQ(imported.capability_overrides, options.capability_overrides);
}

}  // namespace
}  // namespace execkit::external
