#!/usr/bin/env python3
"""Workloads 1, 3, 4, 5 and 6 of the Rust `compare` bench, on the original Python duet 0.2.9.

    python bench.py            # the sizes used for design/performance.md (about 2 minutes)
    python bench.py --quick    # smoke run (seconds)
    python bench.py --json out.json

Prints, per workload and size, the median over the repetitions of the wall time and of
the cost per unit (the same units as `cargo bench --bench compare`), so the results page
can state duet's speed-up over its Python ancestor. Sizes are smaller than the Rust
bench's (Python duet is 100-1000x slower, and some of its costs grow faster than
linearly); several sizes are run where the growth matters, and per-unit costs are
compared.

Requires duet 0.2.9 (see README.md in this folder).
"""

import argparse
import json
import os
import queue
import statistics
import sys
import threading
import time

import duet

MASK = (1 << 64) - 1


def splitmix_delays(n, seed=0x5EED):
    """The same pseudo-random 0-50 ms delays as benches/compare/timers.rs (splitmix64)."""
    state = seed
    out = []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        out.append((z % 50_001) / 1e6)  # seconds
    return out


def yield_once():
    """Awaiting a completed future hands the task back to the scheduler exactly once."""
    return duet.completed_future(None)


def timed(fn):
    cpu = time.thread_time()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, time.thread_time() - cpu


# 1. spawn_join: n children in one scope, each yields once and returns a number; sum.
# Python duet's `spawn` returns no handle, so each child adds its number to the total.
def spawn_join(n):
    total = [0]

    async def child(i):
        await yield_once()
        total[0] += i

    async def main():
        async with duet.new_scope() as scope:
            for i in range(n):
                scope.spawn(child, i)

    duet.run(main)
    assert total[0] == n * (n - 1) // 2


# 3. wake_cross_thread: one task awaits n sequential completions made by another thread.
def cross_thread(n):
    to_helper = queue.Queue()

    def helper():
        i = 0
        while True:
            f = to_helper.get()
            if f is None:
                return
            f.set_result(i)
            i += 1

    t = threading.Thread(target=helper)
    t.start()

    async def main():
        total = 0
        for _ in range(n):
            f = duet.AwaitableFuture()
            to_helper.put(f)
            total += await f
        return total

    try:
        assert duet.run(main) == n * (n - 1) // 2
    finally:
        to_helper.put(None)
        t.join()


def cross_thread_floor(n):
    """Two plain Python threads ping-ponging over queue.Queue: the floor for Python."""
    ping, pong = queue.Queue(), queue.Queue()

    def helper():
        while True:
            i = ping.get()
            if i is None:
                return
            pong.put(i)

    t = threading.Thread(target=helper)
    t.start()
    total = 0
    for i in range(n):
        ping.put(i)
        total += pong.get()
    ping.put(None)
    t.join()
    assert total == n * (n - 1) // 2


# 4. timers: n tasks each sleep a pseudo-random 0-50 ms.
def timers(delays):
    async def main():
        async with duet.new_scope() as scope:
            for d in delays:
                scope.spawn(duet.sleep, d)

    duet.run(main)


# 5. cancel: n pending children, then cancel the scope; time until all are dropped.
# The cancel comes from a sibling task: in duet 0.2.9, a scope's body that cancels its own
# scope is interrupted only at its next wake-up, which never comes here (all children
# wait forever), so `scope.cancel()` from the body would hang.
def cancel(n):
    started = [None]

    async def pending():
        await duet.AwaitableFuture()  # never completed

    async def canceller(scope):
        await yield_once()  # every child has run to its await by now
        started[0] = time.perf_counter()
        scope.cancel()

    async def main():
        async with duet.new_scope() as scope:
            for _ in range(n):
                scope.spawn(pending)
            scope.spawn(canceller, scope)

    try:
        duet.run(main)
    except duet.CancelledError:
        pass
    else:
        raise AssertionError("the scope was not cancelled")
    return time.perf_counter() - started[0]


# 6. pmap: n items, limit 64, each call awaits once.
def pmap(n):
    async def call(x):
        await yield_once()
        return x

    async def main():
        return await duet.pmap_async(call, range(n), limit=64)

    assert duet.run(main) == list(range(n))


def measure(reps, fn):
    walls, cpus = [], []
    for _ in range(reps):
        wall, cpu = timed(fn)
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def fmt_ns(x):
    return f"{x / 1e3:.1f} µs" if x >= 10_000 else f"{x:.0f} ns"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, 1 repetition")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    ap.add_argument("--only", help="spawn_join, wake_cross_thread, timers, cancel or pmap")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    q = args.quick

    load = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?"
    print(f"Python duet {duet.__version__} on Python {sys.version.split()[0]}, "
          f"{'quick' if q else 'full'} mode, median of {reps}, load average {load}")
    print("| workload | size | median wall | per unit | CPU per unit |")
    print("|---|---:|---:|---:|---:|")
    results = []

    def report(workload, size, unit, wall, cpu, per_unit_wall=None):
        per = (per_unit_wall if per_unit_wall is not None else wall) * 1e9 / size
        print(f"| {workload} | {size:,} {unit} | {wall * 1e3:.1f} ms | {fmt_ns(per)} "
              f"| {fmt_ns(cpu * 1e9 / size)} |", flush=True)
        results.append({"workload": workload, "size": size, "unit": unit,
                        "median_wall_ms": wall * 1e3, "per_unit_ns": per,
                        "cpu_per_unit_ns": cpu * 1e9 / size})

    def runs(name):
        return args.only is None or args.only == name

    if runs("spawn_join"):
        for n in ([1_000] if q else [10_000, 100_000]):
            wall, cpu = measure(reps, lambda: spawn_join(n))
            report("1. spawn_join", n, "tasks", wall, cpu)
    if runs("wake_cross_thread"):
        n = 1_000 if q else 10_000
        wall, cpu = measure(reps, lambda: cross_thread(n))
        report("3. wake_cross_thread, duet", n, "round trips", wall, cpu)
        wall, cpu = measure(reps, lambda: cross_thread_floor(n))
        report("3. wake_cross_thread, two threads", n, "round trips", wall, cpu)
    if runs("timers"):
        # Quadratic (see README.md): 1,000 timers take about 25 s, so that size runs once.
        for n in ([100, 200] if q else [100, 300, 1_000]):
            delays = splitmix_delays(n)
            ideal = max(delays)
            wall, cpu = measure(reps if n < 1_000 else 1, lambda: timers(delays))
            # Per unit: the wall time over the ideal (the longest sleep), per timer.
            report("4. timers (over ideal)", n, "timers", wall, cpu, max(wall - ideal, 0.0))
    if runs("cancel"):
        for n in ([1_000] if q else [1_000, 10_000]):
            walls, cpus = [], []
            for _ in range(reps):
                cpu0 = time.thread_time()
                walls.append(cancel(n))
                cpus.append(time.thread_time() - cpu0)  # the whole run, spawns included
            report("5. cancel", n, "tasks", statistics.median(walls), statistics.median(cpus))
    if runs("pmap"):
        n = 1_000 if q else 10_000
        wall, cpu = measure(reps, lambda: pmap(n))
        report("6. pmap, limit 64", n, "items", wall, cpu)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"duet_version": duet.__version__, "python": sys.version.split()[0],
                       "mode": "quick" if q else "full", "reps": reps, "loadavg_start": load,
                       "results": results}, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
