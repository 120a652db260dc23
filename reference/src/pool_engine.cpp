#include "pool_engine.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "envelope.hpp"
#include "random_id.hpp"
#include "mapping.hpp"
#include "spill_file.hpp"
#include "tail_buffer.hpp"
#include "worker_process.hpp"

namespace execkit {

enum class WatchRole { control, out, err, exit };

struct PoolEngine::Watch {
  Worker* worker;
  WatchRole role;
};

struct PoolEngine::Worker {
  enum class State { idle, busy, dying };
  WorkerProcess process;
  std::string id;
  State state = State::idle;
  std::shared_ptr<CallState> call;         // while busy or dying with a call
  std::uint64_t last_call_id = 0;           // the call it answered last
  std::optional<Outcome> outcome_on_death;  // delivered once the worker is reaped
  Clock::time_point idle_since = Clock::now();
  TailBuffer err_tail, out_tail;
  std::array<Watch, 4> watches{};
  bool reaped = false;

  Worker(WorkerProcess p, std::string worker_id, std::size_t tail_bytes)
      : process(std::move(p)), id(std::move(worker_id)), err_tail(tail_bytes), out_tail(tail_bytes) {}
};

namespace {

UniqueFd input_memfd(std::span<const std::byte> input) {
  UniqueFd fd(::memfd_create("execkit-input", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw std::system_error(errno, std::generic_category(), "memfd_create");
  std::size_t done = 0;
  while (done < input.size()) {
    ssize_t n = ::write(fd.get(), input.data() + done, input.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::system_error(errno, std::generic_category(), "write input memfd");
    done += static_cast<std::size_t>(n);
  }
  // The worker maps it: it must not be able to shrink under the mapping.
  ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}

bool send_datagram(int fd, std::span<const std::byte> bytes, int pass_fd) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (pass_fd >= 0) {
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  while (true) {
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n) == bytes.size();
    if (errno != EINTR) return false;
  }
}

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
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      receive_buffer_(wire::max_message_bytes + 1) {
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

bool PoolEngine::enqueue(std::shared_ptr<CallState> call) {
  {
    std::lock_guard lock(inbox_mutex_);
    if (closing_) return false;
    inbox_calls_.push_back(std::move(call));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  return true;
}

void PoolEngine::request_cancel(std::shared_ptr<CallState> call) {
  {
    std::lock_guard lock(inbox_mutex_);
    if (closed_) return;
    inbox_cancels_.push_back(std::move(call));
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void PoolEngine::close() {
  {
    std::lock_guard lock(inbox_mutex_);
    if (closing_) return;
    closing_ = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void PoolEngine::wait_closed() {
  std::unique_lock lock(inbox_mutex_);
  closed_cv_.wait(lock, [this] { return closed_; });
}

void PoolEngine::run() {
  std::array<epoll_event, 64> events{};
  while (true) {
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
#ifdef EXECKIT_MUTANT_SHUTDOWN_WITHOUT_REAPING
    // mutant (docs/mutants.md): shutdown ends the calls and returns without reaping the killed workers
    if (shutting_down_) {
      for (auto& w : workers_)
        if (w.call && w.outcome_on_death) {
          spill_->remove(w.call->id());
          finish_running(w, std::move(*w.outcome_on_death));
        }
      break;
    }
#endif
    sweep_dead();
    if (!shutting_down_) dispatch();
    if (shutting_down_ && workers_.empty()) break;
  }
  spill_.reset();  // removes this pool's lock file and any leftover spill file
  {
    std::lock_guard lock(inbox_mutex_);
    closed_ = true;
  }
  closed_cv_.notify_all();
}

void PoolEngine::handle_event(Watch& watch, std::uint32_t events) {
  Worker& w = *watch.worker;
  switch (watch.role) {
    case WatchRole::control:
      if (events & EPOLLIN) on_response(w);
      if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, w.process.control_fd(), nullptr);
      break;
    case WatchRole::out:
      drain_output(w, w.process.stdout_fd(), false);
      break;
    case WatchRole::err:
      drain_output(w, w.process.stderr_fd(), true);
      break;
    case WatchRole::exit:
      on_worker_exit(w);
      break;
  }
}

void PoolEngine::drain_output(Worker& w, int fd, bool is_stderr) {
  if (fd < 0) return;
  std::array<char, 65536> buf;
  // Bounded per event so one flooding task cannot starve the others (RUN-6).
  for (int round = 0; round < 16; ++round) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      (is_stderr ? w.err_tail : w.out_tail).append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    return;
  }
}

void PoolEngine::take_inbox() {
  std::vector<std::shared_ptr<CallState>> calls, cancels;
  {
    std::lock_guard lock(inbox_mutex_);
    calls.swap(inbox_calls_);
    cancels.swap(inbox_cancels_);
    if (closing_) shutting_down_ = true;
  }
  for (auto& c : calls) queue_.push_back(std::move(c));
  for (auto& c : cancels) {
    if (c->finished()) continue;
    auto queued = std::find(queue_.begin(), queue_.end(), c);
#ifdef EXECKIT_MUTANT_QUEUED_CANCEL_IGNORED
    queued = queue_.end();  // mutant (docs/mutants.md): only running calls are cancelled; a queued one still runs
#endif
    if (queued != queue_.end()) {
      queue_.erase(queued);
      c->finish(fail<CancelledError>("call " + std::to_string(c->id()) + " was cancelled before it started"));
      continue;
    }
    for (auto& w : workers_)
      if (w.call == c && w.state == Worker::State::busy)
        stop_worker(w, fail<CancelledError>("call " + std::to_string(c->id()) + " was cancelled while running"));
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
  for (auto& w : workers_) {
    if (w.state == Worker::State::busy && w.call->deadline().at <= now)
      stop_worker(w, fail<TimeoutError>("call " + std::to_string(w.call->id()) + " (" + w.call->call().module + "." +
                                        w.call->call().function + ") passed its deadline; the task was killed"));
    else if (w.state == Worker::State::idle && now - w.idle_since >= settings_.config.idle_timeout)
      stop_worker(w, std::nullopt);
  }
}

int PoolEngine::next_timeout_ms(Clock::time_point now) const {
  auto next = Clock::time_point::max();
  for (const auto& c : queue_) next = std::min(next, c->deadline().at);
  for (const auto& w : workers_) {
    if (w.state == Worker::State::busy) next = std::min(next, w.call->deadline().at);
    if (w.state == Worker::State::idle) next = std::min(next, w.idle_since + settings_.config.idle_timeout);
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

void PoolEngine::dispatch() {
  while (!queue_.empty()) {
    Worker* target = nullptr;
    for (auto& w : workers_)
      if (w.state == Worker::State::idle) {
        target = &w;
        break;
      }
    if (target == nullptr) {
      if (live_workers() >= settings_.config.max_workers) return;
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
    if (!start_call(*target, call)) {
      // Never reached the worker, so it is not an attempt: run it elsewhere.
      stop_worker(*target, std::nullopt);
      queue_.push_front(std::move(call));
    }
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
#ifdef EXECKIT_MUTANT_UNBOUNDED_STDERR
  w.err_tail = TailBuffer(~std::size_t{0});  // mutant (docs/mutants.md): a task's whole stderr is kept
#endif
  w.watches = {Watch{&w, WatchRole::control}, Watch{&w, WatchRole::out}, Watch{&w, WatchRole::err},
               Watch{&w, WatchRole::exit}};
  const int fds[] = {w.process.control_fd(), w.process.stdout_fd(), w.process.stderr_fd(), w.process.pidfd()};
  for (int i = 0; i < 4; ++i) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &w.watches[static_cast<std::size_t>(i)];
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fds[i], &ev) != 0) {
      int err = errno;
      workers_.pop_back();
      throw std::system_error(err, std::generic_category(), "epoll_ctl worker");
    }
  }
  return &w;
}

bool PoolEngine::start_call(Worker& w, const std::shared_ptr<CallState>& call) {
  const Call& c = call->call();
  wire::Request r;
  r.call_id = call->id();
  r.module = c.module;
  r.function = c.function;
  for (const auto& p : c.search_path) r.search_path.push_back(p.string());
  for (const auto& [name, value] : c.env_updates) r.env_updates.push_back({name, value});
  if (c.cwd) r.cwd = c.cwd->string();
  r.spill_path = spill_->file_path(call->id()).string();
  r.max_result_bytes = settings_.config.max_result_bytes;
#ifdef EXECKIT_MUTANT_CAP_ONLY_ON_SPILL
  r.max_result_bytes = ~std::uint64_t{0};  // mutant (docs/mutants.md): the cap is checked on spilled results only
#endif
  r.input_size = c.input.size();
  UniqueFd memfd;
  if (c.input.size() > wire::max_inline_input) {
    memfd = input_memfd(c.input);
    r.input_in_fd = true;
  } else {
    r.inline_input = c.input;
  }
  w.err_tail.clear();
  w.out_tail.clear();
  if (!send_datagram(w.process.control_fd(), wire::encode(r), memfd.get())) return false;
  w.state = Worker::State::busy;
  w.call = call;
  return true;
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
  ssize_t n;
  do {
    n = ::recv(w.process.control_fd(), receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return;  // EOF or nothing yet: the exit watch reports the death
  if (w.state != Worker::State::busy) {
    stop_worker(w, std::nullopt);  // a worker that speaks out of turn is not trusted again
    return;
  }
  auto response = static_cast<std::size_t>(n) <= wire::max_message_bytes
                      ? wire::decode_response(std::span(receive_buffer_.data(), static_cast<std::size_t>(n)))
                      : std::nullopt;
  // A worker replies before it restores its state; one that then cannot
  // restore says so in a notice about the call it answered last, and starts
  // nothing after it. The call sent meanwhile never ran: not an attempt.
  const bool retirement_notice = response && response->kind == wire::ResponseKind::not_started &&
                                 w.last_call_id != 0 && response->call_id == w.last_call_id;
  if (!response || (response->call_id != w.call->id() && !retirement_notice)) {
    stop_worker(w, fail<ResultError>(ResultError::Reason::unreadable,
                                     "worker " + w.id + " sent a malformed response; it was killed"));
    return;
  }
  if (response->kind == wire::ResponseKind::not_started) {
    auto call = std::move(w.call);
    stop_worker(w, std::nullopt);
    queue_.push_front(std::move(call));
    return;
  }
  drain_output(w, w.process.stderr_fd(), true);

  const auto& m = response->metrics;
  ExecutionMetrics metrics{m.peak_rss_kib,
                           m.user_time_us,
                           m.system_time_us,
                           m.started_at_ns,
                           m.finished_at_ns,
                           m.finished_at_ns - m.started_at_ns,
                           w.process.pid(),
                           w.id,
                           settings_.config.node_id};
  const auto call_id = w.call->id();
  w.last_call_id = call_id;
  std::optional<Outcome> outcome;
  switch (response->kind) {
    case wire::ResponseKind::ok:
      if (response->location == wire::ResultLocation::inline_bytes) {
        auto owned = std::make_shared<const std::vector<std::byte>>(std::move(response->inline_result));
        std::span<const std::byte> bytes(*owned);
        outcome.emplace(Result(std::move(owned), bytes, std::move(metrics)));
      } else if (response->result_size > settings_.config.max_result_bytes) {
        spill_->remove(call_id);
        outcome = fail<ResultError>(ResultError::Reason::too_large, "worker reported a result above the cap");
      } else {
        try {
          auto mapping = std::make_shared<Mapping>(
              take_spill_file(spill_->dir_fd(), spill_->file_name(call_id), response->result_size));
          auto bytes = mapping->bytes();
          outcome.emplace(Result(std::move(mapping), bytes, std::move(metrics)));
        } catch (const SpillError& e) {
          outcome = Outcome::failure(e);
        } catch (const std::exception& e) {
          spill_->remove(call_id);
          outcome = fail<ResultError>(ResultError::Reason::unreadable, std::string("result unreadable: ") + e.what());
        }
      }
      break;
    case wire::ResponseKind::task_error:
      outcome = fail<TaskError>(response->error_type, response->error_message, w.err_tail.tail(), std::move(metrics));
      break;
    case wire::ResponseKind::result_error:
      spill_->remove(call_id);
      outcome = fail<ResultError>(response->result_error_reason == wire::ResultErrorReason::too_large
                                      ? ResultError::Reason::too_large
                                      : ResultError::Reason::write_failed,
                                  response->error_message);
      break;
    case wire::ResponseKind::not_started:
      break;
  }
#ifdef EXECKIT_MUTANT_NO_WORKER_REUSE
  response->retire = true;  // mutant (docs/mutants.md): every worker serves one call only
#endif
  if (response->retire) {
    // State the worker could not restore must not reach the next call (ISO-5, ISO-8).
    w.process.kill_all();
    w.state = Worker::State::dying;
  } else {
    w.state = Worker::State::idle;
    w.idle_since = Clock::now();
  }
  finish_running(w, std::move(*outcome));
}

void PoolEngine::on_worker_exit(Worker& w) {
  if (w.state == Worker::State::busy) on_response(w);  // a reply may precede the death
  auto exit = w.process.try_reap();
  if (!exit) return;
  w.reaped = true;
  if (w.state == Worker::State::busy) drain_output(w, w.process.stderr_fd(), true);
  w.state = Worker::State::dying;
  w.process.close_channels();
  if (!w.call) return;
#ifdef EXECKIT_MUTANT_SPILL_KEPT_ON_KILL
  if (!w.outcome_on_death)  // mutant (docs/mutants.md): a call the backend killed keeps its spill file
#endif
  spill_->remove(w.call->id());
  if (w.outcome_on_death) {
    finish_running(w, std::move(*w.outcome_on_death));
  } else {
    finish_running(w, fail<WorkerCrashed>(exit->term_signal, exit->exit_status, w.err_tail.tail()));
#ifdef EXECKIT_MUTANT_POOL_DIES_ON_CRASH
    // mutant (docs/mutants.md): one crash breaks the pool; every running call fails with it
    for (auto& other : workers_)
      if (&other != &w && other.state == Worker::State::busy)
        stop_worker(other, fail<WorkerCrashed>(exit->term_signal, exit->exit_status, "another worker crashed"));
#endif
  }
}

void PoolEngine::close_all() {
  while (!queue_.empty()) {
    auto call = std::move(queue_.front());
    queue_.pop_front();
    call->finish(fail<BackendClosed>("backend shut down before call " + std::to_string(call->id()) + " started"));
  }
  for (auto& w : workers_)
    if (w.state != Worker::State::dying)
      stop_worker(w, w.state == Worker::State::busy
                         ? std::optional<Outcome>(fail<BackendClosed>("backend shut down while call " +
                                                                      std::to_string(w.call->id()) + " was running"))
                         : std::nullopt);
}

void PoolEngine::sweep_dead() {
  workers_.remove_if([](const Worker& w) { return w.reaped; });
}

}  // namespace execkit
