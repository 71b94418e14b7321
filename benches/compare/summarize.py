#!/usr/bin/env python3
"""Combines several `cargo bench --bench compare -- --json FILE` runs into one table.

    python3 benches/compare/summarize.py run1.json run2.json run3.json
    python3 benches/compare/summarize.py --wide run1.json ...   # one row per workload

For every workload and peer: the median over the runs of the per-unit cost (each run's
value is already a median of its repetitions), the median ratio duet/peer and the range
of that ratio over the runs. Prints Markdown, as pasted into design/performance.md.
"""

import json
import statistics
import sys


def fmt(x, unit):
    if "bytes" in unit:
        return f"{x:.0f} B"
    return f"{x / 1e3:.2f} µs" if x >= 10_000 else f"{x:.0f} ns"


def column(peer, first):
    """The wide table's column for a peer (rows name their peer where it is not obvious)."""
    if peer == first:
        return "duet"
    if peer.startswith("tokio") and "multi-thread" not in peer:
        return "tokio"
    if peer.lower().startswith("futures") and "on tokio" not in peer:
        return "futures"
    for c in ("smol", "moro"):
        if peer.startswith(c):
            return c
    return "other"


def wide(runs):
    cols = ["duet", "tokio", "futures", "smol", "moro", "other"]
    print("| workload, per unit | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * (len(cols) - 1) + "---|")
    for name in [w["name"] for w in runs[0]["workloads"]]:
        ws = [w for r in runs for w in r["workloads"] if w["name"] == name]
        unit = ws[0]["unit"]
        first = ws[0]["peers"][0]["peer"]
        cells = {c: [] for c in cols}
        for peer in [p["peer"] for p in ws[0]["peers"]]:
            rows = [p for w in ws for p in w["peers"] if p["peer"] == peer]
            per = fmt(statistics.median(p["per_unit"] for p in rows), unit)
            r = statistics.median(p["duet_over_peer"] for p in rows)
            c = column(peer, first)
            if c == "duet":
                cells[c].append(per)
            elif c == "other":
                cells[c].append(f"{peer}: {per} ({r:.2f})")
            else:
                cells[c].append(f"{per} ({r:.2f})")
        over = " over ideal" if ws[0]["ideal_ms"] else ""
        label = f"{name}{over}"
        print(f"| {label} | " + " | ".join("; ".join(cells[c]) or "-" for c in cols) + " |")


def main(paths):
    if paths[0] == "--wide":
        return wide([json.load(open(p)) for p in paths[1:]])
    runs = [json.load(open(p)) for p in paths]
    print(f"{len(runs)} runs ({', '.join(r['mode'] for r in runs)}); load average "
          f"(1, 5, 15 min) at start/end: "
          + "; ".join(f"{r['loadavg_start']} / {r['loadavg_end']}" for r in runs))
    names = [w["name"] for w in runs[0]["workloads"]]
    for name in names:
        ws = [w for r in runs for w in r["workloads"] if w["name"] == name]
        unit = ws[0]["unit"]
        over = " over ideal" if ws[0]["ideal_ms"] else ""
        if "bytes" in unit:
            print(f"\n**{name}** ({ws[0]['units']:,.0f} pending children; {unit})\n")
        else:
            print(f"\n**{name}** ({ws[0]['units']:,.0f} {unit}; per unit{over})\n")
        cpu = any(p["cpu_per_unit_ns"] is not None for w in ws for p in w["peers"])
        head = "| peer | per unit | duet/peer (range) |"
        if cpu:
            head += " CPU per unit | CPU duet/peer |"
        print(head)
        print("|---|---:|---:|" + ("---:|---:|" if cpu else ""))
        for peer in [p["peer"] for p in ws[0]["peers"]]:
            rows = [p for w in ws for p in w["peers"] if p["peer"] == peer]
            per = statistics.median(p["per_unit"] for p in rows)
            ratios = [p["duet_over_peer"] for p in rows]
            r = statistics.median(ratios)
            rng = f" ({min(ratios):.2f}–{max(ratios):.2f})" if len(ratios) > 1 else ""
            line = f"| {peer} | {fmt(per, unit)} | {r:.2f}{rng} |"
            if cpu:
                c = [p["cpu_per_unit_ns"] for p in rows if p["cpu_per_unit_ns"] is not None]
                cr = [p["cpu_duet_over_peer"] for p in rows if p["cpu_duet_over_peer"] is not None]
                line += (f" {fmt(statistics.median(c), unit)} | {statistics.median(cr):.2f} |"
                         if c else " - | - |")
            print(line)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
