#include "mapped_result.hpp"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace oneshot {
namespace {

class Mapping {
 public:
  Mapping(void* address, std::size_t size) : address_(address), size_(size) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { ::munmap(address_, size_); }

 private:
  void* address_;
  std::size_t size_;
};

execkit::Outcome result_error(execkit::ResultError::Reason reason, const std::string& what) {
  return execkit::Outcome::failure(execkit::ResultError(reason, what));
}

}  // namespace

execkit::Outcome mapped_result(int fd, std::uint64_t cap, execkit::ExecutionMetrics metrics) {
  using Reason = execkit::ResultError::Reason;
  struct stat info {};
  if (::fstat(fd, &info) != 0) return result_error(Reason::unreadable, std::string("cannot examine the result file: ") + std::strerror(errno));
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > cap) {
    return result_error(Reason::too_large, "the result (" + std::to_string(size) + " bytes) exceeds max_result_bytes (" +
                                               std::to_string(cap) + ")");
  }
  if (size == 0) return execkit::Result({}, {}, std::move(metrics));
  void* address = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) return result_error(Reason::unreadable, std::string("cannot map the result file: ") + std::strerror(errno));
  auto owner = std::make_shared<const Mapping>(address, size);
  return execkit::Result(std::move(owner), {static_cast<const std::byte*>(address), size}, std::move(metrics));
}

}  // namespace oneshot
