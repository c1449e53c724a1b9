"""Mutation testing of the modules whose mistakes ship wrong email or lose data (docs/testing.md).

    python scripts/mutation.py                     # every module
    python scripts/mutation.py transport output    # some of them
    python scripts/mutation.py push --time-limit 600 --children 1

For each module: a scratch copy of the checkout (the checkout itself is never touched,
other people may be editing it), ``mutmut run`` on that module's files with only the test
files that exercise it, then the score and every surviving mutant's diff. Needs the
``mutation`` extra (``pip install -e '.[mutation]'``). Slow by design: not part of CI.

mutmut names a mutant after its file's path, while the trampoline that switches it on
compares that name with the function's ``__module__``; so the copy holds connectors/ under
its import name, mailwright_connectors, or no connector mutant would ever be switched on.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "build", "mutants", ".hypothesis", ".pytest_cache", ".ruff_cache", "__pycache__",
        "node_modules", "mailwright.egg-info"}


@dataclass(frozen=True)
class Module:
    files: tuple[str, ...]  # paths in the scratch copy (connectors/ as mailwright_connectors/)
    tests: tuple[str, ...]  # the fastest selection that covers them
    only: tuple[str, ...] = ()  # mutant-name globs when only part of a file is in scope


def _esp(kind: str, tests: tuple[str, ...]) -> dict[str, Module]:
    return {f"{esp}-{kind}": Module((f"mailwright_connectors/{esp}/{kind}.py",), tests)
            for esp in ("klaviyo", "hubspot", "activecampaign")}


# the replace guard, the marker and the swap; not how the manifest's entries are written (_write)
OUTPUT_SCOPE = ("write_outputs", "_why", "is_build", "_check_replaceable", "_not_in_manifest", "_swap")
EXPR_SCOPE = ("fold", "_static", "_static_value", "_present", "lookup", "_compare", "evaluate", "live_branches")

MODULES: dict[str, Module] = {
    "transport": Module(("src/mailwright/transport.py",), ("tests/test_transport.py", "tests/test_hostile_transport.py",
                                                           "tests/test_mutants_transport.py")),
    "output": Module(("src/mailwright/output.py",), ("tests/test_output.py", "tests/test_mutants_output.py"),
                     tuple(f"mailwright.output.x_{f}__mutmut_*" for f in OUTPUT_SCOPE)),
    "expr": Module(("src/mailwright/expr.py", "src/mailwright/conditions.py"),
                   ("tests/test_mutants_expr.py", "tests/test_properties.py"),
                   tuple(f"mailwright.expr.x_{f}__mutmut_*" for f in EXPR_SCOPE) + ("mailwright.conditions.*",)),
    # test_push.py (fake ESP servers) takes minutes a run: the engine's own tests cover push.py
    "push": Module(("src/mailwright/push/__init__.py", "src/mailwright/push/drift.py"),
                   ("tests/test_mutants_push.py", "tests/test_push_offline.py", "tests/test_drift_unit.py")),
    **_esp("dialect", ("tests/test_properties.py", "tests/test_contract.py", "tests/test_capabilities.py",
                       "tests/test_fidelity.py", "tests/test_mutants_dialects.py")),
    # the translations called in memory (milliseconds a test), not test_flows.py's compiles of whole projects
    **_esp("flows", ("tests/test_flow_conditions.py", "tests/test_mutants_flows.py")),
}

CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
NOT_RUN = {"not checked", "skipped", "check was interrupted by user"}


def scratch_copy(dest: Path) -> None:
    """The checkout as it is now (uncommitted edits included), connectors/ under its import name too."""
    shutil.copytree(ROOT, dest, ignore=lambda _d, names: [n for n in names if n in SKIP], symlinks=True)
    shutil.copytree(dest / "connectors", dest / "mailwright_connectors")


def configure(workspace: Path, module: Module) -> None:
    """The project's [tool.mutmut], narrowed to this module's files and tests."""
    text = (workspace / "pyproject.toml").read_text(encoding="utf-8")
    base = tomllib.loads(text)["tool"]["mutmut"]
    tests = [t for t in module.tests if (workspace / t).exists()]
    conf = {**base, "only_mutate": list(module.files), "pytest_add_cli_args_test_selection": tests}
    section = "[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in conf.items())
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", lambda _m: section + "\n", text)
    (workspace / "pyproject.toml").write_text(text, encoding="utf-8")


def run(workspace: Path, module: Module, children: int, time_limit: float) -> bool:
    """mutmut run; False when the time limit stopped it (results so far are kept in mutants/)."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *module.only],
                            cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, text=True)
    try:
        _out, err = proc.communicate(timeout=time_limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate()
        return False
    if proc.returncode:
        sys.exit(f"mutmut failed in {workspace}:\n{err[-3000:]}")
    return True


def results(workspace: Path, module: Module) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=workspace,
                         capture_output=True, text=True, check=True).stdout
    found = dict(line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line)
    if module.only:
        from fnmatch import fnmatch
        found = {k: v for k, v in found.items() if any(fnmatch(k, g) for g in module.only)}
    return found


def diff(workspace: Path, name: str) -> str:
    out = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=workspace, capture_output=True,
                         text=True).stdout
    return "\n".join(line for line in out.splitlines()[1:] if line.startswith(("+", "-"))
                     and not line.startswith(("+++", "---")))


def report(name: str, found: dict[str, str], finished: bool, workspace: Path) -> tuple[int, int]:
    tested = {k: v for k, v in found.items() if v not in NOT_RUN}
    caught = sum(v in CAUGHT for v in tested.values())
    score = f"{100 * caught / len(tested):.1f}%" if tested else "n/a"
    sample = "" if finished and len(tested) == len(found) else f" (time limit: {len(tested)} of {len(found)} run)"
    print(f"{name}: {caught}/{len(tested)} killed, {score}{sample}", flush=True)
    for key, status in sorted(tested.items()):
        if status not in CAUGHT:
            print(f"  {status}: {key}")
            print("    " + diff(workspace, key).replace("\n", "\n    "))
    return caught, len(tested)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", metavar="MODULE", help=f"any of {', '.join(MODULES)} (default: all)")
    ap.add_argument("--children", type=int, default=2, help="mutants tested at once (default 2)")
    ap.add_argument("--time-limit", type=float, default=1800, help="seconds per module; the rest is left unrun")
    ap.add_argument("--keep", type=Path, help="keep the scratch copies in this folder (to rerun or inspect)")
    args = ap.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        ap.error(f"no module {', '.join(unknown)}: choose among {', '.join(MODULES)}")
    base = args.keep or Path(tempfile.mkdtemp(prefix="mailwright-mutation-"))
    total = [0, 0]
    try:
        for name in args.modules or list(MODULES):
            module, workspace = MODULES[name], base / name
            if not workspace.exists():
                scratch_copy(workspace)
            configure(workspace, module)
            finished = run(workspace, module, args.children, args.time_limit)
            caught, tested = report(name, results(workspace, module), finished, workspace)
            total[0] += caught
            total[1] += tested
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    if total[1]:
        print(f"all: {total[0]}/{total[1]} killed, {100 * total[0] / total[1]:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
