// ENV: the environment the task sees (CONTRACT.md, ENV-1..ENV-7).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "execkit/conformance/suite.hpp"
#include "pending_call.hpp"
#include "scoped_env.hpp"
#include "test_support.hpp"

extern char** environ;

namespace execkit::conformance {
namespace {

std::string secret_value(const std::string& name) { return "execkit-conformance-secret-of-" + name; }

// The environment without the per-worker identity, for comparing calls.
std::map<std::string, std::string> base_of(std::map<std::string, std::string> env) {
  env.erase("EXECKIT_WORKER_ID");
  return env;
}

// The caller sets TZ to this before creating the backend.
constexpr std::string_view callers_tz = "Etc/GMT+3";

// A variable of the task's base environment, to watch being overridden,
// unset and restored: the caller's TZ when the task's context is the
// caller's; otherwise the first of TZ, PATH, HOME, USER the base environment
// (seen by a first call) holds. Empty name: none to watch.
std::pair<std::string, std::string> watched_variable(const Capabilities& can,
                                                     const std::map<std::string, std::string>& base) {
  if (can.task_context_from_caller) return {"TZ", std::string(callers_tz)};
  for (const char* name : {"TZ", "PATH", "HOME", "USER"})
    if (auto it = base.find(name); it != base.end()) return *it;
  return {};
}

// Whether two env dumps must agree on everything: when the base comes from
// the caller, or both calls ran on one worker.
bool same_base_expected(const Capabilities& can, const std::map<std::string, std::string>& a,
                        const std::map<std::string, std::string>& b) {
  if (can.task_context_from_caller) return true;
  const auto a_id = a.find("EXECKIT_WORKER_ID"), b_id = b.find("EXECKIT_WORKER_ID");
  return a_id != a.end() && b_id != b.end() && a_id->second == b_id->second;
}

// Every probe fd line "<fd> <target>" except 0, 1, 2.
std::vector<std::string> extra_fds(std::string_view listing) {
  std::vector<std::string> extra;
  for (const auto& line : split_lines(listing)) {
    const auto fd = line.substr(0, line.find(' '));
    if (fd != "0" && fd != "1" && fd != "2") extra.push_back(line);
  }
  return extra;
}

std::string fd_target(int fd) {
  return std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd)).string();
}

