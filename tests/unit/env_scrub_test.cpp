#include "env_scrub.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "execkit/config.hpp"

namespace execkit {
namespace {

using ::testing::Contains;
using ::testing::Each;
using ::testing::Not;
using ::testing::StartsWith;

std::string name_of(const std::string& entry) { return entry.substr(0, entry.find('=')); }

// A parent environment with every default-whitelisted name set to a recognisable value.
EnvMap whitelisted_parent() {
  EnvMap parent;
  for (const auto& name : default_env_whitelist()) parent[name] = "value-of-" + name;
  return parent;
}

std::vector<std::string> build_with_defaults(const EnvMap& parent, const EnvMap& extra = {}) {
  const WorkerConfig config;
  return build_worker_env(parent, config.env_whitelist, config.env_prefixes, extra);
}

class SecretName : public ::testing::TestWithParam<std::string> {};

TEST_P(SecretName, ENV_1_IsDroppedWithItsValue) {
  auto parent = whitelisted_parent();
  const std::string secret_value = "s3cr3t-" + GetParam();
  parent[GetParam()] = secret_value;
  const auto block = build_with_defaults(parent);
  EXPECT_THAT(block, Each(Not(StartsWith(GetParam() + "="))));
  for (const auto& entry : block) EXPECT_EQ(entry.find(secret_value), std::string::npos) << entry;
  EXPECT_EQ(block.size(), default_env_whitelist().size());
}

INSTANTIATE_TEST_SUITE_P(EnvScrub, SecretName,
                         ::testing::Values("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
                                           "GH_TOKEN", "GITHUB_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                           "LANGFUSE_SECRET_KEY", "WANDB_API_KEY", "HF_TOKEN", "STRIPE_SECRET_KEY",
                                           "SUPABASE_SERVICE_ROLE_KEY", "XQ_RANDOM_UNLISTED_NAME_7F3A",
                                           // near misses of allowed names: matching is exact and case-sensitive
                                           "path", "PATHX", "HOME_TOKEN", "EXECKIT", "EXECKITX_TOKEN",
                                           "execkit_token", "_EXECKIT_TOKEN"));

TEST(EnvScrub, ENV_1_OnlyAllowedNamesSurviveAMixedEnvironment) {
  auto parent = whitelisted_parent();
  parent["AWS_SECRET_ACCESS_KEY"] = "a";
  parent["GITHUB_TOKEN"] = "b";
  parent["EXECKIT_MODE"] = "fast";
  parent["DISPLAY"] = ":0";
  const auto block = build_with_defaults(parent);
  const WorkerConfig config;
  for (const auto& entry : block) {
    EXPECT_TRUE(env_name_allowed(name_of(entry), config.env_whitelist, config.env_prefixes)) << entry;
  }
  EXPECT_THAT(block, Contains("EXECKIT_MODE=fast"));
  EXPECT_EQ(block.size(), default_env_whitelist().size() + 1);
}

TEST(EnvScrub, ENV_3_WhitelistedNamesPassWithTheirValues) {
  const auto block = build_with_defaults(whitelisted_parent());
  for (const auto& name : default_env_whitelist()) EXPECT_THAT(block, Contains(name + "=value-of-" + name));
}

TEST(EnvScrub, ENV_3_PrefixedNamesPassWithTheirValues) {
  const auto block = build_with_defaults(EnvMap{{"EXECKIT_FOO", "bar"}, {"EXECKIT_", "bare"}, {"EXECKIT_X", ""}});
  EXPECT_EQ(block, (std::vector<std::string>{"EXECKIT_=bare", "EXECKIT_FOO=bar", "EXECKIT_X="}));
}

TEST(EnvScrub, ENV_3_ValuesKeepEqualsSignsAndSpaces) {
  const auto block = build_with_defaults(EnvMap{{"PATH", "a=b=c"}, {"TZ", " Europe/Paris "}});
  EXPECT_EQ(block, (std::vector<std::string>{"PATH=a=b=c", "TZ= Europe/Paris "}));
}

TEST(EnvScrub, ENV_3_ExtendedWhitelistAndPrefixesPass) {
  auto whitelist = default_env_whitelist();
  whitelist.insert("MY_CORP_PROXY");
  const std::vector<std::string> prefixes = {"EXECKIT_", "CORP_"};
  const EnvMap parent = {{"MY_CORP_PROXY", "http://proxy"}, {"CORP_REGION", "eu"},    {"EXECKIT_A", "1"},
                         {"PATH", "/bin"},                  {"GH_TOKEN", "ghp_x"},    {"CORPX", "no"},
                         {"MY_CORP_PROXY_PASSWORD", "pw"}};
  const auto block = build_worker_env(parent, whitelist, prefixes, {});
  EXPECT_EQ(block, (std::vector<std::string>{"CORP_REGION=eu", "EXECKIT_A=1", "MY_CORP_PROXY=http://proxy",
                                             "PATH=/bin"}));
}

TEST(EnvScrub, ENV_3_NarrowedSetsDropWhatTheyNoLongerAllow) {
  const EnvMap parent = {{"PATH", "/bin"}, {"HOME", "/root"}, {"EXECKIT_A", "1"}};
  EXPECT_EQ(build_worker_env(parent, {"HOME"}, {}, {}), std::vector<std::string>{"HOME=/root"});
}

TEST(EnvScrub, ENV_1_EmptyPrefixMatchesNothing) {
  const EnvMap parent = {{"GH_TOKEN", "ghp_x"}, {"PATH", "/bin"}};
  EXPECT_FALSE(env_name_allowed("GH_TOKEN", {}, {""}));
  EXPECT_EQ(build_worker_env(parent, {"PATH"}, {""}, {}), std::vector<std::string>{"PATH=/bin"});
}

TEST(EnvScrub, EnvNameAllowedMatchesExactNamesAndPrefixes) {
  const std::set<std::string> whitelist = {"PATH"};
  const std::vector<std::string> prefixes = {"EXECKIT_"};
  EXPECT_TRUE(env_name_allowed("PATH", whitelist, prefixes));
  EXPECT_TRUE(env_name_allowed("EXECKIT_WORKER_ID", whitelist, prefixes));
  EXPECT_FALSE(env_name_allowed("PATH2", whitelist, prefixes));
  EXPECT_FALSE(env_name_allowed("PAT", whitelist, prefixes));
  EXPECT_FALSE(env_name_allowed("EXECKIT", whitelist, prefixes));
  EXPECT_FALSE(env_name_allowed("", whitelist, prefixes));
}

TEST(EnvScrub, ExtraOverridesParentAndIsAlwaysIncluded) {
  const EnvMap parent = {{"PATH", "/parent/bin"}, {"EXECKIT_WORKER_ID", "stale"}, {"HOME", "/home/u"}};
  const EnvMap extra = {{"PATH", "/extra/bin"}, {"EXECKIT_WORKER_ID", "0123456789ab"}, {"FORCED", "1"}};
  const auto block = build_with_defaults(parent, extra);
  EXPECT_EQ(block, (std::vector<std::string>{"EXECKIT_WORKER_ID=0123456789ab", "FORCED=1", "HOME=/home/u",
                                             "PATH=/extra/bin"}));
}

TEST(EnvScrub, OutputIsSortedByNameWithoutDuplicates) {
  auto parent = whitelisted_parent();
  parent["A"] = "dropped";
  parent["EXECKIT_B"] = "1";
  parent["EXECKIT_B0"] = "2";
  parent["EXECKIT_"] = "3";
  const EnvMap extra = {{"LANG", "C.UTF-8"}, {"ZZZ", "z"}, {"A0", "x"}, {"A", "kept"}};
  const auto block = build_with_defaults(parent, extra);
  std::vector<std::string> names;
  std::transform(block.begin(), block.end(), std::back_inserter(names), name_of);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(names.size(), default_env_whitelist().size() + 3 /* EXECKIT_* */ + 3 /* ZZZ, A0, A */);
  EXPECT_THAT(block, Contains("LANG=C.UTF-8"));
  EXPECT_THAT(block, Contains("A=kept"));
}

TEST(EnvScrub, UnrepresentableParentEntriesAreSkipped) {
  const EnvMap parent = {{"", "x"}, {"PATH=evil", "y"}, {"PATH", "/bin"}, {std::string("HOME\0X", 6), "z"},
                         {"TZ", std::string("U\0TC", 4)}};
  EXPECT_EQ(build_worker_env(parent, {"PATH", "PATH=evil", "", "TZ", std::string("HOME\0X", 6)}, {}, {}),
            std::vector<std::string>{"PATH=/bin"});
}

TEST(EnvScrub, UnrepresentableExtraIsRejected) {
  EXPECT_THROW(build_worker_env({}, {}, {}, {{"", "x"}}), std::invalid_argument);
  EXPECT_THROW(build_worker_env({}, {}, {}, {{"A=B", "x"}}), std::invalid_argument);
  EXPECT_THROW(build_worker_env({}, {}, {}, {{"A", std::string("x\0y", 3)}}), std::invalid_argument);
}

TEST(EnvScrub, SnapshotCopiesTheProcessEnvironment) {
  const std::string name = "EXECKIT_ENV_SCRUB_TEST_SNAPSHOT";
  ASSERT_EQ(::setenv(name.c_str(), "a=b c", 1), 0);
  const auto env = snapshot_environment();
  ::unsetenv(name.c_str());
  ASSERT_EQ(env.count(name), 1u);
  EXPECT_EQ(env.at(name), "a=b c");
  if (const char* path = std::getenv("PATH")) {
    EXPECT_EQ(env.at("PATH"), path);
  }
  EXPECT_EQ(snapshot_environment().count(name), 0u);
}

}  // namespace
}  // namespace execkit
