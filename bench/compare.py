#!/usr/bin/python3
"""Merges execkit_bench's JSON and peers.py's JSON into one Markdown table,
and with redis_peers.py's JSON a second one, "distributed".

  compare.py EXECKIT_JSON PEERS_JSON [--redis-peers REDIS_PEERS_JSON] [--markdown-out FILE]

Columns: case | execkit | floor | loky | ProcessPoolExecutor | ratios | target.
Distributed: case | floor (raw hiredis relay) | execkit | Celery | RQ |
execkit / floor | Celery / execkit.
Every number is a median (p50) of per-call timings unless it says otherwise;
throughputs are calls or bytes per second over whole batches.
"""
import argparse
import json
import sys

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
PEERS = ("loky", "ProcessPoolExecutor")
REDIS_PEERS = ("Celery", "RQ")


def load_benchmarks(path):
    """Cases by name; with --benchmark_repetitions, the median over repetitions."""
    with open(path) as f:
        data = json.load(f)
    cases = {}
    for entry in data.get("benchmarks", []):
        if entry.get("run_type") == "aggregate" and entry.get("aggregate_name") != "median":
            continue
        # "execkit/warm_trivial/iterations:3000/manual_time" -> "execkit/warm_trivial"
        run_name = entry.get("run_name", entry["name"])
        name = "/".join(p for p in run_name.split("/") if not p.startswith(("iterations:", "manual_time", "min_time:")))
        if entry.get("run_type") == "aggregate" or name not in cases or entry.get("error_occurred"):
            cases[name] = entry
    return data.get("context", {}), cases


def load_peers(path, peers=PEERS):
    with open(path) as f:
        data = json.load(f)
    results = {}
    for peer in peers:
        info = data.get("peers", {}).get(peer, {})
        results[peer] = info.get("results", {}) if "results" in info else {"*": {"error": info.get("error", "not run")}}
    return data, results


def duration(us):
    if us is None:
        return "—"
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.1f} µs"


def rate(per_second, unit):
    if per_second is None:
        return "—"
    if unit == "B/s":
        for scale, name in ((GIB, "GiB/s"), (MIB, "MiB/s"), (KIB, "KiB/s")):
            if per_second >= scale:
                return f"{per_second / scale:.2f} {name}"
        return f"{per_second:.0f} B/s"
    return f"{per_second:,.0f} {unit}"


def size_name(size):
    for scale, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size >= scale:
            return f"{size // scale} {name}"
    return f"{size} B"


class Table:
    def __init__(self, execkit_cases, peer_results):
        self.execkit = execkit_cases
        self.peers = peer_results
        self.rows = []
        self.verdicts = []

    def bench(self, name, field="p50_us"):
        entry = self.execkit.get(name)
        if entry is None or entry.get("error_occurred"):
            return None
        return entry.get(field)

    def bench_error(self, name):
        entry = self.execkit.get(name)
        if entry is None:
            return "not run"
        return entry.get("error_message") if entry.get("error_occurred") else None

    def peer(self, peer, case, field):
        results = self.peers.get(peer, {})
        if "*" in results:
            return None
        return results.get(case, {}).get(field)

    def peer_error(self, peer, case):
        results = self.peers.get(peer, {})
        entry = results.get("*") or results.get(case)
        if entry is None:
            return "not run"
        return entry.get("error")

    def add(self, case, execkit, floor, loky, stdlib, ratios, target=""):
        self.rows.append((case, execkit, floor, loky, stdlib, ratios, target))

    def verdict(self, met, text):
        if met is None:
            return f"{text}: no data"
        self.verdicts.append((text, met))
        return f"{text}: **{'met' if met else 'MISSED'}**"

    def markdown(self):
        header = ("case", "execkit", "floor", "loky", "ProcessPoolExecutor", "ratios", "target")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in self.rows]
        return "\n".join(lines)


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def fmt_ratio(value, text):
    return f"{value:.2f}× {text}" if value is not None else f"— {text}"


def latency_cell(table, name, p99=True):
    p50 = table.bench(name)
    if p50 is None:
        return f"error: {table.bench_error(name)}"
    return f"{duration(p50)} (p99 {duration(table.bench(name, 'p99_us'))})" if p99 else duration(p50)


def peer_latency_cell(table, peer, case, p99=True):
    p50 = table.peer(peer, case, "p50_us")
    if p50 is None:
        return f"error: {table.peer_error(peer, case)}"
    return f"{duration(p50)} (p99 {duration(table.peer(peer, case, 'p99_us'))})" if p99 else duration(p50)


