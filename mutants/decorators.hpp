// The decorator mutants, by name (see docs/mutants.md). Each is a reference
// ProcessPoolBackend behind a thin wrapper, or built from a tweaked config,
// that breaks exactly one behaviour of the contract.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "execkit/backend.hpp"
#include "execkit/config.hpp"

namespace execkit::mutants {

using BackendFactory = std::function<std::unique_ptr<ExecutorBackend>(WorkerConfig)>;
using FactoryTable = std::map<std::string, BackendFactory>;

// The (possibly recompiled) reference backend itself, for mutants that live
// in its sources.
std::unique_ptr<ExecutorBackend> plain_reference(WorkerConfig config);

// One table per file, each a handful of mutants of one kind.
FactoryTable config_mutants();   // config_mutants.cpp: a config field ignored or misread
FactoryTable outcome_mutants();  // outcome_mutants.cpp: retries, timeouts, errors, results, metrics
FactoryTable lifetime_mutants(); // lifetime_mutants.cpp: results, workers and instances outliving their owner
FactoryTable cancel_mutants();   // cancel_mutants.cpp
FactoryTable hook_mutants();     // hook_mutants.cpp
FactoryTable loop_mutants();     // loop_mutants.cpp

// `name` from the tables above, or "" for plain_reference. Throws
// std::invalid_argument naming an unknown decorator.
BackendFactory decorator_factory(const std::string& name);

}  // namespace execkit::mutants
