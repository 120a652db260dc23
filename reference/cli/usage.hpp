// The text of `execkit --help` and `execkit run --help`.
#pragma once

#include <string>

#include "arguments.hpp"

namespace execkit::cli {

std::string usage_text(HelpTopic topic);

}  // namespace execkit::cli
