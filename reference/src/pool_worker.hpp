// A worker as the engine tracks it (internal to pool_engine*.cpp).
//
// Ownership: a worker belongs either to the I/O thread (`with_io`) or is
// lent out: parked (idle, waiting to be borrowed) or borrowed (a caller's
// thread is running its call). Lending and returning happen under the
// engine's mutex; the owner alone touches everything else. The epoll set
// watches a parked worker's control socket (a retirement notice may still
// arrive) and, one-shot, every worker's pidfd.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "call_state.hpp"
#include "pool_engine.hpp"
#include "tail_buffer.hpp"
#include "unique_fd.hpp"
#include "worker_process.hpp"

namespace execkit {

enum class WatchRole { control, out, err, exit };

struct PoolEngine::Watch {
  Worker* worker;
  WatchRole role;
};

struct PoolEngine::Worker {
  enum class State { idle, busy, dying };  // the I/O thread's view
  enum class Lent { no, parked, borrowed };
  static constexpr std::size_t control = 0, out = 1, err = 2;

  WorkerProcess process;
  std::string id;
  UniqueFd interrupt;  // eventfd: tells a borrower to hand the worker back

  // The owner's.
  std::shared_ptr<CallState> call;          // while busy or dying with a call
  std::uint64_t last_call_id = 0;           // the call it answered last
  std::optional<Outcome> outcome_on_death;  // delivered once the worker is reaped
  TailBuffer err_tail, out_tail;
  std::vector<std::byte> receive_buffer;
  std::array<bool, 3> open{true, true, true};  // control, out, err: not at end of file
  std::array<bool, 3> watched{};               // in the engine's epoll set
  std::array<Watch, 4> watches{};

  // The I/O thread's.
  bool with_io = true;
  State state = State::idle;
  bool reaped = false;

  // Guarded by the engine's mutex.
  Lent lent = Lent::no;
  std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();
  bool exited_while_lent = false;  // its pidfd fired while it was lent out
  bool interrupted = false;        // cancel or shutdown while borrowed

  Worker(WorkerProcess p, std::string worker_id, std::size_t tail_bytes);

  int channel_fd(std::size_t channel) const noexcept;
};

// What a worker's datagram means for the call it was sent.
struct PoolEngine::Reply {
  enum class Kind { out_of_turn, malformed, not_started, finished };
  Kind kind;
  std::optional<Outcome> outcome;  // malformed, finished
  bool retire = false;
};

// A borrowed worker on its way back to the I/O thread (or to the parked set).
struct PoolEngine::HandBack {
  enum class Action {
    park,     // healthy and idle: lend it again
    idle,     // healthy and idle, for the I/O thread (calls queued, shutdown)
    retire,   // answered, then asked to be retired
    requeue,  // the call never started: run it elsewhere, replace the worker
    stop,     // kill it; `outcome` ends the call once it is reaped
    exited,   // it died during the call
  };
  Action action;
  Worker* worker = nullptr;
  std::optional<Outcome> outcome;
};

}  // namespace execkit
