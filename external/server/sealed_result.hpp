// A result's bytes copied into a sealed memfd: the receiver maps a file no
// one can write, shrink or grow any more (SPILL-8 holds across the protocol).
#pragma once

#include <span>
#include <cstddef>

#include "unique_fd.hpp"

namespace execkit::external {

// Throws std::system_error when the memfd cannot be made or filled.
UniqueFd sealed_copy(std::span<const std::byte> bytes);

}  // namespace execkit::external
