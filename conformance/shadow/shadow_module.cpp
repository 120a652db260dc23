// A module built twice, into shadow_a/ and shadow_b/, with the same file name
// and SONAME (ISO-3: shadowing; ISO-7: module state stays with its file).
#include <string>

#include "execkit/task.hpp"

#ifndef EXECKIT_SHADOW_VARIANT
#error "EXECKIT_SHADOW_VARIANT must name the build (\"a\" or \"b\")"
#endif

namespace {
int calls_in_this_copy = 0;
}

// Result: which build this is.
EXECKIT_TASK(variant)(execkit::TaskContext& ctx) { ctx.write(std::string_view(EXECKIT_SHADOW_VARIANT)); }

// Result: "<variant>:<n>", n counting this copy's calls since it was loaded.
EXECKIT_TASK(state)(execkit::TaskContext& ctx) {
  ctx.write(std::string(EXECKIT_SHADOW_VARIANT) + ":" + std::to_string(++calls_in_this_copy));
}
