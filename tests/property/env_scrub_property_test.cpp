// Properties of the worker environment block (ENV-1..ENV-3): whatever the
// caller's environment, whitelist, prefixes and backend-set extras, the block
// holds only whitelisted, prefixed or extra names, with the right values, and
// nothing else.
#include "env_scrub.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <stdexcept>

#include "execkit/config.hpp"
#include "text_generators.hpp"

namespace execkit {
namespace {

using property::string_of;

// The secrets ENV-1 names, and names close to allowed ones.
const std::vector<std::string> secret_names{
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GH_TOKEN",        "GITHUB_TOKEN",        "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",     "LANGFUSE_SECRET_KEY", "WANDB_API_KEY", "HF_TOKEN",            "STRIPE_SECRET_KEY",
    "SUPABASE_SERVICE_ROLE_KEY", "PATH_SECRET",  "EXECKITSECRET",    "path",                "PATHX",
    "execkit_lower",         "XEXECKIT_"};

const std::vector<std::string> name_pieces{"PATH", "HOME", "TZ", "LANG", "EXECKIT_", "EXECKIT", "MYAPP_", "AWS_",
                                           "TOKEN", "KEY", "_", "=", std::string(1, '\0')};

rc::Gen<std::string> env_name() {
  const auto whitelist = default_env_whitelist();
  return rc::gen::weightedOneOf<std::string>({
      {3, rc::gen::elementOf(secret_names)},
      {2, rc::gen::elementOf(std::vector<std::string>(whitelist.begin(), whitelist.end()))},
      {3, string_of(name_pieces)},
  });
}

rc::Gen<std::map<std::string, std::string>> environment() {
  return rc::gen::container<std::map<std::string, std::string>>(env_name(), property::tricky_string());
}

bool representable(const std::string& name, const std::string& value) {
  return !name.empty() && name.find('=') == std::string::npos && name.find('\0') == std::string::npos &&
         value.find('\0') == std::string::npos;
}

// The model of ENV-1/ENV-3: exact whitelist match, or a non-empty prefix.
bool allowed_by_model(const std::string& name, const std::set<std::string>& whitelist,
                      const std::vector<std::string>& prefixes) {
  if (whitelist.count(name) != 0) return true;
  for (const auto& prefix : prefixes)
    if (!prefix.empty() && name.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

std::pair<std::string, std::string> split_entry(const std::string& entry) {
  const auto eq = entry.find('=');
  RC_ASSERT(eq != std::string::npos);
  return {entry.substr(0, eq), entry.substr(eq + 1)};
}

RC_GTEST_PROP(EnvScrubProperty, BlockHoldsExactlyTheAllowedParentEntriesAndTheExtras, ()) {
  const auto whitelist = *rc::gen::container<std::set<std::string>>(env_name());
  const auto prefixes = *rc::gen::container<std::vector<std::string>>(string_of({"EXECKIT_", "MYAPP_", "AWS", ""}));
  const auto parent = *environment();
  auto extra = *environment();
  std::erase_if(extra, [](const auto& entry) { return !representable(entry.first, entry.second); });

  const auto block = build_worker_env(parent, whitelist, prefixes, extra);

  std::map<std::string, std::string> expected = extra;
  for (const auto& [name, value] : parent)
    if (representable(name, value) && allowed_by_model(name, whitelist, prefixes)) expected.emplace(name, value);

  std::map<std::string, std::string> seen;
  std::string previous;
  for (const auto& entry : block) {
    const auto [name, value] = split_entry(entry);
    RC_ASSERT(representable(name, value));
    RC_ASSERT(seen.emplace(name, value).second);  // no duplicates
    RC_ASSERT(previous.empty() || previous < name);  // sorted by name
    previous = name;
  }
  RC_ASSERT(seen == expected);
}

RC_GTEST_PROP(EnvScrubProperty, NoSecretSurvivesTheDefaultPolicy, ()) {
  const auto config = WorkerConfig{};
  const auto parent = *environment();
  const auto secret = *rc::gen::elementOf(secret_names);
  const auto secret_value = *property::tricky_string();
  auto with_secret = parent;
  with_secret[secret] = secret_value;

  const auto block = build_worker_env(with_secret, config.env_whitelist, config.env_prefixes, {});
  for (const auto& entry : block) {
    const auto name = split_entry(entry).first;
    RC_ASSERT(name != secret);
    RC_ASSERT(config.env_whitelist.count(name) != 0 || name.starts_with("EXECKIT_"));
  }
}

RC_GTEST_PROP(EnvScrubProperty, NameAllowedMatchesTheModel, ()) {
  const auto name = *env_name();
  const auto whitelist = *rc::gen::container<std::set<std::string>>(env_name());
  const auto prefixes = *rc::gen::container<std::vector<std::string>>(string_of({"EXECKIT_", "PA", "", "AWS_"}));
  RC_ASSERT(env_name_allowed(name, whitelist, prefixes) == allowed_by_model(name, whitelist, prefixes));
}

RC_GTEST_PROP(EnvScrubProperty, AnExtraThatCannotBeAnEnvironmentEntryIsRefusedByName, ()) {
  const auto name = *string_of({"A", "=", std::string(1, '\0'), ""});
  const auto value = *string_of({"v", std::string(1, '\0')});
  RC_PRE(!representable(name, value));
  try {
    build_worker_env({}, {}, {}, {{name, value}});
    RC_FAIL("accepted an extra that cannot be an environment entry");
  } catch (const std::invalid_argument& e) {
    RC_ASSERT(std::string(e.what()).find(name.substr(0, name.find('\0'))) != std::string::npos);
  }
}

}  // namespace
}  // namespace execkit
