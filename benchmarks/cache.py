"""The build cache (issue 16): an unchanged project, and one template changed, measured in one run.

    python benchmarks/cache.py [--quick] [--repeat N]

For the example project (3 ESPs) and a generated 100-email corpus (1 ESP;
benchmarks/compile.py's ``make_corpus`` when it has one, else a corpus of its
own), each as whole ``mailwright compile`` processes (start-up and imports count)
and in-process (``mailwright.cli.main`` called again in one process, imports done):

- cold: ``--no-cache``;
- unchanged: the cache filled, nothing edited (goal: at most 0.1 s);
- one changed: one template edited before each run; minus that template's own
  cost it is the cache's overhead (goal, for the corpus: at most 50 ms; every
  template of the example is sent by a flow, so there its flows and the tracking
  plan are made again too and no goal is applied). That template's own cost:
  in-process, its parse and render; as a whole process, a process compiling a
  project of that template alone (``--no-cache``), which pays the same start-up and
  engine imports.

Every figure is a median of CPU time (user + system, of this process or of the
child), which other work on a shared machine disturbs far less than wall time;
the wall-time median is printed beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


def corpus(root: Path, n: int) -> Path:
    """``n`` generated templates (benchmarks/compile.py's corpus when it has one)."""
    spec = importlib.util.spec_from_file_location("bench_compile", ROOT / "benchmarks" / "compile.py")
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        make = mod.make_corpus
    except (AttributeError, ImportError, OSError, SyntaxError):
        make = None
    if make is not None:
        return make(root, n, 6, 16)
    (root / "templates").mkdir(parents=True)
    (root / "mailwright.toml").write_text('[project]\nname = "bench"\nesps = ["klaviyo"]\ntheme = "clean"\n\n'
                                          '[brand]\ncompany = "Bench"\nhelp_url = ""\n')
    for i in range(n):
        sections = "".join(
            f'<mj-section><mj-column><mj-text>{{% if profile.tier == "gold" %}}Gold {i}.{k}{{% else %}}'
            f'Hello {{{{ profile.first_name | default("there") }}}} {i}.{k}{{% endif %}}</mj-text>'
            f'<mj-button href="https://shop.example.com/{i}/{k}">Shop {k}</mj-button></mj-column></mj-section>'
            for k in range(6))
        (root / "templates" / f"email-{i:04d}.mjml").write_text(
            f"<mjml><mj-head><mw-subject>Email {i}</mw-subject></mj-head><mj-body>{sections}<x-footer/>"
            "</mj-body></mjml>")
    return root


class Timing(NamedTuple):
    cpu: float  # seconds of CPU, user + system (of this process, or of the child for a whole process)
    wall: float

    def __sub__(self, other: Timing) -> Timing:  # type: ignore[override]
        return Timing(self.cpu - other.cpu, self.wall - other.wall)


def _cpu(children: bool) -> float:
    if not children:
        return time.process_time()
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn: Callable[[], object], children: bool = False) -> Timing:
    c, t = _cpu(children), time.perf_counter()
    fn()
    return Timing(_cpu(children) - c, time.perf_counter() - t)


def median(runs: list[Timing]) -> Timing:
    return Timing(statistics.median(r.cpu for r in runs), statistics.median(r.wall for r in runs))


def median_of(fn: Callable[[], object], repeat: int, children: bool = False) -> Timing:
    return median([timed(fn, children) for _ in range(repeat)])


def process(args: list[str]) -> None:
    script = Path(sys.executable).with_name("mailwright")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mailwright"]
    p = subprocess.run([*cmd, "compile", *args], capture_output=True)
    if p.returncode:
        sys.exit(p.stderr.decode(errors="replace")[-2000:])


def in_process(args: list[str]) -> None:
    from mailwright.cli import main

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main(["compile", *args])
        except SystemExit as e:
            if e.code:
                sys.exit(f"compile failed ({e.code})")


