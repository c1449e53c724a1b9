"""Compile time against template size: 1k, 4k and 16k sections, as ratios in one run.

    python benchmarks/size.py [--sizes 1000,4000,16000] [--repeat N]

Every section is different (its own copy, its own event property and URL), so no
cache makes a large template look cheaper than it is. The goal (issue 11): compile
time is linear in size, the 16k-section template costs at most 20x the 1k one.
Prints one line per size and the ratios; exits 1 when the 16k/1k ratio is over 20.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mailwright.compile import compile_project
from mailwright.dialect import load_connectors
from mailwright.project import load_project

SECTION = ('<mj-section><mj-column width="60%"><mj-text>Item {i}: {{{{ event.p{i} | default("none") }}}} '
           'and {i}% off for {{{{ profile.first_name }}}}</mj-text></mj-column><mj-column width="40%">'
           '<mj-button href="https://example.com/p/{i}?id={{{{ event.id{i} }}}}">Open {i}</mj-button>'
           '</mj-column></mj-section>\n')


def template(n: int) -> str:
    body = "".join(SECTION.format(i=i) for i in range(n))
    return (f"<mjml><mj-head><mw-subject>Size {n}</mw-subject></mj-head><mj-body>{body}"
            '<x-footer company="Acme" help_url="https://example.com/help"/></mj-body></mjml>')


def measure(n: int, repeat: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "templates").mkdir()
        (root / "mailwright.toml").write_text('[project]\nname = "size"\nesps = ["klaviyo"]\ntheme = "clean"\n')
        (root / "templates" / "big.mjml").write_text(template(n))
        proj = load_project(root, list(load_connectors()))
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            result = compile_project(proj)
            times.append(time.perf_counter() - t)
            assert not result.errors, [e.format() for e in result.errors]
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,4000,16000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    measure(50, 1)  # warm up: imports, connectors
    got = {}
    for n in sizes:
        got[n] = measure(n, args.repeat if n <= 4000 else max(1, args.repeat // 2))
        print(f"{n:>6} sections: {got[n]:.3f} s ({got[n] / n * 1000:.3f} ms per section)", flush=True)
    base = sizes[0]
    for n in sizes[1:]:
        print(f"{n}/{base}: {got[n] / got[base]:.1f}x (linear: {n / base:.0f}x)")
    worst = got[sizes[-1]] / got[base] / (sizes[-1] / base)
    print(f"largest vs smallest, per section: {worst:.2f}x (goal <= {20 / 16:.2f}x for 16k/1k)")
    return 0 if worst <= 20 / 16 else 1


if __name__ == "__main__":
    sys.exit(main())
