// A module the dynamic loader must refuse: it reads a variable nothing
// defines, and data relocations are resolved at load time (ISO-7).
#include "execkit/task.hpp"

extern "C" int execkit_conformance_symbol_nobody_defines;

EXECKIT_TASK(use_missing)(execkit::TaskContext& ctx) {
  ctx.write(std::to_string(execkit_conformance_symbol_nobody_defines));
}
