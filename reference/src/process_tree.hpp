// Ends every descendant of a process, including ones that left its session
// or process group (a daemonizing double fork, RUN-7).
#pragma once

#include <sys/types.h>

namespace execkit {

// SIGKILLs every live descendant of `root` found through
// /proc/<pid>/task/<tid>/children, repeating until a pass finds no new one.
// `root` should be stopped and a child subreaper (the worker is), so orphans
// stay in its tree instead of moving to init. Returns how many were killed.
int kill_descendants(pid_t root) noexcept;

}  // namespace execkit
