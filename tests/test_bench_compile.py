"""benchmarks/compile.py --quick runs end to end (so the benchmark cannot rot): every figure is measured
and every ratio the README quotes is printed."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT


def test_quick_benchmark_measures_every_figure():
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "compile.py"), "--quick", "--node-mjml", ""],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for label in ("engine floor", "cold, 1 ESP", "cold, 3 ESPs", "mailwright --help", "mailwright --version",
                  "cold 1 ESP / engine floor", "cold 3 ESPs / cold 1 ESP", "10 / 5 templates",
                  "10x sections / 1x sections", "--help (seconds)", "--version (seconds)"):
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(label)), None)
        assert line is not None, f"{label!r} missing from:\n{out}"
        assert re.search(r"\d+\.\d+ (ms|x|s) ", line + " "), line
    assert "node mjml" in out  # measured, or skipped with a note
