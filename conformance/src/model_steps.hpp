// The steps of the model-based test (MODEL): each one makes calls of one
// kind, predicts their outcomes from its own parameters, updates the model
// and then lets the harness check the invariants. Every step leaves no call
// running, so any subsequence of steps is valid (shrinking needs that).
#pragma once

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <memory>

#include "model_harness.hpp"

namespace execkit::conformance::model {

using Step = rc::state::Command<ModelState, Harness>;

// A generator of one step that is valid in `model`.
rc::Gen<std::shared_ptr<const Step>> any_step(const ModelState& model);

}  // namespace execkit::conformance::model
