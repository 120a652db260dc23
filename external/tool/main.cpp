// execkit-conformance: the conformance suite against any backend that speaks
// the backend protocol, with the clause report (docs/protocol.md,
// docs/writing-a-backend.md).
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "external_suite.hpp"
#include "tool_options.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;

// The report script and the clause list: installed next to the tool, or in
// the source tree the tool was built from.
std::pair<fs::path, fs::path> report_inputs() {
  const auto bin = fs::read_symlink("/proc/self/exe").parent_path();
  const auto installed_script = bin / "execkit-clause-report";
  const auto installed_contract = bin / ".." / "share" / "execkit" / "contract.md";
  if (fs::is_regular_file(installed_script) && fs::is_regular_file(installed_contract)) return {installed_script, installed_contract};
  const fs::path source(EXECKIT_SOURCE_DIR);
  return {source / "scripts" / "clause_report.py", source / "docs" / "contract.md"};
}

int print_clause_report(const fs::path& junit) {
  const auto [script, contract] = report_inputs();
  if (!fs::is_regular_file(script) || !fs::is_regular_file(contract)) {
    std::cerr << "execkit-conformance: no clause report: cannot find " << script << " and " << contract << "\n";
    return 1;
  }
  std::vector<std::string> args{"python3", script.string(), "--contract", contract.string(), "--junit", junit.string()};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::cout.flush();
  pid_t pid = 0;
  if (const int rc = ::posix_spawnp(&pid, "python3", nullptr, nullptr, argv.data(), environ); rc != 0) {
    std::cerr << "execkit-conformance: no clause report: cannot run python3 (" << std::strerror(rc) << ")\n";
    return 1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace execkit::external;
  const bool child_caller = std::getenv("EXECKIT_CONFORMANCE_CHILD_ROLE") != nullptr;
  ToolOptions options;
  std::vector<std::string> gtest_args{argv[0]};
  if (child_caller) {
    for (int i = 1; i < argc; ++i) gtest_args.emplace_back(argv[i]);
    options = imported_tool_options();
  } else {
    try {
      options = parse_tool_options(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception& e) {
      std::cerr << "execkit-conformance: " << e.what() << "\n";
      return 64;
    }
    if (options.help) {
      std::cout << tool_usage;
      return 0;
    }
    // Tests change the cwd before creating a backend (ISO-1): the command
    // keeps meaning what it meant where the user typed it.
    options.backend_dir = fs::current_path().string();
    export_tool_options(options);
    gtest_args.insert(gtest_args.end(), options.gtest_args.begin(), options.gtest_args.end());
  }
  try {
    set_backend_under_test(external_backend_under_test(options));
  } catch (const std::exception& e) {
    std::cerr << "execkit-conformance: cannot judge the backend: " << e.what() << "\n";
    return 2;
  }

  fs::path junit = options.junit;
  std::optional<fs::path> scratch;
  if (!child_caller && options.report && junit.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    const fs::path base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
    auto dir_template = (base / "execkit-conformance-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
      std::cerr << "execkit-conformance: cannot create a directory for the report in '" << base.string()
                << "' (TMPDIR): " << std::strerror(errno) << "\n";
      return 1;
    }
    scratch = dir_template;
    junit = *scratch / "junit.xml";
  }
  if (!child_caller && !junit.empty()) gtest_args.push_back("--gtest_output=xml:" + junit.string());

  std::vector<char*> gtest_argv;
  for (auto& arg : gtest_args) gtest_argv.push_back(arg.data());
  int gtest_argc = static_cast<int>(gtest_argv.size());
  gtest_argv.push_back(nullptr);
  ::testing::InitGoogleTest(&gtest_argc, gtest_argv.data());
  int status = RUN_ALL_TESTS();
  if (!child_caller && options.report) {
    const int report = print_clause_report(junit);
    // A filtered run leaves clauses without a test: only a full run's report decides.
    if (status == 0 && options.gtest_args.empty()) status = report;
  }
  if (scratch) fs::remove_all(*scratch);
  return status;
}
