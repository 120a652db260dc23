#include "execkit/config.hpp"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "env_parse.hpp"
#include "execkit/errors.hpp"
#include "host_info.hpp"

namespace execkit {
namespace {

using namespace std::chrono_literals;
using Env = std::map<std::string, std::string>;
using ::testing::HasSubstr;

// Sets (or unsets) one variable of the process environment for a scope.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, std::optional<std::string> value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    apply(value);
  }
  ~ScopedEnv() { apply(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void apply(const std::optional<std::string>& value) const {
    if (value) {
      ::setenv(name_.c_str(), value->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  std::string name_;
  std::optional<std::string> old_;
};

// Expects from_env(env) to throw a ConfigError naming `setting` and `value`.
void expect_config_error(const Env& env, const std::string& setting, const std::string& value) {
  try {
    (void)WorkerConfig::from_env(env);
    ADD_FAILURE() << "no ConfigError for " << setting << "=\"" << value << "\"";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_EQ(e.setting(), setting);
    EXPECT_EQ(e.value(), value);
    EXPECT_THAT(std::string(e.what()), HasSubstr(setting));
  }
}

TEST(Config, ENV_3_DefaultWhitelistIsExactlyTheDocumentedSet) {
  const std::set<std::string> expected = {"PATH", "HOME",     "USER", "LOGNAME", "LANG",
                                          "LC_ALL", "LC_CTYPE", "TZ",   "TMPDIR",  "TERM"};
  EXPECT_EQ(default_env_whitelist(), expected);
}

TEST(Config, CONFIG_1_DefaultConstructedValues) {
  const WorkerConfig config;
  EXPECT_EQ(config.max_workers, 1u);
  EXPECT_EQ(config.idle_timeout, 300s);
  EXPECT_TRUE(config.spill_dir.empty());
  EXPECT_EQ(config.env_whitelist, default_env_whitelist());
  EXPECT_EQ(config.env_prefixes, std::vector<std::string>{"EXECKIT_"});
  EXPECT_TRUE(config.enable_pdeathsig);
  EXPECT_TRUE(config.pool_id.empty());
  EXPECT_TRUE(config.node_id.empty());
}

TEST(Config, CONFIG_2_EmptyEnvironmentGivesDefaults) {
  const auto config = WorkerConfig::from_env(Env{});
  EXPECT_EQ(config.max_workers, host_info::available_cpus());
  EXPECT_EQ(config.idle_timeout, 300s);
  EXPECT_TRUE(config.spill_dir.empty());
  EXPECT_EQ(config.node_id, host_info::host_name());
  EXPECT_FALSE(config.node_id.empty());
  EXPECT_TRUE(config.enable_pdeathsig);
  EXPECT_EQ(config.env_whitelist, default_env_whitelist());
}

TEST(Config, CONFIG_2_IgnoresUnrelatedVariables) {
  const auto config = WorkerConfig::from_env(Env{{"EXECKIT_MAX_WORKER", "zzz"}, {"MAX_WORKERS", "-1"}});
  EXPECT_EQ(config.max_workers, host_info::available_cpus());
}

// --- EXECKIT_MAX_WORKERS -----------------------------------------------------

TEST(Config, CONFIG_2_MaxWorkersAcceptsPositiveIntegers) {
  const std::pair<std::string, std::size_t> cases[] = {
      {"1", 1}, {"12", 12}, {" 8 ", 8}, {"\t3\n", 3}, {"007", 7},
      {"18446744073709551615", std::numeric_limits<std::size_t>::max()},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(WorkerConfig::from_env(Env{{"EXECKIT_MAX_WORKERS", text}}).max_workers, expected) << text;
  }
}

class BadMaxWorkers : public ::testing::TestWithParam<std::string> {};

TEST_P(BadMaxWorkers, CONFIG_2_IsAConfigErrorNamingVariableAndValue) {
  expect_config_error(Env{{"EXECKIT_MAX_WORKERS", GetParam()}}, "EXECKIT_MAX_WORKERS", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Config, BadMaxWorkers,
                         ::testing::Values("", " ", "\t", "abc", "0", "00", "-1", "-0", "+1", "1.5", "1.0", "12abc",
                                           "abc12", "1 2", "1e3", "0x10", "99999999999999999999999",
                                           "18446744073709551616", "nan", "inf", "\xd9\xa1" /* Arabic-Indic 1 */));

TEST(Config, CONFIG_2_BadMaxWorkersTextQuotesTheValue) {
  try {
    (void)WorkerConfig::from_env(Env{{"EXECKIT_MAX_WORKERS", "12abc"}});
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("EXECKIT_MAX_WORKERS=\"12abc\""));
  }
}

// --- EXECKIT_IDLE_TIMEOUT_S --------------------------------------------------

TEST(Config, CONFIG_2_IdleTimeoutAcceptsPositiveDecimalSeconds) {
  const std::pair<std::string, std::chrono::milliseconds> cases[] = {
      {"30", 30s},          {"0.5", 500ms},     {" 2.25 ", 2250ms},  {"0.001", 1ms},
      {"1.0000", 1000ms},   {"0.0001", 1ms},    {"1.0005", 1001ms},  {"007", 7s},
      {"1000000000", std::chrono::seconds(1'000'000'000)},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(WorkerConfig::from_env(Env{{"EXECKIT_IDLE_TIMEOUT_S", text}}).idle_timeout, expected) << text;
  }
}

class BadIdleTimeout : public ::testing::TestWithParam<std::string> {};

TEST_P(BadIdleTimeout, CONFIG_2_IsAConfigErrorNamingVariableAndValue) {
  expect_config_error(Env{{"EXECKIT_IDLE_TIMEOUT_S", GetParam()}}, "EXECKIT_IDLE_TIMEOUT_S", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Config, BadIdleTimeout,
                         ::testing::Values("", " ", "0", "0.0", "0.0000", "-1", "-0.5", "+1", "nan", "NaN", "inf",
                                           "-inf", "infinity", "1e3", "abc", "1.", ".5", "1..5", "1.2.3", "5s",
                                           "1,5", "0x1p3", "99999999999999999999999", "1000000001",
                                           "1000000000.001"));

// --- EXECKIT_SPILL_DIR -------------------------------------------------------

TEST(Config, SPILL_3_SpillDirResolvesDotDotLexically) {
  const std::pair<std::string, std::filesystem::path> cases[] = {
      {"/tmp/a/../b", "/tmp/b"},
      {"/tmp/a/./b/", "/tmp/a/b"},
      {"/tmp//a///b", "/tmp/a/b"},
      {"/tmp/a/b/../..", "/tmp"},
      {"/..", "/"},
      {"/", "/"},
      {"rel/../x", std::filesystem::current_path() / "x"},
      {"./spill", std::filesystem::current_path() / "spill"},
      {"/tmp/with space", "/tmp/with space"},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(WorkerConfig::from_env(Env{{"EXECKIT_SPILL_DIR", text}}).spill_dir, expected) << text;
  }
}

TEST(Config, SPILL_3_EmptySpillDirMeansUnset) {
  EXPECT_TRUE(WorkerConfig::from_env(Env{{"EXECKIT_SPILL_DIR", ""}}).spill_dir.empty());
}

TEST(Config, CONFIG_2_BlankSpillDirIsAConfigError) {
  expect_config_error(Env{{"EXECKIT_SPILL_DIR", " "}}, "EXECKIT_SPILL_DIR", " ");
  expect_config_error(Env{{"EXECKIT_SPILL_DIR", "\t\n"}}, "EXECKIT_SPILL_DIR", "\t\n");
}

// --- EXECKIT_NODE_ID ---------------------------------------------------------

TEST(Config, CONFIG_2_NodeIdIsTrimmed) {
  const std::pair<std::string, std::string> cases[] = {
      {"node-7", "node-7"}, {"  node-7\t", "node-7"}, {"\nnode 7 \r\n", "node 7"}, {"a b", "a b"}};
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(WorkerConfig::from_env(Env{{"EXECKIT_NODE_ID", text}}).node_id, expected) << text;
  }
}

TEST(Config, CONFIG_2_EmptyOrBlankNodeIdFallsBackToHostName) {
  const auto host = host_info::host_name();
  ASSERT_FALSE(host.empty());
  for (const std::string text : {"", " ", "\t\n", " \r\v\f "}) {
    EXPECT_EQ(WorkerConfig::from_env(Env{{"EXECKIT_NODE_ID", text}}).node_id, host) << '"' << text << '"';
  }
}

// --- EXECKIT_DISABLE_PDEATHSIG -----------------------------------------------

TEST(Config, CONFIG_2_DisablePdeathsigWordsInAnyCase) {
  for (const std::string word : {"1", "true", "TRUE", "True", "tRuE", "yes", "YES", "Yes", "yEs", "on", "ON", "On",
                                 "oN", " on ", "\tTrue\n"}) {
    EXPECT_FALSE(WorkerConfig::from_env(Env{{"EXECKIT_DISABLE_PDEATHSIG", word}}).enable_pdeathsig) << word;
  }
  for (const std::string word : {"0", "false", "FALSE", "False", "fAlSe", "no", "NO", "No", "nO", "off", "OFF",
                                 "Off", "oFf", "", " ", " 0 "}) {
    EXPECT_TRUE(WorkerConfig::from_env(Env{{"EXECKIT_DISABLE_PDEATHSIG", word}}).enable_pdeathsig) << word;
  }
}

class BadBoolean : public ::testing::TestWithParam<std::string> {};

TEST_P(BadBoolean, CONFIG_2_IsAConfigErrorNamingVariableAndValue) {
  expect_config_error(Env{{"EXECKIT_DISABLE_PDEATHSIG", GetParam()}}, "EXECKIT_DISABLE_PDEATHSIG", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Config, BadBoolean,
                         ::testing::Values("2", "-1", "01", "y", "n", "t", "f", "enable", "disable", "truee", "of f",
                                           "o n", "yes please", "abc", "\xc3\xbf"));

// --- CONFIG-3: parallel test runners ------------------------------------------

TEST(Config, CONFIG_3_WorkersPerParallelTestArithmetic) {
  using env_parse::workers_per_parallel_test;
  EXPECT_EQ(workers_per_parallel_test(16, 4), 4u);
  EXPECT_EQ(workers_per_parallel_test(16, 3), 5u);
  EXPECT_EQ(workers_per_parallel_test(17, 2), 8u);
  EXPECT_EQ(workers_per_parallel_test(16, 16), 1u);
  EXPECT_EQ(workers_per_parallel_test(2, 4), 1u);
  EXPECT_EQ(workers_per_parallel_test(1, 8), 1u);
  EXPECT_EQ(workers_per_parallel_test(16, 1), 16u);
  EXPECT_EQ(workers_per_parallel_test(16, 0), 1u);
  EXPECT_EQ(workers_per_parallel_test(0, 2), 1u);
  EXPECT_EQ(workers_per_parallel_test(64, std::numeric_limits<std::size_t>::max()), 1u);
}

TEST(Config, CONFIG_3_ParallelLevelSharesTheCpus) {
  const auto cpus = host_info::available_cpus();
  const std::pair<std::string, std::size_t> cases[] = {
      {"2", env_parse::workers_per_parallel_test(cpus, 2)},
      {" 3 ", env_parse::workers_per_parallel_test(cpus, 3)},
      {"1000000", 1},
      {"1", cpus},
      // ctest >= 3.29: empty means its default level, 0 unbounded.
      {"", 1},
      {" ", 1},
      {"0", 1},
  };
  for (const auto& [level, expected] : cases) {
    EXPECT_EQ(WorkerConfig::from_env(Env{{"CTEST_PARALLEL_LEVEL", level}}).max_workers, expected) << level;
  }
}

TEST(Config, CONFIG_3_ExplicitMaxWorkersWins) {
  EXPECT_EQ(WorkerConfig::from_env(Env{{"CTEST_PARALLEL_LEVEL", "1000"}, {"EXECKIT_MAX_WORKERS", "6"}}).max_workers,
            6u);
  // A value that is never consulted is not an error.
  EXPECT_EQ(WorkerConfig::from_env(Env{{"CTEST_PARALLEL_LEVEL", "abc"}, {"EXECKIT_MAX_WORKERS", "6"}}).max_workers,
            6u);
}

class BadParallelLevel : public ::testing::TestWithParam<std::string> {};

TEST_P(BadParallelLevel, CONFIG_3_IsAConfigErrorNamingVariableAndValue) {
  expect_config_error(Env{{"CTEST_PARALLEL_LEVEL", GetParam()}}, "CTEST_PARALLEL_LEVEL", GetParam());
}

INSTANTIATE_TEST_SUITE_P(Config, BadParallelLevel,
                         ::testing::Values("abc", "-2", "+2", "2.5", "4x", "99999999999999999999999"));

// --- from_env() reads the process environment ----------------------------------

TEST(Config, CONFIG_2_FromProcessEnvironment) {
  const ScopedEnv max_workers("EXECKIT_MAX_WORKERS", "3");
  const ScopedEnv idle("EXECKIT_IDLE_TIMEOUT_S", "1.5");
  const ScopedEnv spill("EXECKIT_SPILL_DIR", "/tmp/x/../y");
  const ScopedEnv node("EXECKIT_NODE_ID", " proc-node ");
  const ScopedEnv pdeathsig("EXECKIT_DISABLE_PDEATHSIG", "Yes");
  const auto config = WorkerConfig::from_env();
  EXPECT_EQ(config.max_workers, 3u);
  EXPECT_EQ(config.idle_timeout, 1500ms);
  EXPECT_EQ(config.spill_dir, std::filesystem::path("/tmp/y"));
  EXPECT_EQ(config.node_id, "proc-node");
  EXPECT_FALSE(config.enable_pdeathsig);
}

TEST(Config, CONFIG_3_FromProcessEnvironmentHonoursParallelLevel) {
  const ScopedEnv max_workers("EXECKIT_MAX_WORKERS", std::nullopt);
  const ScopedEnv level("CTEST_PARALLEL_LEVEL", "4");
  EXPECT_EQ(WorkerConfig::from_env().max_workers,
            env_parse::workers_per_parallel_test(host_info::available_cpus(), 4));
}

TEST(Config, CONFIG_2_FromProcessEnvironmentRejectsBadValue) {
  const ScopedEnv max_workers("EXECKIT_MAX_WORKERS", "-1");
  try {
    (void)WorkerConfig::from_env();
    FAIL() << "no ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.setting(), "EXECKIT_MAX_WORKERS");
    EXPECT_EQ(e.value(), "-1");
  }
}

TEST(HostInfo, AvailableCpusIsPositive) { EXPECT_GE(host_info::available_cpus(), 1u); }

TEST(EnvParse, TrimRemovesOnlySurroundingAsciiWhitespace) {
  EXPECT_EQ(env_parse::trim_ascii(" \t\n\v\f\ra b\r\n"), "a b");
  EXPECT_EQ(env_parse::trim_ascii("   "), "");
  EXPECT_EQ(env_parse::trim_ascii(""), "");
  EXPECT_EQ(env_parse::trim_ascii("\xc2\xa0x"), "\xc2\xa0x");  // NBSP is not ASCII whitespace
}

}  // namespace
}  // namespace execkit