def build(table):
    # Warm trivial call.
    ek = table.bench("execkit/warm_trivial")
    pipe = table.bench("floor/pipe_pingpong")
    loky = table.peer("loky", "warm_trivial", "p50_us")
    stdlib = table.peer("ProcessPoolExecutor", "warm_trivial", "p50_us")
    loky_ratio = ratio(loky, ek)
    loky_pinned = table.peer("loky", "warm_trivial/one_cpu", "p50_us")
    # The floor target is judged on one CPU, call and floor alike: a wake-up
    # of a halted vCPU costs tens of µs on the VM measured and can land on
    # either side of an unpinned comparison (docs/performance.md).
    pinned = table.bench("execkit/warm_trivial/one_cpu")
    pipe_pinned = table.bench("floor/pipe_pingpong/one_cpu")
    floor_ratio = ratio(pinned, pipe_pinned) if pinned and pipe_pinned else ratio(ek, pipe)
    loky_verdict_ratio = ratio(loky_pinned, pinned) if pinned and loky_pinned else loky_ratio
    table.add(
        "warm trivial call (1 worker)",
        latency_cell(table, "execkit/warm_trivial"),
        f"pipe ping-pong {latency_cell(table, 'floor/pipe_pingpong')}",
        peer_latency_cell(table, "loky", "warm_trivial"),
        peer_latency_cell(table, "ProcessPoolExecutor", "warm_trivial"),
        f"{fmt_ratio(ratio(ek, pipe), 'floor')}; loky {fmt_ratio(loky_ratio, 'execkit')}; "
        f"PPE {fmt_ratio(ratio(stdlib, ek), 'execkit')}",
        table.verdict(None if floor_ratio is None else floor_ratio <= 2, "≤ 2× floor (on one CPU)")
        + "; "
        + table.verdict(None if loky_verdict_ratio is None else loky_verdict_ratio >= 10, "≥ 10× faster than loky (on one CPU)"),
    )
    table.add(
        "  split: caller → task start / task / task end → caller",
        " / ".join(duration(table.bench("execkit/warm_trivial", f"{p}p50_us")) for p in ("to_task_", "in_task_", "from_task_"))
        + f"; CPU per call (caller + worker): {duration(table.bench('execkit/warm_trivial', 'cpu_us'))}",
        "two-hop relay " + latency_cell(table, "floor/two_hop_relay")
        + f"; SEQPACKET ping-pong {latency_cell(table, 'floor/socketpair_pingpong/seqpacket', p99=False)}",
        "", "", f"{fmt_ratio(ratio(ek, table.bench('floor/two_hop_relay')), 'two-hop relay')}", "")

    table.add(
        "  the same, caller, threads and worker on one CPU",
        latency_cell(table, "execkit/warm_trivial/one_cpu")
        + f"; CPU per call {duration(table.bench('execkit/warm_trivial/one_cpu', 'cpu_us'))}",
        f"pipe ping-pong on one CPU {latency_cell(table, 'floor/pipe_pingpong/one_cpu')}; "
        f"two-hop relay on one CPU {latency_cell(table, 'floor/two_hop_relay/one_cpu', p99=False)}",
        peer_latency_cell(table, "loky", "warm_trivial/one_cpu"),
        peer_latency_cell(table, "ProcessPoolExecutor", "warm_trivial/one_cpu"),
        f"{fmt_ratio(floor_ratio, 'pipe floor')}; {fmt_ratio(ratio(pinned, table.bench('floor/two_hop_relay/one_cpu')), 'two-hop relay')}; "
        f"loky {fmt_ratio(loky_verdict_ratio if loky_pinned else None, 'execkit')}; "
        f"PPE {fmt_ratio(ratio(table.peer('ProcessPoolExecutor', 'warm_trivial/one_cpu', 'p50_us'), pinned), 'execkit')}",
        "")

    # Throughput.
    for workers in (1, 2):
        case = f"throughput/workers:{workers}"
        ek = table.bench(f"execkit/{case}", "items_per_second")
        loky = table.peer("loky", case, "calls_per_s")
        stdlib = table.peer("ProcessPoolExecutor", case, "calls_per_s")
        target = ""
        if workers == 2:
            target = table.verdict(None if ratio(ek, loky) is None else ratio(ek, loky) >= 5, "≥ 5× loky")
        table.add(
            f"throughput, max_workers={workers}, 256 in flight",
            rate(ek, "calls/s") if ek is not None else f"error: {table.bench_error('execkit/' + case)}",
            "—",
            rate(loky, "calls/s"),
            rate(stdlib, "calls/s"),
            f"{fmt_ratio(ratio(ek, loky), 'loky')}; {fmt_ratio(ratio(ek, stdlib), 'PPE')}",
            target,
        )

    # Cold first call.
    ek = table.bench("execkit/cold_first_call")
    fork_exec = table.bench("floor/fork_exec_wait")
    cold_ratio = ratio(ek, fork_exec)
    table.add(
        "cold first call (backend created → first result)",
        latency_cell(table, "execkit/cold_first_call"),
        f"fork+exec+wait {latency_cell(table, 'floor/fork_exec_wait', p99=False)}; "
        f"posix_spawn+wait {latency_cell(table, 'floor/posix_spawn_wait', p99=False)}",
        peer_latency_cell(table, "loky", "cold_first_call", p99=False),
        peer_latency_cell(table, "ProcessPoolExecutor", "cold_first_call", p99=False),
        f"{fmt_ratio(cold_ratio, 'fork+exec+wait')}; {fmt_ratio(ratio(ek, table.bench('floor/posix_spawn_wait')), 'posix_spawn+wait')}; "
        f"loky {fmt_ratio(ratio(table.peer('loky', 'cold_first_call', 'p50_us'), ek), 'execkit')}",
        table.verdict(None if cold_ratio is None else cold_ratio <= 5, "≤ 5× fork+exec+wait"),
    )
    table.add(
        "  split: backend constructor / execkit-worker start-up alone / dlopen of the probe",
        " / ".join(duration(v) for v in (table.bench("execkit/cold_first_call", "construct_p50_us"),
                                         table.bench("anatomy/posix_spawn_wait_worker_binary"),
                                         table.bench("anatomy/dlopen_probe_module"))),
        "", "", "", "", "")

    # Result sizes.
    for size in (0, KIB, 64 * KIB, MIB, 64 * MIB, GIB):
        name = f"execkit/result/{size}"
        if name not in table.execkit and f"floor/write_map/{size}" not in table.execkit:
            continue
        ek_us = table.bench(name)
        floor_us = table.bench(f"floor/write_map/{size}")
        growth = table.bench(name, "rss_anon_growth_kib")

        def cell(us, bps):
            return f"{duration(us)}" + (f", {rate(bps, 'B/s')}" if size and us else "")

        ek_bps = size / (ek_us / 1e6) if ek_us else None
        floor_bps = size / (floor_us / 1e6) if floor_us else None
        peer_cells = []
        for peer in PEERS:
            us = table.peer(peer, f"result/{size}", "p50_us")
            peer_cells.append(cell(us, size / (us / 1e6)) if us else "—")
        share = ratio(ek_bps, floor_bps) if size else ratio(floor_us, ek_us)
        # CPU time of caller + worker (or peer): what the transfer costs the
        # machine, much less disturbed by other load than wall time.
        cpu_share = ratio(table.bench(f"floor/write_map/{size}", "cpu_us"), table.bench(name, "cpu_us"))
        target = ""
        if size == GIB:
            target = (table.verdict(None if share is None else share >= 0.8, "≥ 80 % of floor") + "; "
                      + table.verdict(None if growth is None else growth < 64 * 1024, "RssAnon growth < 64 MiB"))
        loky_us = table.peer("loky", f"result/{size}", "p50_us")
        table.add(
            f"result {size_name(size)}",
            (cell(ek_us, ek_bps) + f"; RssAnon +{growth / 1024:.1f} MiB") if ek_us is not None
            else f"error: {table.bench_error(name)}",
            f"write+map {cell(floor_us, floor_bps)}",
            peer_cells[0],
            peer_cells[1],
            (f"{share * 100:.0f} % of floor" if share is not None else "—")
            + (f" (CPU time: {cpu_share * 100:.0f} %)" if cpu_share is not None else "")
            + (f"; loky {fmt_ratio(ratio(loky_us, ek_us), 'execkit')}" if loky_us else ""),
            target,
        )

    # Turnarounds and recovery: the peers have no per-call deadline or
    # cancel of a running call, and a crash breaks their pool.
    late = table.bench("execkit/timeout_turnaround")
    table.add("timeout turnaround (deadline passed → error returned)",
              latency_cell(table, "execkit/timeout_turnaround") + " after a 50 ms deadline", "—", "n/a", "n/a", "",
              table.verdict(None if late is None else late <= 50_000, "≤ deadline + 50 ms"))
    table.add("cancel turnaround (cancel() → CancelledError)", latency_cell(table, "execkit/cancel_turnaround"),
              "—", "n/a", "n/a", "", "")
    crash = table.bench("execkit/crash_replacement", "crash_p50_us")
    replace = table.bench("execkit/crash_replacement", "replace_p50_us")
    table.add("worker crash → next result (new worker)",
              latency_cell(table, "execkit/crash_replacement")
              + f"; crash reported {duration(crash)}, next call {duration(replace)}",
              f"posix_spawn+wait {latency_cell(table, 'floor/posix_spawn_wait', p99=False)}", "n/a", "n/a",
              fmt_ratio(ratio(replace, table.bench("floor/posix_spawn_wait")), "posix_spawn (next call)"), "")