// An open file description the caller holds without O_CLOEXEC.
class InheritableFd {
 public:
  explicit InheritableFd(int fd) : fd_(fd) {}
  InheritableFd(InheritableFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  InheritableFd(const InheritableFd&) = delete;
  ~InheritableFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

TEST_P(EnvSecret, ENV_1_SecretSetBeforeStartNeverReachesTask) {
  ScopedEnv env;
  env.set(secret().variable, secret_value(secret().variable));
  auto backend = make_backend();
  const auto task = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(task.count(secret().variable), 0u) << secret().variable << " reached the task with value '"
                                               << (task.count(secret().variable) ? task.at(secret().variable) : "") << "'";
  for (const auto& [name, value] : task) {
    EXPECT_EQ(value.find(secret_value(secret().variable)), std::string::npos)
        << "the secret's value reached the task in " << name;
  }
}

TEST_P(EnvSecret, ENV_1_SecretSetAfterStartNeverReachesTask) {
  auto backend = make_backend(config());
  run_text(*backend, probe_call("env"));  // a worker exists before the secret does
  ScopedEnv env;
  env.set(secret().variable, secret_value(secret().variable));
  auto on_old_worker = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(on_old_worker.count(secret().variable), 0u) << secret().variable << " reached a running worker's task";
  // A worker started after the secret was set.
  EXPECT_FALSE(run(*backend, probe_call("call_abort")).ok());
  auto on_new_worker = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(on_new_worker.count(secret().variable), 0u) << secret().variable << " reached a new worker's task";
}

TEST_P(Env, ENV_1_NoCallerVariableOutsideTheAllowedSetsReachesTask) {
  ScopedEnv env;
  env.set("CONFORMANCE_ARBITRARY_NAME", "arbitrary-value-1");
  env.set("lowercase_name", "arbitrary-value-2");
  env.set("EXECKIT", "no-underscore-so-not-the-prefix");
  const auto cfg = config();
  auto backend = make_backend(cfg);
  const auto task = parse_env_lines(run_text(*backend, probe_call("env")));
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string name(text.substr(0, text.find('=')));
    const std::string value(text.substr(text.find('=') + 1));
    const bool allowed = cfg.env_whitelist.count(name) != 0 ||
                         std::any_of(cfg.env_prefixes.begin(), cfg.env_prefixes.end(),
                                     [&](const std::string& prefix) { return !prefix.empty() && name.starts_with(prefix); });
    if (allowed) continue;
    auto it = task.find(name);
    EXPECT_FALSE(it != task.end() && it->second == value) << "the caller's " << name << " reached the task";
  }
}

TEST_P(Env, ENV_2_InitialEnvironmentBlockHoldsNoSecret) {
  ScopedEnv env;
  for (const auto& secret : secret_cases()) env.set(secret.variable, secret_value(secret.variable));
  auto backend = make_backend();
  auto check_block = [&](const std::string& when) {
    const auto block = run_text(*backend, probe_call("proc_environ"));
    const auto entries = parse_env_block(block);
    for (const auto& secret : secret_cases()) {
      EXPECT_EQ(entries.count(secret.variable), 0u) << secret.variable << " is in the initial environment block " << when;
      EXPECT_EQ(block.find(secret_value(secret.variable)), std::string::npos)
          << "the value of " << secret.variable << " is in the initial environment block " << when;
    }
  };
  check_block("of a worker started after the secrets were set");
  for (const auto& secret : secret_cases()) env.set(secret.variable + "_LATER", secret_value(secret.variable));
  ASSERT_FALSE(run(*backend, probe_call("call_abort")).ok());
  const auto block = run_text(*backend, probe_call("proc_environ"));
  for (const auto& secret : secret_cases()) {
    EXPECT_EQ(parse_env_block(block).count(secret.variable + "_LATER"), 0u)
        << secret.variable << "_LATER (set after the backend started) is in a new worker's environment block";
  }
  check_block("of a replacement worker");
}

TEST_P(Env, ENV_3_WhitelistedNamesPassThroughWithTheirValues) {
  EXECKIT_REQUIRE_CAPABILITY(task_context_from_caller);
  ScopedEnv env;
  const std::map<std::string, std::string> distinctive{
      {"TZ", "Etc/GMT+3"},      {"LANG", "C.UTF-8"},          {"LC_ALL", "C.UTF-8"},
      {"LC_CTYPE", "C.UTF-8"},  {"TERM", "execkit-term"},     {"USER", "execkit-user"},
      {"LOGNAME", "execkit-logname"}, {"HOME", temp_dir().string()}, {"TMPDIR", temp_dir().string()}};
  for (const auto& [name, value] : distinctive) env.set(name, value);
  const auto cfg = config();
  auto backend = make_backend(cfg);
  const auto task = parse_env_lines(run_text(*backend, probe_call("env")));
  for (const auto& name : cfg.env_whitelist) {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) continue;
    auto it = task.find(name);
    ASSERT_NE(it, task.end()) << "whitelisted " << name << " did not reach the task";
    EXPECT_EQ(it->second, value) << "whitelisted " << name << " reached the task with another value";
  }
  for (const auto& name : {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM"}) {
    EXPECT_EQ(cfg.env_whitelist.count(name), 1u) << name << " is missing from the default whitelist";
  }
}

TEST_P(Env, ENV_3_AllowedPrefixPassesThrough) {
  EXECKIT_REQUIRE_CAPABILITY(task_context_from_caller);
  ScopedEnv env;
  env.set("EXECKIT_CONFORMANCE_PASSES", "prefixed-value");
  auto backend = make_backend();
  const auto task = parse_env_lines(run_text(*backend, probe_call("env")));
  auto it = task.find("EXECKIT_CONFORMANCE_PASSES");
  ASSERT_NE(it, task.end()) << "a name under the default prefix EXECKIT_ did not reach the task";
  EXPECT_EQ(it->second, "prefixed-value");
}

TEST_P(Env, ENV_3_ExtendedWhitelistAndPrefixesReachTask) {
  EXECKIT_REQUIRE_CAPABILITY(task_context_from_caller);
  ScopedEnv env;
  env.set("CONFORMANCE_EXTRA_NAME", "extra-value");
  env.set("MYAPP_SETTING", "myapp-value");
  auto cfg = config();
  cfg.env_whitelist.insert("CONFORMANCE_EXTRA_NAME");
  cfg.env_prefixes.push_back("MYAPP_");
  auto backend = make_backend(cfg);
  const auto task = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(task.count("CONFORMANCE_EXTRA_NAME") ? task.at("CONFORMANCE_EXTRA_NAME") : "<absent>", "extra-value");
  EXPECT_EQ(task.count("MYAPP_SETTING") ? task.at("MYAPP_SETTING") : "<absent>", "myapp-value");
}

TEST_P(Env, ENV_3_NarrowedWhitelistAndPrefixesBlockNames) {
  EXECKIT_REQUIRE_CAPABILITY(task_context_from_caller);
  ScopedEnv env;
  env.set("TZ", "Etc/GMT+3");
  env.set("EXECKIT_CONFORMANCE_BLOCKED", "blocked-value");
  auto cfg = config();
  cfg.env_whitelist.erase("TZ");
  cfg.env_prefixes.clear();
  auto backend = make_backend(cfg);
  const auto task = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(task.count("TZ"), 0u) << "TZ reached the task although removed from the whitelist";
  EXPECT_EQ(task.count("EXECKIT_CONFORMANCE_BLOCKED"), 0u) << "EXECKIT_* reached the task with no prefixes configured";
}

TEST_P(Env, ENV_4_UpdatesApplyToOneCallOnly) {
  ScopedEnv env;
  env.set("TZ", std::string(callers_tz));
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto base = parse_env_lines(run_text(*backend, probe_call("env")));
  const auto [name, value] = watched_variable(capabilities(), base);
  if (name.empty()) GTEST_SKIP() << "the task's base environment has none of TZ, PATH, HOME, USER to watch";
  auto call = probe_call("env");
  call.env_updates = {{"CONFORMANCE_UPDATE", "for-this-call"}, {name, "conformance-updated-value"}};
  const auto during = parse_env_lines(run_text(*backend, call));
  EXPECT_EQ(during.count("CONFORMANCE_UPDATE") ? during.at("CONFORMANCE_UPDATE") : "<absent>", "for-this-call")
      << "a non-whitelisted update must reach its call";
  EXPECT_EQ(during.count(name) ? during.at(name) : "<absent>", "conformance-updated-value");
  const auto after = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(after.count("CONFORMANCE_UPDATE"), 0u) << "an env update leaked into the next call";
  EXPECT_EQ(after.count(name) ? after.at(name) : "<absent>", value) << name << " was not restored after the call";
}

TEST_P(Env, ENV_4_NullUpdateUnsetsForOneCall) {
  ScopedEnv env;
  env.set("TZ", std::string(callers_tz));
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto base = parse_env_lines(run_text(*backend, probe_call("env")));
  const auto [name, value] = watched_variable(capabilities(), base);
  if (name.empty()) GTEST_SKIP() << "the task's base environment has none of TZ, PATH, HOME, USER to watch";
  auto call = probe_call("env");
  call.env_updates = {{name, std::nullopt}};
  const auto during = parse_env_lines(run_text(*backend, call));
  EXPECT_EQ(during.count(name), 0u) << "a null update must unset " << name << ", but the task saw " << name << "='"
                                    << (during.count(name) ? during.at(name) : "") << "'";
  const auto after = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(after.count(name) ? after.at(name) : "<absent>", value) << name << " did not come back after the call";
}

TEST_P(Env, ENV_4_BaseEnvironmentReturnsAfterFailedCall) {
  ScopedEnv env;
  env.set("TZ", std::string(callers_tz));
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto base = parse_env_lines(run_text(*backend, probe_call("env")));
  const auto [name, value] = watched_variable(capabilities(), base);
  if (name.empty()) GTEST_SKIP() << "the task's base environment has none of TZ, PATH, HOME, USER to watch";
  auto failing = probe_call("fail", "failing with env updates");
  failing.env_updates = {{"CONFORMANCE_UPDATE", "x"}, {name, std::nullopt}};
  ASSERT_TRUE(ended_with<TaskError>(run(*backend, failing)));
  const auto after = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(after.count("CONFORMANCE_UPDATE"), 0u) << "an update of a failed call leaked into the next call";
  EXPECT_EQ(after.count(name) ? after.at(name) : "<absent>", value) << name << " stayed unset after a failed call";
  if (same_base_expected(capabilities(), base, after)) {
    EXPECT_EQ(base_of(after), base_of(base)) << "the next call's environment differs from the base environment";
  }
}

TEST_P(Env, ENV_5_TaskEnvironmentChangesDoNotPersist) {
  ScopedEnv env;
  env.set("TZ", std::string(callers_tz));
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto before = parse_env_lines(run_text(*backend, probe_call("env")));
  const auto [name, value] = watched_variable(capabilities(), before);
  if (name.empty()) GTEST_SKIP() << "the task's base environment has none of TZ, PATH, HOME, USER to watch";
  const auto first = parse_identity(run_text(*backend, probe_call("identity")));
  run_text(*backend, probe_call("mutate_env", "CONFORMANCE_SET_BY_TASK=1\n-" + name + "\nLANG=changed-by-task\n"));
  const auto second = parse_identity(run_text(*backend, probe_call("identity")));
  const auto after = parse_env_lines(run_text(*backend, probe_call("env")));
  EXPECT_EQ(after.count("CONFORMANCE_SET_BY_TASK"), 0u) << "a variable the task set persisted into the next call";
  EXPECT_EQ(after.count(name) ? after.at(name) : "<absent>", value) << "a variable the task unset (" << name << ") stayed unset";
  if (same_base_expected(capabilities(), before, after)) {
    EXPECT_EQ(base_of(after), base_of(before)) << "the next call's environment differs from the base environment";
  }
  if (capabilities().supports_worker_reuse) {
    EXPECT_EQ(first.worker_id, second.worker_id) << "expected the same worker to be reused (LIFE-1)";
  }
}

TEST_P(Env, ENV_6_WorkerIdIsTwelveHexCharsAndStable) {
  auto cfg = config();
  cfg.max_workers = 1;
  auto backend = make_backend(cfg);
  const auto first = parse_identity(run_text(*backend, probe_call("identity")));
  const auto second = parse_identity(run_text(*backend, probe_call("identity")));
  EXPECT_TRUE(std::regex_match(first.worker_id, std::regex("[0-9a-f]{12}")))
      << "EXECKIT_WORKER_ID='" << first.worker_id << "' is not 12 lowercase hex chars";
  if (first.pid == second.pid) {
    EXPECT_EQ(first.worker_id, second.worker_id) << "one worker process reported two ids";
  }
  if (capabilities().supports_worker_reuse) {
    EXPECT_EQ(first.worker_id, second.worker_id) << "sequential calls on a pool of one should reuse the worker";
  }
  if (capabilities().has_local_process_workers) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    EXPECT_EQ(first.node_id, host) << "EXECKIT_NODE_ID must default to the host name";
  } else {
    EXPECT_FALSE(first.node_id.empty()) << "EXECKIT_NODE_ID is empty";
  }
}

