#include "pool_engine.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <system_error>
#include <thread>

#include "pool_worker.hpp"
#include "random_id.hpp"

namespace execkit {

namespace {

template <class E, class... Args>
Outcome fail(Args&&... args) {
  return Outcome::failure(E(std::forward<Args>(args)...));
}

}  // namespace

std::shared_ptr<PoolEngine> PoolEngine::start(EngineSettings settings, SpillDir spill) {
  std::shared_ptr<PoolEngine> engine(new PoolEngine(std::move(settings), std::move(spill)));
  engine->thread_ = std::thread([raw = engine.get()] { raw->run(); });
  return engine;
}

PoolEngine::PoolEngine(EngineSettings settings, SpillDir spill)
    : settings_(std::move(settings)),
      spill_(std::move(spill)),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wake_) throw std::system_error(errno, std::generic_category(), "epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl");
}

PoolEngine::~PoolEngine() {
  close();
  if (thread_.joinable()) thread_.join();
}

void PoolEngine::wake_io_thread() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

// Under mutex_: the thread running the worker's call hands it back.
void PoolEngine::interrupt_borrower(Worker& w) {
  w.interrupted = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(w.interrupt.get(), &one, sizeof one);
}

bool PoolEngine::enqueue(std::shared_ptr<CallState> call) {
  {
    std::lock_guard lock(mutex_);
    if (closing_) return false;
    inbox_calls_.push_back(std::move(call));
  }
  wake_io_thread();
  return true;
}

void PoolEngine::request_cancel(std::shared_ptr<CallState> call) {
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    for (auto& b : borrowed_)
      if (b.call == call.get()) {
        interrupt_borrower(*b.worker);
        return;
      }
    inbox_cancels_.push_back(std::move(call));
  }
  wake_io_thread();
}

void PoolEngine::close() {
  {
    std::lock_guard lock(mutex_);
    if (closing_) return;
    closing_ = true;
    for (auto& b : borrowed_) interrupt_borrower(*b.worker);
  }
  wake_io_thread();
}

void PoolEngine::wait_closed() {
  std::unique_lock lock(mutex_);
  closed_cv_.wait(lock, [this] { return closed_; });
}

std::optional<std::string> PoolEngine::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

// Nothing that fails on this thread may escape it (std::terminate would end
// the caller's process): a failure shuts the engine down in order, ending
// every call with BackendClosed naming the cause; a failure while doing so
// tears it down at once.
void PoolEngine::run() {
  std::array<epoll_event, 64> events{};
  for (bool running = true; running;) {
    try {
      running = run_once(events);
    } catch (const std::exception& e) {
      running = fail_engine(e.what());
    } catch (...) {
      running = fail_engine("unknown exception");
    }
  }
  try {
    spill_.reset();  // removes this pool's lock file and any leftover spill file
  } catch (...) {
  }
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  closed_cv_.notify_all();
}

bool PoolEngine::fail_engine(const std::string& cause) noexcept {
  try {
    const std::string reason = "the backend's I/O thread failed (" + cause + ")";
    if (failed_) {
      tear_down(reason);
      return false;
    }
    failed_ = true;
    settings_.config.log("shutting down: " + reason);
    {
      std::lock_guard lock(mutex_);
      failure_ = reason;
      closing_ = true;
      for (auto& b : borrowed_) interrupt_borrower(*b.worker);
    }
    return true;
  } catch (...) {
    tear_down("the backend's I/O thread failed");
    return false;
  }
}

