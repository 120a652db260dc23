// Module and search-path resolution read names from the caller's call (and
// the CLI's arguments): Call::module and Call::search_path. Input: the
// module name on the first line, one search-path entry per further line,
// resolved in a fixed tree (regular modules, a directory, a FIFO, symlinks,
// a dangling symlink) that is the current directory while the input runs. The worker's
// find_module_file must return the first regular file among the documented
// candidates, in order, or a message; the CLI's pre-check (find_module)
// must agree with it on which file that is.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "module_lookup.hpp"
#include "module_resolver.hpp"
#include "fuzz_require.hpp"

namespace {

namespace fs = std::filesystem;


void touch(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  FUZZ_REQUIRE(fd >= 0);
  ::close(fd);
}

// The tree, made once.
const std::string& tree() {
  static const std::string root = [] {
    std::string path = (fs::temp_directory_path() / "execkit-fuzz-modules-XXXXXX").string();
    FUZZ_REQUIRE(::mkdtemp(path.data()) != nullptr);
    const fs::path r(path);
    for (const char* dir : {"d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8"}) fs::create_directory(r / dir);
    touch(r / "d1/libm.so");
    touch(r / "d1/n.so");
    touch(r / "d2/libm.so");
    touch(r / "d2/lib.so");  // what an empty module name would spell
    touch(r / "d2/.so");
    fs::create_directory(r / "d4/libx.so");                       // a directory, not a module
    fs::create_symlink(r / "d1/libm.so", r / "d5/liby.so");      // a symlink to a module
    fs::create_symlink(r / "d1/missing.so", r / "d6/libz.so");   // dangling
    FUZZ_REQUIRE(::mkfifo((r / "d7/libf.so").c_str(), 0600) == 0);  // stat only: never opened
    touch(r / "libm.so");                                        // found through an empty entry
    fs::create_symlink(r / "d1", r / "d8/up");
    return path;
  }();
  return root;
}

// Relative names resolve in the tree while one input runs; libFuzzer reads
// its corpus (maybe by relative paths) from the original directory.
class InTree {
 public:
  InTree() : saved_(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    FUZZ_REQUIRE(saved_ >= 0 && ::chdir(tree().c_str()) == 0);
  }
  ~InTree() {
    FUZZ_REQUIRE(::fchdir(saved_) == 0);
    ::close(saved_);
  }
  InTree(const InTree&) = delete;
  InTree& operator=(const InTree&) = delete;

 private:
  int saved_;
};

bool is_regular(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<std::pair<dev_t, ino_t>> identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return std::make_pair(st.st_dev, st.st_ino);
}

// The documented order: lib<module>.so, then <module>.so, in each dir.
std::vector<std::string> candidates(const std::string& module, const std::vector<std::string>& search_path) {
  std::vector<std::string> out;
  for (const auto& dir : search_path)
    for (const auto& file : {"lib" + module + ".so", module + ".so"}) out.push_back(dir.empty() ? file : dir + "/" + file);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 8192) return -1;
  const InTree in_tree;
  std::vector<std::string> lines{""};
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') lines.emplace_back();
    else lines.back().push_back(static_cast<char>(data[i]));
  }
  const std::string module = lines.front();
  const std::vector<std::string> search_path(lines.begin() + 1, lines.end());

  const auto found = execkit::worker::find_module_file(module, search_path);
  const auto* path = std::get_if<std::string>(&found);
  if (path == nullptr) {
    const auto& message = std::get<execkit::worker::ModuleNotFound>(found).message;
    FUZZ_REQUIRE(!message.empty());
    if (!module.empty() && module.find('\0') == std::string::npos) FUZZ_REQUIRE(message.find(module) != std::string::npos);
  } else {
    FUZZ_REQUIRE(module.find('\0') == std::string::npos);
    FUZZ_REQUIRE(is_regular(*path));
    if (module.find('/') != std::string::npos) {
      FUZZ_REQUIRE(*path == module);
    } else {
      // The first regular file among the candidates, and no earlier one.
      bool seen = false;
      for (const auto& candidate : candidates(module, search_path)) {
        if (candidate == *path) {
          seen = true;
          break;
        }
        FUZZ_REQUIRE(!is_regular(candidate));
      }
      FUZZ_REQUIRE(seen);
    }
  }

  // The CLI refuses a call before starting a worker when its own lookup
  // fails: it must find the same file the worker would load. Its names come
  // from argv (no NUL) and it refuses an empty module name before looking.
  const auto has_nul = [](const std::string& text) { return text.find('\0') != std::string::npos; };
  if (module.empty() || has_nul(module) || std::any_of(search_path.begin(), search_path.end(), has_nul)) return 0;
  const std::vector<fs::path> dirs(search_path.begin(), search_path.end());
  const auto cli = execkit::cli::find_module(module, dirs);
  if (path != nullptr) {
    FUZZ_REQUIRE(cli.has_value());
    FUZZ_REQUIRE(identity(cli->string()) == identity(*path));
  } else {
    FUZZ_REQUIRE(!cli.has_value());
  }
  return 0;
}
