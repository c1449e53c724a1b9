"""Writing a build: all or nothing, and never over anything mailwright did not write.

Every build holds a marker file of our own (``.mailwright-build``); a folder is
replaced only when it is empty, or is a build (the marker, or a manifest.json of a
build from before the marker) whose every file its manifest lists. The new build is written beside the
old one and swapped in by renaming, so an interrupted run leaves the old build
whole.

A file whose bytes equal the previous build's is hard-linked from it instead of
written again (one changed template then costs links, not 200 writes). The old
file is opened without following links, read and compared first, and linked only
when it is a regular file of ours with no other name, the umask's mode and the very
bytes we would write; anything else (another file system, no hard links, a file
edited by hand) is written afresh. No file is ever written in place: each is
created new (``O_EXCL``), so a linked file never changes under the old build, and
once the old build is removed every file of the new one has a single name again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from .errors import MailwrightError, Pos

MARKER = ".mailwright-build"
FORMAT = "mailwright-build 1"  # the marker's first line
MANIFEST = "manifest.json"
CACHE = ".cache"  # the build cache's folder in a build (mailwright.cache)

# The build this process wrote last: its folder and the SHA-256 of each file (relative path), so that
# the build cache records them without reading the build back (mailwright.cache.build_digests).
last_written: tuple[str, dict[str, str]] | None = None


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
    global last_written
    last_written = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; a build folder follows the umask
        writer = _Writer(tmp, out_dir if out_dir.is_dir() else None)
        _write(result, writer)
        _swap(tmp, out_dir)
        last_written = (str(out_dir), writer.digests)
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
    top = str(folder)
    for dirpath, dirnames, filenames in os.walk(top):
        if dirpath == top and CACHE in dirnames and not os.path.islink(os.path.join(dirpath, CACHE)):
            dirnames.remove(CACHE)  # the build cache (mailwright.cache), carried from build to build
        prefix = dirpath[len(top) + 1:].replace(os.sep, "/") + "/" if dirpath != top else ""
        for name in sorted(filenames) + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            if prefix + name not in listed:
                return prefix + name
    return None


class _Writer:
    """Creates the files of a new build in ``tmp``, linking those equal to the old build's (``old``)."""

    def __init__(self, tmp: Path, old: Path | None):
        self.tmp, self.old = str(tmp), None if old is None else str(old)
        self.digests: dict[str, str] = {}  # every file written, by relative path
        self._dirs: set[str] = set()  # made already
        self.mode = 0o666 & ~_umask()
        self._uid = os.geteuid() if hasattr(os, "geteuid") else None

    def put(self, rel: str, text: str, digest: str | None = None) -> str:
        """Write ``text`` (UTF-8, as ``Path.write_text`` would) as ``rel``; its SHA-256."""
        if os.linesep != "\n":
            text = text.replace("\n", os.linesep)
        data = text.encode("utf-8")
        digest = digest or hashlib.sha256(data).hexdigest()
        fresh = rel not in self.digests  # the first file of that name in the new folder: nothing to unlink
        self.digests[rel] = digest
        path = os.path.join(self.tmp, rel)
        if self.old is None or not self._link(os.path.join(self.old, rel), path, data):
            _create(path, data, fresh)
        return digest

    def _link(self, old: str, new: str, data: bytes) -> bool:
        """Link ``old`` as ``new`` when it is a file of ours holding exactly ``data`` (False: write it)."""
        try:
            fd = os.open(old, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_size != len(data) or \
                    stat.S_IMODE(st.st_mode) != self.mode or (self._uid is not None and st.st_uid != self._uid):
                return False
            if _read_upto(fd, len(data) + 1) != data:
                return False
            try:
                os.link(old, new, follow_symlinks=False)
            except (OSError, NotImplementedError):
                self.old = None  # no hard links here (another file system, FAT, a system without): write the rest
                return False
            now, after = os.fstat(fd), os.stat(new, follow_symlinks=False)
            if (after.st_dev, after.st_ino) == (st.st_dev, st.st_ino) and \
                    (now.st_mtime_ns, now.st_size) == (st.st_mtime_ns, st.st_size):
                return True
            os.unlink(new)  # replaced or edited meanwhile: written afresh instead
            return False
        except OSError:
            with contextlib.suppress(OSError):
                if os.path.lexists(new):
                    os.unlink(new)
            return False
        finally:
            os.close(fd)

    def mkdir(self, rel: str) -> None:
        if rel not in self._dirs:
            os.makedirs(os.path.join(self.tmp, rel), exist_ok=True)
            self._dirs.add(rel)


def _read_upto(fd: int, n: int) -> bytes:
    """Up to ``n`` bytes of ``fd`` from where it stands (fewer at its end)."""
    parts, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _create(path: str, data: bytes, fresh: bool = False) -> None:
    """A new file holding ``data``; never a write into an existing file (it may be linked).

    ``fresh``: no file of that name can be there yet. Written with ``os.write`` (what ``open(path, "xb")``
    does, without a file object per file)."""
    if not fresh:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    fd = os.open(path, _NEW, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write(result: Any, w: _Writer) -> None:
    entries = []
    for o in result.outputs:
        w.mkdir(o.esp)
        html_rel, text_rel = f"{o.esp}/{o.stem}.html", f"{o.esp}/{o.stem}.txt"
        html_sha = hashlib.sha256(o.html.encode()).hexdigest()  # the manifest's, of the text as compiled
        w.put(html_rel, o.html, html_sha if os.linesep == "\n" else None)
        w.put(text_rel, o.text)
        entries.append({
            "esp": o.esp, "kind": "template", "name": o.name, "trigger": o.trigger,
            "html": html_rel, "text": text_rel, "subject": o.subject, "preheader": o.preheader,
            "sha256": html_sha,
        })
    if result.flows:
        from .flowviz import diagrams  # only for a project with flows
    for f in result.flows:
        w.mkdir(f"{f.esp}/flows")
        entry = {"esp": f.esp, "kind": "flow", "name": f.name}
        for suffix, content in diagrams(f.esp, f.files).items():
            rel = f"{f.esp}/flows/{f.name}{suffix}"
            w.put(rel, content)
            entry[{".json": "definition", ".mmd": "diagram"}.get(suffix, "recipe")] = rel
        entries.append(entry)
    plan = getattr(result, "plan", None)  # the tracking plan (signals/contract.py), one schema per event
    schemas = plan.schemas() if plan is not None else {}
    if schemas:
        w.mkdir("tracking-plan")
    for event, schema in schemas.items():
        w.put(f"tracking-plan/{event}.json", json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    manifest = {"version": 1, "outputs": entries,
                "tracking_plan": {event: f"tracking-plan/{event}.json" for event in schemas}}
    w.put(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    w.put(MARKER, f"{FORMAT}\nWritten by mailwright compile: this folder is replaced as a whole "
                  "at every compile.\n")


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