# The distributed table: the Redis Streams backend (benchmarks redis/*, added
# with the backend) next to the raw hiredis relay (floor/redis_*, from
# bench/redis_floor_cases.cpp) and Celery and RQ (bench/redis_peers.py).
# Each row: (row name, execkit benchmark, floor benchmark, peer case, kind);
# kind "latency" is p50 time per call, "calls" calls/s, a number a result of
# that many bytes (time per result, and bytes/s from it).
DISTRIBUTED_ROWS = [
    ("warm_call", "redis/warm_call", "floor/redis_relay_rtt", "warm_call", "latency"),
    ("throughput_2_nodes", "redis/throughput/2", "floor/redis_relay_throughput/2", "throughput/2", "calls"),
    ("result_64MiB", "redis/result/64MiB", "floor/redis_chunked/64MiB", "result/64MiB", 64 * MIB),
]


def distributed_table(table, redis_peers):
    """Markdown of the distributed table. The two ratio columns are ratios of
    cost (time per call, or per byte): above 1, the first is slower."""
    def cost_and_cell(kind, p50, p99, per_second, error):
        """(cost in µs per call or per result, cell text) of one measurement."""
        if kind == "latency":
            if p50 is None:
                return None, error
            return p50, f"{duration(p50)} (p99 {duration(p99)})"
        if kind == "calls":
            if not per_second:
                return None, error
            return 1e6 / per_second, rate(per_second, "calls/s")
        if p50 is None:
            return None, error
        return p50, f"{duration(p50)}, {rate(kind / (p50 / 1e6), 'B/s')}"

    def bench_cell(name, kind, missing):
        if name not in table.execkit:
            return None, missing
        field = "items_per_second" if kind == "calls" else "p50_us"
        return cost_and_cell(kind, table.bench(name), table.bench(name, "p99_us"), table.bench(name, field),
                             f"error: {table.bench_error(name)}")

    def peer_cell(peer, case, kind):
        results = redis_peers.get(peer, {})
        entry = results.get("*") or results.get(case)
        if entry is None:
            return None, "not run"
        if "error" in entry:
            return None, "not run" if entry["error"] == "not run" else f"error: {entry['error']}"
        return cost_and_cell(kind, entry.get("p50_us"), entry.get("p99_us"), entry.get("calls_per_s"), "—")

    def ratio_cell(numerator, denominator):
        value = ratio(numerator, denominator)
        return f"{value:.2f}×" if value is not None else "n/a"

    header = ("case", "floor (raw hiredis relay)", "execkit", "Celery", "RQ", "execkit / floor", "Celery / execkit")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, execkit_name, floor_name, peer_case, kind in DISTRIBUTED_ROWS:
        floor_cost, floor_text = bench_cell(floor_name, kind, "not run")
        execkit_cost, execkit_text = bench_cell(execkit_name, kind, "n/a")
        celery_cost, celery_text = peer_cell("Celery", peer_case, kind)
        _, rq_text = peer_cell("RQ", peer_case, kind)
        lines.append("| " + " | ".join((row, floor_text, execkit_text, celery_text, rq_text,
                                         ratio_cell(execkit_cost, floor_cost),
                                         ratio_cell(celery_cost, execkit_cost))) + " |")
    return "\n".join(lines)


