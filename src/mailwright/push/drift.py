"""Drift: what push wrote carries a fingerprint, so an edit made in the ESP's own editor is seen,
shown and kept instead of being overwritten (still without a state file).

A template's HTML carries ``<!-- mailwright: sha256=… -->`` and, as a fallback for an editor that
drops comments, the same digest in ``<meta name="mailwright" content="sha256=…">``, both right after
``<head>``. The digest covers every field push writes (HTML without the marks, text, subject …), so
taking the marks out of the stored HTML and hashing again tells whether anyone changed it since.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..reference import visible_text

DRIFTED, UNMANAGED, ORPHAN = "drifted", "unmanaged", "orphan"
_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_DIGEST = re.compile(r"sha256=([0-9a-f]{64})")
DIFF_LINES = 12  # lines of a diff shown under the plan table (``mailwright diff`` shows all)


def comment(digest: str) -> str:
    return f"<!-- mailwright: sha256={digest} -->"


def meta(digest: str) -> str:
    return f'<meta name="mailwright" content="sha256={digest}">'


def fingerprint(parts: Mapping[str, Any]) -> str:
    """The digest of every field push writes (the HTML without its marks)."""
    norm = {k: "" if v is None else v for k, v in parts.items()}  # a field the ESP keeps empty comes back as ""
    return hashlib.sha256(json.dumps(norm, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def stamp(html: str, digest: str) -> str:
    """html with both marks right after ``<head>`` (at the start when there is no head)."""
    marks = comment(digest) + meta(digest)
    m = _HEAD.search(html)
    return html[:m.end()] + marks + html[m.end():] if m else marks + html


def read_stamp(html: str) -> tuple[str | None, str]:
    """(the digest the stored HTML carries or None, the HTML without the marks)."""
    found = re.search(re.escape("<!-- mailwright: ") + _DIGEST.pattern + " -->", html) or \
        re.search(re.escape('<meta name="mailwright" content="') + _DIGEST.pattern + '">', html)
    if not found:
        return None, html
    digest = found.group(1)
    return digest, html.replace(comment(digest), "", 1).replace(meta(digest), "", 1)


@dataclass
class Drift:
    """An object edited in the ESP: its version there, and the project's (what push wrote, when ``pushed``)."""

    stem: str  # the file name under drift/<esp>/ (without extension)
    remote: dict[str, str]  # field -> the ESP's current value (HTML without the marks)
    ours: dict[str, str]  # field -> what push would write now
    pushed: bool  # ours is exactly what push wrote last (the project has not changed since)


@dataclass
class State:
    """How a remote object stands against what push would write."""

    action: str  # create, update, unchanged, drifted, unmanaged
    detail: str = ""
    diff: str = ""
    drift: Drift | None = None


def written(parts: Mapping[str, str]) -> dict[str, str]:
    """What push writes: the fields, the HTML stamped with their fingerprint."""
    out = dict(parts)
    out["html"] = stamp(parts["html"], fingerprint(parts))
    return out


def classify(label: str, stem: str, want: Mapping[str, str], have: Mapping[str, str] | None,
             force: bool, adopt: bool) -> State:
    """Compare what push would write (``want``, unstamped) with what the ESP holds (``have``)."""
    if have is None:
        return State("create")
    out = written(want)
    digest, bare = read_stamp(have.get("html") or "")
    now = {k: (bare if k == "html" else have.get(k) or "") for k in want}
    if digest is None:
        if adopt:
            return State("update", "adopted (--adopt): no fingerprint, made by hand or by an older push")
        return State(UNMANAGED, "no fingerprint (made by hand or by an older push): push --adopt takes it over")
    if fingerprint(now) != digest:
        ours = dict(want)
        d = Drift(stem, now, ours, fingerprint(want) == digest)
        diff = text_diff(ours, now, label, d.pushed)
        if force:
            return State("update", f"overwrites what was edited in {label} (--force)", diff, d)
        return State(DRIFTED, f"edited in {label} since the last push: kept; push --force overwrites it, "
                              "mailwright pull saves it", diff, d)
    if all((have.get(k) or "") == (v or "") for k, v in out.items()):
        return State("unchanged")
    changed = [k for k, v in want.items() if now[k] != (v or "")] or ["html"]  # at least the fingerprint's place
    return State("update", ("HTML" if changed == ["html"] else ", ".join(changed)) + " changed")


def _lines(value: str, html: bool) -> list[str]:
    text = visible_text(value) if html else " ".join(value.split())
    # a sentence (or a template tag) a line, so that a diff points at what changed
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|(?<=%})|(?={%)|(?<=%/IF%)|(?<=%ELSE%)|(?=%(?:IF |ELSE%|/IF%))", text) if s.strip()]


def text_diff(ours: Mapping[str, str], theirs: Mapping[str, str], label: str, pushed: bool) -> str:
    """A unified diff, field by field, of what a recipient reads: ours (what push wrote, or the project's
    version when that changed too) against the ESP's."""
    mine = "pushed" if pushed else "project"
    out: list[str] = []
    for k in ours:
        a, b = _lines(ours[k] or "", k == "html"), _lines(theirs.get(k) or "", k == "html")
        if a == b and ours[k] != theirs.get(k):
            out += [f"--- {mine} {k}", f"+++ {label} {k}", "@@ markup only: the text a recipient reads is the same @@"]
            continue
        out += difflib.unified_diff(a, b, f"{mine} {k}", f"{label} {k}", n=1, lineterm="")
    return "\n".join(out)


def short(diff: str, n: int = DIFF_LINES) -> str:
    lines = diff.splitlines()
    return "\n".join(lines[:n] + ([f"… {len(lines) - n} more line(s): mailwright diff shows them"]
                                  if len(lines) > n else []))


def json_diff(ours: Any, theirs: Any, label: str) -> str:
    """A unified diff of two JSON documents (flow steps), keys sorted."""
    a = json.dumps(ours, indent=1, sort_keys=True, ensure_ascii=False).splitlines()
    b = json.dumps(theirs, indent=1, sort_keys=True, ensure_ascii=False).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "project", label, n=1, lineterm=""))


def orphans(prefix: str, kind: str, objects: list[tuple[Any, Any]], keep: Callable[[str], bool], prune: bool,
            remove: Callable[[str], Any], needs: list[str] | None = None,
            live: Callable[[str], bool] | None = None, switch_off: Callable[[str], Any] | None = None) -> list:
    """One change per object named under ``prefix`` that the project no longer has (``keep``: the names
    it has: ``keep(name)``). ``--prune`` removes it; a live one (``live(id)``) is only switched off. Nothing outside the
    prefix, ever."""
    from . import REMOVE, Change

    out = []
    seen: set[str] = set()
    for name, _ in objects:
        if not isinstance(name, str) or not name.startswith(prefix) or keep(name) or name in seen:
            continue
        seen.add(name)
        ids = [str(i) for n, i in objects if n == name]
        if not prune:
            out.append(Change(kind, name, ORPHAN, "not in the project any more: push --prune removes it"))
        elif live is not None and switch_off is not None and any(live(i) for i in ids):
            out.append(Change(kind, name, REMOVE, "live: switched off, not deleted (delete it by hand)",
                              apply=lambda ids=ids: [switch_off(i) for i in ids], needs=list(needs or [])))
        else:
            out.append(Change(kind, name, REMOVE, "not in the project any more",
                              apply=lambda ids=ids: [remove(i) for i in ids], needs=list(needs or [])))
    return out
