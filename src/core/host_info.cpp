#include "host_info.hpp"

#include <cerrno>
#include <climits>
#include <memory>
#include <sched.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace execkit::host_info {
namespace {

struct CpuSetDeleter {
  void operator()(cpu_set_t* set) const noexcept { CPU_FREE(set); }
};

// 0 when the affinity mask cannot be read.
std::size_t affinity_cpus() noexcept {
  // The kernel refuses a mask smaller than its own (EINVAL), so grow until it
  // fits; cpu_set_t alone covers only 1024 CPUs.
  for (int cpus = CPU_SETSIZE; cpus <= (1 << 20); cpus *= 2) {
    std::unique_ptr<cpu_set_t, CpuSetDeleter> set(CPU_ALLOC(cpus));
    if (!set) return 0;
    const std::size_t size = CPU_ALLOC_SIZE(cpus);
    CPU_ZERO_S(size, set.get());
    if (sched_getaffinity(0, size, set.get()) == 0) return static_cast<std::size_t>(CPU_COUNT_S(size, set.get()));
    if (errno != EINVAL) return 0;
  }
  return 0;
}

}  // namespace

std::size_t available_cpus() {
  if (const auto cpus = affinity_cpus(); cpus > 0) return cpus;
  if (const auto cpus = std::thread::hardware_concurrency(); cpus > 0) return cpus;
  return 1;
}

std::string host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof name) != 0) throw std::system_error(errno, std::generic_category(), "gethostname");
  name[HOST_NAME_MAX] = '\0';
  return name;
}

}  // namespace execkit::host_info
