// Takes ownership of a worker's spill file safely (SPILL-4, SPILL-8).
#pragma once

#include <cstdint>
#include <string>

#include "mapping.hpp"

namespace execkit {

// Opens `name` in `dir_fd` with O_RDONLY|O_NOFOLLOW|O_CLOEXEC (O_NONBLOCK so a
// FIFO cannot block), validates the opened file (regular, owned by the
// caller's uid, exactly `expected_size` bytes, one link; SPILL-4) and that no
// one can still write it (SPILL-8), maps it read-only and unlinks the name,
// whether or not it was accepted. Throws SpillError naming the file and what
// was wrong; a refused file is never read.
Mapping take_spill_file(int dir_fd, const std::string& name, std::uint64_t expected_size);

}  // namespace execkit
