"""The task names each source declares: the C++ probe and shadow modules, the
Python ones, and docs/probe.md. The self-test requires them to be one set."""

import ast
import glob
import os
import re


def cpp_tasks(source_dir):
    names = set()
    for pattern in ("conformance/probe/*.cpp", "conformance/shadow/*.cpp"):
        for path in glob.glob(os.path.join(source_dir, pattern)):
            with open(path, encoding="utf-8") as file:
                names.update(re.findall(r"^EXECKIT_TASK\((\w+)\)", file.read(), re.MULTILINE))
    return names


def python_tasks(source_dir):
    """Module-level `def name(ctx)` of the Python probe, shadow and unresolved modules."""
    names = set()
    for name in ("execkit_probe.py", "shadow.py.in", "unresolved.py"):
        with open(os.path.join(source_dir, "conformance/probe/python", name), encoding="utf-8") as file:
            tree = ast.parse(file.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") \
                    and [argument.arg for argument in node.args.args] == ["ctx"]:
                names.add(node.name)
    return names


def documented_tasks(source_dir):
    """The "### `name`" headings of docs/probe.md's task sections."""
    with open(os.path.join(source_dir, "docs/probe.md"), encoding="utf-8") as file:
        return set(re.findall(r"^### `(\w+)`", file.read(), re.MULTILINE))


def name_problems(source_dir, tested):
    """Differences between the sets, and tasks without a self-test case."""
    sets = {
        "the C++ sources (EXECKIT_TASK)": cpp_tasks(source_dir),
        "the Python modules (def task(ctx))": python_tasks(source_dir),
        "docs/probe.md (### `task`)": documented_tasks(source_dir),
    }
    everything = set().union(*sets.values())
    problems = []
    for where, names in sets.items():
        if missing := sorted(everything - names):
            problems.append(f"missing from {where}: {', '.join(missing)}")
    if untested := sorted(everything - tested):
        problems.append(f"tasks without a self-test case: {', '.join(untested)}")
    if unknown := sorted(tested - everything):
        problems.append(f"self-test cases for tasks no source declares: {', '.join(unknown)}")
    if len(sets["the C++ sources (EXECKIT_TASK)"]) < 50:
        problems.append("fewer than 50 C++ tasks found: is --source-dir right?")
    return problems
