// Turns termination signals into readable events, so an interrupted call can
// be cancelled (and its worker and spill file cleaned up) before exiting.
#pragma once

#include <signal.h>

#include <initializer_list>
#include <optional>

#include "unique_fd.hpp"

namespace execkit::cli {

class SignalWatch {
 public:
  // Blocks `signals` in the calling thread and opens a signalfd for them.
  // Create it before any other thread: threads inherit the mask, and a thread
  // that does not block them would take the default action instead.
  explicit SignalWatch(std::initializer_list<int> signals);
  // Restores the previous signal mask.
  ~SignalWatch();
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  int fd() const noexcept { return fd_.get(); }
  // The next pending signal's number, or nullopt when none is pending.
  std::optional<int> take();

 private:
  sigset_t previous_mask_{};
  UniqueFd fd_;
};

}  // namespace execkit::cli
