// The bytes a task produced, plus its metrics. Large results are a read-only
// file mapping owned by the Result (zero copy); copies share ownership.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "execkit/metrics.hpp"

namespace execkit {

class Result {
 public:
  Result() = default;
  // `owner` keeps `bytes` alive (a mapping, a buffer, ...).
  Result(std::shared_ptr<const void> owner, std::span<const std::byte> bytes, ExecutionMetrics metrics)
      : owner_(std::move(owner)), bytes_(bytes), metrics_(std::move(metrics)) {}

  std::span<const std::byte> bytes() const noexcept { return bytes_; }
  std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  const ExecutionMetrics& metrics() const noexcept { return metrics_; }

 private:
  std::shared_ptr<const void> owner_;
  std::span<const std::byte> bytes_;
  ExecutionMetrics metrics_;
};

}  // namespace execkit
