// Failures the distributed backend must survive, against a real redis-server
// and real node agents (label `distributed`): a node, the server or the
// caller SIGKILLed mid-call, and a wrong password.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "execkit/redis_stream.hpp"
#include "redis_connection.hpp"
#include "testbed_client.hpp"

namespace {

using namespace std::chrono_literals;
using execkit::redis::testing::Testbed;
using execkit::redis::testing::TestbedOptions;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr auto lease = 1000ms;

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  for (auto pause = 1ms; !done(); pause = std::min(pause * 2, 20ms)) {
    if (Clock::now() > until) return done();
    std::this_thread::sleep_for(pause);  // polling a condition, with a deadline
  }
  return true;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct ProcState {
  char state = 0;  // 0: no such process
  pid_t ppid = 0;
};

ProcState state_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  // getline, not istreambuf_iterator: a read of a process reaped meanwhile
  // fails with ESRCH, which libstdc++'s filebuf throws.
  std::string text;
  std::getline(stat, text, '\0');
  const auto close = text.rfind(')');
  ProcState out;
  if (close == std::string::npos) return out;
  int ppid = 0;
  std::sscanf(text.c_str() + close + 2, "%c %d", &out.state, &ppid);
  out.ppid = ppid;
  return out;
}

pid_t parent_of(pid_t pid) { return state_of(pid).ppid; }

// A zombie has ended; reaping it is its (sub)reaper's business.
bool alive(pid_t pid) {
  const auto state = state_of(pid).state;
  return state != 0 && state != 'Z';
}

class Distributed : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/execkit-distributed-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    temp_ = dir;
    const char* probe = std::getenv("EXECKIT_PROBE_MODULE");
    ASSERT_TRUE(probe && *probe) << "EXECKIT_PROBE_MODULE is not set";
    probe_dir_ = fs::path(probe).parent_path();
    fs::create_directories(temp_ / "gates");
  }
  void TearDown() override { fs::remove_all(temp_); }

  execkit::RedisStreamConfig config(const Testbed& bed, std::size_t max_workers = 4) const {
    execkit::RedisStreamConfig c;
    c.address = bed.address();
    c.pool = bed.pool();
    c.lease = lease;
    c.worker.max_workers = max_workers;
    c.worker.spill_dir = temp_ / "spill";
    c.worker.log = [](std::string_view line) { std::fprintf(stderr, "caller: %.*s\n", static_cast<int>(line.size()), line.data()); };
    return c;
  }
  execkit::Call probe(const std::string& function, const std::string& input) const {
    execkit::Call call;
    call.module = "execkit_probe";
    call.function = function;
    call.input = execkit::to_bytes(input);
    call.search_path = {probe_dir_};
    return call;
  }
  execkit::Call gate(const std::string& id) const { return probe("gate", (temp_ / "gates").string() + "," + id); }
  fs::path started(const std::string& id) const { return temp_ / "gates" / ("started." + id); }
  void release_all() const { std::ofstream(temp_ / "gates" / "release.all") << "1"; }

  fs::path temp_, probe_dir_;
};

// Collects outcomes of async calls by index, with the time each arrived.
struct Outcomes {
  std::mutex mutex;
  std::condition_variable arrived;
  std::vector<std::optional<execkit::Outcome>> outcomes;
  std::vector<Clock::time_point> at;
  explicit Outcomes(std::size_t n) : outcomes(n), at(n) {}
  execkit::CompletionHandler handler(std::size_t i) {
    return [this, i](execkit::Outcome outcome) {
      std::lock_guard lock(mutex);
      outcomes[i].emplace(std::move(outcome));
      at[i] = Clock::now();
      arrived.notify_all();
    };
  }
  bool wait_all(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex);
    return arrived.wait_for(lock, timeout, [&] {
      for (const auto& o : outcomes)
        if (!o) return false;
      return true;
    });
  }
};