TEST_P(Env, ENV_6_WorkerIdsAreDistinctPerWorker) {
  auto backend = make_backend();  // two workers
  const auto dir = make_dir(temp_dir(), "rendezvous");
  const auto input = dir.string() + ",2";
  PendingCall a(*backend, probe_call("rendezvous", input), call_deadline());
  PendingCall b(*backend, probe_call("rendezvous", input), call_deadline());
  auto outcome_a = a.wait(bounds().call_timeout);
  auto outcome_b = b.wait(bounds().call_timeout);
  ASSERT_TRUE(outcome_a && outcome_b) << "two concurrent calls did not both finish";
  ASSERT_TRUE(succeeded(*outcome_a));
  ASSERT_TRUE(succeeded(*outcome_b));
  const auto id_a = parse_identity(text_of(*outcome_a));
  const auto id_b = parse_identity(text_of(*outcome_b));
  EXPECT_NE(id_a.worker_id, id_b.worker_id) << "two concurrently running workers share an id";
  // A replacement worker gets a new id.
  ASSERT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("call_abort"))));
  const std::set<std::string> earlier{id_a.worker_id, id_b.worker_id};
  for (int i = 0; i < 2; ++i) {
    const auto later = parse_identity(run_text(*backend, probe_call("identity")));
    if (later.pid != id_a.pid && later.pid != id_b.pid) {
      EXPECT_EQ(earlier.count(later.worker_id), 0u) << "a new worker process reused the id " << later.worker_id;
    }
  }
}

