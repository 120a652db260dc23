// The backend the tool judges, built once per process from its options.
#pragma once

#include "execkit/conformance/backend_under_test.hpp"
#include "execkit/external_backend.hpp"
#include "tool_options.hpp"

namespace execkit::external {

// Starts the command once for its hello; throws what went wrong.
conformance::BackendUnderTest external_backend_under_test(const ToolOptions& options);
// Set by main before the tests register; read by the suite's instantiation.
void set_backend_under_test(conformance::BackendUnderTest backend);

}  // namespace execkit::external
