"""Installed entry points of one group, found without importing importlib.metadata.

importlib.metadata costs ≈20 ms a start (it imports email, zipfile, csv …) to read what
is a few small text files: each distribution's ``entry_points.txt`` in its ``*.dist-info``
(or ``*.egg-info``) folder on sys.path. Read here in importlib.metadata's order (sys.path,
then each folder's listing; the first distribution of a name wins); where sys.path holds
something other than folders (a zip archive, an egg), importlib.metadata itself is asked.

A file is read as importlib.metadata reads it (a section header loses its brackets, only ``#`` starts a
comment), except that a line of the group asked for without ``=`` is a ``BrokenEntryPoint`` naming its
distribution (importlib.metadata raises a bare TypeError for such a line in any group). An entry point that
does not load is a ``BrokenEntryPoint`` too: the user learns which installed package to fix, not a traceback.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

from .errors import MailwrightError, Pos

_VALUE = re.compile(r"\s*(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+))?\s*(?:\[.*\])?\s*$")


class BrokenEntryPoint(MailwrightError):
    """An installed distribution's entry point that cannot be read or loaded (its message names the
    distribution; its place is the line of its entry_points.txt where known)."""


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str  # "module:attr"
    dist: str = ""  # "NAME VERSION" of the distribution that declares it
    where: Pos | None = None  # its line in that distribution's entry_points.txt

    def broken(self, why: str) -> BrokenEntryPoint:
        """An error about this entry point, naming the package that declares it and how to get rid of it."""
        pkg = self.dist or "an installed package"
        fix = f" (reinstall or uninstall {self.dist.split()[0]})" if self.dist else ""
        return BrokenEntryPoint(self.where or Pos("entry_points.txt", 0),
                                f"entry point '{self.name} = {self.value}' of {pkg} {why}{fix}")

    def load(self) -> Any:
        m = _VALUE.match(self.value)
        if m is None:
            raise self.broken("is not 'module:object'")
        try:
            obj = importlib.import_module(m.group("module"))
            for part in m.group("attr").split(".") if m.group("attr") else ():
                obj = getattr(obj, part)
        except Exception as e:  # whatever its import raises: the package is broken, not mailwright
            raise self.broken(f"does not load: {type(e).__name__}: {e}") from None
        return obj


def entry_points(group: str) -> list[EntryPoint]:
    found = _scan(group)
    if found is None:
        from importlib.metadata import entry_points as metadata_entry_points

        return [EntryPoint(ep.name, ep.value, f"{ep.dist.name} {ep.dist.version}" if ep.dist else "")
                for ep in metadata_entry_points(group=group)]
    return found


def _scan(group: str) -> list[EntryPoint] | None:
    """None where a sys.path entry is not a folder (then only importlib.metadata knows)."""
    seen: set[str] = set()
    out: list[EntryPoint] = []
    for entry in sys.path:
        where = entry or "."
        if os.path.isfile(where):
            return None
        try:
            names = os.listdir(where)
        except OSError:  # absent: nothing is installed there
            continue
        for name in names:
            stem, dot, kind = name.rpartition(".")
            if not dot or kind.lower() not in ("dist-info", "egg-info"):
                continue
            if kind.lower() == "egg-info" and os.path.isfile(os.path.join(where, name)):
                return None  # a single-file egg-info: importlib.metadata reads it
            dist = re.sub(r"[-_.]+", "_", stem.split("-")[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            out.extend(_read(f"{where}{os.sep}{name}{os.sep}entry_points.txt", group, stem))  # no os.path.join: ≈ 75 a start
    return out


def _read(path: str, group: str, stem: str) -> list[EntryPoint]:
    # os.open/os.read: most distributions have no entry_points.txt, and no text file object is
    # needed for the others (a start reads some 25 of them)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return []
    try:
        chunks = [os.read(fd, 65536)]
        while len(chunks[-1]) == 65536:  # a regular file reads whole up to the size asked
            chunks.append(os.read(fd, 65536))
    except OSError:
        return []
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if group.encode() not in data:  # no section of that name (most): nothing to parse
        return []
    name, _, version = stem.partition("-")
    dist = f"{name} {version.split('-')[0]}".strip()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BrokenEntryPoint(Pos(path, data.count(b"\n", 0, e.start) + 1),
                               f"{dist}'s entry points are not UTF-8 (reinstall or uninstall {name})") from None
    out, current = [], None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] == "#":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line.strip("[]")  # as importlib.metadata: "[ g ]" is not [g]
        elif current == group:
            if "=" not in line:
                raise BrokenEntryPoint(Pos(path, n), f"{dist} declares '{line}' in [{group}], not 'name = "
                                                     f"module:object' (reinstall or uninstall {name})")
            key, _, value = line.partition("=")
            out.append(EntryPoint(key.strip(), value.strip(), dist, Pos(path, n)))
    return out