# How often a warm execute() of the reference backend does each anatomy case,
# counted with `perf trace`-style syscall tracing (docs/performance.md);
# update when the engine or worker changes what a call does.
ANATOMY_PER_CALL = [
    ("anatomy/getrlimit_all_16", 1, "worker, after the reply: restore_limits reads all 16 rlimits"),
    ("anatomy/pread_kept_proc_self_status", 1, "worker, after the reply: ProcStatusReader (signals, threads, credentials)"),
    ("anatomy/fstat", 4, "worker: control fd before the reply; fds 0-2 after it"),
    ("anatomy/setitimer_x3", 1, "worker, after the reply: disarm_interval_timers"),
    ("anatomy/waitpid_no_child", 1, "worker, after the reply: children_still_running"),
    ("anatomy/stat_module", 2, "worker: find_module_file + the identity check"),
    ("anatomy/getrusage", 2, "worker: CallMetrics"),
    ("anatomy/epoll_ctl_del_add", 1, "caller: borrowing and parking the worker"),
]


def distributed_caption(data):
    peers = data.get("peers", {})
    versions = ", ".join(f"{peer} {peers[peer]['version']}" for peer in REDIS_PEERS if "version" in peers.get(peer, {}))
    server = next((info["redis_server"] for info in peers.values() if "redis_server" in info), None)
    poll = peers.get("RQ", {}).get("poll_interval_ms")
    return ("Distributed (Redis Streams; each case and each peer with its own redis-server"
            + (f" {server}" if server else "") + " on a unix socket"
            + (f"; {versions}" if versions else "")
            + (f"; RQ's caller polls for its result every {poll:g} ms" if poll is not None else "")
            + "). Ratios are of time per call (or per byte): above 1, the first is slower. "
            "The execkit column fills in once the backend's redis/* benchmarks exist.")


