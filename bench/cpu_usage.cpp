#include "cpu_usage.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <ctime>
#include <string>

#include "unique_fd.hpp"

namespace execkit::bench {

std::int64_t process_cpu_ns(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/schedstat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  std::array<char, 128> buffer;
  const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
  if (n <= 0) return -1;
  std::int64_t ns = -1;
  std::from_chars(buffer.data(), buffer.data() + n, ns);
  return ns;
}

std::int64_t own_cpu_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

void CpuMeter::start(pid_t child) {
  child_ = child;
  child_at_start_ = process_cpu_ns(child);
  own_at_start_ = own_cpu_ns();
}

void CpuMeter::stop() {
  const auto own = own_cpu_ns();
  const auto child = process_cpu_ns(child_);
  if (child < 0 || child_at_start_ < 0) unreadable_ = true;
  total_ns_ += (own - own_at_start_) + (child - child_at_start_);
  ++pairs_;
}

double CpuMeter::mean_us() const {
  if (unreadable_) return -1;
  return pairs_ == 0 ? 0 : static_cast<double>(total_ns_) / 1e3 / static_cast<double>(pairs_);
}

}  // namespace execkit::bench