// Last resort, when an orderly shutdown failed too: every worker is killed
// and reaped here, every call ends; no watch, no allocation needed to go on.
void PoolEngine::tear_down(const std::string& cause) noexcept {
  auto end = [&](const std::shared_ptr<CallState>& call) {
    if (!call) return;
    try {
      call->finish(fail<BackendClosed>(cause));
    } catch (...) {
    }
  };
  {
    std::unique_lock lock(mutex_);
    closing_ = true;
    for (auto& b : borrowed_) interrupt_borrower(*b.worker);
  }
  // Borrowers hand their workers back promptly once interrupted.
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (borrowed_.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<std::shared_ptr<CallState>> calls;
  {
    std::lock_guard lock(mutex_);
    for (auto& back : handed_back_)
      if (back.worker->call) calls.push_back(back.worker->call);
    for (auto& c : inbox_calls_) calls.push_back(c);
    parked_.clear();
  }
  for (auto& c : queue_) calls.push_back(c);
  for (auto& w : workers_) {
    calls.push_back(w.call);
    w.process.kill_all();
    siginfo_t info{};
    while (!w.process.reaped() && ::waitid(P_PIDFD, static_cast<id_t>(w.process.pidfd()), &info, WEXITED) != 0 &&
           errno == EINTR) {
    }
    w.process.try_reap();
    if (w.call) spill_->remove(w.call->id());
  }
  for (auto& c : calls) end(c);
}

// A worker the engine cannot watch any more is killed; its call, if it
// has one, ends with `outcome` (or a WorkerCrashed naming the cause) once
// the worker is reaped.
void PoolEngine::lose_worker(Worker& w, const std::string& cause, std::optional<Outcome> outcome) noexcept {
  try {
    const std::string what = "worker " + w.id + " was killed: the backend could not watch it (" + cause + ")";
    settings_.config.log(what);
    if (w.call && !outcome) outcome = fail<WorkerCrashed>(SIGKILL, std::nullopt, what);
  } catch (...) {
  }
  if (w.call) w.state = Worker::State::busy;
  stop_worker(w, std::move(outcome));
}

// Blocks until a worker that was sent SIGKILL has exited (not reaped).
void PoolEngine::await_death(Worker& w) noexcept {
  siginfo_t info{};
  while (::waitid(P_PIDFD, static_cast<id_t>(w.process.pidfd()), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
}

// For a killed worker whose exit watch may not be armed.
void PoolEngine::reap_now(Worker& w) {
  await_death(w);
  on_worker_exit(w);
}

bool PoolEngine::run_once(std::span<epoll_event> events) {
  {
    int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), next_timeout_ms(Clock::now()));
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(wake_.get(), &count, sizeof count);
        continue;
      }
      auto* watch = static_cast<Watch*>(events[i].data.ptr);
      if (!watch->worker->reaped) handle_event(*watch, events[i].events);
    }
    take_inbox();
    expire(Clock::now());
    if (shutting_down_) close_all();
    sweep_dead();
    if (!shutting_down_) {
      dispatch();
      park_idle_workers();
    }
    return !(shutting_down_ && workers_.empty());
  }
}

void PoolEngine::handle_event(Watch& watch, std::uint32_t events) {
  Worker& w = *watch.worker;
  if (!w.with_io) {
    on_lent_worker_event(w, watch.role == WatchRole::exit);
    return;
  }
  switch (watch.role) {
    case WatchRole::control:
      if (events & EPOLLIN) on_response(w);
      if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
        set_watched(w, Worker::control, false);
        w.open[Worker::control] = false;
      }
      break;
    case WatchRole::out:
      drain_output(w, false);
      break;
    case WatchRole::err:
      drain_output(w, true);
      break;
    case WatchRole::exit:
      on_worker_exit(w);
      break;
  }
}

// A parked worker that speaks (a retirement notice) or dies comes back to
// the I/O thread. A borrowed one is its borrower's business, and one on its
// way back is taken back with its exit watch re-armed (take_back).
void PoolEngine::on_lent_worker_event(Worker& w, bool exited) {
  {
    std::lock_guard lock(mutex_);
    if (w.lent != Worker::Lent::parked) {
      if (exited && w.lent == Worker::Lent::borrowed) w.exited_while_lent = true;
      return;
    }
    std::erase(parked_, &w);
    w.lent = Worker::Lent::no;
    w.exited_while_lent = false;
  }
  adopt_idle(w);
  if (exited)
    on_worker_exit(w);
  else
    on_response(w);
}