TEST_F(Distributed, NodeKilledMidCallFailsOnlyItsCallsWithWorkerCrashedAndNothingRunsTwice) {
  Testbed bed(TestbedOptions{});
  constexpr std::size_t calls = 4;  // two nodes, two workers each: every call runs at once
  Outcomes results(calls);  // before the backend: it outlives every completion
  execkit::RedisStreamBackend backend(config(bed));
  for (std::size_t i = 0; i < calls; ++i)
    backend.submit(gate(std::to_string(i)), execkit::Deadline::after(60s), results.handler(i));
  ASSERT_TRUE(wait_until([&] {
    for (std::size_t i = 0; i < calls; ++i)
      if (!fs::exists(started(std::to_string(i)))) return false;
    return true;
  }, 20s)) << "the four calls did not all start";
  const pid_t victim = bed.node_pid(0);
  std::set<std::size_t> on_victim;
  std::vector<pid_t> task_pids(calls);
  for (std::size_t i = 0; i < calls; ++i) {
    task_pids[i] = std::stoi(read_text(started(std::to_string(i))));
    if (parent_of(task_pids[i]) == victim) on_victim.insert(i);
    fs::remove(started(std::to_string(i)));  // a second attempt would write it again
  }
  ASSERT_EQ(on_victim.size(), 2u) << "expected two of the four calls on node-0";

  const auto killed_at = Clock::now();
  bed.kill_node(0);
  {
    std::unique_lock lock(results.mutex);
    ASSERT_TRUE(results.arrived.wait_for(lock, lease * 2 + 3s, [&] {
      for (const auto i : on_victim)
        if (!results.outcomes[i]) return false;
      return true;
    })) << "the calls of the killed node did not end within two leases";
  }
  for (const auto i : on_victim) {
    const auto& outcome = *results.outcomes[i];
    ASSERT_FALSE(outcome.ok());
    const auto* crashed = outcome.error_as<execkit::WorkerCrashed>();
    ASSERT_NE(crashed, nullptr) << outcome.error()->what();
    EXPECT_NE(std::string(crashed->what()).find("node-0"), std::string::npos) << crashed->what();
    EXPECT_LE(results.at[i] - killed_at, lease * 2 + 1s) << "noticed too late";
    EXPECT_TRUE(wait_until([&] { return !alive(task_pids[i]); }, 5s)) << "the killed node's task survived it";
  }
  for (std::size_t i = 0; i < calls; ++i)
    if (on_victim.count(i) == 0) {
      EXPECT_FALSE(results.outcomes[i].has_value()) << "a call on node-1 was disturbed";
    }
  release_all();
  ASSERT_TRUE(results.wait_all(20s));
  for (std::size_t i = 0; i < calls; ++i)
    if (on_victim.count(i) == 0) {
      EXPECT_TRUE(results.outcomes[i]->ok()) << results.outcomes[i]->error()->what();
    }
  // Two more leases: no node picks a lost call up again (RUN-1, no XCLAIM).
  std::this_thread::sleep_for(lease * 2);  // observing that nothing happens needs a window, not a condition
  for (const auto i : on_victim) EXPECT_FALSE(fs::exists(started(std::to_string(i)))) << "call " << i << " ran twice";
}

TEST_F(Distributed, RedisKilledMidCallEndsPendingCallsAndARestartServesAgain) {
  Testbed bed(TestbedOptions{});
  Outcomes results(2);
  execkit::RedisStreamBackend backend(config(bed));
  backend.submit(gate("a"), execkit::Deadline::after(60s), results.handler(0));
  backend.submit(gate("b"), execkit::Deadline::after(60s), results.handler(1));
  ASSERT_TRUE(wait_until([&] { return fs::exists(started("a")) && fs::exists(started("b")); }, 20s));
  bed.kill_redis();
  ASSERT_TRUE(results.wait_all(10s)) << "calls pending when redis died did not end";
  for (const auto& outcome : results.outcomes) {
    ASSERT_FALSE(outcome->ok());
    const auto* crashed = outcome->error_as<execkit::WorkerCrashed>();
    ASSERT_NE(crashed, nullptr) << outcome->error()->what();
    EXPECT_NE(std::string(crashed->what()).find("redis"), std::string::npos) << crashed->what();
  }
  release_all();
  bed.start_redis();
  const auto outcome = execkit::outcome_of([&] { return backend.execute(probe("echo", "again"), execkit::Deadline::after(30s)); });
  ASSERT_TRUE(outcome.ok()) << outcome.error()->what();
  EXPECT_EQ(outcome.value().text(), "again");
}

