// LOOP: many callers, many event loops (CONTRACT.md, LOOP-1..LOOP-3). The
// loops are Asio io_contexts driven through execkit::async_execute, plus the
// raw submit() whose handler must never land on another caller's loop.
#include <asio/bind_executor.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <atomic>
#include <latch>
#include <thread>

#include "execkit/asio.hpp"
#include "execkit/conformance/suite.hpp"
#include "test_support.hpp"

namespace execkit::conformance {
namespace {

struct LoopTally {
  std::atomic<int> delivered{0};
  std::atomic<int> on_wrong_thread{0};
  std::atomic<int> wrong_result{0};
  std::atomic<int> raw_delivered{0};
  std::atomic<int> raw_on_another_loop{0};
};

}  // namespace

TEST_P(Loop, LOOP_1_ManyThreadsEachWithItsOwnLoop) {
  auto backend = make_backend();
  constexpr int loops = 4;
  constexpr int calls_per_loop = 6;
  std::vector<std::thread::id> loop_threads(loops);
  std::vector<LoopTally> tallies(loops);
  std::latch all_running(loops);
  std::vector<std::thread> threads;
  for (int i = 0; i < loops; ++i) {
    threads.emplace_back([&, i] {
      asio::io_context io;
      loop_threads[i] = std::this_thread::get_id();
      all_running.arrive_and_wait();  // every loop's thread id is known before any completion
      for (int j = 0; j < calls_per_loop; ++j) {
        const std::string text = "loop-" + std::to_string(i) + "-call-" + std::to_string(j);
        asio::post(io, [&, i, text] {
          async_execute(*backend, probe_call("echo", text), call_deadline(),
                        asio::bind_executor(io, [&, i, text](Outcome outcome) {
                          auto& tally = tallies[i];
                          if (std::this_thread::get_id() != loop_threads[i]) ++tally.on_wrong_thread;
                          if (!outcome.ok() || outcome.value().text() != text) ++tally.wrong_result;
                          ++tally.delivered;
                        }));
          auto work = std::make_shared<asio::executor_work_guard<asio::io_context::executor_type>>(io.get_executor());
          backend->submit(probe_call("echo", text + "-raw"), call_deadline(), [&, i, work](Outcome outcome) {
            auto& tally = tallies[i];
            for (int other = 0; other < loops; ++other) {
              if (other != i && std::this_thread::get_id() == loop_threads[other]) ++tally.raw_on_another_loop;
            }
            if (!outcome.ok()) ++tally.wrong_result;
            asio::post(io, [&tally] { ++tally.raw_delivered; });
            // Released only after post returned: the loop may end (and the
            // io_context be destroyed) as soon as no work is left.
            work->reset();
          });
        });
      }
      io.run_for(bounds().call_timeout);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < loops; ++i) {
    SCOPED_TRACE("loop " + std::to_string(i));
    EXPECT_EQ(tallies[i].delivered.load(), calls_per_loop) << "completions missing on this loop";
    EXPECT_EQ(tallies[i].on_wrong_thread.load(), 0) << "completions delivered off the loop that submitted them";
    EXPECT_EQ(tallies[i].wrong_result.load(), 0) << "calls failed or got another call's result";
    EXPECT_EQ(tallies[i].raw_delivered.load(), calls_per_loop);
    EXPECT_EQ(tallies[i].raw_on_another_loop.load(), 0) << "a completion handler ran on another caller's loop thread";
  }
}

TEST_P(Loop, LOOP_2_BackendKeepsWorkingAfterItsFirstLoopIsGone) {
  auto backend = make_backend();
  auto run_on_fresh_loop = [&](const std::string& text) {
    std::optional<std::string> result;
    bool on_loop_thread = false;
    std::thread loop([&] {
      asio::io_context io;
      const auto loop_thread = std::this_thread::get_id();
      async_execute(*backend, probe_call("echo", text), call_deadline(), asio::bind_executor(io, [&](Outcome outcome) {
                      on_loop_thread = std::this_thread::get_id() == loop_thread;
                      if (outcome.ok()) result = std::string(outcome.value().text());
                    }));
      io.run_for(bounds().call_timeout);
    });
    loop.join();  // the loop and its thread are gone now
    EXPECT_TRUE(on_loop_thread) << "the completion for '" << text << "' did not run on its loop";
    return result;
  };
  EXPECT_EQ(run_on_fresh_loop("first loop"), std::optional<std::string>("first loop"));
  EXPECT_EQ(run_on_fresh_loop("second loop"), std::optional<std::string>("second loop"))
      << "the backend stopped delivering after the first loop that used it was destroyed";
  EXPECT_EQ(run_text(*backend, probe_call("echo", "blocking")), "blocking");
  EXPECT_EQ(run_on_fresh_loop("third loop"), std::optional<std::string>("third loop"));
}

TEST_P(Loop, LOOP_3_BlockingAndAsyncCallsMix) {
  auto backend = make_backend();  // two workers
  Gates gates(temp_dir() / "gates");
  std::atomic<bool> async_done{false};
  std::atomic<bool> async_ok{false};
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread loop([&] { io.run_for(bounds().call_timeout); });
  asio::post(io, [&] {
    async_execute(*backend, probe_call("gate", gates.input("async")), call_deadline(), asio::bind_executor(io, [&](Outcome outcome) {
                    async_ok = outcome.ok();
                    async_done = true;
                  }));
  });
  ASSERT_TRUE(wait_until([&] { return gates.started("async"); }, bounds().condition_wait));
  EXPECT_EQ(run_text(*backend, probe_call("echo", "blocking while async runs")), "blocking while async runs");
  EXPECT_FALSE(async_done.load()) << "the async call ended before it was released";
  std::optional<Outcome> from_other_thread;
  std::thread other_caller([&] { from_other_thread = run(*backend, probe_call("echo", "from another thread")); });
  other_caller.join();
  ASSERT_TRUE(from_other_thread.has_value());
  EXPECT_TRUE(succeeded(*from_other_thread)) << "a blocking call from another thread while an async call runs";
  gates.release("async");
  EXPECT_TRUE(wait_until([&] { return async_done.load(); }, bounds().condition_wait)) << "the async call never completed";
  EXPECT_TRUE(async_ok.load());
  work.reset();
  loop.join();
}

}  // namespace execkit::conformance
