// A thread that runs completion work off the I/O thread, so user handlers may
// block or call back into the backend without stalling it.
#pragma once

#include <functional>
#include <memory>
#include <thread>

namespace execkit {

class Dispatcher {
 public:
  Dispatcher();
  // Runs what is queued, then joins; when destroyed from its own thread (a
  // handler dropped the last owner) it detaches and finishes on its own.
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  void post(std::function<void()> work);

 private:
  struct Queue;
  std::shared_ptr<Queue> queue_;
  std::thread thread_;
};

}  // namespace execkit
