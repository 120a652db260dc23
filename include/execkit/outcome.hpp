// The end of a call: a Result or one typed Error.
#pragma once

#include <memory>
#include <utility>

#include "execkit/errors.hpp"
#include "execkit/result.hpp"

namespace execkit {

class Outcome {
 public:
  Outcome(Result result) : result_(std::move(result)) {}  // NOLINT: implicit by design
  Outcome(std::shared_ptr<const Error> error) : error_(std::move(error)) {}  // NOLINT

  template <class E>
  static Outcome failure(E error) {
    return Outcome(std::shared_ptr<const Error>(std::make_shared<E>(std::move(error))));
  }

  bool ok() const noexcept { return error_ == nullptr; }
  // The result; throws the error if the call failed.
  const Result& value() const& {
    if (error_) error_->raise();
    return result_;
  }
  Result value() && {
    if (error_) error_->raise();
    return std::move(result_);
  }
  const Error* error() const noexcept { return error_.get(); }
  const std::shared_ptr<const Error>& shared_error() const noexcept { return error_; }
  template <class E>
  const E* error_as() const noexcept {
    return dynamic_cast<const E*>(error_.get());
  }

 private:
  Result result_;
  std::shared_ptr<const Error> error_;
};

// Runs a blocking call (e.g. a backend's execute) and captures how it ended:
// its Result, or the execkit::Error it threw. Other exceptions propagate.
template <class BlockingCall>
Outcome outcome_of(BlockingCall&& blocking_call) {
  try {
    return Outcome(std::forward<BlockingCall>(blocking_call)());
  } catch (const Error& e) {
    return Outcome(e.clone());
  }
}

}  // namespace execkit
