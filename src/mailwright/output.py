"""Writing a build: all or nothing, and never over anything mailwright did not write.

Every build holds a marker file of our own (``.mailwright-build``); a folder is
replaced only when it is empty, or is a build (the marker, or a manifest.json of a
build from before the marker) whose every file its manifest lists. The new build is written beside the
old one and swapped in by renaming, so an interrupted run leaves the old build
whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import MailwrightError, Pos
from .flowviz import diagrams

MARKER = ".mailwright-build"
FORMAT = "mailwright-build 1"  # the marker's first line
MANIFEST = "manifest.json"
CACHE = ".cache"  # the build cache's folder in a build (mailwright.cache)


def write_outputs(result: Any, out_dir: Path) -> Path:
    """Write every output of a compile ``Result`` and the manifest into ``out_dir``, all or nothing."""
    out_dir = Path(os.path.abspath(out_dir))
    try:
        out_dir = out_dir.resolve()
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise MailwrightError(Pos(str(out_dir), 0), f"cannot write the build here: {_why(e)}") from None
    _check_replaceable(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in out_dir.parents if p.exists())
        raise MailwrightError(Pos(str(out_dir), 0), f"cannot write the build here: {blocker} is a file, "
                                                    "not a folder") from None
    except OSError as e:
        raise MailwrightError(Pos(str(out_dir), 0), f"cannot write the build here: {_why(e)}") from None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a build folder follows the umask
        _write(result, tmp)
        _swap(tmp, out_dir)
    except OSError as e:
        raise MailwrightError(Pos(str(out_dir), 0), f"cannot write the build here: {_why(e)}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / MANIFEST


def _why(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower() + (f" ({e.filename})" if e.filename else "")
    return str(e) or type(e).__name__


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_build(folder: Path) -> bool:
    """Whether ``folder`` holds our marker (a regular file, not a link, starting with FORMAT's name)."""
    marker = folder / MARKER
    try:
        if marker.is_symlink() or not marker.is_file():
            return False
        with open(marker, encoding="utf-8", errors="replace") as f:
            return f.read(64).startswith(FORMAT.split()[0])
    except OSError:
        return False


def _check_replaceable(out_dir: Path) -> None:
    where = Pos(str(out_dir), 0)
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if not out_dir.is_dir():
        raise MailwrightError(where, "--out is a file, not a folder: nothing was written")
    try:
        entries = list(out_dir.iterdir())
    except OSError as e:
        raise MailwrightError(where, f"cannot write the build here: {_why(e)}") from None
    if not entries:
        return
    if is_build(out_dir) or (out_dir / MANIFEST).is_file():  # ours, or a build from before the marker
        stray = _not_in_manifest(out_dir)
        if not stray:
            return
        raise MailwrightError(where, f"this build folder also holds files mailwright did not write (such as "
                                     f"{stray}); nothing was written: move them out of it, or choose another --out")
    raise MailwrightError(where, f"this folder is not a mailwright build (it has no {MARKER}) and is not empty; "
                                 "nothing was written: a build folder is replaced as a whole, so choose another "
                                 "--out (an empty or new folder)")


def _not_in_manifest(folder: Path) -> str | None:
    """The first file (relative path) in a build that its manifest does not list."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = {MANIFEST, MARKER}
        for o in manifest["outputs"]:
            listed.update(o[k] for k in ("html", "text", "definition", "recipe", "diagram") if isinstance(o.get(k), str))
        listed.update(p for p in manifest.get("tracking_plan", {}).values() if isinstance(p, str))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return MANIFEST + " (unreadable)"
    for dirpath, dirnames, filenames in os.walk(folder):
        if dirpath == str(folder) and CACHE in dirnames and not os.path.islink(os.path.join(dirpath, CACHE)):
            dirnames.remove(CACHE)  # the build cache (mailwright.cache), carried from build to build
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.relpath(os.path.join(dirpath, name), folder).replace(os.sep, "/")
            if rel not in listed:
                return rel
    return None


def _write(result: Any, tmp: Path) -> None:
    entries = []
    for o in result.outputs:
        (tmp / o.esp).mkdir(exist_ok=True)
        html_rel, text_rel = f"{o.esp}/{o.stem}.html", f"{o.esp}/{o.stem}.txt"
        (tmp / html_rel).write_text(o.html, encoding="utf-8")
        (tmp / text_rel).write_text(o.text, encoding="utf-8")
        entries.append({
            "esp": o.esp, "kind": "template", "name": o.name, "trigger": o.trigger,
            "html": html_rel, "text": text_rel, "subject": o.subject, "preheader": o.preheader,
            "sha256": hashlib.sha256(o.html.encode()).hexdigest(),
        })
    for f in result.flows:
        (tmp / f.esp / "flows").mkdir(parents=True, exist_ok=True)
        entry = {"esp": f.esp, "kind": "flow", "name": f.name}
        for suffix, content in diagrams(f.esp, f.files).items():
            rel = f"{f.esp}/flows/{f.name}{suffix}"
            (tmp / rel).write_text(content, encoding="utf-8")
            entry[{".json": "definition", ".mmd": "diagram"}.get(suffix, "recipe")] = rel
        entries.append(entry)
    plan = getattr(result, "plan", None)  # the tracking plan (signals/contract.py), one schema per event
    schemas = plan.schemas() if plan is not None else {}
    if schemas:
        (tmp / "tracking-plan").mkdir()
    for event, schema in schemas.items():
        (tmp / f"tracking-plan/{event}.json").write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n",
                                                         encoding="utf-8")
    manifest = {"version": 1, "outputs": entries,
                "tracking_plan": {event: f"tracking-plan/{event}.json" for event in schemas}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / MARKER).write_text(f"{FORMAT}\nWritten by mailwright compile: this folder is replaced as a whole "
                              "at every compile.\n", encoding="utf-8")


def _swap(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        tmp.rename(out_dir)
        return
    _check_replaceable(out_dir)  # once more, right before: it may have changed while we compiled
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rmdir(old)  # only its unique name is wanted
    out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except OSError:
        old.rename(out_dir)  # put the previous build back
        raise
    if (old / CACHE).is_dir() and not (old / CACHE).is_symlink():
        with contextlib.suppress(OSError):
            (old / CACHE).rename(out_dir / CACHE)
    shutil.rmtree(old, ignore_errors=True)
