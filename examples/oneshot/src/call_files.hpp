// The files one call hands its worker, all close-on-exec on our side.
#pragma once

#include "execkit/call.hpp"
#include "unique_fd.hpp"
#include "worker_settings.hpp"

namespace oneshot {

struct CallFiles {
  UniqueFd input;         // a memfd with the call's input: the worker's stdin
  UniqueFd result;        // unnamed (O_TMPFILE) in the spill dir: fd 3
  UniqueFd status;        // a memfd for the status record: fd 4
  UniqueFd stderr_read;   // non-blocking; feeds the error's stderr tail
  UniqueFd stderr_write;  // the worker's stderr; close ours once it started
};

// Throws execkit::SpillError naming the spill dir if the result file cannot
// be created there, std::system_error for the rest.
CallFiles open_call_files(const WorkerSettings& settings, const execkit::Call& call);

}  // namespace oneshot
