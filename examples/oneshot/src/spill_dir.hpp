// The spill dir holds result files while tasks write them (SPILL-3).
#pragma once

#include <filesystem>

namespace oneshot {

// `configured` (empty: $TMPDIR/execkit-<uid>, TMPDIR defaulting to /tmp) as
// an absolute path with `..` resolved, created with mode 0700 if missing.
// Throws execkit::SpillError naming the dir if it cannot be created, is not a
// directory, belongs to another user or grants group/other access.
std::filesystem::path prepare_spill_dir(const std::filesystem::path& configured);

}  // namespace oneshot
