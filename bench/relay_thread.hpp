// The two-hop relay floor's I/O thread: woken through an eventfd, it sends
// one byte over a socket, waits in epoll for the answer and wakes the caller,
// as the backend's engine does for a call.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "unique_fd.hpp"

namespace execkit::bench {

class RelayThread {
 public:
  // `socket` leads to an echoing peer; it must outlive this object.
  explicit RelayThread(int socket);
  ~RelayThread();
  RelayThread(const RelayThread&) = delete;
  RelayThread& operator=(const RelayThread&) = delete;

  // Caller -> relay -> peer -> relay -> caller. Throws if the relay failed.
  void round_trip();

 private:
  void run();

  const int socket_;
  UniqueFd epoll_, wake_;
  std::mutex mutex_;
  std::condition_variable answered_;
  bool answer_ready_ = false;
  bool stopping_ = false;
  bool failed_ = false;
  std::thread thread_;
};

}  // namespace execkit::bench
