// The conformance suite instantiated for RedisStreamBackend: a private
// redis-server and two execkit-node agents per test process.
#include <gtest/gtest.h>

#include <memory>

#include "execkit/conformance/suite.hpp"
#include "execkit/redis_stream.hpp"
#include "testbed_client.hpp"

namespace {

using execkit::redis::testing::Testbed;

std::unique_ptr<Testbed>& testbed() {
  static std::unique_ptr<Testbed> instance;
  return instance;
}

class TestbedEnvironment : public ::testing::Environment {
 public:
  // Before any test's resource tracker takes its snapshot: the nodes and
  // their workers are the environment's, not a test's leftovers.
  void SetUp() override { testbed() = std::make_unique<Testbed>(execkit::redis::testing::TestbedOptions{}); }
  void TearDown() override { testbed().reset(); }
};

[[maybe_unused]] const auto* const environment = ::testing::AddGlobalTestEnvironment(new TestbedEnvironment);

execkit::conformance::BackendUnderTest redis_streams() {
  execkit::conformance::BackendUnderTest backend;
  backend.name = "RedisStreams";
  backend.make = [](const execkit::WorkerConfig& config) -> std::unique_ptr<execkit::ExecutorBackend> {
    execkit::RedisStreamConfig redis;
    redis.address = testbed()->address();
    redis.pool = testbed()->pool();
    redis.lease = std::chrono::milliseconds(1000);
    redis.worker = config;
    return std::make_unique<execkit::RedisStreamBackend>(redis);
  };
  // Workers are processes on the nodes, not the caller's children; results
  // arrive over the wire, not through spill files the caller opens by name;
  // consecutive calls may go to either node.
  backend.capabilities.supports_lifecycle_hooks = true;
  // Each node runs the reference backend's workers: its control channel and
  // its /proc/self/status and /proc/self/timers fds.
  backend.capabilities.documented_task_fds = 3;
  // A 1 GiB result crosses redis in chunks (about 100-150 MB/s on a debug
  // build here, two such tests at once under ctest -j2): more patience than
  // a local mapping needs. The RUN-2/LIFE-5 bounds stay the contract's.
  backend.bounds.call_timeout = std::chrono::seconds(120);
  backend.bounds.test_timeout = std::chrono::seconds(240);
  return backend;
}

}  // namespace

EXECKIT_CONFORMANCE_TESTS(Redis, redis_streams());
