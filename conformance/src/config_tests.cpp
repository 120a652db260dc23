// CONFIG (CONTRACT.md, CONFIG-1..CONFIG-3). CONFIG-2 and CONFIG-3 are about
// WorkerConfig::from_env, which every WorkerConfig-based backend shares; the
// tests also run one backend on a config read from the environment.
#include <sched.h>
#include <unistd.h>

#include <thread>

#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "scoped_env.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

using EnvMap = std::map<std::string, std::string>;

std::string host_name() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

std::size_t affinity_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::max(1u, std::thread::hardware_concurrency());
  return static_cast<std::size_t>(std::max(1, CPU_COUNT(&set)));
}

// The ConfigError from_env(env) throws, or a failure naming what it returned.
::testing::AssertionResult rejected(const EnvMap& env, const std::string& variable, const std::string& value) {
  try {
    const auto config = WorkerConfig::from_env(env);
    return ::testing::AssertionFailure() << variable << "=\"" << value << "\" was accepted (max_workers "
                                         << config.max_workers << ", idle " << config.idle_timeout.count() << " ms)";
  } catch (const ConfigError& e) {
    const std::string text = e.what();
    if (e.setting() != variable) return ::testing::AssertionFailure() << "the error names setting '" << e.setting() << "'";
    if (e.value() != value) return ::testing::AssertionFailure() << "the error names value '" << e.value() << "'";
    if (text.find(variable) == std::string::npos || text.find(value) == std::string::npos) {
      return ::testing::AssertionFailure() << "the message does not name the variable and value: " << text;
    }
    return ::testing::AssertionSuccess();
  }
}

// Runs `n` calls at once (each waits until all n run); true if they all did.
bool n_calls_run_at_once(ExecutorBackend& backend, const std::function<Call(std::string)>& rendezvous,
                         const std::filesystem::path& dir, int n, std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<PendingCall>> calls;
  for (int i = 0; i < n; ++i) {
    calls.push_back(std::make_unique<PendingCall>(backend, rendezvous(dir.string() + "," + std::to_string(n)), Deadline::after(timeout)));
  }
  bool all = true;
  for (auto& call : calls) {
    const auto outcome = call->wait(timeout + std::chrono::seconds(1));
    all = all && outcome && outcome->ok();
  }
  return all;
}

}  // namespace

TEST_P(Config, CONFIG_1_EveryFieldTakesEffect) {
  ScopedEnv env;
  env.set("CFG_EXTRA_NAME", "extra");
  env.set("CFGPFX_SETTING", "prefixed");
  env.set("EXECKIT_CONFORMANCE_DROPPED", "dropped");
  auto cfg = config();
  cfg.max_workers = 3;
  cfg.node_id = "config-node";
  cfg.pool_id = "conformance-pool-config-1";
  cfg.spill_dir = temp_dir() / "config-spill";
  cfg.env_whitelist.insert("CFG_EXTRA_NAME");
  cfg.env_prefixes = {"CFGPFX_"};
  track_spill_dir(cfg.spill_dir);
  auto backend = make_backend(cfg);
  EXPECT_TRUE(n_calls_run_at_once(*backend, [&](std::string input) { return probe_call("rendezvous", input); },
                                  make_dir(temp_dir(), "rendezvous"), 3, bounds().condition_wait))
      << "max_workers=3 did not let three calls run at once";
  // node_id, env_whitelist and env_prefixes shape a context only the caller's side builds.
  if (capabilities().task_context_from_caller) {
    const auto identity = parse_identity(run_text(*backend, probe_call("identity")));
    EXPECT_EQ(identity.node_id, "config-node");
    const auto task_env = parse_env_lines(run_text(*backend, probe_call("env")));
    EXPECT_EQ(task_env.count("CFG_EXTRA_NAME") ? task_env.at("CFG_EXTRA_NAME") : "<absent>", "extra");
    EXPECT_EQ(task_env.count("CFGPFX_SETTING") ? task_env.at("CFGPFX_SETTING") : "<absent>", "prefixed");
    EXPECT_EQ(task_env.count("EXECKIT_CONFORMANCE_DROPPED"), 0u) << "env_prefixes did not replace the default EXECKIT_";
  }
  const auto large = run(*backend, probe_call("write_bytes", "4194304,61"));
  ASSERT_TRUE(succeeded(large));
  if (capabilities().has_named_spill_files) {
    EXPECT_TRUE(std::filesystem::is_directory(cfg.spill_dir)) << "the configured spill_dir was not used";
  }
}

TEST_P(Config, CONFIG_1_ZeroMaxWorkersIsAConfigErrorNamingTheField) {
  auto cfg = config();
  cfg.max_workers = 0;
  std::string error;
  std::string setting;
  try {
    auto backend = backend_under_test().make(cfg);
    const auto outcome = run(*backend, probe_call("echo"));
    if (const auto* config_error = outcome.error_as<ConfigError>()) {
      error = config_error->what();
      setting = config_error->setting();
    } else {
      FAIL() << "max_workers=0 was accepted; the first call ended with " << describe(outcome);
    }
  } catch (const ConfigError& e) {
    error = e.what();
    setting = e.setting();
  }
  EXPECT_NE(setting.find("max_workers"), std::string::npos) << "the ConfigError names '" << setting << "': " << error;
}

