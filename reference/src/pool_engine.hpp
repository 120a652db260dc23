// The reference backend's engine: one I/O thread that owns every worker,
// the queue and all deadlines. Other threads only hand it calls and cancels.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
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
  void request_cancel(std::shared_ptr<CallState> call);
  // Begins shutdown: queued and running calls end with BackendClosed.
  void close();
  // Waits until every worker is reaped and every spill file removed.
  void wait_closed();

 private:
  struct Worker;
  struct Watch;
  using Clock = std::chrono::steady_clock;

  PoolEngine(EngineSettings settings, SpillDir spill);
  void run();
  void handle_event(Watch& watch, std::uint32_t events);
  void take_inbox();
  void on_response(Worker& w);
  void on_worker_exit(Worker& w);
  void drain_output(Worker& w, int fd, bool is_stderr);
  void expire(Clock::time_point now);
  void dispatch();
  bool start_call(Worker& w, const std::shared_ptr<CallState>& call);
  Worker* spawn_worker();
  void stop_worker(Worker& w, std::optional<Outcome> outcome_after_death);
  void finish_running(Worker& w, Outcome outcome);
  void close_all();
  void sweep_dead();
  int next_timeout_ms(Clock::time_point now) const;
  std::size_t live_workers() const;

  const EngineSettings settings_;
  std::optional<SpillDir> spill_;
  UniqueFd epoll_, wake_;

  // Shared with other threads.
  std::mutex inbox_mutex_;
  std::vector<std::shared_ptr<CallState>> inbox_calls_;
  std::vector<std::shared_ptr<CallState>> inbox_cancels_;
  bool closing_ = false;
  bool closed_ = false;  // the I/O thread has finished
  std::condition_variable closed_cv_;

  // I/O thread only.
  std::deque<std::shared_ptr<CallState>> queue_;
  std::list<Worker> workers_;
  bool shutting_down_ = false;
  std::vector<std::byte> receive_buffer_;

  std::thread thread_;
};

}  // namespace execkit