TEST_F(Distributed, KilledCallerHasItsTasksStoppedAndItsKeysExpire) {
  Testbed bed(TestbedOptions{});
  const pid_t caller = ::fork();
  ASSERT_GE(caller, 0);
  if (caller == 0) {
    // The child must never return into gtest: that would run the parent's
    // remaining tests and tear down its testbed.
    try {
      execkit::RedisStreamBackend backend(config(bed));
      backend.submit(gate("orphan"), execkit::Deadline::after(60s), [](execkit::Outcome) {});
      ::pause();
    } catch (...) {
    }
    ::_exit(3);
  }
  ASSERT_TRUE(wait_until([&] { return fs::exists(started("orphan")); }, 20s));
  const pid_t task = std::stoi(read_text(started("orphan")));
  const auto killed_at = Clock::now();
  ::kill(caller, SIGKILL);
  ::waitpid(caller, nullptr, 0);
  EXPECT_TRUE(wait_until([&] { return !alive(task); }, lease * 2 + 1s)) << "the dead caller's task still runs";
  EXPECT_LE(Clock::now() - killed_at, lease * 2 + 1s);
  auto redis = execkit::redis::RedisConnection::open(execkit::redis::RedisAddress::parse(bed.address(), "address"), {},
                                                     2s, 5s);
  const auto only_pool_keys = [&] {
    auto keys = redis.command({"KEYS", "execkit:" + bed.pool() + ":*"});
    for (std::size_t i = 0; i < keys->elements; ++i) {
      const std::string key(keys->element[i]->str, keys->element[i]->len);
      const auto kind = key.substr(("execkit:" + bed.pool() + ":").size());
      if (kind != "calls" && kind != "cancel" && !kind.starts_with("node:")) return false;
    }
    return true;
  };
  EXPECT_TRUE(wait_until(only_pool_keys, lease * 3 + 1s)) << "keys of the dead caller did not expire";
}

TEST_F(Distributed, NothingIsLeftInRedisAfterResultsCancelAndTimeout) {
  Testbed bed(TestbedOptions{});
  {
    Outcomes cancelled(1);
    execkit::RedisStreamBackend backend(config(bed));
    auto large = backend.execute(probe("write_bytes", "4194304,61"), execkit::Deadline::after(60s));
    EXPECT_EQ(large.bytes().size(), 4194304u);
    const auto timed_out = execkit::outcome_of([&] { return backend.execute(gate("t"), execkit::Deadline::after(300ms)); });
    EXPECT_NE(timed_out.error_as<execkit::TimeoutError>(), nullptr);
    auto submission = backend.submit(gate("c"), execkit::Deadline::after(60s), cancelled.handler(0));
    ASSERT_TRUE(wait_until([&] { return fs::exists(started("c")); }, 20s));
    EXPECT_TRUE(submission.cancel());
    ASSERT_TRUE(cancelled.wait_all(10s));
    backend.shutdown(true);
  }
  auto redis = execkit::redis::RedisConnection::open(execkit::redis::RedisAddress::parse(bed.address(), "address"), {},
                                                     2s, 5s);
  auto keys = redis.command({"KEYS", "execkit:" + bed.pool() + ":*"});
  std::vector<std::string> left;
  for (std::size_t i = 0; i < keys->elements; ++i) {
    const std::string key(keys->element[i]->str, keys->element[i]->len);
    const auto kind = key.substr(("execkit:" + bed.pool() + ":").size());
    if (kind != "calls" && kind != "cancel" && !kind.starts_with("node:")) left.push_back(key);
  }
  EXPECT_TRUE(left.empty()) << "left in redis: " << ::testing::PrintToString(left);
  auto pending = redis.command({"XLEN", "execkit:" + bed.pool() + ":calls"});
  EXPECT_EQ(pending->integer, 0) << "calls left in the call stream";
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(temp_ / "spill")) files.push_back(entry.path().filename().string());
  EXPECT_TRUE(files.empty()) << "left in the spill dir: " << ::testing::PrintToString(files);
}