void PoolEngine::take_inbox() {
  std::vector<std::shared_ptr<CallState>> calls, cancels;
  std::vector<HandBack> handed;
  {
    std::lock_guard lock(mutex_);
    calls.swap(inbox_calls_);
    cancels.swap(inbox_cancels_);
    handed.swap(handed_back_);
    if (closing_) shutting_down_ = true;
  }
  // Queued first: a call in a local vector would be lost if anything below threw.
  for (auto& c : calls) queue_.push_back(std::move(c));
  for (auto& back : handed) take_back(std::move(back));
  for (auto& c : cancels) {
    if (c->finished()) continue;
    auto queued = std::find(queue_.begin(), queue_.end(), c);
    if (queued != queue_.end()) {
      queue_.erase(queued);
      c->finish(fail<CancelledError>("call " + std::to_string(c->id()) + " was cancelled before it started"));
      continue;
    }
    for (auto& w : workers_)
      if (w.with_io && w.call == c && w.state == Worker::State::busy)
        stop_worker(w, fail<CancelledError>("call " + std::to_string(c->id()) + " was cancelled while running"));
  }
}

void PoolEngine::take_back(HandBack back) {
  Worker& w = *back.worker;
  w.with_io = true;
  try {
    // Its death may have been reported, and swallowed, while it was lent.
    arm_exit_watch(w, EPOLL_CTL_MOD);
    for (std::size_t channel = 0; channel < 3; ++channel) set_watched(w, channel, true);
  } catch (const std::system_error& e) {
    // Unwatched, it cannot serve: it dies, and its call ends as the hand-back
    // says. Its exit watch may be unarmed, so it is reaped here.
    if (back.action == HandBack::Action::requeue) queue_.push_front(std::move(w.call));  // never started
    lose_worker(w, e.what(), back.action == HandBack::Action::stop ? std::move(back.outcome) : std::nullopt);
    reap_now(w);
    return;
  }
  switch (back.action) {
    case HandBack::Action::park:
    case HandBack::Action::idle:
      w.state = Worker::State::idle;
      w.idle_since = Clock::now();
      break;
    case HandBack::Action::retire:
      w.state = Worker::State::idle;
      stop_worker(w, std::nullopt);
      break;
    case HandBack::Action::requeue: {
      // Never reached the worker, or the worker could not start it: not an attempt.
      auto call = std::move(w.call);
      w.state = Worker::State::busy;
      stop_worker(w, std::nullopt);
      queue_.push_front(std::move(call));
      break;
    }
    case HandBack::Action::stop:
      w.state = Worker::State::busy;
      stop_worker(w, std::move(back.outcome));
      break;
    case HandBack::Action::exited:
      // The re-armed exit watch reports it, after any reply that preceded the death.
      w.state = Worker::State::busy;
      break;
  }
}

void PoolEngine::expire(Clock::time_point now) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->deadline().at <= now) {
      auto call = std::move(*it);
      it = queue_.erase(it);
      call->finish(fail<TimeoutError>("deadline passed while call " + std::to_string(call->id()) +
                                      " was queued; it never started"));
    } else {
      ++it;
    }
  }
  std::vector<Worker*> idle_too_long;
  {
    std::lock_guard lock(mutex_);
    std::erase_if(parked_, [&](Worker* w) {
      if (now - w->idle_since < settings_.config.idle_timeout) return false;
      w->lent = Worker::Lent::no;
      idle_too_long.push_back(w);
      return true;
    });
  }
  for (Worker* w : idle_too_long) {
    adopt_idle(*w);
    stop_worker(*w, std::nullopt);
  }
  for (auto& w : workers_) {
    if (!w.with_io) continue;
    if (w.state == Worker::State::busy && w.call->deadline().at <= now)
      stop_worker(w, timeout_outcome(*w.call));
    else if (w.state == Worker::State::idle && now - w.idle_since >= settings_.config.idle_timeout)
      stop_worker(w, std::nullopt);
  }
}

