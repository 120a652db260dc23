#include "spill_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "execkit/errors.hpp"

namespace oneshot {
namespace {

std::filesystem::path default_spill_dir() {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::filesystem::path base = (tmpdir != nullptr && *tmpdir != '\0') ? tmpdir : "/tmp";
  return base / ("execkit-" + std::to_string(::getuid()));
}

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

std::filesystem::path prepare_spill_dir(const std::filesystem::path& configured) {
  auto dir = std::filesystem::absolute(configured.empty() ? default_spill_dir() : configured).lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // a trailing '/'
  auto refused = [&](const std::string& why) { return execkit::SpillError("spill dir '" + dir.string() + "' " + why); };

  std::error_code ignored;  // a missing parent shows up as mkdir's error below
  std::filesystem::create_directories(dir.parent_path(), ignored);
  if (::mkdir(dir.c_str(), 0700) == 0) {
    ::chmod(dir.c_str(), 0700);  // exactly 0700 whatever the umask; never wider in between
  } else if (errno != EEXIST) {
    throw refused(std::string("cannot be created: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0) throw refused(std::string("cannot be examined: ") + std::strerror(errno));
  if (!S_ISDIR(info.st_mode)) throw refused("is not a directory (symlinks are refused)");
  if (info.st_uid != ::geteuid()) {
    throw refused("belongs to uid " + std::to_string(info.st_uid) + ", not to this process's uid " +
                  std::to_string(::geteuid()));
  }
  if ((info.st_mode & 077) != 0) throw refused("has mode " + octal(info.st_mode) + "; group/other access is refused (use 0700)");
  return dir;
}

}  // namespace oneshot
