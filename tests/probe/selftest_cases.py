"""The self-test's cases: every probe task with representative inputs, alone
or in a sequence of calls in one process (nothing is restored between calls,
so a later call sees what an earlier one changed)."""

import os
import shutil

from selftest_runs import Case

MIB = 1 << 20
SPILLED = 100_000  # past the runners' 32 KiB inline limit


# ---- hooks (each gets the Run)

def kill_when(relative):
    """Kills the hanging runner once `relative` exists."""
    def during(run):
        run.wait_for_file(relative)
        run.note_leftovers()
        run.kill()
    return during


def counter_then_kill(run):
    run.wait_for(lambda: os.path.exists(run.path("counter")) and os.path.getsize(run.path("counter")) == 1, "counter")
    run.kill()


def release_gate(name, release):
    def during(run):
        run.wait_for_file(f"gates/started.{name}")
        run.touch(f"gates/{release}")
    return during


def second_arrival(run):
    run.wait_for(lambda: any(name.startswith("arrived.") and ".tmp." not in name
                             for name in os.listdir(run.path("rv"))), "the task's arrival")
    run.touch("rv/arrived.peer")


def go_when_waiting(run):
    run.wait_for_file("marker")
    run.touch("go")


def attack_while_gated(run):
    """tamper_later's thread acts once t/go exists; the gate keeps the runner alive meanwhile."""
    run.wait_for_file("gates/started.t")
    run.touch("t/go")
    run.wait_for_file("t/acted")
    run.touch("gates/release.t")


def attack_after_exit(run):
    """tamper_later's grandchild outlives the runner and acts once t/go exists."""
    run.wait_for_file("t/attacker")
    run.touch("t/go")
    run.wait_for_file("t/acted")
    run.wait_for(lambda: all(run.leftover_ended(pid) for pid in run.leftover_pids()), "the attacker to exit")


# ---- checks (per runner)

def cmdline_is_argv(run, observation):
    return [] if observation["calls"][0] == "result {cmdline}" else [
        f"{run.runner.language}: cmdline is not the runner's argv: {observation['calls'][0]}"]


def used_cpu(seconds):
    def check(run, observation):
        used = run.rusage.ru_utime + run.rusage.ru_stime
        return [] if used >= seconds else [f"{run.runner.language}: used {used:.3f} s of CPU, not {seconds} s"]
    return check


def peak_rss_at_least(mib):
    def check(run, observation):
        peak = run.rusage.ru_maxrss // 1024
        return [] if peak >= mib else [f"{run.runner.language}: peak RSS {peak} MiB, not {mib} MiB"]
    return check


# ---- the cases, by C++ source file

def basic_cases():
    return [
        Case("echo/text", cli=True, calls=[("echo", "hello")]),
        Case("echo/empty", cli=True, calls=[("echo", "")]),
        Case("echo/binary", cli=True, calls=[("echo", bytes(range(256)) * 3)]),
        Case("env/plain", [("env", "")]),
        Case("proc_environ/plain", [("proc_environ", ""), ("setenv", "ADDED=1"), ("proc_environ", "")]),
        Case("cwd/plain", [("cwd", "")]),
        Case("chdir/then-cwd", [("chdir", "{run}/elsewhere"), ("cwd", "")], dirs=("elsewhere",)),
        Case("chdir/missing", [("chdir", "{run}/missing"), ("cwd", "")]),
        Case("pid/plain", [("pid", "")]),
        Case("fail/plain", cli=True, calls=[("fail", "boom: it failed")]),
        Case("write_bytes/sizes", cli=True, calls=[("write_bytes", "0"), ("write_bytes", "100"), ("write_bytes", "65536,3"),
                                   ("write_bytes", "200000,18446744073709551615")]),
        Case("write_bytes/spilled", [("write_bytes", "300000,5"), ("write_bytes", "70000,3,4096"),
                                     ("write_bytes", "131080,9,7")], spill=True),
        Case("write_bytes/bad", cli=True, calls=[("write_bytes", "abc"), ("write_bytes", "-1"), ("write_bytes", "1,2,0"),
                                 ("write_bytes", "1,x"), ("write_bytes", "18446744073709551616"), ("write_bytes", "")]),
        Case("setenv/then-env", [("setenv", "EXECKIT_SELFTEST=a=b"), ("setenv", "PATH=/nowhere"), ("env", "")]),
        Case("setenv/bad", [("setenv", "novalue"), ("setenv", "=value"), ("env", "")]),
        Case("sleep_ms/plain", cli=True, calls=[("sleep_ms", "30"), ("sleep_ms", "0"), ("sleep_ms", "3s")]),
        Case("crash_signal/term", cli=True, calls=[("crash_signal", "15")]),
        Case("crash_signal/int", cli=True, calls=[("crash_signal", "2")]),  # Python handles SIGINT unless told not to
        Case("crash_signal/pipe", cli=True, calls=[("crash_signal", "13")]),  # Python ignores SIGPIPE unless told not to
        Case("crash_signal/bad", cli=True, calls=[("crash_signal", "0"), ("crash_signal", "65"), ("crash_signal", "x")]),
        Case("exit_code/seven", [("exit_code", "7"), ("echo", "never runs")]),
        Case("exit_code/zero", [("exit_code", "0"), ("echo", "never runs")]),
        Case("exit_code/bad", cli=True, calls=[("exit_code", "256"), ("exit_code", "-1")]),
    ]


