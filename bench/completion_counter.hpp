// Counts the completions of a batch of submitted calls, shared with their
// handlers so a late handler never touches a dead counter.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "execkit/outcome.hpp"

namespace execkit::bench {

class CompletionCounter {
 public:
  explicit CompletionCounter(std::size_t expected) : remaining_(expected) {}

  void record(const Outcome& outcome) {
    std::lock_guard lock(mutex_);
    if (!outcome.ok() && first_error_.empty()) first_error_ = outcome.error()->what();
    if (--remaining_ == 0) all_done_.notify_all();
  }

  // Returns the first error's message, or "" if every call succeeded.
  std::string wait() {
    std::unique_lock lock(mutex_);
    all_done_.wait(lock, [this] { return remaining_ == 0; });
    return first_error_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable all_done_;
  std::size_t remaining_;
  std::string first_error_;
};

}  // namespace execkit::bench
