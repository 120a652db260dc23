#include "module_cache.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "module_resolver.hpp"

namespace execkit::worker {
namespace {

std::string dl_error_text() {
  const char* text = ::dlerror();
  return text != nullptr ? text : "unknown dynamic loader error";
}

bool still_loaded(const std::string& real_path) {
  void* handle = ::dlopen(real_path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  ::dlclose(handle);  // drops the reference RTLD_NOLOAD just took
  return true;
}

std::variant<ModuleIdentity, LoadFailure> identify_file(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(path.c_str(), nullptr), &std::free);
  if (!real) {
    return LoadFailure{"execkit.ModuleNotFound",
                       "cannot resolve module file '" + path + "': " + std::strerror(errno)};
  }
  ModuleIdentity identity;
  identity.real_path = real.get();
  struct stat st {};
  if (::stat(identity.real_path.c_str(), &st) != 0) {
    return LoadFailure{"execkit.ModuleNotFound",
                       "cannot stat module file '" + identity.real_path + "': " + std::strerror(errno)};
  }
  identity.device = st.st_dev;
  identity.inode = st.st_ino;
  identity.size = st.st_size;
  identity.modified = st.st_mtim;
  return identity;
}

// EXECKIT_TASK(name) makes `name` part of a C identifier.
bool is_task_name(const std::string& function) {
  if (function.empty() || (function[0] >= '0' && function[0] <= '9')) return false;
  for (char c : function) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!word) return false;
  }
  return true;
}

}  // namespace

void ModuleHandle::close() noexcept {
  if (handle_ != nullptr) ::dlclose(handle_);
  handle_ = nullptr;
}

std::variant<TaskEntryPoint, LoadFailure, NeedsFreshWorker> ModuleCache::find_task(
    const std::string& module, const std::vector<std::string>& search_path, const std::string& function) {
  auto found = find_module_file(module, search_path);
  if (auto* missing = std::get_if<ModuleNotFound>(&found)) {
    return LoadFailure{"execkit.ModuleNotFound", std::move(missing->message)};
  }
  auto identified = identify(std::get<std::string>(found));
  if (auto* failure = std::get_if<LoadFailure>(&identified)) return std::move(*failure);
  const auto& identity = std::get<ModuleIdentity>(identified);

  auto loaded = load(identity);
  if (auto* failure = std::get_if<LoadFailure>(&loaded)) return std::move(*failure);
  if (auto* retire = std::get_if<NeedsFreshWorker>(&loaded)) return std::move(*retire);

  if (!is_task_name(function)) {
    return LoadFailure{"execkit.FunctionNotFound", "function '" + function + "' not found in module '" +
                                                       identity.real_path + "': not a C identifier"};
  }
  const std::string symbol = EXECKIT_TASK_SYMBOL_PREFIX + function;
  ::dlerror();
  void* address = ::dlsym(std::get<void*>(loaded), symbol.c_str());
  if (address == nullptr) {
    return LoadFailure{"execkit.FunctionNotFound", "function '" + function + "' not found in module '" +
                                                       identity.real_path + "' (no symbol " + symbol + ")"};
  }
  // The entry point's type is fixed by EXECKIT_TASK; dlsym can only hand
  // back an object pointer.
  return reinterpret_cast<TaskEntryPoint>(address);
}

std::variant<ModuleIdentity, LoadFailure> ModuleCache::identify(const std::string& path) {
  if (last_identified_ && last_identified_->first == path) {
    const ModuleIdentity& known = last_identified_->second;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && st.st_dev == known.device && st.st_ino == known.inode &&
        st.st_size == known.size && st.st_mtim.tv_sec == known.modified.tv_sec &&
        st.st_mtim.tv_nsec == known.modified.tv_nsec)
      return known;
  }
  auto identified = identify_file(path);
  if (const auto* identity = std::get_if<ModuleIdentity>(&identified)) last_identified_.emplace(path, *identity);
  return identified;
}

std::variant<void*, LoadFailure, NeedsFreshWorker> ModuleCache::load(const ModuleIdentity& identity) {
  if (current_ && current_->identity == identity) return current_->handle.get();
  unload_current();
  if (auto stale = stale_copy_in_the_way(identity)) return NeedsFreshWorker{std::move(*stale)};
  ::dlerror();
  ModuleHandle handle(::dlopen(identity.real_path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle.get()) {
    return LoadFailure{"execkit.ModuleLoadFailed",
                       "cannot load module '" + identity.real_path + "': " + dl_error_text()};
  }
  void* raw = handle.get();
  current_ = LoadedModule{identity, std::move(handle)};
  return raw;
}

void ModuleCache::unload_current() {
  if (!current_) return;
  auto old = std::move(*current_);
  current_.reset();
  old.handle.close();
  const bool known = std::find(resident_.begin(), resident_.end(), old.identity) != resident_.end();
  if (!known && still_loaded(old.identity.real_path)) resident_.push_back(std::move(old.identity));
}

std::optional<std::string> ModuleCache::stale_copy_in_the_way(const ModuleIdentity& wanted) {
  std::erase_if(resident_, [](const ModuleIdentity& m) { return !still_loaded(m.real_path); });
  for (const auto& resident : resident_) {
    // The identical file may be reused: it is the code the call asked for.
    if (resident.same_file_as(wanted) && !(resident == wanted)) {
      return "module '" + resident.real_path +
             "' could not be unloaded and the call loads a different file at the same path; "
             "only a fresh worker can load it";
    }
  }
  return std::nullopt;
}

}  // namespace execkit::worker