def observe_cases():
    return [
        Case("fds/plain", [("fds", "")]),
        Case("fds/after-close", [("close_fd", "0"), ("fds", "")]),
        Case("signals/plain", cli=True, calls=[("signals", "")]),
        # The state a Python process gives itself, which the Python probe reports as the kernel has it.
        # Tasks off the main thread: the mask is the calling thread's, handlers come from C. (No
        # "threads" here: a joined thread can still be listed for a moment.)
        Case("signals/in-threads", [("disturb_signals", ""), ("signals", ""), ("crash_signal", "15")],
             thread=True),
        # The SIGUSR2 it sends the process is unblocked in the main thread, which
        # dies of it: before or after the call's outcome is written, as the
        # scheduler has it (CI saw both). The end and the next call are exact.
        Case("leave_pending/in-a-thread", [("leave_pending", ""), ("echo", "never runs")], thread=True,
             racy={0: ("none", "result ok")}),
        Case("signals/python-start", [("signals", ""), ("crash_signal", "2"), ("crash_signal", "13"),
                                      ("disturb_signals", ""), ("signals", "")], python_signals=True),
        Case("umask/plain", cli=True, calls=[("umask", "")]),
        Case("rlimits/plain", cli=True, calls=[("rlimits", "")]),
        Case("credentials/plain", cli=True, calls=[("credentials", "")]),
        Case("identity/plain", [("identity", "")]),
        Case("cmdline/plain", [("cmdline", "")], check=cmdline_is_argv),
        Case("threads/plain", [("threads", "")]),
        Case("exists/paths", cli=True, calls=[("exists", "{run}/work"), ("exists", "{run}/absent"), ("exists", ""),
                              ("exists", "{run}/dangling")]),
        Case("module_state/counts", [("module_state", ""), ("module_state", ""), ("{probe_copy}", "module_state", ""),
                                     ("module_state", "")]),
        Case("pdeathsig/none", [("pdeathsig", "")]),
    ] + ([Case("pdeathsig/kill", [("pdeathsig", "")], pdeathsig=True)] if shutil.which("setpriv") else [])


