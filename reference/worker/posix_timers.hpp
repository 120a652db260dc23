// POSIX timers (timer_create) a task left behind: armed, they would signal
// the worker during a later call (ISO-4). The kernel lists a process's
// timers in /proc/self/timers; the worker deletes every one after a call
// (it creates none of its own).
#pragma once

#include "kept_proc_file.hpp"

namespace execkit::worker {

class PosixTimerSweeper {
 public:
  PosixTimerSweeper();

  // Deletes every POSIX timer of the process. False if they cannot be
  // listed or one cannot be deleted: the worker must then be retired.
  bool delete_all();

 private:
  KeptProcFile timers_;
};

}  // namespace execkit::worker
