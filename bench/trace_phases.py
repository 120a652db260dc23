#!/usr/bin/python3
"""Splits warm execute() calls of the reference backend into their hops.

Reads the `perf script` output of a run of
`execkit_bench --benchmark_filter=execkit/warm_trivial` recorded with

  perf record -e raw_syscalls:sys_enter --filter 'id == 1 || id == 44 || id == 46 || id == 202' \\
              -e raw_syscalls:sys_exit  --filter 'id == 47 || id == 202 || id == 232' -- execkit_bench ...

converted with `perf script --ns -F comm,pid,tid,time,event,trace`, and prints
the median and p90 of each hop (docs/performance.md):

  A caller  write(eventfd)       enqueue wakes the I/O thread
  B io      sendmsg()            request goes to the worker
  C worker  recvmsg() returns    worker has the request
  D worker  sendto()             worker sends the response
  E io      epoll_wait() returns I/O thread has been woken by it
  F io      futex(WAKE)          promise set: caller is woken
  G caller  futex() returns      execute() is about to return
"""
import re
import statistics
import sys

LINE = re.compile(r"^\s*(?P<comm>\S+)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<time>[\d.]+):\s+raw_syscalls:(?P<kind>sys_enter|sys_exit):\s+NR (?P<nr>\d+)(?P<rest>.*)$")
SYS_WRITE, SYS_SENDTO, SYS_SENDMSG, SYS_RECVMSG, SYS_FUTEX, SYS_EPOLL_WAIT = 1, 44, 46, 47, 202, 232
FUTEX_WAKE_PRIVATE = "81"

HOPS = [
    ("A→B", "caller → I/O thread (eventfd write, epoll wake-up, take_inbox, dispatch, encode)"),
    ("B→C", "I/O thread → worker (sendmsg, worker wake-up, recvmsg)"),
    ("C→D", "in the worker (decode, module lookup, task, restore, encode)"),
    ("D→E", "worker → I/O thread (sendto, epoll wake-up)"),
    ("E→F", "in the I/O thread (recv, stderr drain, decode, Outcome, finish)"),
    ("F→G", "I/O thread → caller (futex wake-up of the promise)"),
    ("G→A'", "in the caller between calls (hooks, Result, the benchmark's own bookkeeping, next CallState)"),
]


def events(lines):
    for line in lines:
        m = LINE.match(line)
        if m:
            yield (float(m["time"]) * 1e6, m["comm"], int(m["pid"]), int(m["tid"]), m["kind"], int(m["nr"]), m["rest"])


def phases(stream):
    caller = io = None
    calls, current = [], None
    expect = "A"
    for t, comm, pid, tid, kind, nr, rest in stream:
        is_worker = comm.startswith("execkit-worker")
        if kind == "sys_enter" and nr == SYS_SENDMSG and not is_worker:
            io = tid
        if caller is None and not is_worker and pid == tid:
            caller = tid
        if expect == "A" and tid == caller and kind == "sys_enter" and nr == SYS_WRITE:
            if current is not None and "G" in current:
                current["A'"] = t
                calls.append(current)
            current, expect = {"A": t}, "B"
        elif expect == "B" and tid == io and kind == "sys_enter" and nr == SYS_SENDMSG:
            current["B"], expect = t, "C"
        elif expect == "C" and is_worker and kind == "sys_exit" and nr == SYS_RECVMSG:
            current["C"], expect = t, "D"
        elif expect == "D" and is_worker and kind == "sys_enter" and nr == SYS_SENDTO:
            current["D"], expect = t, "E"
        elif expect == "E" and tid == io and kind == "sys_exit" and nr == SYS_EPOLL_WAIT:
            current["E"], expect = t, "F"
        elif expect == "F" and tid == io and kind == "sys_enter" and nr == SYS_FUTEX:
            if rest.split(",")[1].strip() == FUTEX_WAKE_PRIVATE:
                current["F"], expect = t, "G"
        elif expect == "G" and tid == caller and kind == "sys_exit" and nr == SYS_FUTEX:
            current["G"], expect = t, "A"
    return calls


def main():
    calls = phases(events(open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin))
    if len(calls) < 10:
        sys.exit(f"trace_phases: found {len(calls)} complete calls; is this a warm_trivial trace?")
    calls = calls[len(calls) // 10:]  # skip warm-up
    print(f"{len(calls)} calls")
    print(f"{'hop':6} {'p50 µs':>8} {'p90 µs':>8}  what")
    total = 0.0
    for hop, what in HOPS:
        start, end = hop.split("→")
        values = sorted(c[end] - c[start] for c in calls)
        p50 = statistics.median(values)
        total += p50
        print(f"{hop:6} {p50:8.1f} {values[int(len(values) * 0.9)]:8.1f}  {what}")
    whole = sorted(c["A'"] - c["A"] for c in calls)
    print(f"{'A→A′':6} {statistics.median(whole):8.1f} {whole[int(len(whole) * 0.9)]:8.1f}  whole call (sum of hop medians {total:.1f})")


if __name__ == "__main__":
    main()
