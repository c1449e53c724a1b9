#!/usr/bin/env python3
"""Re-create the MJML compatibility corpus (tests/compat/) from local git clones.

    python scripts/refresh_compat.py --mrml ~/src/mrml --mjml ~/src/mjml [--rev HEAD] [--out tests/compat]

--mrml and --mjml are local clones (or bare git directories) of https://github.com/jdrouet/mrml and
https://github.com/mjmlio/mjml, both MIT-licensed.  Files are read from the commit --rev (default HEAD)
with `git show`, so the work trees are not used and no network is needed.

What is collected:
  * mrml: every `*.mjml` under packages/ (the compare/success fixtures, templates, CLI resources);
  * mjml: every `*.mjml` file, and every complete `<mjml>…</mjml>` example in a fenced code block of
    the repository's Markdown (component READMEs, doc/);
  * only whole `<mjml>…</mjml>` documents: empty files and partials are not emails.
Files using `<mj-include>` are left out (their partials or URLs are not part of a standalone email);
copies that are equal up to whitespace (between tags, or how much) are kept once.

What is written (the corpus directory is replaced):
  corpus/mrml/…, corpus/mjml/…   the MJML files, each project's licence beside them;
  SOURCE.md                      repository, commit, licence and the origin of every file;
  EXCLUDED.md                    the files the engine alone (mjml-python + css-inline on the
                                 XML-normalised text) cannot render, with its error.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.compat.engine import engine_html, normalise  # noqa: E402

SOURCES = {"mrml": "https://github.com/jdrouet/mrml", "mjml": "https://github.com/mjmlio/mjml"}
LICENCES = {"mrml": "LICENSE", "mjml": "LICENSE.md"}
MAX_FILES = 250
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
_DOC = re.compile(r"<mjml[\s>].*</mjml\s*>", re.S)


class Repo:
    def __init__(self, path: Path, rev: str):
        self.git_dir = path / ".git" if (path / ".git").exists() else path
        self.commit = self._git("rev-parse", f"{rev}^{{commit}}").strip()

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], check=True,
                              capture_output=True, text=True, encoding="utf-8").stdout

    def files(self) -> list[str]:
        return sorted(self._git("ls-tree", "-r", "--name-only", self.commit).splitlines())

    def read(self, path: str) -> str:
        return self._git("show", f"{self.commit}:{path}")


def collect(name: str, repo: Repo) -> list[tuple[str, str, str]]:
    """(origin, vendored path under corpus/, text) for one repository."""
    found = []
    for path in repo.files():
        if path.endswith(".mjml") and (name == "mrml" and path.startswith("packages/") or name == "mjml"):
            text = repo.read(path)
            if not _DOC.search(text):
                continue  # empty, or a partial: not an email
            found.append((path, f"{name}/{path.removeprefix('packages/')}", text))
        elif name == "mjml" and path.endswith(".md"):
            blocks = [m.group() for b in _FENCE.findall(repo.read(path)) if (m := _DOC.search(b))]
            for i, text in enumerate(blocks, 1):
                stem = path.removeprefix("packages/").removesuffix(".md")
                found.append((f"{path} (example {i})", f"{name}/{stem}-{i}.mjml", text + "\n"))
    return [f for f in found if "<mj-include" not in f[2]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mrml", type=Path, required=True, help="local clone of jdrouet/mrml")
    ap.add_argument("--mjml", type=Path, required=True, help="local clone of mjmlio/mjml")
    ap.add_argument("--rev", default="HEAD", help="commit to read in both clones (default HEAD)")
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "compat", help="default tests/compat")
    args = ap.parse_args(argv)

    repos = {"mrml": Repo(args.mrml, args.rev), "mjml": Repo(args.mjml, args.rev)}
    seen: set[str] = set()
    kept: dict[str, list[tuple[str, str, str]]] = {}
    for name, repo in repos.items():
        kept[name] = []
        for origin, dest, text in collect(name, repo):
            key = re.sub(r">\s+<", "><", " ".join(normalise(text).split()))
            if key not in seen:
                seen.add(key)
                kept[name].append((origin, dest, text))
    total = sum(len(v) for v in kept.values())
    if total > MAX_FILES:
        sys.exit(f"{total} files: more than {MAX_FILES}, narrow the collection")

    corpus = args.out / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    excluded: list[tuple[str, str]] = []
    for name, files in kept.items():
        (corpus / name).mkdir(parents=True)
        (corpus / name / LICENCES[name]).write_text(repos[name].read(LICENCES[name]), encoding="utf-8")
        for _, dest, text in files:
            out = corpus / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(text.encode("utf-8"))  # bytes: CRLF files stay CRLF
            try:
                engine_html(text)
            except Exception as e:  # the engine's own error, whatever its kind
                excluded.append((dest, " ".join(str(e).split()) or type(e).__name__))

    lines = ["# Where the compatibility corpus comes from", "",
             "Written by `scripts/refresh_compat.py` (`--help` says how to run it); do not edit by hand.",
             "Data files only, no code. Left out: files using `<mj-include>`, empty files and partials (not",
             "whole `<mjml>` documents), and copies equal to a file already kept up to whitespace.", ""]
    for name, files in kept.items():
        lines += [f"## {name}: {SOURCES[name]}", "", f"- commit: `{repos[name].commit}`",
                  f"- licence: MIT, copied to `corpus/{name}/{LICENCES[name]}`", f"- files: {len(files)}", ""]
        lines += [f"- `corpus/{dest}` from `{origin}`" for origin, dest, _ in files] + [""]
    (args.out / "SOURCE.md").write_text("\n".join(lines), encoding="utf-8")

    lines = ["# Corpus files the engine alone cannot render", "",
             "mjml-python + css-inline on the XML-normalised text fail on these, so there is nothing to compare",
             "mailwright's output with. Found by `scripts/refresh_compat.py`; the suite checks this list.", ""]
    lines += [f"- `{dest}`: {err}" for dest, err in excluded] or ["(none)"]
    (args.out / "EXCLUDED.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{total} files ({', '.join(f'{n}: {len(v)}' for n, v in kept.items())}), {len(excluded)} excluded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
