#include "mapping.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <system_error>

namespace execkit {

Mapping Mapping::map_readonly(int fd, std::size_t size) {
  if (size == 0) return {};
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap of result");
  return {p, size};
}

void Mapping::unmap() noexcept {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace execkit
