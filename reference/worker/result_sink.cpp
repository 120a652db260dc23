#include "result_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace execkit::worker {

ResultSink::ResultSink(std::string spill_path, std::uint64_t max_result_bytes)
    : spill_path_(std::move(spill_path)), max_result_bytes_(max_result_bytes) {}

ResultSink::~ResultSink() { discard(); }

void ResultSink::append(std::span<const std::byte> bytes) {
  if (failure_) {
    if (failure_->reason == wire::ResultErrorReason::too_large) throw std::length_error(failure_->message);
    throw std::runtime_error(failure_->message);
  }
  if (bytes.empty()) return;
  // total_ never exceeds the cap, so the subtraction cannot wrap.
  if (bytes.size() > max_result_bytes_ - total_) {
    fail(wire::ResultErrorReason::too_large,
         "result exceeds the limit of " + std::to_string(max_result_bytes_) + " bytes (" +
             std::to_string(total_) + " written, " + std::to_string(bytes.size()) + " more requested)");
  }
  if (!spilled() && total_ + bytes.size() <= wire::max_inline_result) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    total_ += bytes.size();
    return;
  }
  if (!spilled()) start_spilling();
  write_to_spill(bytes);
  total_ += bytes.size();
}

FileIdentity ResultSink::hand_over_spill_file() noexcept {
  const auto identity = identify_fd(spill_fd_.get());
  spill_fd_.reset();
  spill_created_ = false;
  return identity;
}

void ResultSink::discard() noexcept {
  spill_fd_.reset();
  if (spill_created_) ::unlink(spill_path_.c_str());
  spill_created_ = false;
}

void ResultSink::fail(wire::ResultErrorReason reason, std::string message) {
  failure_ = ResultFailure{reason, message};
  discard();
  buffer_.clear();
  if (reason == wire::ResultErrorReason::too_large) throw std::length_error(message);
  throw std::runtime_error(message);
}

void ResultSink::start_spilling() {
  if (spill_path_.empty()) {
    fail(wire::ResultErrorReason::write_failed, "the result needs a spill file but the call names none");
  }
  const int fd = ::open(spill_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    fail(wire::ResultErrorReason::write_failed,
         "cannot create spill file " + spill_path_ + ": " + std::strerror(error));
  }
  spill_fd_.reset(fd);
  spill_created_ = true;
  auto buffered = std::move(buffer_);
  buffer_ = {};
  write_to_spill(buffered);
}

void ResultSink::write_to_spill(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(spill_fd_.get(), bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int error = written < 0 ? errno : ENOSPC;
      fail(wire::ResultErrorReason::write_failed,
           "cannot write the result to spill file " + spill_path_ + ": " + std::strerror(error));
    }
    bytes = bytes.subspan(static_cast<std::size_t>(written));
  }
}

}  // namespace execkit::worker
