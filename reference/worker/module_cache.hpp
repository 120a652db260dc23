// Loads task modules and keeps the last one loaded (ISO-3, ISO-7).
//
// One module is cached, keyed by its file identity (canonical path, device,
// inode, size, mtime): a call naming the same file reuses it; a call naming
// any other file first unloads it, so module state never survives into a
// call that loads a different file.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "execkit/task.hpp"

namespace execkit::worker {

using TaskEntryPoint = int (*)(TaskContext*);

// A call-level failure: reported to the caller as a task error.
struct LoadFailure {
  std::string type;  // execkit.ModuleNotFound, execkit.ModuleLoadFailed, execkit.FunctionNotFound
  std::string message;
};

// This worker cannot load the module correctly; a fresh worker can.
struct NeedsFreshWorker {
  std::string reason;
};

struct ModuleIdentity {
  std::string real_path;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  timespec modified{};

  bool same_file_as(const ModuleIdentity& other) const noexcept {
    return real_path == other.real_path || (device == other.device && inode == other.inode);
  }
  friend bool operator==(const ModuleIdentity& a, const ModuleIdentity& b) noexcept {
    return a.real_path == b.real_path && a.device == b.device && a.inode == b.inode && a.size == b.size &&
           a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec;
  }
};

class ModuleHandle {
 public:
  ModuleHandle() = default;
  explicit ModuleHandle(void* handle) noexcept : handle_(handle) {}
  ModuleHandle(ModuleHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  ModuleHandle& operator=(ModuleHandle&& other) noexcept {
    if (this != &other) {
      close();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  ModuleHandle(const ModuleHandle&) = delete;
  ModuleHandle& operator=(const ModuleHandle&) = delete;
  ~ModuleHandle() { close(); }

  void* get() const noexcept { return handle_; }
  void close() noexcept;

 private:
  void* handle_ = nullptr;
};

class ModuleCache {
 public:
  // Resolves `module` along `search_path` (relative to the current
  // directory), loads it if needed and finds `function` in it.
  std::variant<TaskEntryPoint, LoadFailure, NeedsFreshWorker> find_task(
      const std::string& module, const std::vector<std::string>& search_path, const std::string& function);

 private:
  struct LoadedModule {
    ModuleIdentity identity;
    ModuleHandle handle;
  };

  std::variant<ModuleIdentity, LoadFailure> identify(const std::string& path);
  std::variant<void*, LoadFailure, NeedsFreshWorker> load(const ModuleIdentity& identity);
  void unload_current();
  std::optional<std::string> stale_copy_in_the_way(const ModuleIdentity& wanted);

  std::optional<LoadedModule> current_;
  // The last module file resolved, by the path it was found at: a path that
  // still names the same file (device, inode, size, mtime) needs no realpath.
  std::optional<std::pair<std::string, ModuleIdentity>> last_identified_;
  // Modules dlclose() did not unmap (e.g. pinned by STB_GNU_UNIQUE symbols or
  // RTLD_NODELETE): dlopen() would hand their old code back for a file now
  // at the same path.
  std::vector<ModuleIdentity> resident_;
};

}  // namespace execkit::worker
