#include "oneshot/oneshot_backend.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <iostream>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "run_once.hpp"
#include "spill_dir.hpp"
#include "unique_fd.hpp"
#include "worker_settings.hpp"

namespace oneshot {
namespace {

enum class Phase { queued, running, finished };

std::string describe(const execkit::Call& call) { return "call " + call.module + "." + call.function; }

std::string host_name() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return name;
}

WorkerSettings resolve(execkit::WorkerConfig config) {
  if (config.max_workers == 0) throw execkit::ConfigError("max_workers", "0", "at least one call must be able to run");
  WorkerSettings settings;
  settings.worker = config.worker_path.empty() ? std::filesystem::path(ONESHOT_WORKER_PATH) : config.worker_path;
  if (::access(settings.worker.c_str(), X_OK) != 0) {
    throw execkit::ConfigError("worker_path", settings.worker.string(), "is not an executable oneshot-worker");
  }
  settings.spill_dir = prepare_spill_dir(config.spill_dir);
  settings.base_dir = config.base_dir.empty() ? std::filesystem::current_path() : config.base_dir;
  settings.node_id = config.node_id.empty() ? host_name() : config.node_id;
  settings.config = std::move(config);
  return settings;
}

}  // namespace

// A submitted call. Its phase, stop reason and wake fd belong to the backend's mutex.
struct Job final : execkit::CancelTarget {
  Job(execkit::Call c, execkit::Deadline d, execkit::CompletionHandler done, std::weak_ptr<OneShotBackend::Impl> o)
      : call(std::move(c)), deadline(d), on_done(std::move(done)), owner(std::move(o)) {}
  bool cancel() override;

  const execkit::Call call;
  const execkit::Deadline deadline;
  execkit::CompletionHandler on_done;  // taken by whoever moves the phase to finished
  const std::weak_ptr<OneShotBackend::Impl> owner;
  Phase phase = Phase::queued;
  Stop stop = Stop::none;
  int wake_fd = -1;  // the runner's eventfd while running
};

// max_workers runner threads take calls from one queue, one call each at a
// time, so at most max_workers tasks run; a timer thread ends queued calls
// whose deadline passes (RUN-2).
class OneShotBackend::Impl : public std::enable_shared_from_this<Impl> {
 public:
  explicit Impl(WorkerSettings settings) : settings_(std::move(settings)) {}

  void start() {
    std::lock_guard join(join_mutex_);
    for (std::size_t i = 0; i < settings_.config.max_workers; ++i) {
      UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      if (!wake) throw std::system_error(errno, std::generic_category(), "eventfd");
      threads_.emplace_back([self = shared_from_this(), wake = std::move(wake)] { self->run_calls(wake.get()); });
    }
    threads_.emplace_back([self = shared_from_this()] { self->expire_queued_calls(); });
  }

  execkit::Submission submit(execkit::Call call, execkit::Deadline deadline, execkit::CompletionHandler on_done) {
    auto job = std::make_shared<Job>(std::move(call), deadline, std::move(on_done), weak_from_this());
    {
      std::lock_guard lock(mutex_);
      if (!closed_) {
        queue_.push_back(job);
        changed_.notify_all();
        return execkit::Submission(job);
      }
      job->phase = Phase::finished;
    }
    deliver(*job, execkit::Outcome::failure(execkit::BackendClosed("the backend is shut down; " + describe(job->call) + " was not run")));
    return execkit::Submission(job);
  }

  bool cancel(Job& job) {
    std::unique_lock lock(mutex_);
    if (job.phase == Phase::running) {
      if (job.stop == Stop::none) job.stop = Stop::cancelled;
      ::eventfd_write(job.wake_fd, 1);
      return true;
    }
    if (job.phase != Phase::queued) return false;
    std::erase_if(queue_, [&](const auto& queued) { return queued.get() == &job; });
    job.phase = Phase::finished;
    lock.unlock();
    deliver(job, execkit::Outcome::failure(execkit::CancelledError(describe(job.call) + " was cancelled before it started")));
    return true;
  }

  void shutdown(bool wait) {
    std::deque<std::shared_ptr<Job>> never_started;
    {
      std::lock_guard lock(mutex_);
      if (!closed_) {
        closed_ = true;
        never_started.swap(queue_);
        for (const auto& job : never_started) job->phase = Phase::finished;
        for (const auto& job : running_) {
          if (job->stop == Stop::none) job->stop = Stop::closed;
          ::eventfd_write(job->wake_fd, 1);
        }
      }
    }
    changed_.notify_all();
    for (const auto& job : never_started) {
      deliver(*job, execkit::Outcome::failure(execkit::BackendClosed("the backend was shut down before " + describe(job->call) + " started")));
    }
    if (!wait) return;
    std::lock_guard join(join_mutex_);
    for (auto& thread : threads_) {
      if (!thread.joinable()) continue;
      // shutdown(true) from a completion handler: that runner ends on its own.
      if (thread.get_id() == std::this_thread::get_id()) {
        thread.detach();
      } else {
        thread.join();
      }
    }
  }

