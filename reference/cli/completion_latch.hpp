// Receives a submitted call's Outcome on a backend thread and makes its
// arrival pollable alongside other file descriptors.
#pragma once

#include <future>

#include "execkit/backend.hpp"
#include "unique_fd.hpp"

namespace execkit::cli {

class CompletionLatch {
 public:
  CompletionLatch();
  CompletionLatch(const CompletionLatch&) = delete;
  CompletionLatch& operator=(const CompletionLatch&) = delete;

  // The handler refers to this latch, which must outlive the backend.
  CompletionHandler handler();
  // Becomes readable (and stays so) once the outcome has arrived.
  int fd() const noexcept { return event_.get(); }
  bool done() const;
  // Only once done().
  Outcome take();

 private:
  UniqueFd event_;
  std::promise<Outcome> promise_;
  std::future<Outcome> future_;
};

}  // namespace execkit::cli
