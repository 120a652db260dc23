#include "dispatcher.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>

namespace execkit {

struct Dispatcher::Queue {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> work;
  bool stopping = false;

  void run() {
    std::unique_lock lock(mutex);
    while (true) {
      wake.wait(lock, [this] { return stopping || !work.empty(); });
      if (work.empty()) return;
      auto next = std::move(work.front());
      work.pop_front();
      lock.unlock();
      try {
        next();
      } catch (...) {
        // Posted work isolates its own failures; this thread must outlive anything that slips through.
      }
      next = nullptr;  // release captures outside the lock
      lock.lock();
    }
  }
};

Dispatcher::Dispatcher() : queue_(std::make_shared<Queue>()), thread_([q = queue_] { q->run(); }) {}

Dispatcher::~Dispatcher() {
  {
    std::lock_guard lock(queue_->mutex);
    queue_->stopping = true;
    queue_->wake.notify_one();
  }
  if (std::this_thread::get_id() == thread_.get_id())
    thread_.detach();
  else
    thread_.join();
}

void Dispatcher::post(std::function<void()> work) {
  // Notifying under the lock: once it is released, a handler on the
  // dispatcher thread may drop the last owner and destroy the queue.
  std::lock_guard lock(queue_->mutex);
  queue_->work.push_back(std::move(work));
  queue_->wake.notify_one();
}

}  // namespace execkit
