# Shared by the scripts: repository root and a configured, built preset.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)

# build_preset PRESET [TARGET...]: configure (once) and build.
build_preset() {
  local preset=$1
  shift
  [[ -f "$root/build/$preset/build.ninja" ]] || cmake --preset "$preset" -S "$root" >/dev/null
  if (($#)); then
    cmake --build "$root/build/$preset" -j "$jobs" --target "$@"
  else
    cmake --build "$root/build/$preset" -j "$jobs"
  fi
}
