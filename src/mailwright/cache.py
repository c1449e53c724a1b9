"""The build cache: what a compile made, kept under a digest of everything that made it.

It lives in the build folder, ``<out>/.cache`` (``build/.cache`` by default, so a
project's ``build/`` ignore rule covers it): staged beside the build while a compile
runs and moved in only after the build was written (a run that fails leaves it as it
was), carried over when the build is swapped (mailwright.output), and the only thing
in a build its manifest does not list. Every key holds mailwright's version, a digest
of its code and its connectors' code, the project folder and mailwright.toml (its
normalized content and its text). Entries:

- ``t-KEY``, one template: its outputs for each trigger and ESP of the run, and its
  warnings. KEY adds the theme names on offer, the ESPs and the template's triggers;
  the entry lists the files its compile read (the template, what it includes, the
  theme) and the components it used, each checked again by digest before a hit.
- ``f-KEY``, one flow for one ESP: KEY adds the flow file and the outputs it sends.
- ``l-KEY``, the tracking plan: KEY adds the flow files and the identity (key and
  dependencies) of each template a flow sends.
- ``p-KEY``, a clean compile: what the CLI reports, and the digest of every file of
  the build it wrote. KEY adds ``--esp`` and the names in templates/, components/,
  themes/, flows/ and the built-in folders; the entry lists every file the compile
  read. A hit whose build is in place writes nothing and imports neither the engine
  nor the connectors.

An entry file is ``mailwright-cache 2 SHA256``, a line of JSON (naming the entry
itself), then the long texts it names by their lengths (the SHA-256 covers both). One
that does not match (tampered, truncated), has another shape or names another entry
(a file copied or renamed) is ignored and rebuilt, never trusted.
Each lands by a rename, so concurrent compiles never see half an entry. Bounded:
least recently used entries beyond ``max(200, 3 × used)`` (used: the entries the
last compile read or wrote) are removed after each compile, with what a killed run left
(temporaries and staging folders over an hour old).

Files are read only when they are regular files (a FIFO where an input was is a change,
never a blocking read). A connector not bundled is seen by every file of the outermost regular
package holding its dialect, or by that module's file alone (connector_trees), also when edited
in place. Not seen (use ``--no-cache``): a symlink an include goes through, pointed at another
file; another package such a connector imports, edited in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from . import __version__
from .errors import Diagnostic, Pos
from .root import locate

CACHE_DIR = ".cache"  # in the build folder (mailwright.output.CACHE)
MAGIC = b"mailwright-cache 2 "
MIN_KEEP = 200
STAGE = ".cache-new-"  # a run's entries staged beside the build folder
STALE = 3600  # seconds: a temporary or staging folder older than this was left by a run that was killed
LISTED = ("templates", "components", "themes", "flows")  # every name in them (more than the globs read)
BUILTIN = ("mailwright_components", "mailwright_themes")

_code: str | None = None
_trees: dict[str, str] = {}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _package_dirs(name: str) -> list[str]:
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    return sorted(spec.submodule_search_locations or []) if spec else []


def tree_digest(folder: str) -> str:
    """Every file under ``folder`` (names and contents; bytecode caches left out)."""
    if folder not in _trees:
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                try:
                    with open(p, "rb") as fh:
                        h.update(f"{os.path.relpath(p, folder)}\0".encode() + hashlib.sha256(fh.read()).digest())
                except OSError:
                    h.update(f"{p}\0unreadable".encode())
        _trees[folder] = h.hexdigest()
    return _trees[folder]


def code_digest() -> str:
    """mailwright's version and code, its bundled connectors, and the installed packages (a
    connector installed or upgraded changes a site-packages folder)."""
    global _code
    if _code is None:
        h = hashlib.sha256(__version__.encode())
        for pkg in ("mailwright", "mailwright_connectors"):
            for d in _package_dirs(pkg):
                h.update(f"{d}\0{tree_digest(d)}\0".encode())
        for p in sys.path:
            if p.endswith(("site-packages", "dist-packages")):
                with contextlib.suppress(OSError):
                    h.update(f"{p}\0{os.stat(p).st_mtime_ns}\0".encode())
        _code = h.hexdigest()
    return _code


def find_root(start: Path) -> Path | None:
    """The folder ``mailwright.project.find_root`` picks (None: none; it will say why)."""
    try:
        return locate(start)[1]
    except (OSError, RuntimeError):
        pass
    return None


def _names(folder: Path) -> list:
    try:
        return [str(folder), sorted(os.listdir(folder))]
    except OSError as e:
        return [str(folder), f"<{type(e).__name__}>"]


def _listing(root: Path) -> list:
    """The names in every folder a compile lists (a file added there is an input too)."""
    return [_names(root / d) for d in LISTED] + [_names(Path(d)) for pkg in BUILTIN for d in _package_dirs(pkg)]


def _themes(root: Path) -> list:
    """The theme names on offer (``mw-theme`` finds a project's own before a built-in one)."""
    return [_names(root / "themes")] + [_names(Path(d)) for d in _package_dirs("mailwright_themes")]


def connector_trees(connectors: dict) -> dict[str, str]:
    """The code of each connector not bundled with mailwright (that one is in code_digest)."""
    bundled = _package_dirs("mailwright_connectors")
    trees = {}
    for c in connectors.values():
        d = _code_root(c.dialect.__module__)
        if d and not any(d == b or d.startswith(b + os.sep) for b in bundled):
            trees[d] = tree_digest(d) if os.path.isdir(d) else str(_state(d))
    return trees


def _code_root(module: str) -> str | None:
    """A connector's code: the folder of the outermost regular package holding its dialect's module (a
    helper anywhere in that package is part of it), or the module's own file when it is in none (never
    the folder that file sits in: that would be all of site-packages)."""
    parts = module.split(".")
    root = None
    for i in range(len(parts), 0, -1):  # the module itself (when a package), then its parents
        m = sys.modules.get(".".join(parts[:i]))
        f = getattr(m, "__file__", None)
        if not f or not hasattr(m, "__path__"):  # a plain module, or a namespace package: no folder of its own
            if i < len(parts):
                break
            continue
        root = os.path.dirname(f)
    if root is None:
        root = getattr(sys.modules.get(module), "__file__", None)
    return root


def _regular(path: str) -> bytes | str:
    """A regular file's bytes, else its kind: a FIFO or device is never opened for a blocking read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "folder" if stat.S_ISDIR(st.st_mode) else f"<mode {stat.S_IFMT(st.st_mode):o}>"
        chunks = [os.read(fd, st.st_size + 1)]  # no file object: cheaper than open() (≈4 vs 5 µs a file)
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _state(path: str) -> str | None:
    """A file's digest now (None: absent; a folder or anything else: its kind)."""
    try:
        data = _regular(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"<{type(e).__name__}>"
    return _sha(data) if isinstance(data, bytes) else data


def _key(*parts: Any) -> str:
    return _sha(json.dumps(parts, sort_keys=True, ensure_ascii=False, default=repr).encode())


# -------------------------------------------------------------- (de)serialising

OUTPUT_FIELDS = ("esp", "name", "trigger", "html", "text", "subject", "preheader")
BLOB_FIELDS = ("html", "text")


def diag_json(d: Diagnostic) -> list:
    return [list(_pos(d.pos)), d.message, d.severity, [[*_pos(p), m] for p, m in d.notes], d.rule,
            list(d.mapping) if d.mapping else None]


def _pos(p: Pos) -> tuple:
    return (p.path, p.line, p.col)


def diag_from(j: list) -> Diagnostic:
    """A stored diagnostic (ValueError when it is not one: the entry is then not used)."""
    pos, message, severity, notes, rule, mapping = j
    d = Diagnostic(_pos_from(pos), _str(message), _str(severity),
                   [_note_from(n) for n in notes], None if rule is None else _str(rule),
                   tuple(_str(m) for m in mapping) if mapping else None)
    if d.mapping is not None and len(d.mapping) != 3:
        raise ValueError("mapping")
    return d


def _note_from(j: list) -> tuple[Pos, str]:
    path, line, col, message = j
    return _pos_from([path, line, col]), _str(message)


def _pos_from(j: list) -> Pos:
    path, line, col = j
    if type(line) is not int or type(col) is not int:
        raise ValueError("position")
    return Pos(_str(path), line, col)


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("not a string")
    return v


def output_from(j: dict, cls: type, blobs: list[str]) -> Any:
    values = [blobs[_index(j[f], blobs)] if f in BLOB_FIELDS else j[f] for f in OUTPUT_FIELDS]
    if not all(isinstance(v, str) or (f == "trigger" and v is None) for f, v in zip(OUTPUT_FIELDS, values)):
        raise ValueError("output")
    return cls(*values)


def _index(i: Any, blobs: list) -> int:
    if type(i) is not int or not 0 <= i < len(blobs):
        raise ValueError("blob")
    return i


class BuildCache:
    """The cache of one project, for one run of ``compile``."""

    def __init__(self, root: Path, folder: Path):
        self.root = root  # the project
        self.dir = folder  # <out>/.cache
        self._beside = folder.parent.parent  # where entries are staged (self.dir follows the build)
        self.used: set[str] = set()  # entry files this run read or wrote
        self.rebuilt: list[str] = []  # templates compiled in this run (not replayed)
        self.replayed: list[str] = []
        self.translated: list[str] = []  # flows translated in this run, as ESP/FLOW
        self.plans_built = 0
        self.reads: list[tuple[str, bytes]] = []  # every file the run read (mailwright.inputs)
        self._hashes: dict[str, str] = {}
        self._now: dict[str, str | None] = {}  # files checked against an entry: their state now
        self._indexed = 0
        self._pending: dict[str, bytes | None] = {}  # None: staged in self._stage
        self._stage: Path | None = None
        self._themes: list | None = None
        self._part: str | None = None
        self._project_keys: dict[tuple[str, ...], str] = {}
        self.identity: dict[str, str] = {}  # template -> its key and the digests of what it read

    # ---------------------------------------------------------- entry files
    def _read(self, name: str) -> dict | None:
        path = self.dir / name
        try:
            with open(path, "rb") as f:
                data = f.read()
            head, _, body = data.partition(b"\n")
            if not head.startswith(MAGIC) or head[len(MAGIC):].decode("ascii") != _sha(body):
                return None  # tampered or truncated: never trusted, rebuilt
            header, _, rest = body.partition(b"\n")
            entry = json.loads(header)
            if not isinstance(entry, dict) or entry.get("entry") != name or not isinstance(entry.get("blobs"), list):
                return None  # another shape, or another entry's file (copied or renamed) under this name
            blobs, at = [], 0
            for n in entry["blobs"]:
                if type(n) is not int or n < 0:
                    return None
                blobs.append(rest[at:at + n].decode("utf-8"))
                at += n
            if at != len(rest):
                return None
            entry["blobs"] = blobs
            os.utime(path)  # recently used
        except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return None
        self.used.add(name)
        return entry

    def _write(self, name: str, entry: dict, blobs: list[str] | None = None) -> None:
        """Staged until ``flush`` (a run that fails writes nothing, not even to the cache), on disk
        beside the build folder so that a large build is not held twice in memory. ``blobs``: long
        texts, kept after the JSON as they are (decoding JSON strings full of quotes is slow)."""
        raw = [b.encode() for b in blobs or []]
        header = json.dumps({**entry, "entry": name, "blobs": [len(b) for b in raw]}, ensure_ascii=False,
                            separators=(",", ":"))
        body = header.encode() + b"\n" + b"".join(raw)
        data = MAGIC + _sha(body).encode() + b"\n" + body
        self.used.add(name)
        if self._stage is None:
            with contextlib.suppress(OSError):  # no such folder yet: held in memory
                self._stage = Path(tempfile.mkdtemp(prefix=STAGE, dir=self._beside))
        if self._stage is not None:
            try:
                (self._stage / name).write_bytes(data)
                self._pending[name] = None
                return
            except OSError:
                pass
        self._pending[name] = data

    def flush(self) -> None:
        """Move the entries of this run into the cache (after its build was written), then evict."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            for name, data in self._pending.items():
                if data is None:
                    with contextlib.suppress(OSError):  # another file system: written again below
                        os.replace(self._stage / name, self.dir / name)  # type: ignore[operator]
                        continue
                    data = (self._stage / name).read_bytes()  # type: ignore[operator]
                fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.dir)
                try:
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                    os.replace(tmp, self.dir / name)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
        except OSError:
            pass  # a cache that cannot be written is no cache, not an error
        self.discard()
        self.evict()

    def discard(self) -> None:
        """Forget what this run staged (a run that failed; or after ``flush``)."""
        self._pending.clear()
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None

    def evict(self) -> None:
        """Least recently used entries beyond max(MIN_KEEP, 3 × used) removed; stale temporaries too."""
        self._sweep_stages()
        try:
            entries = []
            for e in os.scandir(self.dir):
                st = e.stat(follow_symlinks=False)
                if e.name.startswith(".tmp-"):
                    if st.st_mtime < time.time() - STALE:
                        os.unlink(e.path)
                elif e.name not in self.used:
                    entries.append((st.st_mtime_ns, e.path))
            keep = max(MIN_KEEP, 3 * len(self.used)) - len(self.used)
            for _, path in sorted(entries, reverse=True)[max(keep, 0):]:
                os.unlink(path)
        except OSError:
            pass

    def _sweep_stages(self) -> None:
        """Staging folders beside the build that a killed run left (SIGTERM, SIGKILL: no ``discard``)."""
        with contextlib.suppress(OSError):
            for e in os.scandir(self._beside):
                if e.name.startswith(STAGE) and len(e.name) == len(STAGE) + 8 and \
                        e.is_dir(follow_symlinks=False) and e.stat(follow_symlinks=False).st_mtime < time.time() - STALE:
                    shutil.rmtree(e.path, ignore_errors=True)

    # ---------------------------------------------------------- what was read
    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Every file read through mailwright.inputs meanwhile goes into ``self.reads``."""
        from . import inputs

        before, inputs.reads = inputs.reads, self.reads
        try:
            yield
        finally:
            inputs.reads = before

    def _hash_of(self, path: str) -> str | None:
        """The digest of ``path`` as this run read it (as it is now, if it did not read it)."""
        for p, data in self.reads[self._indexed:]:
            self._hashes.setdefault(os.path.abspath(p), _sha(data))
        self._indexed = len(self.reads)
        h = self._hashes.get(path)
        return h if h is not None else self._current(path)

    def _current(self, path: str) -> str | None:
        if path not in self._now:
            self._now[path] = _state(path)
        return self._now[path]

    def _deps(self, paths: list[str]) -> dict[str, str | None]:
        deps: dict[str, str | None] = {}
        for p in paths:
            p = os.path.abspath(p)
            deps[p] = self._hash_of(p)
            if p.endswith(".mjml"):  # <mj-include path="x"> reads x, or x.mjml when x does not exist
                deps.setdefault(p[:-5], self._current(p[:-5]))
        return deps

    def _deps_hold(self, deps: Any) -> bool:
        return isinstance(deps, dict) and all(self._current(p) == h for p, h in deps.items())

    # ---------------------------------------------------------- templates
    def _project_part(self, project: Any, connectors: dict) -> str:
        """What every template, flow and plan key holds: the code, the project folder, the config
        (its text too: positions in it are part of what is reported)."""
        if self._part is None:
            config = os.path.abspath(project.config_path)
            self._part = _key(code_digest(), connector_trees(connectors), str(project.root), project.config,
                              config, self._hash_of(config))
        return self._part

    def template_key(self, project: Any, name: str, esps: list[str], triggers: list[str | None],
                     connectors: dict) -> str:
        if self._themes is None:
            self._themes = _themes(project.root)
        return _key("template", self._project_part(project, connectors), self._themes, esps, triggers, name)

    def replay(self, key: str, name: str, components: dict, result: Any, output_cls: type) -> bool:
        """A hit: the template's outputs and warnings added to ``result`` as compiling made them."""
        entry = self._read(f"t-{key}.json")
        try:
            if entry is None or entry.get("name") != name or not self._deps_hold(entry["deps"]):
                return False
            if any(getattr(components.get(c), "path", None) != p for c, p in entry["components"].items()):
                return False  # a component of that name now comes from another file
            outputs = [output_from(o, output_cls, entry["blobs"]) for o in entry["outputs"]]
            diags = [diag_from(d) for d in entry["diagnostics"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        result.outputs.extend(outputs)
        result.diagnostics.extend(diags)
        self.replayed.append(name)
        self.identity[name] = _key(key, entry["deps"])
        return True

    def store(self, key: str, name: str, read_paths: list[str], components: list[str], outputs: list,
              diagnostics: list[Diagnostic]) -> None:
        """After compiling a template: ``read_paths`` the files its compile read, ``components``
        the component files it used (read when the project was loaded)."""
        self.rebuilt.append(name)
        if any(d.severity == "error" for d in diagnostics):
            return
        deps = self._deps([*read_paths, *components])
        self.identity[name] = _key(key, deps)
        entry = {"name": name, "deps": deps, "components": {Path(c).stem: c for c in components},
                 "outputs": [], "diagnostics": [diag_json(d) for d in diagnostics]}
        blobs: list[str] = []
        for o in outputs:
            entry["outputs"].append({f: getattr(o, f) for f in OUTPUT_FIELDS if f not in BLOB_FIELDS})
            for f in BLOB_FIELDS:
                entry["outputs"][-1][f] = len(blobs)
                blobs.append(getattr(o, f))
        self._write(f"t-{key}.json", entry, blobs)

    # ---------------------------------------------------------- flows
    def flow_key(self, project: Any, esp: str, flow: Any, sent: list, connectors: dict) -> str:
        """A flow for one ESP: its file, the config, and the outputs of the templates it sends
        (what the translation reads of them; the other template names only decide load errors)."""
        path = os.path.abspath(flow.path)
        return _key("flow", self._project_part(project, connectors), esp, flow.id, path, self._hash_of(path),
                    [_sha(json.dumps([getattr(o, f) for f in OUTPUT_FIELDS]).encode()) for o in sent])

    def replay_flow(self, key: str, esp: str, flow_id: str, result: Any, flow_cls: type) -> bool:
        entry = self._read(f"f-{key}.json")
        try:
            if entry is None:
                return False
            files = {_str(k): _str(v) for k, v in entry["files"].items()}
            diags = [diag_from(d) for d in entry["diagnostics"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        result.diagnostics.extend(diags)
        result.flows.append(flow_cls(esp, flow_id, files))
        return True

    def store_flow(self, key: str, label: str, files: dict[str, str], diagnostics: list[Diagnostic]) -> None:
        self.translated.append(label)
        self._write(f"f-{key}.json", {"files": files, "diagnostics": [diag_json(d) for d in diagnostics]})

    # ---------------------------------------------------------- the tracking plan
    def plan_key(self, project: Any, flows: list, sent: list[str], connectors: dict) -> str | None:
        """The plan reads the config, the flows and the templates they send (None: one of those
        did not compile, so there is no identity to key on)."""
        if any(name not in self.identity for name in sent):
            return None
        flow_files = [(p, self._hash_of(p)) for p in sorted(os.path.abspath(f.path) for f in flows)]
        return _key("plan", self._project_part(project, connectors), flow_files,
                    sorted((name, self.identity[name]) for name in sent))

    def replay_plan(self, key: str, result: Any) -> bool:
        entry = self._read(f"l-{key}.json")
        try:
            if entry is None:
                return False
            schemas = {_str(k): v for k, v in entry["schemas"].items()}
            if not all(isinstance(v, dict) for v in schemas.values()):
                return False  # a JSON Schema is an object
            diags = [diag_from(d) for d in entry["diagnostics"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        result.plan = SimpleNamespace(schemas=lambda: schemas)
        result.diagnostics.extend(diags)
        return True

    def store_plan(self, key: str, plan: Any, diagnostics: list[Diagnostic]) -> None:
        self.plans_built += 1
        if not any(d.severity == "error" for d in diagnostics):
            self._write(f"l-{key}.json", {"schemas": plan.schemas(), "diagnostics": [diag_json(d) for d in diagnostics]})

    # ---------------------------------------------------------- the whole project
    def project_key(self, esps: tuple[str, ...]) -> str:
        """Listed once, before the project is loaded (``replay_project``): a file added while the
        compile runs then misses next time, instead of keying an entry whose build lacks it."""
        esps = tuple(esps)
        if esps not in self._project_keys:
            self._project_keys[esps] = _key("project", code_digest(), str(self.root), list(esps), _listing(self.root))
        return self._project_keys[esps]

    def replay_project(self, esps: tuple[str, ...]) -> ProjectHit | None:
        """The result of the last clean compile of exactly these inputs, or None."""
        entry = self._read(f"p-{self.project_key(esps)}.json")
        try:
            if entry is None or not self._deps_hold(entry["deps"]) or \
                    any(tree_digest(d) != h for d, h in entry["trees"].items()):
                return None
            return ProjectHit(entry)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def store_project(self, esps: tuple[str, ...], project: Any, result: Any, connectors: dict, build: Path) -> None:
        """After a clean build was written into ``build``: what a hit checks and reports (the
        outputs themselves are in the template and flow entries)."""
        if result.errors:
            return
        deps = self._deps([p for p, _ in self.reads])
        deps.update(self._now)  # what replayed templates were checked against
        self._write(f"p-{self.project_key(esps)}.json", {
            "templates": len(project.templates), "esps": project.esps, "trees": connector_trees(connectors),
            "deps": deps, "build": _written(build),
            "outputs": [o.esp for o in result.outputs], "flows": [f.esp for f in result.flows],
            "diagnostics": [diag_json(d) for d in result.diagnostics]})


def _written(build: Path) -> dict[str, str] | None:
    """The digests of the build this process just wrote into ``build`` (mailwright.output knows them:
    nothing to read back), else of the files there now."""
    written = getattr(sys.modules.get("mailwright.output"), "last_written", None)
    if written is not None and written[0] == str(build):
        return dict(written[1])
    return build_digests(build)


def build_digests(folder: Path) -> dict[str, str] | None:
    """Every file of a build (its cache left out) and its digest; None: not only regular files."""
    out: dict[str, str] = {}
    try:
        for dirpath, dirnames, filenames in os.walk(folder):
            if dirpath == str(folder) and CACHE_DIR in dirnames:
                if os.path.islink(os.path.join(dirpath, CACHE_DIR)):
                    return None  # the build's guard refuses it: not in place
                dirnames.remove(CACHE_DIR)
            for name in [*filenames, *dirnames]:
                p = os.path.join(dirpath, name)
                if os.path.islink(p):
                    return None
                if name in filenames:
                    data = _regular(p)
                    if not isinstance(data, bytes):
                        return None
                    out[os.path.relpath(p, folder).replace(os.sep, "/")] = _sha(data)
    except OSError:
        return None
    return out


class ProjectHit:
    """A clean compile of these very inputs, as the CLI reports it."""

    errors: list = []

    def __init__(self, entry: dict):
        self._build = entry["build"]
        self.templates: int = entry["templates"]
        if type(self.templates) is not int:
            raise ValueError("templates")
        self.esps: list[str] = [_str(e) for e in entry["esps"]]
        self.outputs = [SimpleNamespace(esp=_str(e)) for e in entry["outputs"]]  # what the summary counts
        self.flows = [SimpleNamespace(esp=_str(e)) for e in entry["flows"]]
        self.diagnostics = [diag_from(d) for d in entry["diagnostics"]]

    def in_place(self, out_dir: Path) -> Path | None:
        """The manifest when ``out_dir`` holds this very build already (None: compile, replaying
        the template and flow entries, and write it)."""
        out_dir = Path(os.path.abspath(out_dir))
        with contextlib.suppress(OSError, RuntimeError):
            out_dir = out_dir.resolve()
        if self._build is not None and out_dir.is_dir() and build_digests(out_dir) == self._build:
            return out_dir / "manifest.json"
        return None
