// Keeps the last `capacity` bytes written to it (a task's stderr tail, RUN-3/RUN-6).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace execkit {

class TailBuffer {
 public:
  explicit TailBuffer(std::size_t capacity) : capacity_(capacity) {}

  void append(std::string_view bytes) {
    if (bytes.size() >= capacity_) {
      data_.assign(bytes.substr(bytes.size() - capacity_));
      return;
    }
    data_.append(bytes);
    // Trim in amortised batches instead of on every append.
    if (data_.size() > 2 * capacity_) data_.erase(0, data_.size() - capacity_);
  }
  std::string tail() const {
    return data_.size() > capacity_ ? data_.substr(data_.size() - capacity_) : data_;
  }
  void clear() { data_.clear(); }

 private:
  std::size_t capacity_;
  std::string data_;
};

}  // namespace execkit
