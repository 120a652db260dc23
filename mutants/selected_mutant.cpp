// Compiled once per mutant with its name, decorator and worker binary.
#include "mutant_under_test.hpp"

namespace execkit::mutants {

conformance::BackendUnderTest mutant_under_test() {
  return backend_under_test(EXECKIT_MUTANT_NAME, EXECKIT_MUTANT_DECORATOR, EXECKIT_MUTANT_WORKER);
}

}  // namespace execkit::mutants