def own_cost(project: Path, name: str, esps: list[str], repeat: int) -> Timing:
    """One template's parse and render for these ESPs, in-process (what no cache can save)."""
    from mailwright.compile import Result, compile_one, parse_template
    from mailwright.compose import theme_head
    from mailwright.dialect import load_connectors
    from mailwright.project import load_project

    connectors = load_connectors()
    proj = load_project(project, list(connectors))
    head = theme_head(proj.theme) if proj.theme else ""

    def once() -> None:
        t = parse_template(proj, name)
        compile_one(proj, t, None, {e: connectors[e].dialect for e in esps}, head, Result())
    once()
    return median_of(once, repeat)


def alone(project: Path, template: Path, to: Path) -> Path:
    """A project of ``template`` alone (the same config, components and themes)."""
    shutil.copytree(project, to, ignore=shutil.ignore_patterns("build", "templates", "flows"))
    (to / "templates").mkdir()
    shutil.copy(template, to / "templates" / template.name)
    return to


def measure(label: str, project: Path, esps: list[str], repeat: int) -> list[tuple[str, Timing, float | None]]:
    args = [str(project), *sum((["--esp", e] for e in esps), [])]
    one = sorted((project / "templates").glob("*.mjml"))[0]
    original = one.read_text()
    edits = iter(range(10**6))

    def edit() -> None:
        one.write_text(original.replace("</mj-body>", f"<mj-raw><!-- edit {next(edits)} --></mj-raw></mj-body>"))

    # a template that flows send takes its flows and the tracking plan with it: those are rebuilt too
    # (their own cost), so the goal, stated for the generated corpus (no flows), is not applied there
    flows = (project / "flows").is_dir()
    goal = None if flows else 0.05
    rows = []
    for where, run, children in (("process", process, True), ("in-process", in_process, False)):
        run([*args, "--no-cache"])  # imports warm (in-process), files in the page cache
        cold = median_of(lambda run=run: run([*args, "--no-cache"]), repeat, children)
        run(args)  # fill the cache
        warm = median_of(lambda run=run: run(args), repeat, children)
        changed = []
        for _ in range(repeat):
            edit()
            changed.append(timed(lambda run=run: run(args), children))
        rows += [(f"{label}, {where}: cold (--no-cache)", cold, None),
                 (f"{label}, {where}: unchanged", warm, 0.1),
                 (f"{label}, {where}: one template changed", median(changed), None)]
        if where == "process" and not flows:
            solo = alone(project, one, project.parent / f"{project.name}-alone")
            solo_args = [str(solo), *args[1:], "--no-cache"]
            process(solo_args)
            own = median_of(lambda solo_args=solo_args: process(solo_args), repeat, True)
            rows += [(f"{label}, process: that template alone (--no-cache)", own, None),
                     (f"{label}, process: one changed - that template alone", rows[-1][1] - own, 0.05)]
    own = own_cost(project, one.stem, esps, repeat)
    rows += [(f"{label}: that template's own compile", own, None),
             (f"{label}, in-process: one changed - its own compile" + (" (flows, plan rebuilt)" if flows else ""),
              rows[-1][1] - own, goal)]
    one.write_text(original)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 5 templates, one repeat")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n, repeat = (5, 1) if args.quick else (100, args.repeat)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mw-cache-bench-") as tmp:
        shop = Path(tmp) / "shop"
        shutil.copytree(ROOT / "examples" / "shop", shop, ignore=shutil.ignore_patterns("build"))
        rows += measure("example (8 templates, 3 ESPs)", shop, ["klaviyo", "hubspot", "activecampaign"], repeat)
        gen = corpus(Path(tmp) / "corpus", n)
        rows += measure(f"corpus ({n} templates, 1 ESP)", gen, ["klaviyo"], repeat)
    missed = []
    print(f"  {'':80} {'CPU':>8}     {'wall':>8}")
    for label, t, goal in rows:
        verdict = "" if goal is None else f"(goal <= {goal * 1e3:.0f} ms CPU) " + ("ok" if t.cpu <= goal else "MISSED")
        if goal is not None and t.cpu > goal:
            missed.append(label)
        print(f"  {label:80} {t.cpu * 1e3:8.1f} ms  {t.wall * 1e3:8.1f} ms  {verdict}")
    if missed:
        print(f"\nmissed: {'; '.join(missed)}")


if __name__ == "__main__":
    main()
