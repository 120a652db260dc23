// What a task may leave running after it returns (ISO-8).
#pragma once

namespace execkit::worker {

// Reaps every exited child; true if a child (or an orphaned descendant
// adopted by this subreaper) is still alive.
bool children_still_running();

}  // namespace execkit::worker
