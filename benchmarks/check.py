"""check on a project, against compiling it, in one run.

    python benchmarks/check.py [PROJECT] [--repeat N]

Goal: `mailwright check` on the example project in <= 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from mailwright.check import run_check
from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", nargs="?", default=str(ROOT / "examples" / "shop"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    root = Path(args.project)
    compiles, checks = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        compile_project(load_project(root, list(load_connectors())))
        compiles.append(time.perf_counter() - t)
        t = time.perf_counter()
        run_check(root)
        checks.append(time.perf_counter() - t)
    c, k = statistics.median(compiles), statistics.median(checks)
    print(f"compile {c * 1000:7.1f} ms (baseline)")
    print(f"check   {k * 1000:7.1f} ms ({k / c:.1f}x the compile); goal <= 2000 ms: {'met' if k <= 2 else 'NOT met'}")
    sys.exit(0 if k <= 2 else 1)


if __name__ == "__main__":
    main()
