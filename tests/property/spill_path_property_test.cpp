// Properties of spill-dir path resolution (SPILL-3): the default is
// $TMPDIR/execkit-<euid>; a configured dir is made absolute with `.` and `..`
// resolved lexically (never through a symlink); the result is a fixed point.
#include "spill_dir.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "text_generators.hpp"

namespace execkit {
namespace {

namespace fs = std::filesystem;

// Segment by segment, as docs/spill.md describes it: "." dropped, ".." removes
// the previous segment (never above the root), empty segments ignored.
fs::path by_segments(const std::string& path) {
  const std::string absolute = path.starts_with('/') ? path : fs::current_path().string() + "/" + path;
  std::vector<std::string> kept;
  std::size_t start = 0;
  while (start <= absolute.size()) {
    const auto end = std::min(absolute.find('/', start), absolute.size());
    const auto segment = absolute.substr(start, end - start);
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
    } else if (!segment.empty() && segment != ".") {
      kept.push_back(segment);
    }
    start = end + 1;
  }
  std::string out;
  for (const auto& segment : kept) out += "/" + segment;
  return out.empty() ? "/" : out;
}

rc::Gen<std::string> by_parts(rc::Gen<std::string> segment);

rc::Gen<std::string> path_text() {
  auto segment = rc::gen::element<std::string>("a", "b", "tmp", "execkit-0", ".", "..", "", "x y", "...", ".hidden");
  // Paths of slashes only: std::filesystem keeps "//" through lexically_normal.
  auto slashes = rc::gen::map(rc::gen::inRange(1, 5), [](int n) { return std::string(static_cast<std::size_t>(n), '/'); });
  return rc::gen::weightedOneOf<std::string>({{1, slashes}, {6, by_parts(segment)}});
}

rc::Gen<std::string> by_parts(rc::Gen<std::string> segment) {
  return rc::gen::map(rc::gen::pair(rc::gen::arbitrary<bool>(), rc::gen::container<std::vector<std::string>>(segment)),
                      [](const std::pair<bool, std::vector<std::string>>& parts) {
                        std::string out = parts.first ? "/" : "";
                        for (std::size_t i = 0; i < parts.second.size(); ++i) out += (i ? "/" : "") + parts.second[i];
                        return out;
                      });
}

void check_well_formed(const fs::path& dir) {
  RC_ASSERT(dir.is_absolute());
  for (const auto& part : dir) RC_ASSERT(part != "." && part != "..");
  const auto text = dir.string();
  RC_ASSERT(text == "/" || !text.ends_with('/'));
  RC_ASSERT(text.find("//") == std::string::npos);
}

RC_GTEST_PROP(SpillPathProperty, ConfiguredDirIsResolvedLexicallyBySegments, ()) {
  const auto configured = *path_text();
  RC_PRE(!configured.empty());
  const auto dir = resolve_spill_dir(configured, {});
  RC_ASSERT(dir.native() == by_segments(configured).native());
  check_well_formed(dir);
}

RC_GTEST_PROP(SpillPathProperty, DefaultIsTmpdirSlashExecKitUid, ()) {
  const auto has_tmpdir = *rc::gen::arbitrary<bool>();
  const auto tmpdir = *path_text();
  EnvMap env;
  if (has_tmpdir) env["TMPDIR"] = tmpdir;
  const auto base = (!has_tmpdir || tmpdir.empty()) ? std::string("/tmp") : tmpdir;
  const auto dir = resolve_spill_dir({}, env);
  RC_ASSERT(dir.native() == by_segments(base + "/execkit-" + std::to_string(::geteuid())).native());
  check_well_formed(dir);
}

RC_GTEST_PROP(SpillPathProperty, ResolutionIsAFixedPoint, ()) {
  const auto configured = *path_text();
  const auto once = resolve_spill_dir(configured, {{"TMPDIR", *path_text()}});
  RC_ASSERT(resolve_spill_dir(once, {}) == once);
}

// `link/..` means the directory holding `link`, not the parent of its target:
// canonicalising would follow a symlink planted in the path.
RC_GTEST_PROP(SpillPathProperty, DotDotAfterASymlinkIsNotFollowed, ()) {
  auto pattern = (fs::temp_directory_path() / "execkit-spill-path-XXXXXX").string();
  RC_ASSERT(::mkdtemp(pattern.data()) != nullptr);
  const fs::path root = fs::canonical(pattern);
  fs::create_directories(root / "elsewhere" / "deep");
  fs::create_directory_symlink(root / "elsewhere" / "deep", root / "link");
  const auto tail = *rc::gen::element<std::string>("spill", "a/b", ".", "x/..");
  const auto dir = resolve_spill_dir(root / "link" / ".." / tail, {});
  fs::remove_all(root);
  RC_ASSERT(dir.native() == by_segments((root / tail).string()).native());
}

}  // namespace
}  // namespace execkit
