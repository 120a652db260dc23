// The reference backend's engine: one I/O thread that owns the queue, all
// deadlines and every worker that is not lent out. A thread blocked in
// execute() may borrow an idle worker and run its call itself (no hop
// through the I/O thread either way); anything unusual — a deadline, a
// cancel, a crash, shutdown — hands the worker back to the I/O thread.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "call_state.hpp"
#include "env_scrub.hpp"
#include "execkit/config.hpp"
#include "spill_dir.hpp"
#include "unique_fd.hpp"

namespace execkit {

struct EngineSettings {
  WorkerConfig config;  // node_id, base_dir filled in
  std::filesystem::path worker_path;
  EnvMap caller_environment;  // snapshot taken when the backend was created
};

class PoolEngine : public std::enable_shared_from_this<PoolEngine> {
 public:
  static std::shared_ptr<PoolEngine> start(EngineSettings settings, SpillDir spill);
  ~PoolEngine();
  PoolEngine(const PoolEngine&) = delete;
  PoolEngine& operator=(const PoolEngine&) = delete;

  // False once closed: the caller then fails the call itself.
  bool enqueue(std::shared_ptr<CallState> call);
  // Runs `call` on the calling thread with an idle worker, if one is parked
  // and no call waits in the queue. False: nothing happened, enqueue it.
  // True: the call has finished, or the I/O thread will finish it.
  bool run_on_caller_thread(const std::shared_ptr<CallState>& call);
  void request_cancel(std::shared_ptr<CallState> call);
  // Begins shutdown: queued and running calls end with BackendClosed.
  void close();
  // Waits until every worker is reaped and every spill file removed.
  void wait_closed();
  // Why the engine shut itself down (a failure of its own thread), if it did.
  std::optional<std::string> failure() const;

 private:
  struct Worker;
  struct Watch;
  struct Reply;
  struct HandBack;
  struct Borrowed {
    Worker* worker;
    const CallState* call;
  };
  using Clock = std::chrono::steady_clock;

  PoolEngine(EngineSettings settings, SpillDir spill);
  void run();
  bool run_once(std::span<epoll_event> events);  // false once shut down
  bool fail_engine(const std::string& cause) noexcept;
  void tear_down(const std::string& cause) noexcept;
  void lose_worker(Worker& w, const std::string& cause, std::optional<Outcome> outcome) noexcept;
  void await_death(Worker& w) noexcept;
  void reap_now(Worker& w);
  void handle_event(Watch& watch, std::uint32_t events);
  void on_lent_worker_event(Worker& w, bool exited);
  void take_inbox();
  void take_back(HandBack back);
  void on_response(Worker& w);
  void on_worker_exit(Worker& w);
  void drain_output(Worker& w, bool is_stderr);
  void expire(Clock::time_point now);
  void dispatch();
  void park_idle_workers();
  Worker* unpark_one();
  bool adopt_idle(Worker& w);
  void start_call(Worker& w, std::shared_ptr<CallState> call);
  Worker* spawn_worker();
  void stop_worker(Worker& w, std::optional<Outcome> outcome_after_death);
  void finish_running(Worker& w, Outcome outcome);
  void close_all();
  void sweep_dead();
  int next_timeout_ms(Clock::time_point now);
  std::size_t live_workers() const;
  void wake_io_thread();
  void interrupt_borrower(Worker& w);

  // Either side, by the worker's current owner.
  enum class SendStatus {
    delivered,
    worker_gone,  // not an attempt: run the call elsewhere
    unsendable,   // the request could not be built here (e.g. no memfd): *failure ends the call
  };
  SendStatus send_request(Worker& w, const CallState& call, std::optional<Outcome>& failure);
  std::optional<Reply> read_reply(Worker& w, bool expecting);
  void set_watched(Worker& w, std::size_t channel, bool want);
  void arm_exit_watch(Worker& w, int op);
  void unwatch_all(Worker& w);
  Outcome timeout_outcome(const CallState& call) const;
  HandBack run_borrowed(Worker& w, const std::shared_ptr<CallState>& call);
  void give_back(HandBack back);

  const EngineSettings settings_;
  std::optional<SpillDir> spill_;
  UniqueFd epoll_, wake_;

  // Shared with other threads, guarded by mutex_.
  mutable std::mutex mutex_;
  std::optional<std::string> failure_;
  std::vector<std::shared_ptr<CallState>> inbox_calls_;
  std::vector<std::shared_ptr<CallState>> inbox_cancels_;
  std::vector<HandBack> handed_back_;
  std::vector<Worker*> parked_;      // idle, may be borrowed; most recently used last
  std::vector<Borrowed> borrowed_;   // running a call on a caller's thread
  bool queue_waits_ = false;         // calls are queued: borrowers leave workers to the I/O thread
  bool closing_ = false;
  bool closed_ = false;  // the I/O thread has finished
  std::condition_variable closed_cv_;

  // I/O thread only.
  std::deque<std::shared_ptr<CallState>> queue_;
  std::list<Worker> workers_;
  bool shutting_down_ = false;
  bool failed_ = false;  // fail_engine ran: a second failure tears down at once

  std::thread thread_;
};

}  // namespace execkit
