// Confines the calling thread, and every thread and process it creates while
// the guard lives, to one CPU; restores the thread's affinity afterwards.
//
// On the VM this was measured on, waking a thread on the other, halted vCPU
// costs tens of microseconds (docs/performance.md): with every hop on one
// CPU, a call costs what its work costs, whatever the other CPU is doing.
#pragma once

#include <sched.h>

namespace execkit::bench {

class OneCpu {
 public:
  // The lowest CPU the thread may run on now. Throws std::system_error.
  OneCpu();
  ~OneCpu();
  OneCpu(const OneCpu&) = delete;
  OneCpu& operator=(const OneCpu&) = delete;

 private:
  cpu_set_t saved_;
};

}  // namespace execkit::bench