def anatomy_table(cases):
    lines = ["| per-call work (measured alone) | per call | CPU µs each | CPU µs per call | what |", "|---|---|---|---|---|"]
    total = 0.0
    for name, count, what in ANATOMY_PER_CALL:
        entry = cases.get(name)
        if entry is None or entry.get("error_occurred"):
            lines.append(f"| {name} | {count} | — | — | {what} |")
            continue
        cpu = entry["cpu_time"]
        total += cpu * count
        lines.append(f"| {name.split('/', 1)[1]} | {count} | {cpu:.2f} | {cpu * count:.1f} | {what} |")
    lines.append(f"| **sum** | | | **{total:.1f}** | |")
    pingpong = cases.get("anatomy/thread_pingpong")
    if pingpong and not pingpong.get("error_occurred"):
        lines.append("")
        lines.append(f"Thread wake-up round trip (mutex + condition variable, 2 wake-ups): "
                     f"{pingpong['real_time']:.1f} µs wall, {pingpong['cpu_time']:.1f} µs CPU.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("execkit_json")
    parser.add_argument("peers_json")
    parser.add_argument("--redis-peers", help="redis_peers.py's JSON (Celery and RQ) for the distributed table")
    parser.add_argument("--markdown-out", help="also write the table here")
    args = parser.parse_args()

    context, cases = load_benchmarks(args.execkit_json)
    peers_data, peer_results = load_peers(args.peers_json)
    if args.redis_peers:
        redis_peers_data, redis_peer_results = load_peers(args.redis_peers, REDIS_PEERS)
    else:
        redis_peers_data, redis_peer_results = {}, {peer: {"*": {"error": "not run"}} for peer in REDIS_PEERS}
    table = Table(cases, peer_results)
    build(table)

    repetitions = max((entry.get("repetitions", 1) for entry in cases.values()), default=1)
    versions = ", ".join(
        f"{peer} {peers_data['peers'][peer].get('version', '(' + peers_data['peers'][peer].get('error', '?') + ')')}"
        for peer in PEERS if peer in peers_data.get("peers", {}))
    caches = ", ".join(f"L{c['level']} {c['size'] // 1024} KiB" for c in context.get("caches", []) if c.get("type") != "Instruction")
    lines = [
        f"Machine: {context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz ({caches}); "
        f"load average {', '.join(f'{x:.2f}' for x in context.get('load_avg', []))} at the start; "
        f"execkit_bench built {context.get('execkit_build_type', '?')}, profile "
        f"{context.get('execkit_profile', '?')}, {repetitions} repetition(s) (medians of per-repetition values); Python {peers_data.get('python', '?')} ({versions}).",
        "",
        table.markdown(),
        "",
        f"Targets met: {sum(1 for _, met in table.verdicts if met)} of {len(table.verdicts)}.",
        "",
        anatomy_table(cases),
        "",
        distributed_caption(redis_peers_data),
        "",
        distributed_table(table, redis_peer_results),
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown_out:
        with open(args.markdown_out, "w") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
