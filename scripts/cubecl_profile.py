#!/usr/bin/env python3
"""Sums cubecl's profiling log per kernel: where a wgpu (or any cubecl) run spends its GPU time.

    python3 scripts/cubecl_profile.py cubecl.log [--top 15]

The log is what cubecl writes with `[profiling.logger] level = "basic"` in a cubecl.toml in the
working directory (scripts/gpu-check.sh writes one): one line per kernel launch,
`| 1.234567ms  | <kernel name>`. Kernels are grouped by name up to the first `<` (their type
parameters) or ` | `, less the hash cubecl appends per specialisation
(`DirectConv2dKernel_5ef3d9ea`), so every launch of one kernel, whatever its shapes, counts
together. Prints a markdown table: launches, specialisations, total and mean time, share of the
profiled time.
"""
import argparse
import re
import sys
from collections import defaultdict

LINE = re.compile(r"^\|\s*([0-9.]+)\s*(ns|µs|us|ms|s)\s*\|\s*(.+?)\s*$")
SCALE = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}


def kernel(name):
    """(family, specialisation) of a logged kernel name."""
    name = re.sub(r"\s+", " ", name).strip()
    head = re.split(r"<| \| ", name, maxsplit=1)[0].strip() or name[:80]
    return re.sub(r"_[0-9a-f]{6,}$", "", head), name


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log")
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args()
    total = defaultdict(float)
    count = defaultdict(int)
    variants = defaultdict(set)
    unmeasured = 0
    with open(a.log, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                ms = float(m.group(1)) * SCALE[m.group(2)]
                k, full = kernel(m.group(3))
                total[k] += ms
                count[k] += 1
                variants[k].add(full)
            elif line.startswith("| not measured"):
                unmeasured += 1
    if not total:
        sys.exit(f"{a.log}: no profiled kernel launches (is the profiling logger on?)")
    all_ms = sum(total.values())
    launches = sum(count.values())
    print(f"kernel time by kernel ({launches} launches, {all_ms:,.1f} ms profiled"
          + (f", {unmeasured} not measured" if unmeasured else "") + "):\n")
    print("| kernel | launches | specialisations | total ms | mean µs | share |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in sorted(total, key=total.get, reverse=True)[: a.top]:
        print(f"| `{k[:90]}` | {count[k]} | {len(variants[k])} | {total[k]:,.1f} | "
              f"{1e3 * total[k] / count[k]:,.1f} | {total[k] / all_ms:.1%} |")


if __name__ == "__main__":
    main()
