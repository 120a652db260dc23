// ProcessPoolBackend behaviour the contract leaves to the backend (the
// conformance suite covers the clauses).
#include "execkit/process_pool.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <system_error>

#include "execkit/outcome.hpp"
#include "temp_dir.hpp"

namespace execkit {
namespace {

using test_support::TempDir;
using namespace std::chrono_literals;

// Lowers the soft fd limit to the lowest free fd number, so that opening
// anything new fails with EMFILE; restores it on destruction.
class NoNewFds {
 public:
  NoNewFds() {
    if (::getrlimit(RLIMIT_NOFILE, &saved_) != 0) throw std::system_error(errno, std::generic_category(), "getrlimit");
    const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (lowest_free < 0) throw std::system_error(errno, std::generic_category(), "open /dev/null");
    ::close(lowest_free);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(lowest_free);
    if (::setrlimit(RLIMIT_NOFILE, &lowered) != 0) throw std::system_error(errno, std::generic_category(), "setrlimit");
  }
  ~NoNewFds() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  NoNewFds(const NoNewFds&) = delete;
  NoNewFds& operator=(const NoNewFds&) = delete;

 private:
  rlimit saved_{};
};

Call probe_call(std::string function, std::vector<std::byte> input) {
  Call call;
  call.module = "execkit_probe";
  call.function = std::move(function);
  call.search_path = {std::filesystem::path(EXECKIT_PROBE_PATH).parent_path()};
  call.input = std::move(input);
  return call;
}

// An input above the inline limit travels in a memfd. When the caller cannot
// create one, that call ends with a ResultError naming the cause, on both
// paths (a borrowed worker and the I/O thread's queue); the worker never
// received it and serves the next call.
TEST(ProcessPool, ACallWhoseInputCannotBePassedFailsAloneAndTheWorkerServesOn) {
#if defined(__SANITIZE_ADDRESS__)
  // The ASan+UBSan runtimes open a pipe to check a type or read memory; in a
  // process without a free fd they report false "invalid vptr" errors.
  GTEST_SKIP() << "needs a process starved of fds, which the sanitizer runtimes cannot work in";
#endif
  TempDir dir("process_pool_test");
  WorkerConfig config;
  config.worker_path = EXECKIT_WORKER_PATH;
  config.spill_dir = dir.path() / "spill";
  config.max_workers = 1;
  ProcessPoolBackend backend(config);
  const auto worker_pid = std::string(backend.execute(probe_call("pid", {}), Deadline::after(30s)).text());

  const auto large_input = to_bytes(std::string(64 * 1024, 'x'));
  Outcome direct = Outcome(Result());
  Outcome queued = Outcome(Result());
  {
    NoNewFds limit;
    direct = outcome_of([&] { return backend.execute(probe_call("echo", large_input), Deadline::after(30s)); });
    std::promise<Outcome> done;
    backend.submit(probe_call("echo", large_input), Deadline::after(30s), [&](Outcome o) { done.set_value(std::move(o)); });
    auto future = done.get_future();
    ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "the queued call never completed";
    queued = future.get();
  }
  for (const Outcome* outcome : {&direct, &queued}) {
    ASSERT_NE(outcome->error_as<ResultError>(), nullptr) << (outcome->ok() ? "ok" : outcome->error()->what());
    EXPECT_NE(std::string(outcome->error()->what()).find("could not be passed to a worker"), std::string::npos)
        << outcome->error()->what();
  }
  EXPECT_EQ(backend.execute(probe_call("pid", {}), Deadline::after(30s)).text(), worker_pid)
      << "the worker that never received the call was replaced";
  EXPECT_EQ(backend.execute(probe_call("echo", large_input), Deadline::after(30s)).bytes().size(), large_input.size());
}

}  // namespace
}  // namespace execkit
