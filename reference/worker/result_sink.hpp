// Collects a task's result: in memory up to wire::max_inline_result bytes,
// beyond that streamed into the call's spill file (SPILL-1, RUN-5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base_state.hpp"
#include "envelope.hpp"
#include "unique_fd.hpp"

namespace execkit::worker {

struct ResultFailure {
  wire::ResultErrorReason reason;
  std::string message;
};

class ResultSink {
 public:
  ResultSink(std::string spill_path, std::uint64_t max_result_bytes);
  ResultSink(const ResultSink&) = delete;
  ResultSink& operator=(const ResultSink&) = delete;
  // Removes a spill file that was never handed over.
  ~ResultSink();

  // Throws std::length_error past the cap and std::runtime_error when the
  // spill file cannot be created or written; the failure is remembered and
  // every later append throws it again.
  void append(std::span<const std::byte> bytes);

  const std::optional<ResultFailure>& failure() const noexcept { return failure_; }
  std::uint64_t size() const noexcept { return total_; }
  bool spilled() const noexcept { return spill_fd_.get() >= 0; }
  // The in-memory result when nothing was spilled.
  std::vector<std::byte> take_inline() noexcept { return std::move(buffer_); }

  // Closes the spill file and leaves it for the caller to take over.
  // Returns what it was, so the worker can look for handles a task kept.
  FileIdentity hand_over_spill_file() noexcept;
  // Closes and unlinks the spill file, if any (every outcome but ok).
  void discard() noexcept;

 private:
  [[noreturn]] void fail(wire::ResultErrorReason reason, std::string message);
  void start_spilling();
  void write_to_spill(std::span<const std::byte> bytes);

  std::string spill_path_;
  std::uint64_t max_result_bytes_;
  std::uint64_t total_ = 0;
  std::vector<std::byte> buffer_;
  UniqueFd spill_fd_;
  bool spill_created_ = false;
  std::optional<ResultFailure> failure_;
};

}  // namespace execkit::worker
