#!/usr/bin/env python3
"""Ours against the best peer per workload, from oci-load's JSON lines (bench/compare.sh).

    bench/peers.py OURS.jsonl NAME=PEER.jsonl [NAME=PEER.jsonl ...]

Prints one row per workload label: ours and each peer in the workload's unit (MB/s for pushes and
pulls of 64 KiB or more, else ops/s, as `oci-load table` decides), the best peer, and ours / best
peer. A run with no successful operation shows `failed`, a workload a side did not run `-`; neither
counts as a best peer. Then each peer run's errors, with the first one.
"""
import json
import sys


def by_throughput(r):
    return (r.get("workload") in ("push", "push-single", "push-chunked", "pull", "pull-range")
            and r.get("size", 0) >= 64 * 1024)


def primary(r):
    return (r.get("mb_per_s", 0.0), "MB/s") if by_throughput(r) else (r.get("ops_per_s", 0.0), "ops/s")


def ok(r):
    return r is not None and r.get("ops", 0) > 0 and primary(r)[0] > 0


def read(path):
    runs = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                r = json.loads(line)
                if r.get("workload") == "hash-rate":
                    continue
                runs[r.get("label") or r.get("workload")] = r
    except FileNotFoundError:
        pass
    return runs


def cell(r):
    if r is None:
        return "-"
    if not ok(r):
        return "failed"
    return f"{primary(r)[0]:.1f}"


def short(error):
    """An error message on one line, without the binary body some of them quote."""
    text = error or ""
    cut = next((i for i, c in enumerate(text) if not (c.isascii() and c.isprintable())), None)
    if cut is not None:
        text = text[:cut] + "[binary]"
    return text if len(text) <= 200 else text[:200] + "..."


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        sys.exit(__doc__)
    ours = read(argv[1])
    peers = [(name, read(path)) for name, path in (a.split("=", 1) for a in argv[2:])]
    labels = list(ours)
    for _, runs in peers:
        labels += [l for l in runs if l not in labels]
    head = f"{'workload':<26} {'unit':>6} {'ours':>11}"
    for name, _ in peers:
        head += f" {name:>12}"
    head += f" {'best peer':>12} {'ours/best':>9}"
    print(head)
    for label in labels:
        o = ours.get(label)
        any_run = o or next((runs[label] for _, runs in peers if label in runs), None)
        row = f"{label:<26} {primary(any_run)[1]:>6} {cell(o):>11}"
        best = None
        for name, runs in peers:
            p = runs.get(label)
            row += f" {cell(p):>12}"
            if ok(p) and (best is None or primary(p)[0] > best[1]):
                best = (name, primary(p)[0])
        ratio = f"{primary(o)[0] / best[1]:.2f}x" if best and ok(o) else "-"
        row += f" {best[0] if best else '-':>12} {ratio:>9}"
        print(row)
    for name, runs in peers:
        for label, r in runs.items():
            if r.get("errors", 0) > 0:
                print(f"  {label} ({name}): {r['errors']} errors; first: {short(r.get('first_error'))}")


if __name__ == "__main__":
    main(sys.argv)