int PoolEngine::next_timeout_ms(Clock::time_point now) {
  auto next = Clock::time_point::max();
  for (const auto& c : queue_) next = std::min(next, c->deadline().at);
  for (const auto& w : workers_) {
    if (!w.with_io) continue;
    if (w.state == Worker::State::busy) next = std::min(next, w.call->deadline().at);
    if (w.state == Worker::State::idle) next = std::min(next, w.idle_since + settings_.config.idle_timeout);
  }
  {
    std::lock_guard lock(mutex_);
    for (const Worker* w : parked_) next = std::min(next, w->idle_since + settings_.config.idle_timeout);
    // A borrowed worker is idle no earlier than when it comes back.
    if (!borrowed_.empty()) next = std::min(next, now + settings_.config.idle_timeout);
  }
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, 60'000));
}

std::size_t PoolEngine::live_workers() const {
  return static_cast<std::size_t>(
      std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) { return w.state != Worker::State::dying; }));
}

PoolEngine::Worker* PoolEngine::unpark_one() {
  for (;;) {
    Worker* w = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (parked_.empty()) return nullptr;
      w = parked_.back();
      parked_.pop_back();
      w->lent = Worker::Lent::no;
    }
    if (adopt_idle(*w)) return w;
  }
}

// A parked worker, just taken out of the parked set, is the I/O thread's
// again. False if it cannot be watched: it is then being killed.
bool PoolEngine::adopt_idle(Worker& w) {
  w.with_io = true;
  w.state = Worker::State::idle;
  try {
    for (std::size_t channel = 0; channel < 3; ++channel) set_watched(w, channel, true);
    return true;
  } catch (const std::system_error& e) {
    lose_worker(w, e.what(), std::nullopt);
    return false;
  }
}

void PoolEngine::dispatch() {
  while (!queue_.empty()) {
    Worker* target = nullptr;
    for (auto& w : workers_)
      if (w.with_io && w.state == Worker::State::idle) {
        target = &w;
        break;
      }
    if (target == nullptr) target = unpark_one();
    if (target == nullptr) {
      if (live_workers() >= settings_.config.max_workers) break;
      try {
        target = spawn_worker();
      } catch (const std::exception& e) {
        auto call = std::move(queue_.front());
        queue_.pop_front();
        call->finish(fail<WorkerCrashed>(std::nullopt, 127, std::string("could not start execkit-worker: ") + e.what()));
        continue;
      }
    }
    auto call = std::move(queue_.front());
    queue_.pop_front();
    start_call(*target, std::move(call));
  }
  std::lock_guard lock(mutex_);
  queue_waits_ = !queue_.empty();
}

// Idle workers with nothing queued wait where a caller's thread can borrow them.
void PoolEngine::park_idle_workers() {
  if (!queue_.empty()) return;
  std::vector<Worker*> idle;
  for (auto& w : workers_)
    if (w.with_io && w.state == Worker::State::idle) idle.push_back(&w);
  if (idle.empty()) return;
  for (Worker* w : idle) {
    w->with_io = false;
    set_watched(*w, Worker::out, false);
    set_watched(*w, Worker::err, false);
  }
  std::lock_guard lock(mutex_);
  for (Worker* w : idle) {
    w->lent = Worker::Lent::parked;
    parked_.push_back(w);
  }
}

PoolEngine::Worker* PoolEngine::spawn_worker() {
  auto id = random_hex_id();
  const auto& cfg = settings_.config;
  EnvMap identity{{"EXECKIT_WORKER_ID", id}, {"EXECKIT_NODE_ID", cfg.node_id}};
  WorkerSpawnOptions options{settings_.worker_path,
                             build_worker_env(settings_.caller_environment, cfg.env_whitelist, cfg.env_prefixes, identity),
                             cfg.base_dir, cfg.enable_pdeathsig};
  auto& w = workers_.emplace_back(WorkerProcess::spawn(options), std::move(id), cfg.stderr_tail_bytes);
  w.watches = {Watch{&w, WatchRole::control}, Watch{&w, WatchRole::out}, Watch{&w, WatchRole::err},
               Watch{&w, WatchRole::exit}};
  try {
    for (std::size_t channel = 0; channel < 3; ++channel) set_watched(w, channel, true);
    arm_exit_watch(w, EPOLL_CTL_ADD);
  } catch (...) {
    unwatch_all(w);
    workers_.pop_back();
    throw;
  }
  return &w;
}

