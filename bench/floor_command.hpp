// The one message the write-then-map floor sends its peer: "write `size`
// bytes to `path`". Fixed size, so one pipe write carries it whole.
#pragma once

#include <cstdint>

namespace execkit::bench {

struct WriteCommand {
  std::uint64_t size;
  char path[496];  // NUL-terminated
};

static_assert(sizeof(WriteCommand) <= 512, "a command must fit one atomic pipe write (PIPE_BUF)");

}  // namespace execkit::bench