TEST_P(Config, CONFIG_2_EnvironmentVariablesSetTheConfig) {
  const auto spill = WorkerConfig::from_env(EnvMap{{"EXECKIT_SPILL_DIR", "/tmp/execkit-a/../execkit-b"}});
  EXPECT_EQ(spill.spill_dir, std::filesystem::path("/tmp/execkit-b")) << "'..' in EXECKIT_SPILL_DIR was not resolved";
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"EXECKIT_MAX_WORKERS", "7"}}).max_workers, 7u);
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"EXECKIT_IDLE_TIMEOUT_S", "30"}}).idle_timeout, std::chrono::seconds(30));
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"EXECKIT_NODE_ID", "  node-x \t"}}).node_id, "node-x");
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"EXECKIT_NODE_ID", ""}}).node_id, host_name()) << "empty falls back to the host name";
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"EXECKIT_NODE_ID", "   "}}).node_id, host_name()) << "blank falls back to the host name";
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{}).node_id, host_name());
  for (const std::string word : {"1", "true", "TRUE", "Yes", "on", "ON"}) {
    EXPECT_FALSE(WorkerConfig::from_env(EnvMap{{"EXECKIT_DISABLE_PDEATHSIG", word}}).enable_pdeathsig)
        << "EXECKIT_DISABLE_PDEATHSIG=" << word << " must disable pdeathsig";
  }
  for (const std::string word : {"0", "false", "No", "OFF", ""}) {
    EXPECT_TRUE(WorkerConfig::from_env(EnvMap{{"EXECKIT_DISABLE_PDEATHSIG", word}}).enable_pdeathsig)
        << "EXECKIT_DISABLE_PDEATHSIG=\"" << word << "\" must keep pdeathsig";
  }
  EXPECT_TRUE(WorkerConfig::from_env(EnvMap{}).enable_pdeathsig);

  ScopedEnv env;
  env.set("EXECKIT_MAX_WORKERS", "2");
  env.set("EXECKIT_NODE_ID", " env-node ");
  auto from_process = WorkerConfig::from_env();
  EXPECT_EQ(from_process.max_workers, 2u) << "from_env() did not read the process environment";
  from_process.spill_dir = spill_dir();
  from_process.base_dir = temp_dir();
  from_process.log = config().log;
  auto backend = make_backend(from_process);
  if (capabilities().task_context_from_caller) {
    EXPECT_EQ(parse_identity(run_text(*backend, probe_call("identity"))).node_id, "env-node");
  }
  EXPECT_TRUE(n_calls_run_at_once(*backend, [&](std::string input) { return probe_call("rendezvous", input); },
                                  make_dir(temp_dir(), "rendezvous"), 2, bounds().condition_wait));
}

TEST_P(Config, CONFIG_2_BadValuesAreErrorsNamingVariableAndValue) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad{
      {"EXECKIT_MAX_WORKERS", {"0", "-1", "abc", "1.5", "12abc", "99999999999999999999999"}},
      {"EXECKIT_IDLE_TIMEOUT_S", {"0", "-5", "abc", "nan", "inf", "99999999999999999999999"}},
      {"EXECKIT_DISABLE_PDEATHSIG", {"2", "maybe", "enable"}},
  };
  for (const auto& [variable, values] : bad) {
    for (const auto& value : values) EXPECT_TRUE(rejected(EnvMap{{variable, value}}, variable, value));
  }
  ScopedEnv env;
  env.set("EXECKIT_MAX_WORKERS", "lots");
  try {
    WorkerConfig::from_env();
    ADD_FAILURE() << "from_env() accepted EXECKIT_MAX_WORKERS=lots from the process environment";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.setting(), "EXECKIT_MAX_WORKERS");
    EXPECT_EQ(e.value(), "lots");
  }
}

TEST_P(Config, CONFIG_3_ParallelTestRunnerSharesTheCpus) {
  const auto cpus = affinity_cpus();
  for (const std::size_t level : {2u, 3u, 64u}) {
    EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"CTEST_PARALLEL_LEVEL", std::to_string(level)}}).max_workers,
              std::max<std::size_t>(1, cpus / level))
        << "CTEST_PARALLEL_LEVEL=" << level << " with " << cpus << " cpus";
  }
  EXPECT_EQ(WorkerConfig::from_env(EnvMap{{"CTEST_PARALLEL_LEVEL", "2"}, {"EXECKIT_MAX_WORKERS", "5"}}).max_workers, 5u)
      << "an explicit EXECKIT_MAX_WORKERS must win";
}

}  // namespace execkit::conformance
