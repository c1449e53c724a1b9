"""Compile cost per template per ESP, as ratios measured in one run.

    python benchmarks/compile.py [PROJECT] [--repeat N]

Baselines, measured in the same run on the same MJML (the document mailwright
hands to the engine): raw mjml-python, and node ``mjml`` when it is on PATH.
Reports: one ESP vs raw mjml-python, three ESPs vs one ESP (the goal is at
most 1.5x: MJML and inlining run once, only emission is per ESP).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mjml import mjml2html

from mailwright.compile import Result, compile_one, parse_template
from mailwright.compose import theme_head
from mailwright.dialect import load_connectors
from mailwright.project import load_project
from mailwright.render import Renderer

ROOT = Path(__file__).resolve().parents[1]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(proj, name: str, connectors, head: str, repeat: int, node_mjml: str | None):
    t = parse_template(proj, name)
    dialects_all = {e: connectors[e].dialect for e in proj.esps}
    one = dict(list(dialects_all.items())[:1])
    mjml_src = Renderer(t, None, {e: d.LITERAL for e, d in dialects_all.items()}, name).mjml(head)

    def compile_for(dialects):
        res = Result()
        compile_one(proj, t, None, dialects, head, res)
        assert not res.errors, res.errors

    raw = best(lambda: mjml2html(mjml_src), repeat)
    c1 = best(lambda: compile_for(one), repeat)
    c3 = best(lambda: compile_for(dialects_all), repeat)
    node = None
    if node_mjml:
        with tempfile.NamedTemporaryFile("w", suffix=".mjml", delete=False) as f:
            f.write(mjml_src)
        node = best(lambda: subprocess.run([node_mjml, f.name, "-s"], capture_output=True, check=True),
                    max(3, repeat // 10))
    return name, raw, c1, c3, node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", nargs="?", default=str(ROOT / "examples" / "shop"))
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    connectors = load_connectors()
    proj = load_project(Path(args.project), list(connectors))
    head = theme_head(proj.theme) if proj.theme else ""
    node_mjml = shutil.which("mjml")
    rows = [measure(proj, name, connectors, head, args.repeat, node_mjml) for name in proj.templates]
    print(f"{'template':28} {'mjml-python':>11} {'1 ESP':>8} {'3 ESPs':>8} {'1 ESP/raw':>10} {'3/1 ESP':>8}"
          + ("  node mjml" if node_mjml else ""))
    for name, raw, c1, c3, node in rows:
        line = f"{name:28} {raw * 1e3:9.2f}ms {c1 * 1e3:6.2f}ms {c3 * 1e3:6.2f}ms {c1 / raw:9.2f}x {c3 / c1:7.2f}x"
        if node is not None:
            line += f"  {node * 1e3:7.1f}ms ({node / c3:.1f}x mailwright 3 ESPs)"
        print(line)
    r31 = statistics.median(c3 / c1 for _, _, c1, c3, _ in rows)
    r1raw = statistics.median(c1 / raw for _, raw, c1, _, _ in rows)
    print(f"\nmedian: 1 ESP = {r1raw:.2f}x raw mjml-python; 3 ESPs = {r31:.2f}x 1 ESP (goal <= 1.5x)")
    if not node_mjml:
        print("node mjml not on PATH: that baseline was skipped (npm install -g mjml to add it)")
    sys.exit(0 if r31 <= 1.5 else 1)


if __name__ == "__main__":
    main()