TEST_P(Env, ENV_6_NodeIdComesFromConfig) {
  EXECKIT_REQUIRE_CAPABILITY(task_context_from_caller);
  auto cfg = config();
  cfg.node_id = "conformance-node-7";
  auto backend = make_backend(cfg);
  const auto identity = parse_identity(run_text(*backend, probe_call("identity")));
  EXPECT_EQ(identity.node_id, "conformance-node-7");
}

TEST_P(Env, ENV_7_OnlyDocumentedFdsReachTask) {
  const auto secret_path = temp_dir() / "secret-file";
  write_file(secret_path, "top secret");
  std::vector<InheritableFd> held;
  for (int i = 0; i < 3; ++i) held.emplace_back(::open(secret_path.c_str(), O_RDONLY));  // contiguous
  // And not: up to 1000, and 1024 while the caller's soft RLIMIT_NOFILE is
  // 1024, so that descriptor is above the limit the backend sees when it
  // starts a worker: a backend that closes 3..limit-1 (sysconf(_SC_OPEN_MAX))
  // leaks it. Where the hard limit is lower the targets stay below it (a CI
  // runner's `ulimit -n 256` must not fail a correct backend). The caller's
  // own soft limit comes back at the end of the test.
  constexpr rlim_t above_limit = 1024;
  const ScopedFdLimit opening(above_limit + 1);
  for (rlim_t target : {rlim_t{100}, rlim_t{101}, rlim_t{513}, rlim_t{1000}, above_limit}) {
    if (target >= opening.limit()) continue;
    const int fd = ::open(secret_path.c_str(), O_RDONLY);
    const int moved = ::dup2(fd, static_cast<int>(target));
    ::close(fd);
    ASSERT_EQ(moved, static_cast<int>(target)) << "dup2 to " << target << ": " << std::strerror(errno);
    held.emplace_back(moved);
  }
  std::optional<ScopedFdLimit> while_starting;
  if (opening.limit() > above_limit) while_starting.emplace(above_limit);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  held.emplace_back(pipe_fds[0]);
  held.emplace_back(pipe_fds[1]);
  int socket_fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, socket_fds), 0);
  held.emplace_back(socket_fds[0]);
  held.emplace_back(socket_fds[1]);
  std::set<std::string> caller_targets{secret_path.string()};
  for (const auto& fd : held) caller_targets.insert(fd_target(fd.get()));

  auto backend = make_backend();
  const auto listing = run_text(*backend, probe_call("fds"));
  for (const auto& line : split_lines(listing)) {
    const auto target = line.substr(line.find(' ') + 1);
    EXPECT_EQ(caller_targets.count(target), 0u) << "the task holds the caller's fd: " << line;
  }
  const auto extra = extra_fds(listing);
  EXPECT_LE(extra.size(), capabilities().documented_task_fds)
      << "the task has fds beyond 0, 1, 2 and the " << capabilities().documented_task_fds
      << " the backend documents:\n" << listing;
}

