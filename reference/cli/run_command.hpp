// `execkit run`: one call on a fresh single-worker ProcessPoolBackend.
#pragma once

#include "arguments.hpp"

namespace execkit::cli {

// Writes the result to stdout and any failure to stderr; returns the exit
// code. Throws CliError for bad arguments and execkit::Error (ConfigError,
// SpillError) when the backend cannot be created.
int run_command(const RunOptions& options);

}  // namespace execkit::cli
