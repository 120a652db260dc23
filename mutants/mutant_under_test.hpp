// What a mutant's conformance binary tests.
#pragma once

#include <filesystem>
#include <string>

#include "execkit/conformance/backend_under_test.hpp"

namespace execkit::mutants {

// The backend under test named `name`: built by decorator_factory(decorator),
// with workers started from `worker` (a mutant execkit-worker) when not empty.
// Declares the reference backend's capabilities: a mutant is the reference
// with one defect, judged by the same tests.
conformance::BackendUnderTest backend_under_test(const std::string& name, const std::string& decorator,
                                                 const std::filesystem::path& worker);

// Defined once per mutant binary (selected_mutant.cpp, compiled with that
// mutant's EXECKIT_MUTANT_NAME, _DECORATOR and _WORKER).
conformance::BackendUnderTest mutant_under_test();

}  // namespace execkit::mutants
