// Random identifiers for pools and workers.
#pragma once

#include <string>

namespace execkit {

// 12 lowercase hex characters from getrandom(2). Throws std::system_error.
std::string random_hex_id();

}  // namespace execkit
