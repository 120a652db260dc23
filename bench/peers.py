#!/usr/bin/python3
"""The peers of execkit_bench on the equivalent work, written as one JSON file.

Peers: loky (the copy vendored in Debian's python3-joblib,
joblib.externals.loky) and the standard library's
concurrent.futures.ProcessPoolExecutor (default start method: fork on Linux).

Cases, mirroring bench/reference_cases.cpp:
  warm_trivial        one worker, after warm-up: submit(f).result(), p50/p99
  warm_trivial/one_cpu  the same with every process and thread on one CPU
  throughput/N        N workers, 256 calls in flight per batch: calls/s
  cold_first_call     executor created -> first result (shutdown not timed)
  result/SIZE         a result of SIZE bytes, one worker: time and bytes/s

Usage: peers.py --out FILE [--quick]
"""
import argparse
import concurrent.futures
import json
import os
import platform
import sys
import time
import traceback

FILL_BYTE = 0x5A  # bench/bench_layout.hpp
BATCH = 256


def trivial():
    return b""


def fill(size):
    return bytes([FILL_BYTE]) * size


def percentile(sorted_samples, p):
    """Nearest-rank percentile, as bench/latency_recorder.cpp computes it."""
    rank = max(1, min(len(sorted_samples), -(-len(sorted_samples) * p // 100)))
    return sorted_samples[rank - 1]


def latency_stats(samples_ns):
    s = sorted(samples_ns)
    return {
        "p50_us": percentile(s, 50) / 1e3,
        "p99_us": percentile(s, 99) / 1e3,
        "max_us": s[-1] / 1e3,
        "iterations": len(s),
    }


def timed(call):
    start = time.perf_counter_ns()
    value = call()
    return time.perf_counter_ns() - start, value


def warm_trivial(make, iterations):
    with make(1) as executor:
        for _ in range(100):
            executor.submit(trivial).result()
        samples = [timed(lambda: executor.submit(trivial).result())[0] for _ in range(iterations)]
    return latency_stats(samples)


def warm_trivial_one_cpu(make, iterations):
    """warm_trivial with this process, its threads and its workers on one CPU."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    try:
        return warm_trivial(make, iterations)
    finally:
        os.sched_setaffinity(0, saved)


def throughput(make, workers, batches):
    with make(workers) as executor:
        for future in [executor.submit(trivial) for _ in range(32)]:
            future.result()
        total_ns = 0
        for _ in range(batches):
            took, _ = timed(lambda: [f.result() for f in [executor.submit(trivial) for _ in range(BATCH)]])
            total_ns += took
    return {"calls_per_s": batches * BATCH / (total_ns / 1e9), "calls_in_flight": BATCH, "iterations": batches}


def cold_first_call(make, iterations):
    samples = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        executor = make(1)
        executor.submit(trivial).result()
        samples.append(time.perf_counter_ns() - start)
        executor.shutdown(wait=True)
    return latency_stats(samples)


def result_of_size(make, size, iterations):
    with make(1) as executor:
        executor.submit(fill, min(size, 1 << 20)).result()
        samples = []
        for _ in range(iterations):
            took, value = timed(lambda: executor.submit(fill, size).result())
            # The bytes arrived by copy, so they are in memory already; the
            # check stays O(1) to add nothing to the transfer.
            if len(value) != size or (size and (value[0] != FILL_BYTE or value[-1] != FILL_BYTE)):
                raise RuntimeError(f"result of {len(value)} bytes is not the {size} bytes written")
            samples.append(took)
            del value
    stats = latency_stats(samples)
    stats["bytes_per_second"] = size / (stats["p50_us"] / 1e6) if size else 0.0
    return stats


def run_cases(make, quick):
    n = (lambda full, small: small) if quick else (lambda full, small: full)
    cases = {
        "warm_trivial": lambda: warm_trivial(make, n(2000, 100)),
        "warm_trivial/one_cpu": lambda: warm_trivial_one_cpu(make, n(2000, 100)),
        "throughput/workers:1": lambda: throughput(make, 1, n(6, 1)),
        "throughput/workers:2": lambda: throughput(make, 2, n(6, 1)),
        "cold_first_call": lambda: cold_first_call(make, n(8, 2)),
        "result/1048576": lambda: result_of_size(make, 1 << 20, n(100, 5)),
        "result/67108864": lambda: result_of_size(make, 64 << 20, n(6, 1)),
    }
    results = {}
    for name, case in cases.items():
        try:
            results[name] = case()
        except Exception as error:  # one failing case must not hide the others
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
        print(f"  {name}: {results[name]}", file=sys.stderr)
    return results


def loky_maker():
    from joblib.externals import loky

    return (lambda workers: loky.ProcessPoolExecutor(max_workers=workers)), loky.__version__


def stdlib_maker():
    return (lambda workers: concurrent.futures.ProcessPoolExecutor(max_workers=workers)), platform.python_version()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="few iterations (checks the script runs)")
    args = parser.parse_args()

    report = {"python": sys.version.split()[0], "executable": sys.executable, "peers": {}}
    for name, maker in (("loky", loky_maker), ("ProcessPoolExecutor", stdlib_maker)):
        print(f"peers: {name}", file=sys.stderr)
        try:
            make, version = maker()
        except Exception as error:
            report["peers"][name] = {"error": f"{type(error).__name__}: {error}"}
            continue
        report["peers"][name] = {"version": version, "results": run_cases(make, args.quick)}
    with open(args.out, "w") as out:
        json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
