// What a task may leave running after it returns (ISO-8).
#pragma once

#include "base_state.hpp"

namespace execkit::worker {

// Reaps every exited child; true if a child (or an orphaned descendant
// adopted by this subreaper) is still alive.
bool children_still_running();

// True if any fd of this process refers to `file` (or the fds cannot be
// listed): a handle a task kept to its own spill file (SPILL-8).
bool holds_handle_to(const FileIdentity& file);

}  // namespace execkit::worker
