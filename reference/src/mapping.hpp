// Owns one read-only memory mapping of a file.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace execkit {

class Mapping {
 public:
  Mapping() = default;
  // Maps `size` bytes of `fd` read-only; size 0 maps nothing. Throws
  // std::system_error on failure.
  static Mapping map_readonly(int fd, std::size_t size);

  Mapping(Mapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept {
    if (this != &other) {
      unmap();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { unmap(); }

  std::span<const std::byte> bytes() const noexcept {
    return {static_cast<const std::byte*>(data_), size_};
  }

 private:
  Mapping(void* data, std::size_t size) : data_(data), size_(size) {}
  void unmap() noexcept;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace execkit
