// execute() on the caller's own thread: borrow a parked worker, send the
// request, wait for the reply in ppoll, lend the worker back. Two wake-ups
// per call (caller -> worker -> caller) instead of four through the I/O
// thread. Anything but a plain reply hands the worker to the I/O thread,
// which owns killing, reaping and requeueing.
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

#include "pool_worker.hpp"

namespace execkit {
namespace {

// Time left until `at`, for ppoll; nullopt for no deadline.
std::optional<timespec> time_left(std::chrono::steady_clock::time_point at) {
  if (at == std::chrono::steady_clock::time_point::max()) return std::nullopt;
  const auto left = std::max(at - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration::zero());
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(left);
  return timespec{static_cast<time_t>(seconds.count()),
                  static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - seconds).count())};
}

}  // namespace

bool PoolEngine::run_on_caller_thread(const std::shared_ptr<CallState>& call) {
  if (call->deadline().at <= Clock::now()) return false;  // the queue reports it as never started
  Worker* w = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (closing_ || queue_waits_ || parked_.empty()) return false;
    w = parked_.back();
    parked_.pop_back();
    w->lent = Worker::Lent::borrowed;
    borrowed_.push_back(Borrowed{w, call.get()});
  }
  set_watched(*w, Worker::control, false);
  give_back(run_borrowed(*w, call));
  return true;
}

PoolEngine::HandBack PoolEngine::run_borrowed(Worker& w, const std::shared_ptr<CallState>& call) {
  using Action = HandBack::Action;
  w.call = call;
  std::optional<Outcome> failure;
  switch (send_request(w, *call, failure)) {
    case SendStatus::delivered:
      break;
    case SendStatus::worker_gone:
      return {Action::requeue, &w, std::nullopt};
    case SendStatus::unsendable:
      finish_running(w, std::move(*failure));
      return {Action::park, &w, std::nullopt};
  }
  enum { control, out, err, exit, interrupt };
  std::array<pollfd, 5> fds{};
  fds[control] = {w.process.control_fd(), POLLIN, 0};
  fds[out] = {w.open[Worker::out] ? w.process.stdout_fd() : -1, POLLIN, 0};
  fds[err] = {w.open[Worker::err] ? w.process.stderr_fd() : -1, POLLIN, 0};
  fds[exit] = {w.process.pidfd(), POLLIN, 0};
  fds[interrupt] = {w.interrupt.get(), POLLIN, 0};
  for (;;) {
    const auto left = time_left(call->deadline().at);
    if (left && left->tv_sec == 0 && left->tv_nsec == 0) return {Action::stop, &w, timeout_outcome(*call)};
    const int n = ::ppoll(fds.data(), fds.size(), left ? &*left : nullptr, nullptr);
    if (n < 0 && errno != EINTR) {
      return {Action::stop, &w,
              Outcome::failure(ResultError(ResultError::Reason::unreadable,
                                           std::string("waiting for worker ") + w.id + " failed: " + std::strerror(errno)))};
    }
    if (n <= 0) continue;
    if (fds[interrupt].revents != 0) {
      std::lock_guard lock(mutex_);
      return {Action::stop, &w,
              closing_ ? Outcome::failure(BackendClosed(failure_.value_or("backend shut down") + " while call " + std::to_string(call->id()) +
                                                        " was running"))
                       : Outcome::failure(CancelledError("call " + std::to_string(call->id()) +
                                                         " was cancelled while running"))};
    }
    if (fds[out].revents != 0) {
      drain_output(w, false);
      if (!w.open[Worker::out]) fds[out].fd = -1;
    }
    if (fds[err].revents != 0) {
      drain_output(w, true);
      if (!w.open[Worker::err]) fds[err].fd = -1;
    }
    if (fds[control].revents != 0) {
      auto reply = read_reply(w, true);
      if (!w.open[Worker::control]) fds[control].fd = -1;
      if (reply) {
        switch (reply->kind) {
          case Reply::Kind::finished: {
            const bool died = fds[exit].revents != 0;
            finish_running(w, std::move(*reply->outcome));
            return {reply->retire ? Action::retire : died ? Action::idle : Action::park, &w, std::nullopt};
          }
          case Reply::Kind::not_started:
            return {Action::requeue, &w, std::nullopt};
          case Reply::Kind::malformed:
          case Reply::Kind::out_of_turn:
            return {Action::stop, &w, std::move(reply->outcome)};
        }
      }
    }
    if (fds[exit].revents != 0) return {Action::exited, &w, std::nullopt};
  }
}

void PoolEngine::give_back(HandBack back) {
  Worker& w = *back.worker;
  // A parked worker's control socket is watched: a retirement notice may follow the reply.
  if (back.action == HandBack::Action::park) {
    try {
      set_watched(w, Worker::control, true);
    } catch (const std::system_error&) {
      back.action = HandBack::Action::idle;  // the I/O thread takes it back and tries again
    }
  }
  bool to_io_thread = false;
  {
    std::lock_guard lock(mutex_);
    std::erase_if(borrowed_, [&](const Borrowed& b) { return b.worker == &w; });
    if (std::exchange(w.interrupted, false)) {
      // Consumed here, while the worker is still ours: the next borrower starts clean.
      std::uint64_t count;
      [[maybe_unused]] auto n = ::read(w.interrupt.get(), &count, sizeof count);
    }
    if (back.action == HandBack::Action::park && (closing_ || queue_waits_ || w.exited_while_lent))
      back.action = HandBack::Action::idle;
    if (back.action == HandBack::Action::park) {
      w.lent = Worker::Lent::parked;
      w.idle_since = Clock::now();
      parked_.push_back(&w);
    } else {
      w.lent = Worker::Lent::no;
      w.exited_while_lent = false;
      handed_back_.push_back(std::move(back));
      to_io_thread = true;
    }
  }
  if (to_io_thread) wake_io_thread();
}

}  // namespace execkit