def disturb_cases():
    return [
        Case("disturb_signals/then-signals", [("disturb_signals", ""), ("signals", "")]),
        Case("disturb_signals/twice", [("disturb_signals", ""), ("disturb_signals", ""), ("signals", "")]),
        Case("set_umask/then-umask", [("set_umask", "77"), ("umask", ""), ("set_umask", " +017"), ("set_umask", "-0"),
                                      ("umask", "")]),
        Case("set_umask/bad", cli=True, calls=[("set_umask", "8"), ("set_umask", "1000"), ("set_umask", ""), ("set_umask", "-1"),
                               ("set_umask", "7x")]),
        Case("close_fd/kinds", [("close_fd", "999"), ("close_fd", "-1"), ("close_fd", " 2abc"), ("close_fd", "abc"),
                                ("close_fd", "99999999999"), ("fds", "")]),
        Case("set_soft_rlimit/then-rlimits", [("set_soft_rlimit", "NOFILE,77"), ("set_soft_rlimit", "CORE,0"),
                                              ("rlimits", "")]),
        Case("set_soft_rlimit/bad", cli=True, calls=[("set_soft_rlimit", "BOGUS,1"), ("set_soft_rlimit", "NOFILE"),
                                     ("set_soft_rlimit", "NOFILE,x"), ("set_soft_rlimit", "NOFILE,99999999999999"),
                                     ("rlimits", "")]),
        Case("lower_hard_rlimit/then-rlimits", [("lower_hard_rlimit", "NOFILE,100"), ("lower_hard_rlimit", "CORE,0"),
                                                ("lower_hard_rlimit", "CPU,5000"), ("rlimits", ""),
                                                ("set_soft_rlimit", "NOFILE,200")]),
        Case("change_credentials/groups", [("change_credentials", "groups"), ("credentials", "")]),
        Case("change_credentials/gid", [("change_credentials", "gid"), ("credentials", "")]),
        Case("change_credentials/euid", [("change_credentials", "euid"), ("credentials", "")]),
        Case("change_credentials/all", [("change_credentials", "all"), ("credentials", ""),
                                        ("change_credentials", "groups")]),
        Case("change_credentials/bad", cli=True, calls=[("change_credentials", "root")]),
        Case("mutate_env/then-env", [("mutate_env", "A=1\nB=x=y\n\n-PATH\n-NOT_SET\n-\n-A=1\nC="), ("env", "")]),
        Case("mutate_env/bad", [("mutate_env", "D=1\n=bad\nE=2"), ("env", "")]),
    ]


def outcome_cases():
    counter = "{run}/counter|"
    return [
        Case("bump_counter/ok", [("bump_counter", counter + "ok"), ("bump_counter", counter + "ok")],
             observe=("counter",)),
        Case("bump_counter/fail", [("bump_counter", counter + "fail")], observe=("counter",)),
        Case("bump_counter/abort", [("bump_counter", counter + "abort")], observe=("counter",)),
        Case("bump_counter/hang", [("bump_counter", counter + "hang")], during=counter_then_kill, observe=("counter",)),
        Case("bump_counter/bad", cli=True, calls=[("bump_counter", counter + "bogus"), ("bump_counter", "{run}/counter"),
                                  ("bump_counter", "{run}/nodir/counter|ok")], observe=("counter",)),
        Case("print_and_fail/plain", cli=True, calls=[("print_and_fail", "printed, then failed")]),
        Case("print_and_succeed/plain", cli=True, calls=[("print_and_succeed", "printed"), ("print_and_succeed", "")]),
        Case("stderr_flood_then_fail/plain", cli=True, calls=[("stderr_flood_then_fail", "100000,THE-LAST-WORDS")]),
        Case("stderr_flood_then_fail/bad", cli=True, calls=[("stderr_flood_then_fail", "100"), ("stderr_flood_then_fail", "x,y")]),
        Case("flood/stdout", cli=True, calls=[("flood", "stdout,3")]),
        Case("flood/stderr", [("flood", "stderr,2")]),
        Case("flood/bad", cli=True, calls=[("flood", "stdin,1"), ("flood", "stdout,x"), ("flood", "stdout")]),
        Case("call_exit/three", [("call_exit", "3"), ("echo", "never runs")]),
        Case("call_exit/bad", cli=True, calls=[("call_exit", "256")]),
        Case("call_abort/plain", cli=True, calls=[("call_abort", "")]),
        Case("segfault/plain", cli=True, calls=[("segfault", "")]),
        Case("burn_cpu_ms/plain", cli=True, calls=[("burn_cpu_ms", "150")], check=used_cpu(0.15)),
        Case("burn_cpu_ms/bad", cli=True, calls=[("burn_cpu_ms", "1.5")]),
        Case("touch_mib/plain", cli=True, calls=[("touch_mib", "64")], check=peak_rss_at_least(64)),
        Case("touch_mib/bad", cli=True, calls=[("touch_mib", "")]),
        Case("write_limited/inline", [("write_limited", "200000,65536"), ("rlimits", "")]),
        Case("write_limited/spilled", [("write_limited", "200000,65536"), ("rlimits", ""), ("echo", "still here")],
             spill=True),
        Case("write_limited/bad", cli=True, calls=[("write_limited", "1"), ("write_limited", "1,x")]),
    ]


