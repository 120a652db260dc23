#include "one_cpu.hpp"

#include <cerrno>
#include <system_error>

namespace execkit::bench {

OneCpu::OneCpu() {
  CPU_ZERO(&saved_);
  if (::sched_getaffinity(0, sizeof saved_, &saved_) != 0)
    throw std::system_error(errno, std::generic_category(), "sched_getaffinity");
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &saved_)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  if (::sched_setaffinity(0, sizeof one, &one) != 0)
    throw std::system_error(errno, std::generic_category(), "sched_setaffinity");
}

OneCpu::~OneCpu() { ::sched_setaffinity(0, sizeof saved_, &saved_); }

}  // namespace execkit::bench
