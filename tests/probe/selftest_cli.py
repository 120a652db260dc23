"""The C++ probe in the reference backend's worker, through `execkit run`
(docs/cli.md), against the Python probe in its runner: for cases whose
answers do not depend on what runs the task, each call's outcome must be the
same (a fresh worker per call)."""

import re
import signal
import subprocess

from selftest_runs import CPP_ERROR_TYPES, Run, Runner

CLI_RUNNER = Runner("cli", [], "libexeckit_probe.so", "libshadow.so", "libunresolved.so")

TASK_FAILED = re.compile(rb"^execkit: task failed: ([^:\n]+(?:::[^:\n]+)*)(?:: ([^\n]*))?$", re.MULTILINE)
KILLED = re.compile(rb"^execkit: worker killed by signal ([0-9]+)", re.MULTILINE)
EXITED = re.compile(rb"^execkit: worker exited with status ([0-9]+)", re.MULTILINE)


def cli_outcomes(case, execkit, case_root, probe_dir, env):
    """Each call of the case through `execkit run`, as "result ...", "error T: m" or "crash ..."."""
    run = Run(case, CLI_RUNNER, case_root, probe_dir, env)
    run.prepare()
    if case.spill:
        env = dict(env, EXECKIT_SPILL_DIR=run.spill)
    outcomes = []
    for module, function, input_file in run.prepared_calls:
        completed = subprocess.run([execkit, "run", "-L", probe_dir, "--input", input_file, "--cwd", run.work,
                                    "--", module, function], env=env, cwd=run.work, stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=60)
        outcomes.append(describe(run, completed))
    return outcomes


def describe(run, completed):
    if completed.returncode == 0:
        return f"result {run.normalise(completed.stdout)}"
    if completed.returncode == 3 and (failed := TASK_FAILED.search(completed.stderr)):
        error_type = failed.group(1).decode()
        return f"error {CPP_ERROR_TYPES.get(error_type, error_type)}: {run.normalise(failed.group(2) or b'')}"
    if completed.returncode == 5 and (killed := KILLED.search(completed.stderr)):
        return f"crash signal {signal.Signals(int(killed.group(1))).name}"
    if completed.returncode == 5 and (exited := EXITED.search(completed.stderr)):
        return f"crash exit {int(exited.group(1))}"
    return f"execkit exit {completed.returncode}: {completed.stderr.decode(errors='replace')}"


def runner_view(observation):
    """A runner's outcomes as the CLI shows them: the call that ended the process is a crash."""
    outcomes = list(observation["calls"])
    if outcomes and outcomes[-1] == "none":
        code = observation["end"]
        outcomes[-1] = f"crash {code}"
    return outcomes


def cli_problems(case, execkit, case_root, probe_dir, env, python_observation):
    expected = runner_view(python_observation)
    actual = cli_outcomes(case, execkit, case_root, probe_dir, env)
    return [f"  call {index} (C++ in execkit-worker via execkit run):\n    C++   : {a}\n    Python: {b}"
            for index, (a, b) in enumerate(zip(actual, expected)) if a != b]
