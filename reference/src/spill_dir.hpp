// The per-user spill directory a backend's workers write large results into
// (SPILL-3, SPILL-6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "env_scrub.hpp"
#include "unique_fd.hpp"

namespace execkit {

// `configured` empty: $TMPDIR/execkit-<uid> ($TMPDIR from `env`, default /tmp).
// Otherwise `configured` made absolute with `..` segments resolved.
std::filesystem::path resolve_spill_dir(const std::filesystem::path& configured, const EnvMap& env);

class SpillDir {
 public:
  // Creates the directory (mode 0700) or validates an existing one: a real
  // directory (not a symlink), owned by the caller's uid, no group/other
  // access. Takes a lock that marks `pool_id` alive, then removes the spill
  // files of pools whose lock is free (their caller died). Throws SpillError
  // naming the path and the problem.
  static SpillDir open(const std::filesystem::path& dir, const std::string& pool_id);

  SpillDir(SpillDir&&) noexcept = default;
  // Releases the overwritten pool's files and lock first (as the destructor).
  SpillDir& operator=(SpillDir&& other) noexcept;
  // Removes this pool's remaining spill files and its lock file.
  ~SpillDir();

  const std::filesystem::path& path() const noexcept { return path_; }
  int dir_fd() const noexcept { return dir_fd_.get(); }
  // "<pool_id>.<call_id>.spill"
  std::string file_name(std::uint64_t call_id) const;
  std::filesystem::path file_path(std::uint64_t call_id) const { return path_ / file_name(call_id); }
  // Unlinks the call's spill file if present; never follows a symlink.
  void remove(std::uint64_t call_id) const noexcept;
  // How many stale files open() removed.
  std::size_t swept_on_open() const noexcept { return swept_; }

 private:
  SpillDir() = default;
  void take_lock();
  void release() noexcept;

  std::filesystem::path path_;
  std::string pool_id_;
  UniqueFd dir_fd_;
  UniqueFd lock_fd_;
  std::size_t swept_ = 0;
};

}  // namespace execkit
