"""Tile labels a designer can read: what makes one recipient's email different from the others'.

From the template's own conditions and reads: each segment the template tests, true (✓) or, when none
is, each false (✗); each profile/event property it reads that is missing or empty; a value it compares
with ==, <, in … (outside a segment); each list it loops over, by its number of items. Only what differs between
the template's tiles is shown: "high_intent ✓ · first name missing · 0 items".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import MailwrightError
from ..expr import MISSING, Cmp, Expr, Scope, lookup, parse_condition, uses
from ..expr import Var as V
from ..render import PFor, PIf
from ..variants import reads

Fact = tuple[str, str]  # (what it is about, how it is for this recipient; "" when not worth showing)


def _subexpressions(e: Expr) -> list[Expr]:
    out = [e]
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            out += _subexpressions(v)
    return out


def _conditions(tree: list) -> list[Expr]:
    out: list[Expr] = []
    for item in tree:
        if isinstance(item, PIf):
            out += [c for c in item.slot.conds if c is not None]
            for body in item.bodies:
                out += _conditions(body)
        elif isinstance(item, PFor):
            out += _conditions(item.body)
    return out


def _human(path: tuple) -> str:
    return str(path[-1]).replace("_", " ")


def _short(v: object) -> str:
    text = str(v)
    return text if len(text) <= 24 else text[:23] + "…"


@dataclass
class Describer:
    """What a template's tiles can differ in, read once per template."""

    segments: list[tuple[str, Expr]] = field(default_factory=list)
    props: list[tuple] = field(default_factory=list)  # (root, *path) read as a single value or tested
    compared: set[tuple] = field(default_factory=set)  # tested outside any segment: the value is shown
    loops: list[tuple] = field(default_factory=list)

    @classmethod
    def of(cls, trees: list[list], segments: dict) -> Describer:
        d = cls()
        subs = {s for tree in trees for c in _conditions(tree) for s in _subexpressions(c)}
        scope = Scope(dict(segments))
        for name, seg in segments.items():
            try:
                e = parse_condition(seg.source, seg.pos, scope)
            except MailwrightError:
                continue
            if e in subs:
                d.segments.append((name, e))
        in_segments = {(v.root, *v.path) for _, e in d.segments for v in uses(e)}
        compared = {(v.root, *v.path) for x in subs if isinstance(x, Cmp) for v in uses(x) if not v.loop}
        for r in (r for tree in trees for r in reads(tree)):
            if "[]" in r.path or len(r.path) < 2:
                continue
            if r.kind == "list":
                if r.path not in d.loops:
                    d.loops.append(r.path)
                continue
            if r.path not in d.props:
                d.props.append(r.path)
            if r.path in compared and r.path not in in_segments:
                d.compared.add(r.path)
        return d

    def facts(self, data: dict) -> list[Fact]:
        from ..expr import evaluate

        out: list[Fact] = []
        truth = [(name, evaluate(e, data)) for name, e in self.segments]
        anyone = any(t for _, t in truth)
        for name, t in truth:
            out.append((f"segment {name}", f"{name} ✓" if t else ("" if anyone else f"{name} ✗")))
        for path in self.props:
            v = lookup(V(path[0], tuple(path[1:])), data)
            if v is MISSING or v is None:
                text = f"{_human(path)} missing"
            elif v == "":
                text = f"{_human(path)} empty"
            elif path in self.compared:
                text = f"{_human(path)} {_short(v)}"
            else:
                text = ""
            out.append((".".join(path), text))
        for path in self.loops:
            v = lookup(V(path[0], tuple(path[1:])), data)
            name = _human(path)
            if isinstance(v, list):
                one = name[:-1] if name.endswith("s") and len(v) == 1 else name
                text = f"{len(v)} {one}"
            else:
                text = f"{name} missing"
            out.append((".".join(path) + "[]", text))
        return out


def labels(all_facts: list[list[Fact]]) -> list[str]:
    """Each tile's label: its facts that differ between tiles (all of them when there is one tile)."""
    keys: dict[str, set[str]] = {}
    for facts in all_facts:
        for k, text in facts:
            keys.setdefault(k, set()).add(text)
    varying = {k for k, texts in keys.items() if len(texts) > 1 or len(all_facts) == 1}
    out = []
    for facts in all_facts:
        shown = [text for k, text in facts if k in varying and text]
        out.append(" · ".join(shown))
    return out
