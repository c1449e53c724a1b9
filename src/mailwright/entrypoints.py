"""Installed entry points of one group, found without importing importlib.metadata.

importlib.metadata costs ≈20 ms a start (it imports email, zipfile, csv …) to read what
is a few small text files: each distribution's ``entry_points.txt`` in its ``*.dist-info``
(or ``*.egg-info``) folder on sys.path. Read here in importlib.metadata's order (sys.path,
then each folder's listing; the first distribution of a name wins); where sys.path holds
something other than folders (a zip archive, an egg), importlib.metadata itself is asked.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_VALUE = re.compile(r"\s*(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+))?\s*(?:\[.*\])?\s*$")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str  # "module:attr"

    def load(self) -> Any:
        m = _VALUE.match(self.value)
        if m is None:
            raise ValueError(f"entry point {self.name}: cannot read {self.value!r}")
        obj = importlib.import_module(m.group("module"))
        for part in m.group("attr").split(".") if m.group("attr") else ():
            obj = getattr(obj, part)
        return obj


def entry_points(group: str) -> list[EntryPoint]:
    found = _scan(group)
    if found is None:
        from importlib.metadata import entry_points as metadata_entry_points

        return [EntryPoint(ep.name, ep.value) for ep in metadata_entry_points(group=group)]
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
            if not dot or kind not in ("dist-info", "egg-info"):
                continue
            if kind == "egg-info" and os.path.isfile(os.path.join(where, name)):
                return None  # a single-file egg-info: importlib.metadata reads it
            dist = re.sub(r"[-_.]+", "_", stem.split("-")[0]).lower()
            if dist in seen:
                continue
            seen.add(dist)
            out.extend(_read(f"{where}{os.sep}{name}{os.sep}entry_points.txt", group))  # no os.path.join: ≈ 75 a start
    return out


def _read(path: str, group: str) -> list[EntryPoint]:
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
    text = b"".join(chunks).decode("utf-8")
    if group not in text:  # no section of that name (most): nothing to parse
        return []
    out, current = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            out.append(EntryPoint(name.strip(), value.strip()))
    return out