def descendant_cases():
    return [
        Case("spawn_grandchild/plain", [("spawn_grandchild", "{run}/child.pid,plain,return"), ("echo", "after")],
             pid_files=("child.pid",)),
        Case("spawn_grandchild/daemon", [("spawn_grandchild", "{run}/child.pid,daemon,return")],
             pid_files=("child.pid",)),
        Case("spawn_grandchild/hang", [("spawn_grandchild", "{run}/child.pid,plain,hang")],
             during=kill_when("child.pid"), pid_files=("child.pid",)),
        Case("spawn_grandchild/bad", cli=True, calls=[("spawn_grandchild", "{run}/child.pid,plain")]),
        Case("leave_thread/then-threads", [("leave_thread", ""), ("threads", ""), ("leave_thread", ""), ("threads", "")]),
        Case("leave_child/plain", [("leave_child", "{run}/child.pid"), ("threads", "")], pid_files=("child.pid",)),
    ]


def sync_cases():
    return [
        Case("gate/own-release", [("gate", "{run}/gates,g1")], dirs=("gates",), during=release_gate("g1", "release.g1"),
             observe=("gates/",)),
        Case("gate/release-all", [("gate", "{run}/gates,g2"), ("gate", "{run}/gates,g3")], dirs=("gates",),
             during=release_gate("g2", "release.all"), observe=("gates/",)),
        Case("gate/bad", [("gate", "{run}/gates"), ("gate", "{run}/nodir,g")]),
        Case("rendezvous/alone", [("rendezvous", "{run}/rv,1"), ("rendezvous", "{run}/rv,2")], dirs=("rv",),
             observe=("rv/",)),
        Case("rendezvous/pair", [("rendezvous", "{run}/rv,2")], dirs=("rv",), during=second_arrival, observe=("rv/",)),
        Case("rendezvous/bad", [("rendezvous", "{run}/rv,x"), ("rendezvous", "{run}/nodir,1")], dirs=("rv",),
             observe=("rv/",)),
    ]


def spill_cases():
    canary = {"canary": b"c" * SPILLED}
    cases = [
        Case("write_then/ok", [("write_then", "1000,ok,{run}/marker")], observe=("marker",)),
        Case("write_then/spilled", [("write_then", f"{SPILLED},ok,-")], spill=True),
        Case("write_then/fail", cli=True, calls=[("write_then", "10,fail,{run}/marker")], observe=("marker",)),
        Case("write_then/exit", cli=True, calls=[("write_then", "10,exit,-")]),
        Case("write_then/abort", cli=True, calls=[("write_then", "10,abort,-")]),
        Case("write_then/hang", [("write_then", "10,hang,{run}/marker")], during=kill_when("marker")),
        Case("write_then/wait", [("write_then", "10,wait={run}/go,{run}/marker")], during=go_when_waiting),
        Case("write_then/bad", cli=True, calls=[("write_then", "10,bogus,-"), ("write_then", "10,ok")]),
        Case("swap_spill/no-spill-file", [("swap_spill", "{spill},symlink,1000,{run}/canary")], spill=True),
        Case("swap_spill/bad", [("swap_spill", f"{{spill}},bogus,{SPILLED},{{run}}/canary"),
                                ("swap_spill", "{spill},symlink,1")], spill=True),
        Case("swap_spill/cannot-link", [("swap_spill", f"{{spill}},hardlink,{SPILLED},{{run}}/absent")], spill=True),
    ]
    for kind in ("symlink", "fifo", "wrong_size", "directory", "foreign_owner", "hardlink"):
        cases.append(Case(f"swap_spill/{kind}", [("swap_spill", f"{{spill}},{kind},{SPILLED},{{run}}/canary"),
                                                  ("echo", "after")], spill=True, files=canary, observe=("canary",)))
    return cases


