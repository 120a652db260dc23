// The worker's TaskContext: what a task module sees of its call.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "execkit/task.hpp"
#include "result_sink.hpp"

namespace execkit::worker {

struct TaskFailure {
  std::string type;
  std::string message;
};

class TaskContextImpl final : public TaskContext {
 public:
  TaskContextImpl(std::span<const std::byte> input, ResultSink& sink) noexcept : input_(input), sink_(sink) {}

  std::span<const std::byte> input() const override { return input_; }
  void write(std::span<const std::byte> bytes) override { sink_.append(bytes); }
  using TaskContext::write;
  // The first failure reported wins: it is the closest to the cause.
  void fail(std::string_view type, std::string_view message) override;

  const std::optional<TaskFailure>& failure() const noexcept { return failure_; }

 private:
  std::span<const std::byte> input_;
  ResultSink& sink_;
  std::optional<TaskFailure> failure_;
};

}  // namespace execkit::worker
