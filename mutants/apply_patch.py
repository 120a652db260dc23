#!/usr/bin/env python3
"""Applies a mutant's patch to copies of the pristine sources it changes.

  apply_patch.py --mutant NAME --patch FILE --source-dir ROOT --output-dir DIR PATH...

writes DIR/PATH for every PATH (relative to ROOT); the build compiles those
copies instead of the sources (docs/mutants.md, "How a mutant is built").

It fails, naming the mutant and its patch, if the patch changes other files
than the PATHs, does not apply exactly (moved lines are fine, changed context
is not: no fuzz), or leaves a file as it was: a mutant must never be built
from the unmodified source.
"""
import argparse
import filecmp
import os
import shutil
import subprocess
import sys


def changed_files(patch_text):
    """The files a unified diff changes, as `patch -p1` names them."""
    lines = patch_text.splitlines()
    files = []
    for header, line in zip(lines, lines[1:]):
        if header.startswith("--- ") and line.startswith("+++ "):
            name = line[4:].split("\t")[0]
            files.append(name.split("/", 1)[1] if "/" in name else name)
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mutant", required=True)
    ap.add_argument("--patch", required=True, help="the mutant's patch (-p1, paths relative to ROOT)")
    ap.add_argument("--source-dir", required=True, help="the repository root")
    ap.add_argument("--output-dir", required=True, help="where the patched copies go")
    ap.add_argument("--patch-program", default="patch", help="GNU patch")
    ap.add_argument("paths", nargs="+", help="the sources the patch changes, relative to ROOT")
    args = ap.parse_args()

    # Written whole or not at all: a failed run leaves no copy that looks up to date.
    draft = args.output_dir + ".partial"
    patch_name = os.path.relpath(args.patch, args.source_dir)

    def refuse(problem, remedy="Put the defect into a copy of the current source again and rewrite the patch"):
        shutil.rmtree(draft, ignore_errors=True)
        sys.exit(f"mutant {args.mutant}: {patch_name} {problem}\n"
                 f"{remedy} with mutants/make_patch (docs/mutants.md, \"Adding a mutant\").")

    with open(args.patch, encoding="utf-8") as f:
        changed = changed_files(f.read())
    if sorted(changed) != sorted(args.paths):
        refuse(f"changes [{', '.join(changed)}], but execkit_add_mutant({args.mutant}) "
               f"recompiles [{', '.join(args.paths)}]",
               "Name every source the patch changes in mutants/CMakeLists.txt, or rewrite the patch")

    shutil.rmtree(args.output_dir, ignore_errors=True)
    shutil.rmtree(draft, ignore_errors=True)
    for path in args.paths:
        os.makedirs(os.path.dirname(os.path.join(draft, path)), exist_ok=True)
        shutil.copyfile(os.path.join(args.source_dir, path), os.path.join(draft, path))

    applied = subprocess.run([args.patch_program, "--batch", "--forward", "--fuzz=0", "--strip=1",
                              "--no-backup-if-mismatch", "--reject-file=-", "--directory", draft,
                              "--input", os.path.abspath(args.patch)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if applied.returncode != 0:
        report = "".join(f"  {line}\n" for line in applied.stdout.splitlines())
        refuse(f"no longer applies to {', '.join(args.paths)}:\n{report}".rstrip("\n"))

    for path in args.paths:
        if filecmp.cmp(os.path.join(args.source_dir, path), os.path.join(draft, path), shallow=False):
            refuse(f"leaves {path} unchanged")
    os.rename(draft, args.output_dir)


if __name__ == "__main__":
    main()