void PoolEngine::start_call(Worker& w, std::shared_ptr<CallState> call) {
  std::optional<Outcome> failure;
  switch (send_request(w, *call, failure)) {
    case SendStatus::delivered:
      w.state = Worker::State::busy;
      w.call = std::move(call);
      return;
    case SendStatus::worker_gone:
      // Never reached the worker, so it is not an attempt: run it elsewhere.
      stop_worker(w, std::nullopt);
      queue_.push_front(std::move(call));
      return;
    case SendStatus::unsendable:
      call->finish(std::move(*failure));  // the worker stays idle
      return;
  }
}

void PoolEngine::stop_worker(Worker& w, std::optional<Outcome> outcome_on_death) {
  if (w.state == Worker::State::dying) return;
  w.process.kill_all();
  w.state = Worker::State::dying;
  if (!w.call) return;
  if (outcome_on_death)
    w.outcome_on_death = std::move(outcome_on_death);
  else
    w.call.reset();
}

void PoolEngine::finish_running(Worker& w, Outcome outcome) {
  auto call = std::move(w.call);
  call->finish(std::move(outcome));
}

void PoolEngine::on_response(Worker& w) {
  auto reply = read_reply(w, w.state == Worker::State::busy);
  if (!reply) return;  // end of file or nothing yet: the exit watch reports the death
  switch (reply->kind) {
    case Reply::Kind::out_of_turn:
      stop_worker(w, std::nullopt);  // a worker that speaks out of turn is not trusted again
      return;
    case Reply::Kind::malformed:
      stop_worker(w, std::move(reply->outcome));
      return;
    case Reply::Kind::not_started: {
      auto call = std::move(w.call);
      stop_worker(w, std::nullopt);
      queue_.push_front(std::move(call));
      return;
    }
    case Reply::Kind::finished:
      break;
  }
  if (reply->retire) {
    // State the worker could not restore must not reach the next call (ISO-5, ISO-8).
    w.process.kill_all();
    w.state = Worker::State::dying;
  } else {
    w.state = Worker::State::idle;
    w.idle_since = Clock::now();
  }
  finish_running(w, std::move(*reply->outcome));
}

void PoolEngine::on_worker_exit(Worker& w) {
  if (w.state == Worker::State::busy) on_response(w);  // a reply may precede the death
  auto exit = w.process.try_reap();
  if (!exit) {
    try {
      arm_exit_watch(w, EPOLL_CTL_MOD);
      return;
    } catch (const std::system_error& e) {
      lose_worker(w, e.what(), std::nullopt);
      await_death(w);
      exit = w.process.try_reap();
    }
  }
  w.reaped = true;
  if (w.state == Worker::State::busy) drain_output(w, true);
  w.state = Worker::State::dying;
  unwatch_all(w);
  w.process.close_channels();
  if (!w.call) return;
  spill_->remove(w.call->id());
  if (w.outcome_on_death) {
    finish_running(w, std::move(*w.outcome_on_death));
  } else {
    finish_running(w, fail<WorkerCrashed>(exit->term_signal, exit->exit_status, w.err_tail.tail()));
  }
}

void PoolEngine::close_all() {
  const std::string shut_down = failed_ ? failure().value_or("backend shut down") : "backend shut down";
  while (!queue_.empty()) {
    auto call = std::move(queue_.front());
    queue_.pop_front();
    call->finish(fail<BackendClosed>(shut_down + " before call " + std::to_string(call->id()) + " started"));
  }
  while (Worker* w = unpark_one()) (void)w;
  for (auto& w : workers_)
    if (w.with_io && w.state != Worker::State::dying)
      stop_worker(w, w.state == Worker::State::busy
                         ? std::optional<Outcome>(fail<BackendClosed>(shut_down + " while call " +
                                                                      std::to_string(w.call->id()) + " was running"))
                         : std::nullopt);
}

void PoolEngine::sweep_dead() {
  workers_.remove_if([](const Worker& w) { return w.reaped; });
}

}  // namespace execkit