def tamper_cases():
    def later(mode, action, size=SPILLED):
        return ("tamper_later", f"{{spill}},{size},{mode},{action},{{run}}/t")
    return [
        Case("tamper_later/no-result-file", [later("thread", "truncate", 1000)], spill=True, dirs=("t",)),
        Case("tamper_later/keep_handle", [later("keep_handle", "truncate"), ("fds", ""),
                                          ("tamper_kept", f"{{spill}},truncate,{SPILLED}")], spill=True, dirs=("t",)),
        Case("tamper_later/keep_handle-extend", [later("keep_handle", "extend"),
                                                 ("tamper_kept", f"{{spill}},extend,{SPILLED}")], spill=True, dirs=("t",)),
        Case("tamper_later/keep_mapping", [later("keep_mapping", "overwrite"), ("fds", ""),
                                           ("tamper_kept", f"{{spill}},overwrite,{SPILLED}")], spill=True, dirs=("t",)),
        Case("tamper_later/thread", [later("thread", "overwrite"), ("gate", "{run}/gates,t")], spill=True,
             dirs=("t", "gates"), during=attack_while_gated, observe=("t/acted", "t/attacker")),
        Case("tamper_later/grandchild", [later("grandchild", "extend")], spill=True, dirs=("t",),
             after=attack_after_exit, observe=("t/acted", "t/attacker"), pid_files=("t/attacker",)),
        Case("tamper_later/bad", cli=True, calls=[later("keep_handle", "bogus"), later("bogus", "truncate"), ("tamper_later", "x")],
             spill=True, dirs=("t",)),
        Case("tamper_kept/nothing-kept", cli=True, calls=[("tamper_kept", "{spill},truncate,10"), ("tamper_kept", "{spill},bogus,10")],
             spill=True),
    ]


def timer_cases():
    return [
        Case("arm_timer/real", [("arm_timer", "real"), ("timer_state", "-")]),
        Case("arm_timer/virtual", [("arm_timer", "virtual"), ("timer_state", "-")]),
        Case("arm_timer/prof", [("arm_timer", "prof"), ("timer_state", "-")]),
        Case("arm_timer/posix_wall", [("arm_timer", "posix_wall"), ("timer_state", "0"), ("timer_state", "1")]),
        Case("arm_timer/posix_cpu", [("arm_timer", "posix_cpu"), ("timer_state", "0")]),
        Case("arm_timer/virtual-fires", [("arm_timer", "virtual"), ("burn_cpu_ms", "2000")]),
        Case("arm_timer/posix_cpu-fires", [("arm_timer", "posix_cpu"), ("burn_cpu_ms", "2000")]),
        Case("arm_timer/bad", cli=True, calls=[("arm_timer", "bogus"), ("timer_state", "x"), ("timer_state", "-")]),
        Case("timer_state/none", cli=True, calls=[("timer_state", "-"), ("timer_state", "3")]),
        Case("leave_pending/then-pending", [("leave_pending", ""), ("pending_signals", ""), ("signals", "")]),
        Case("pending_signals/none", cli=True, calls=[("pending_signals", "")]),
    ]


def shadow_cases():
    return [
        Case("variant/a-and-b", cli=True, calls=[("{shadow_a}", "variant", ""), ("{shadow_b}", "variant", "")]),
        Case("state/per-file", [("{shadow_a}", "state", ""), ("{shadow_a}", "state", ""), ("{shadow_b}", "state", ""),
                                ("{shadow_a}", "state", "")]),
        Case("use_missing/does-not-load", [("{unresolved}", "use_missing", ""), ("echo", "after")]),
        Case("runner/missing-function", [("no_such_task", "")]),
    ]


def all_cases():
    cases = (basic_cases() + observe_cases() + disturb_cases() + outcome_cases() + descendant_cases()
             + sync_cases() + spill_cases() + tamper_cases() + timer_cases() + shadow_cases())
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


def tested_tasks(cases):
    return {call[-2] for case in cases for call in case.calls} - {"no_such_task"}
