// Turns parsed options into a Call: paths made absolute against the tool's
// cwd, module and --cwd checked to exist, input read.
#pragma once

#include "arguments.hpp"
#include "execkit/call.hpp"

namespace execkit::cli {

// Relative paths are resolved here, not in the worker, because a call with
// --cwd runs elsewhere. `stdin_fd` is read for "--input -". Throws
// CliError(ExitCode::usage) naming a missing module, directory or input file.
Call build_call(const RunOptions& options, int stdin_fd);

}  // namespace execkit::cli
