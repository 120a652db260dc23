// What a task may leave running after it returns (ISO-8).
#pragma once

namespace execkit::worker {

// Reaps every exited child; true if a child (or an orphaned descendant
// adopted by this subreaper) is still alive.
bool children_still_running();

// The number of threads in this process, from /proc/self/status; 0 if unknown.
long thread_count();

}  // namespace execkit::worker