 private:
  void run_calls(int wake_fd) {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return closed_ || !queue_.empty(); });
        if (queue_.empty()) return;  // closed
        job = std::move(queue_.front());
        queue_.pop_front();
        job->phase = Phase::running;
        job->wake_fd = wake_fd;
        running_.push_back(job);
      }
      eventfd_t stale;
      ::eventfd_read(wake_fd, &stale);  // a stop meant for an earlier call
      auto outcome = run_guarded(*job, wake_fd);
      finish(job, std::move(outcome));
    }
  }

  execkit::Outcome run_guarded(Job& job, int wake_fd) {
    try {
      return run_once(settings_, job.call, job.deadline, wake_fd, [&] {
        std::lock_guard lock(mutex_);
        return job.stop;
      });
    } catch (const execkit::SpillError& e) {
      return execkit::Outcome::failure(e);
    } catch (const std::exception& e) {
      // The worker could not be started (no fds, no memory, ...): the task never ran.
      return execkit::Outcome::failure(execkit::TaskError("oneshot::StartError", e.what(), ""));
    }
  }

  void finish(const std::shared_ptr<Job>& job, execkit::Outcome outcome) {
    Stop stop;
    {
      std::lock_guard lock(mutex_);
      stop = job->stop;
      job->phase = Phase::finished;
      job->wake_fd = -1;
      std::erase(running_, job);
    }
    // A cancel or shutdown that was accepted wins, even if the task just finished.
    if (stop == Stop::cancelled && !outcome.error_as<execkit::CancelledError>()) {
      outcome = execkit::Outcome::failure(execkit::CancelledError(describe(job->call) + " was cancelled"));
    } else if (stop == Stop::closed && !outcome.error_as<execkit::BackendClosed>()) {
      outcome = execkit::Outcome::failure(execkit::BackendClosed("the backend was shut down while " + describe(job->call) + " ran"));
    }
    deliver(*job, std::move(outcome));
  }

  void expire_queued_calls() {
    std::unique_lock lock(mutex_);
    while (!closed_) {
      const auto now = std::chrono::steady_clock::now();
      std::vector<std::shared_ptr<Job>> expired;
      auto next = std::chrono::steady_clock::time_point::max();
      for (auto it = queue_.begin(); it != queue_.end();) {
        if ((*it)->deadline.at <= now) {
          (*it)->phase = Phase::finished;
          expired.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          next = std::min(next, (*it)->deadline.at);
          ++it;
        }
      }
      if (!expired.empty()) {
        lock.unlock();
        for (const auto& job : expired) {
          deliver(*job, execkit::Outcome::failure(execkit::TimeoutError(describe(job->call) + " passed its deadline while queued")));
        }
        lock.lock();
      } else if (next == std::chrono::steady_clock::time_point::max()) {
        changed_.wait(lock);
      } else {
        changed_.wait_until(lock, next);
      }
    }
  }

  // Exactly once per call, with no lock held.
  void deliver(Job& job, execkit::Outcome outcome) {
    auto on_done = std::move(job.on_done);
    try {
      on_done(std::move(outcome));
    } catch (const std::exception& e) {
      log("a completion handler of " + describe(job.call) + " threw: " + e.what());
    } catch (...) {
      log("a completion handler of " + describe(job.call) + " threw");
    }
  }

  void log(const std::string& line) const {
    if (settings_.config.log) {
      settings_.config.log(line);
    } else {
      std::cerr << "oneshot: " << line << "\n";
    }
  }

  const WorkerSettings settings_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::vector<std::shared_ptr<Job>> running_;
  bool closed_ = false;
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;
};

bool Job::cancel() {
  auto backend = owner.lock();
  return backend && backend->cancel(*this);
}

OneShotBackend::OneShotBackend(execkit::WorkerConfig config)
    : impl_(std::make_shared<Impl>(resolve(std::move(config)))) {
  try {
    impl_->start();
  } catch (...) {
    impl_->shutdown(true);
    throw;
  }
}

OneShotBackend::~OneShotBackend() { impl_->shutdown(true); }

execkit::Result OneShotBackend::execute(const execkit::Call& call, execkit::Deadline deadline) {
  auto done = std::make_shared<std::promise<execkit::Outcome>>();
  auto outcome = done->get_future();
  impl_->submit(call, deadline, [done](execkit::Outcome o) { done->set_value(std::move(o)); });
  return outcome.get().value();
}

execkit::Submission OneShotBackend::submit(execkit::Call call, execkit::Deadline deadline,
                                           execkit::CompletionHandler on_done) {
  return impl_->submit(std::move(call), deadline, std::move(on_done));
}

void OneShotBackend::shutdown(bool wait) { impl_->shutdown(wait); }

}  // namespace oneshot
