// A private directory for one benchmark run (the spill dir lives inside),
// removed with everything in it at the end.
#pragma once

#include <filesystem>

namespace execkit::bench {

class ScratchDir {
 public:
  // Under $TMPDIR (default /tmp), mode 0700. Throws std::system_error.
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  // Where the backend spills and the write-then-map floor writes.
  std::filesystem::path spill_dir() const { return path_ / "spill"; }

 private:
  std::filesystem::path path_;
};

}  // namespace execkit::bench
