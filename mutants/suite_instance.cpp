// The conformance suite instantiated for whichever mutant this binary is
// linked with (see mutant_under_test()); test names read
// Mutant/<Area>.<CLAUSE_ID>_<Behaviour>/<mutant name>.
#include "execkit/conformance/suite.hpp"
#include "mutant_under_test.hpp"

EXECKIT_CONFORMANCE_TESTS(Mutant, ::execkit::mutants::mutant_under_test());