TEST_F(Distributed, CallWaitingInRedisPastItsDeadlineNeverStarts) {
  Testbed bed(TestbedOptions{});
  constexpr std::size_t busy = 4;
  Outcomes holders(busy);
  // More calls in flight than the nodes have workers: the fifth waits in the call stream.
  execkit::RedisStreamBackend backend(config(bed, 8));
  for (std::size_t i = 0; i < busy; ++i)
    backend.submit(gate("busy" + std::to_string(i)), execkit::Deadline::after(60s), holders.handler(i));
  ASSERT_TRUE(wait_until([&] {
    for (std::size_t i = 0; i < busy; ++i)
      if (!fs::exists(started("busy" + std::to_string(i)))) return false;
    return true;
  }, 20s));
  const auto late = execkit::outcome_of([&] { return backend.execute(gate("late"), execkit::Deadline::after(300ms)); });
  EXPECT_NE(late.error_as<execkit::TimeoutError>(), nullptr) << (late.ok() ? std::string("ok") : late.error()->what());
  release_all();
  ASSERT_TRUE(holders.wait_all(20s));
  // The nodes are free again: a call that was still to be withdrawn would start now.
  const auto after = backend.execute(probe("echo", "free"), execkit::Deadline::after(30s));
  EXPECT_EQ(after.text(), "free");
  std::this_thread::sleep_for(lease);  // observing that nothing happens needs a window, not a condition
  EXPECT_FALSE(fs::exists(started("late"))) << "a call whose deadline passed while it waited in redis started";
}

TEST_F(Distributed, ChunksLeaveRedisOnceTheCallerReadThem) {
  Testbed bed(TestbedOptions{});
  execkit::RedisStreamBackend backend(config(bed));
  auto redis = execkit::redis::RedisConnection::open(execkit::redis::RedisAddress::parse(bed.address(), "address"), {},
                                                     2s, 5s);
  const std::string reply_key = "execkit:" + bed.pool() + ":reply:" + backend.caller_id();
  std::atomic<bool> done{false};
  long long most = 0;
  std::string sampler_error;
  std::thread sampler([&] {
    try {
      auto watcher = execkit::redis::RedisConnection::open(
          execkit::redis::RedisAddress::parse(bed.address(), "address"), {}, 2s, 5s);
      while (!done) {
        most = std::max(most, watcher.command({"XLEN", reply_key})->integer);
        std::this_thread::sleep_for(200us);  // a sampling period, not synchronisation
      }
    } catch (const std::exception& e) {
      sampler_error = e.what();
    }
  });
  const auto outcome = execkit::outcome_of([&] {
    return backend.execute(probe("write_bytes", std::to_string(32u << 20) + ",61"), execkit::Deadline::after(60s));
  });
  done = true;
  sampler.join();
  ASSERT_TRUE(sampler_error.empty()) << sampler_error;
  ASSERT_TRUE(outcome.ok()) << outcome.error()->what();
  EXPECT_EQ(outcome.value().bytes().size(), 32u << 20);
  // 32 chunks of 1 MiB with at most 8 unread: the stream never holds them all.
  EXPECT_LE(most, 12) << "the reply stream held " << most << " entries during the transfer";
  EXPECT_TRUE(wait_until([&] { return redis.command({"XLEN", reply_key})->integer == 0; }, 5s))
      << "read entries stay in the reply stream";
}

TEST_F(Distributed, WrongPasswordIsAClearErrorAtConstructionThatNeverShowsThePassword) {
  TestbedOptions options;
  options.nodes = 1;
  options.password = "correct-horse-battery";
  Testbed bed(options);
  auto wrong = config(bed);
  wrong.password = "wrong-password-value";
  try {
    execkit::RedisStreamBackend backend(wrong);
    FAIL() << "a wrong password was accepted";
  } catch (const execkit::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(bed.address()), std::string::npos) << what;
    EXPECT_NE(what.find("password"), std::string::npos) << what;
    EXPECT_EQ(what.find("wrong-password-value"), std::string::npos) << "the password is in the error: " << what;
  }
  auto right = config(bed);
  right.password = "correct-horse-battery";
  execkit::RedisStreamBackend backend(right);
  EXPECT_EQ(backend.execute(probe("echo", "authenticated"), execkit::Deadline::after(30s)).text(), "authenticated");
}

}  // namespace
