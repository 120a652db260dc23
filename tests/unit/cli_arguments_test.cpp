#include "arguments.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_error.hpp"
#include "seconds.hpp"

namespace execkit::cli {
namespace {

using namespace std::chrono_literals;

Command parse(std::initializer_list<std::string> args) {
  const std::vector<std::string> list(args);
  return parse_arguments(list);
}

RunOptions parse_run(std::initializer_list<std::string> args) {
  std::vector<std::string> list{"run"};
  list.insert(list.end(), args);
  Command command = parse_arguments(list);
  if (!std::holds_alternative<RunOptions>(command)) throw std::logic_error("not a run command");
  return std::get<RunOptions>(std::move(command));
}

// The usage error's message, or "" when parsing succeeded.
std::string usage_message(std::initializer_list<std::string> args) {
  try {
    parse(args);
  } catch (const CliError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  return "";
}

std::string run_usage_message(std::initializer_list<std::string> args) {
  std::vector<std::string> list{"run"};
  list.insert(list.end(), args);
  try {
    parse_arguments(list);
  } catch (const CliError& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  return "";
}

TEST(CliArguments, RunWithOnlyModuleAndFunctionHasDefaults) {
  const RunOptions options = parse_run({"probe", "echo"});
  EXPECT_EQ(options.module, "probe");
  EXPECT_EQ(options.function, "echo");
  EXPECT_FALSE(options.input);
  EXPECT_TRUE(options.env_updates.empty());
  EXPECT_FALSE(options.cwd);
  EXPECT_TRUE(options.search_path.empty());
  EXPECT_FALSE(options.deadline);
  EXPECT_FALSE(options.print_metrics);
}

TEST(CliArguments, EveryOptionWithSeparateValue) {
  const RunOptions options = parse_run({"--input", "in.bin", "--env", "A=1", "--unset", "B", "--cwd", "/tmp",
                                        "--search-path", "/x", "-L", "/y", "--deadline", "1.5", "--metrics",
                                        "lib/mod.so", "task"});
  EXPECT_EQ(options.module, "lib/mod.so");
  EXPECT_EQ(options.function, "task");
  EXPECT_EQ(options.input, "in.bin");
  const std::map<std::string, std::optional<std::string>> env{{"A", "1"}, {"B", std::nullopt}};
  EXPECT_EQ(options.env_updates, env);
  EXPECT_EQ(options.cwd, std::filesystem::path("/tmp"));
  EXPECT_EQ(options.search_path, (std::vector<std::filesystem::path>{"/x", "/y"}));
  EXPECT_EQ(options.deadline, 1500ms);
  EXPECT_TRUE(options.print_metrics);
}

TEST(CliArguments, EveryOptionWithAttachedValue) {
  const RunOptions options = parse_run({"--input=in.bin", "--env=A=1", "--unset=B", "--cwd=/tmp",
                                        "--search-path=/x", "-L/y", "--deadline=0.25", "m", "f"});
  EXPECT_EQ(options.input, "in.bin");
  const std::map<std::string, std::optional<std::string>> env{{"A", "1"}, {"B", std::nullopt}};
  EXPECT_EQ(options.env_updates, env);
  EXPECT_EQ(options.cwd, std::filesystem::path("/tmp"));
  EXPECT_EQ(options.search_path, (std::vector<std::filesystem::path>{"/x", "/y"}));
  EXPECT_EQ(options.deadline, 250ms);
}

TEST(CliArguments, DashInputMeansStandardInput) {
  EXPECT_EQ(parse_run({"--input", "-", "m", "f"}).input, "-");
  EXPECT_EQ(parse_run({"--input=-", "m", "f"}).input, "-");
}

TEST(CliArguments, ValueStartingWithDashIsTakenAsTheValue) {
  EXPECT_EQ(parse_run({"--input", "--metrics", "m", "f"}).input, "--metrics");
  EXPECT_EQ(parse_run({"-L", "-dir", "m", "f"}).search_path, (std::vector<std::filesystem::path>{"-dir"}));
}

TEST(CliArguments, SearchPathKeepsOrderAcrossBothSpellings) {
  const RunOptions options = parse_run({"-L", "a", "--search-path", "b", "-Lc", "--search-path=d", "m", "f"});
  EXPECT_EQ(options.search_path, (std::vector<std::filesystem::path>{"a", "b", "c", "d"}));
}

TEST(CliArguments, RepeatedEnvAccumulatesAndLastWinsPerName) {
  const RunOptions options =
      parse_run({"--env", "A=1", "--env", "B=2", "--unset", "A", "--env", "C=3", "--unset", "C", "--env", "C=4",
                 "m", "f"});
  const std::map<std::string, std::optional<std::string>> env{{"A", std::nullopt}, {"B", "2"}, {"C", "4"}};
  EXPECT_EQ(options.env_updates, env);
}

TEST(CliArguments, EnvValueMayBeEmptyOrContainEquals) {
  const RunOptions options = parse_run({"--env", "EMPTY=", "--env", "EXPR=a=b=c", "m", "f"});
  EXPECT_EQ(options.env_updates.at("EMPTY"), "");
  EXPECT_EQ(options.env_updates.at("EXPR"), "a=b=c");
}

TEST(CliArguments, EmptyValueIsNeverTheStringNull) {
  const RunOptions options = parse_run({"--unset", "GONE", "m", "f"});
  ASSERT_EQ(options.env_updates.count("GONE"), 1U);
  EXPECT_EQ(options.env_updates.at("GONE"), std::nullopt);
}

TEST(CliArguments, BadEnvAssignmentsNameTheValue) {
  EXPECT_EQ(run_usage_message({"--env", "NOEQUALS", "m", "f"}), "bad --env 'NOEQUALS': expected NAME=VALUE");
  EXPECT_EQ(run_usage_message({"--env", "=v", "m", "f"}), "bad --env '=v': empty variable name");
  EXPECT_EQ(run_usage_message({"--unset", "", "m", "f"}), "bad --unset '': empty variable name");
  EXPECT_EQ(run_usage_message({"--unset", "A=1", "m", "f"}),
            "bad --unset 'A=1': a variable name cannot contain '='");
}

TEST(CliArguments, EmptyPathsAreRejected) {
  EXPECT_EQ(run_usage_message({"--input", "", "m", "f"}),
            "bad --input '': empty path (use '-' for standard input)");
  EXPECT_EQ(run_usage_message({"--cwd=", "m", "f"}), "bad --cwd '': empty path");
  EXPECT_EQ(run_usage_message({"-L", "", "m", "f"}), "bad -L '': empty path");
  EXPECT_EQ(run_usage_message({"--search-path", "", "m", "f"}), "bad --search-path '': empty path");
}

TEST(CliArguments, LastInputAndCwdAndDeadlineWin) {
  const RunOptions options =
      parse_run({"--input", "a", "--input", "b", "--cwd", "/1", "--cwd", "/2", "--deadline", "1", "--deadline", "2",
                 "m", "f"});
  EXPECT_EQ(options.input, "b");
  EXPECT_EQ(options.cwd, std::filesystem::path("/2"));
  EXPECT_EQ(options.deadline, 2s);
}

TEST(CliArguments, OptionsMayFollowOperands) {
  const RunOptions options = parse_run({"m", "--metrics", "f", "--deadline", "3"});
  EXPECT_EQ(options.module, "m");
  EXPECT_EQ(options.function, "f");
  EXPECT_TRUE(options.print_metrics);
  EXPECT_EQ(options.deadline, 3s);
}

TEST(CliArguments, DoubleDashEndsOptions) {
  const RunOptions options = parse_run({"--metrics", "--", "--module", "-f"});
  EXPECT_EQ(options.module, "--module");
  EXPECT_EQ(options.function, "-f");
  EXPECT_TRUE(options.print_metrics);
}

TEST(CliArguments, DoubleDashAfterOperandsAndSecondDoubleDashIsAnOperand) {
  const RunOptions after = parse_run({"m", "--", "f"});
  EXPECT_EQ(after.module, "m");
  EXPECT_EQ(after.function, "f");
  const RunOptions second = parse_run({"--", "m", "--"});
  EXPECT_EQ(second.function, "--");
}

TEST(CliArguments, LoneDashIsAnOperand) {
  const RunOptions options = parse_run({"-", "f"});
  EXPECT_EQ(options.module, "-");
}

TEST(CliArguments, MissingOperandsAreUsageErrors) {
  EXPECT_EQ(run_usage_message({}), "missing <module> and <function>");
  EXPECT_EQ(run_usage_message({"--metrics"}), "missing <module> and <function>");
  EXPECT_EQ(run_usage_message({"probe"}), "missing <function> after module 'probe'");
  EXPECT_EQ(run_usage_message({"probe", "--"}), "missing <function> after module 'probe'");
}

TEST(CliArguments, EmptyOperandsAreUsageErrors) {
  EXPECT_EQ(run_usage_message({"", "f"}), "empty module name");
  EXPECT_EQ(run_usage_message({"m", ""}), "empty function name");
}

TEST(CliArguments, ExtraOperandIsNamed) {
  EXPECT_EQ(run_usage_message({"m", "f", "extra"}), "unexpected argument 'extra'");
  EXPECT_EQ(run_usage_message({"m", "f", "--", "x"}), "unexpected argument 'x'");
}

TEST(CliArguments, UnknownOptionsAreNamed) {
  EXPECT_EQ(run_usage_message({"--bogus", "m", "f"}), "unknown option '--bogus'");
  EXPECT_EQ(run_usage_message({"--bogus=1", "m", "f"}), "unknown option '--bogus'");
  EXPECT_EQ(run_usage_message({"-x", "m", "f"}), "unknown option '-x'");
  EXPECT_EQ(run_usage_message({"m", "f", "--inputs", "x"}), "unknown option '--inputs'");
  // Options are not abbreviated.
  EXPECT_EQ(run_usage_message({"--in", "x", "m", "f"}), "unknown option '--in'");
}

TEST(CliArguments, MissingOptionValuesAreNamed) {
  for (const std::string option : {"--input", "--env", "--unset", "--cwd", "--search-path", "-L", "--deadline"}) {
    EXPECT_EQ(run_usage_message({"m", "f", option}), "option '" + option + "' needs a value") << option;
  }
}

TEST(CliArguments, FlagsRejectAttachedValues) {
  EXPECT_EQ(run_usage_message({"--metrics=yes", "m", "f"}), "option '--metrics' takes no value");
  EXPECT_EQ(run_usage_message({"--help=1"}), "option '--help' takes no value");
}

TEST(CliArguments, DeadlineAcceptsPositiveDecimals) {
  EXPECT_EQ(parse_run({"--deadline", "2", "m", "f"}).deadline, 2s);
  EXPECT_EQ(parse_run({"--deadline", "0.5", "m", "f"}).deadline, 500ms);
  EXPECT_EQ(parse_run({"--deadline", "0.25", "m", "f"}).deadline, 250ms);
  EXPECT_EQ(parse_run({"--deadline", "007", "m", "f"}).deadline, 7s);
  EXPECT_EQ(parse_run({"--deadline", "0.000000001", "m", "f"}).deadline, 1ns);
}

TEST(CliArguments, BadDeadlinesNameTheValue) {
  for (const std::string bad : {"abc", "", "-1", "+1", "0", "0.0", "1e3", " 1", "1 ", "1.2.3", ".", "inf", "nan",
                                "1s", "0x10", "0.0000000001", ".5", "3.", "1..5", "1,5"}) {
    EXPECT_EQ(run_usage_message({"--deadline", bad, "m", "f"}),
              "bad --deadline '" + bad + "': not a positive number of seconds")
        << bad;
  }
}

TEST(CliArguments, HugeDeadlineIsRejectedNotOverflowed) {
  EXPECT_EQ(run_usage_message({"--deadline", "99999999999999999999999", "m", "f"}),
            "bad --deadline '99999999999999999999999': more than 1000000000 seconds");
  EXPECT_EQ(run_usage_message({"--deadline", "1000000000.5", "m", "f"}),
            "bad --deadline '1000000000.5': more than 1000000000 seconds");
  EXPECT_EQ(parse_run({"--deadline", "1000000000", "m", "f"}).deadline, max_seconds);
}

TEST(CliArguments, TopLevelHelpAndVersion) {
  EXPECT_EQ(parse({"--help"}), Command(ShowHelp{HelpTopic::general}));
  EXPECT_EQ(parse({"-h"}), Command(ShowHelp{HelpTopic::general}));
  EXPECT_EQ(parse({"--version"}), Command(ShowVersion{}));
  EXPECT_EQ(parse({"-V"}), Command(ShowVersion{}));
}

TEST(CliArguments, RunHelpWinsWhereverItAppears) {
  EXPECT_EQ(parse({"run", "--help"}), Command(ShowHelp{HelpTopic::run}));
  EXPECT_EQ(parse({"run", "-h"}), Command(ShowHelp{HelpTopic::run}));
  EXPECT_EQ(parse({"run", "m", "--help"}), Command(ShowHelp{HelpTopic::run}));
  EXPECT_EQ(parse({"run", "--metrics", "-h", "--bogus"}), Command(ShowHelp{HelpTopic::run}));
}

TEST(CliArguments, HelpAfterDoubleDashIsAnOperand) {
  const RunOptions options = parse_run({"--", "--help", "f"});
  EXPECT_EQ(options.module, "--help");
}

TEST(CliArguments, MissingOrUnknownCommandIsAUsageError) {
  EXPECT_EQ(usage_message({}), "missing command (try 'execkit --help')");
  EXPECT_EQ(usage_message({"exec", "m", "f"}), "unknown command 'exec' (try 'execkit --help')");
  EXPECT_EQ(usage_message({"--metrics", "run"}), "unknown option '--metrics'");
}

TEST(Seconds, ParseIsExactToTheNanosecond) {
  EXPECT_EQ(parse_seconds("1.123456789"), 1123456789ns);
  EXPECT_EQ(parse_seconds("1.1234567899"), 1123456789ns);
  EXPECT_EQ(parse_seconds("0.1"), 100ms);
}

TEST(Seconds, ParseErrorsSayWhy) {
  EXPECT_THROW(parse_seconds("-0.5"), std::invalid_argument);
  try {
    parse_seconds("2000000000");
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "more than 1000000000 seconds");
  }
}

TEST(Seconds, FormatIsShortestExactDecimal) {
  EXPECT_EQ(format_seconds(1500ms), "1.5");
  EXPECT_EQ(format_seconds(2s), "2");
  EXPECT_EQ(format_seconds(0ns), "0");
  EXPECT_EQ(format_seconds(1ns), "0.000000001");
  EXPECT_EQ(format_seconds(250ms), "0.25");
  EXPECT_EQ(format_seconds(1123456789ns), "1.123456789");
  EXPECT_EQ(format_seconds(-1500ms), "-1.5");
}

TEST(Seconds, FormatThenParseRoundTrips) {
  for (const std::chrono::nanoseconds duration : {1ns, 999ns, std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(1500ms),
                                                   std::chrono::nanoseconds(3s), std::chrono::nanoseconds(max_seconds)}) {
    EXPECT_EQ(parse_seconds(format_seconds(duration)), duration) << format_seconds(duration);
  }
}

}  // namespace
}  // namespace execkit::cli
