#include "completion_latch.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <system_error>

namespace execkit::cli {

CompletionLatch::CompletionLatch()
    : event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), future_(promise_.get_future()) {
  if (!event_) throw std::system_error(errno, std::generic_category(), "eventfd");
}

CompletionHandler CompletionLatch::handler() {
  return [this](Outcome outcome) {
    promise_.set_value(std::move(outcome));
    const std::uint64_t one = 1;
    // Cannot fail short of a counter overflow; the future is set either way.
    [[maybe_unused]] const ssize_t ignored = ::write(event_.get(), &one, sizeof one);
  };
}

bool CompletionLatch::done() const { return future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }

Outcome CompletionLatch::take() { return future_.get(); }

}  // namespace execkit::cli