TEST_P(Env, ENV_7_FdsOpenedByOtherThreadsWhileSpawningDoNotLeak) {
  const auto secret_path = temp_dir() / "racing-secret-file";
  write_file(secret_path, "top secret");
  std::atomic<bool> stop{false};
  std::thread opener([&] {
    while (!stop) {
      const int fd = ::open(secret_path.c_str(), O_RDONLY);  // deliberately without O_CLOEXEC
      const int high = ::dup2(fd, 700);
      ::close(fd);
      if (high >= 0) ::close(high);
    }
  });
  auto backend = make_backend();
  for (int round = 0; round < 8; ++round) {
    const auto listing = run_text(*backend, probe_call("fds"));
    EXPECT_EQ(listing.find(secret_path.string()), std::string::npos)
        << "round " << round << ": a fd another caller thread opened during spawn reached the task:\n" << listing;
    EXPECT_TRUE(ended_with<WorkerCrashed>(run(*backend, probe_call("call_abort"))));  // next round spawns anew
  }
  stop = true;
  opener.join();
}

TEST_P(Env, ENV_7_NoSecretInTaskArgv) {
  ScopedEnv env;
  for (const auto& secret : secret_cases()) env.set(secret.variable, secret_value(secret.variable));
  auto backend = make_backend();
  const auto cmdline = run_text(*backend, probe_call("cmdline"));
  for (const auto& secret : secret_cases()) {
    EXPECT_EQ(cmdline.find(secret_value(secret.variable)), std::string::npos)
        << "the value of " << secret.variable << " is in the worker's argv";
    EXPECT_EQ(cmdline.find(secret.variable), std::string::npos) << secret.variable << " is named in the worker's argv";
  }
}

}  // namespace execkit::conformance
