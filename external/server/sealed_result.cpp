#include "sealed_result.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace execkit::external {

UniqueFd sealed_copy(std::span<const std::byte> bytes) {
  UniqueFd fd(::memfd_create("execkit-result", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw std::system_error(errno, std::generic_category(), "memfd_create");
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes.size())) != 0) {
    throw std::system_error(errno, std::generic_category(), "ftruncate of the result memfd");
  }
  if (!bytes.empty()) {
    void* target = ::mmap(nullptr, bytes.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (target == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap of the result memfd");
    std::memcpy(target, bytes.data(), bytes.size());
    ::munmap(target, bytes.size());
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    throw std::system_error(errno, std::generic_category(), "sealing the result memfd");
  }
  return fd;
}

}  // namespace execkit::external
