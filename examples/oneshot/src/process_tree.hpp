// Finding and ending a worker's descendants (RUN-7, ISO-8). Workers are
// child subreapers, so a descendant that left its session (a daemon's double
// fork) is re-parented to its worker instead of to init: everything a task
// started stays below its worker until the worker dies.
#pragma once

#include <sys/types.h>

#include <vector>

namespace oneshot {

// Children of every thread of `pid` (/proc/<pid>/task/<tid>/children).
std::vector<pid_t> children_of(pid_t pid);

// Stops the worker `pid` (our unreaped child, held by `pidfd`) so it can
// neither fork nor reap, SIGKILLs everything below it until a pass finds
// nothing new, then SIGKILLs the worker. The caller still reaps it.
void kill_process_tree(pid_t pid, int pidfd) noexcept;

}  // namespace oneshot
