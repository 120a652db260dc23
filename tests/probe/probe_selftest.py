"""The probe self-test: the C++ probe and the Python probe give the same
observable answers for every task (docs/probe.md "Self-test").

Each case runs in a fresh probe_runner (C++) and a fresh probe_runner.py
(Python) process under the same conditions; what each did (results,
failures, how the process ended, stdout, stderr, files, leftovers) is
normalised (run dirs, pids, pipe inodes) and must be equal.

Cases marked `cli` also run each call of the C++ probe in the reference
backend's worker through `execkit run` and compare it with the Python probe.

  probe_selftest.py --cpp-runner BIN --execkit BIN --probe-dir DIR --source-dir DIR
                    [--only names|tasks] [--filter RE] [--jobs N] [--keep] [--show]
"""

import sys

sys.dont_write_bytecode = True  # the sibling modules below live in the source tree

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import ctypes  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

from selftest_cases import all_cases, tested_tasks  # noqa: E402
from selftest_cli import cli_problems  # noqa: E402
from selftest_names import name_problems  # noqa: E402
from selftest_runs import Run, Runner  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpp-runner", required=True)
    parser.add_argument("--execkit", help="the execkit CLI; without it the `cli` comparisons are left out")
    parser.add_argument("--probe-dir", required=True, help="the build's dir of libexeckit_probe.so and execkit_probe.py")
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--only", choices=("names", "tasks"))
    parser.add_argument("--filter", default="", help="run only the cases whose id matches this regex")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the run dirs")
    parser.add_argument("--show", action="store_true", help="print what each case observed (C++ side)")
    return parser.parse_args()


def runners(arguments):
    here = os.path.dirname(os.path.abspath(__file__))
    return [
        Runner("cpp", [os.path.abspath(arguments.cpp_runner)], "libexeckit_probe.so", "libshadow.so",
               "libunresolved.so"),
        Runner("python", [sys.executable, os.path.join(here, "probe_runner.py")], "execkit_probe.py", "shadow.py",
               "unresolved.py"),
    ]


def differences(first, second, names):
    """Lines naming each part of two observations that differs."""
    lines = []
    for key in first:
        if first[key] == second[key]:
            continue
        if key == "calls":
            for index, (a, b) in enumerate(zip(first[key], second[key])):
                if a != b:
                    lines.append(f"  call {index}:\n    {names[0]}: {a}\n    {names[1]}: {b}")
        else:
            lines.append(f"  {key}:\n    {names[0]}: {first[key]}\n    {names[1]}: {second[key]}")
    return lines


def run_case(case, arguments, root, env):
    """Problems of one case: a difference between the probes, or a failed check."""
    case_root = os.path.join(root, re.sub(r"[^A-Za-z0-9_.-]", "_", case.id))
    observations, problems = [], []
    for runner in runners(arguments):
        run = Run(case, runner, case_root, os.path.abspath(arguments.probe_dir), env)
        try:
            observation = run.execute()
        except Exception:
            return [f"{runner.language}: {traceback.format_exc()}"] + run.problems
        problems += run.problems
        if case.check:
            problems += case.check(run, observation)
        for index, allowed in case.racy.items():
            if observation["calls"][index] in allowed:
                observation["calls"][index] = " or ".join(allowed)
        observations.append(observation)
    problems += differences(observations[0], observations[1], ("C++   ", "Python"))
    if case.cli and arguments.execkit:
        problems += cli_problems(case, os.path.abspath(arguments.execkit), case_root,
                                 os.path.abspath(arguments.probe_dir), env, observations[1])
    if arguments.show:
        print(f"{case.id}: {observations[0]}", flush=True)
    return problems


def run_cases(arguments, cases):
    root = tempfile.mkdtemp(prefix="execkit-probe-selftest-")
    os.chmod(root, 0o755)  # for tasks that give up root (change_credentials)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": root,
           "EXECKIT_WORKER_ID": "5e1f7e57c0de", "EXECKIT_NODE_ID": "selftest-node"}
    os.umask(0o022)
    # Whatever a task leaves behind is reparented here, to be reaped at the end.
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    failed = 0
    try:
        with concurrent.futures.ThreadPoolExecutor(arguments.jobs) as pool:
            futures = {pool.submit(run_case, case, arguments, root, env): case for case in cases}
            for future in concurrent.futures.as_completed(futures):
                problems = future.result()
                if problems:
                    failed += 1
                    print(f"FAIL {futures[future].id}\n" + "\n".join(problems), flush=True)
    finally:
        reap_orphans()
        if not arguments.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"run dirs kept in {root}")
    return failed


def reap_orphans():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main():
    arguments = parse_arguments()
    cases = all_cases()
    status = 0
    if arguments.only in (None, "names"):
        problems = name_problems(arguments.source_dir, tested_tasks(cases))
        for problem in problems:
            print(f"FAIL names: {problem}")
        print(f"names: {'ok' if not problems else 'differ'}")
        status |= bool(problems)
    if arguments.only in (None, "tasks"):
        selected = [case for case in cases if re.search(arguments.filter, case.id)]
        start = time.monotonic()
        failed = run_cases(arguments, selected)
        print(f"tasks: {len(selected) - failed} of {len(selected)} cases agree ({time.monotonic() - start:.1f} s)")
        status |= bool(failed)
    return status


if __name__ == "__main__":
    sys.exit(main())
