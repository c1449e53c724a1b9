"""Sample recipients derived from a template's conditions, reaching every branch.

From the placeholder trees of a compiled template (the intermediate form every
dialect emits from): both sides of every comparison at its boundary, member and
non-member for ``in``, present and missing (absent and ``""``) for ``is defined``
and for every ``default()``, loops with 0, 1 and more items than ``limit``. A
greedy search adds a recipient only for a branch no earlier one reaches, so the
set stays small (not the product of all conditions).

Also the designer's own recipients, ``samples/NAME.yaml`` (read for ``preview``
and ``send-test`` alike), and a check of a sample's shape against what a template
reads: a list where the template reads a mapping, a mapping it loops over.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from .expr import MISSING, Cmp, Const, Defined, Expr, ListLit, Var, evaluate, fold, uses
from .inputs import construct_scalar, load_yaml, read_text, user_files, value_kind
from .render import PFor, PIf, Slot

ABSENT = MISSING
# present values that read naturally in a preview; other names get "Sample <name>"
NICE = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+1 555 0100"}


@dataclass
class Target:
    """Something a recipient should reach: a branch, or a loop with a number of items."""

    label: str
    path: list[tuple[Expr, bool]]  # conditions that must hold (True) or fail (False) on the way
    loops: list[tuple[Var, int]] = field(default_factory=list)  # lists that must have this many items


def targets(tree: list, known: dict, prefix: str = "", path=None, loops=None) -> list[Target]:
    """Every branch and loop size of a placeholder tree, with what reaching it takes."""
    path, loops = path or [], loops or []
    out: list[Target] = []
    for item in tree:
        if isinstance(item, PIf):
            before: list[tuple[Expr, bool]] = []
            for k, (cond, body) in enumerate(zip(item.slot.conds, item.bodies)):
                c = Const(True) if cond is None else fold(cond, known)
                if c == Const(False):
                    continue
                here = path + before + ([] if c == Const(True) else [(c, True)])
                label = f"{prefix}if@{item.slot.pos.line}:{item.slot.pos.col}#{k}"
                out.append(Target(label, here, loops))
                out += targets(body, known, label + "/", here, loops)
                if c == Const(True):
                    break
                before.append((c, False))
        elif isinstance(item, PFor):
            n = item.slot.node
            label = f"{prefix}for@{n.pos.line}:{n.pos.col}"
            sizes = [0, 1] + ([n.limit + 1] if n.limit else [2])
            for size in sizes:
                out.append(Target(f"{label}x{size}", path, loops + [(n.iterable, size)]))
            out += targets(item.body, known, label + "/", path, loops + [(n.iterable, 1)])
        elif isinstance(item, Slot) and item.kind == "out":
            o = item.node.expr
            if any(f.name == "default" for f in o.filters) and not o.var.loop:
                d = Defined(o.var)
                out.append(Target(f"{prefix}default@{item.pos.line}:{item.pos.col}+", path + [(d, True)], loops))
                out.append(Target(f"{prefix}default@{item.pos.line}:{item.pos.col}-", path + [(d, False)], loops))
    return out


def candidates(tree: list, known: dict) -> dict[tuple, list[Any]]:
    """Boundary values for every name the conditions read."""
    values: dict[tuple, list[Any]] = {}

    def add(v: Var, xs) -> None:
        # missing both ways (absent, empty), and a present value for 'is defined' and default()
        name = v.path[-1] if v.path else ""
        lst = values.setdefault((v.root, v.path), [ABSENT, "", NICE.get(name, f"Sample {name}")])
        for x in xs:
            if x not in lst:
                lst.append(x)

    def visit(e: Expr) -> None:
        if isinstance(e, Cmp):
            var, other = (e.left, e.right) if isinstance(e.left, Var) else (e.right, e.left)
            if isinstance(var, Var) and not var.loop:
                if isinstance(other, Const):
                    x = other.value
                    if isinstance(x, bool):
                        add(var, [True, False])
                    elif isinstance(x, (int, float)):
                        add(var, [x, x + 1, x - 1])
                    else:
                        add(var, [x, f"not {x}", f"{x} and more" if e.op in ("in", "not in") else x + "!"])
                elif isinstance(other, ListLit):
                    add(var, [*other.values, "none of them"])
        for v in uses(e):
            if not v.loop and v.root not in ("trigger", "esp"):
                add(v, [])
        for sub in ("left", "right", "expr"):
            if hasattr(e, sub) and not isinstance(e, Cmp):
                visit(getattr(e, sub))

    for t in targets(tree, known):
        for cond, _ in t.path:
            visit(cond)
    for lst in values.values():  # a name compared with numbers gets numbers, not the sample text
        if any(isinstance(x, (int, float)) and not isinstance(x, bool) for x in lst):
            lst[:] = [x for x in lst if not (isinstance(x, str) and x.startswith("Sample"))
                      and x not in NICE.values()]
    return values


def _data(assign: dict[tuple, Any], loops: dict[tuple, int]) -> dict:
    data: dict = {"profile": {}, "event": {}}
    for (root, path), value in assign.items():
        if value is ABSENT or root not in data:
            continue
        cur = data[root]
        for p in path[:-1]:
            cur = cur.setdefault(p, {})
        cur[path[-1]] = value
    for (root, path), n in loops.items():
        cur = data.setdefault(root, {})
        for p in path[:-1]:
            cur = cur.setdefault(p, {})
        cur[path[-1]] = [sample_item(i) for i in range(n)]
    return data


def sample_item(i: int) -> dict:
    return {"name": f"Sample item {i + 1}", "price": 10 + i, "quantity": i + 1,
            "url": f"https://shop.example.com/p/{i + 1}", "image": f"https://images.example.com/p/{i + 1}.png"}


def reaches(t: Target, data: dict) -> bool:
    for cond, want in t.path:
        if evaluate(cond, data) != want:
            return False
    for var, n in t.loops:
        cur: Any = data.get(var.root, {})
        for p in var.path:
            cur = cur.get(p) if isinstance(cur, dict) else None
        if n == 0:
            if isinstance(cur, list) and cur:
                return False
        elif not (isinstance(cur, list) and len(cur) == n):
            return False
    return True


def derive(trees: list[list], known: dict, max_search: int = 20000) -> tuple[list[dict], list[str]]:
    """Recipients reaching every target of ``trees``, and the targets none could reach.

    An unreachable target is a branch whose conditions contradict each other, or a
    ``default()`` fallback that can never apply where it stands (the enclosing branch
    already requires the value): both worth a warning to the designer.
    """
    tgts = [t for tree in trees for t in targets(tree, known)]
    cands: dict[tuple, list[Any]] = {}
    for tree in trees:
        for k, v in candidates(tree, known).items():
            for x in v:
                cands.setdefault(k, [])
                if x not in cands[k]:
                    cands[k].append(x)
    for t in tgts:  # a name a loop goes over holds a list: its present sample is a list
        for var, _ in t.loops:
            lst = cands.setdefault((var.root, var.path), [ABSENT, ""])
            lst[:] = [x for x in lst if not (isinstance(x, str) and x.startswith("Sample"))] + [[sample_item(0)]]
    recipients: list[dict] = []
    unreachable: list[str] = []
    for t in tgts:
        if any(reaches(t, r) for r in recipients):
            continue
        names = sorted({(v.root, v.path) for cond, _ in t.path for v in uses(cond)
                        if not v.loop and v.root not in ("trigger", "esp")})
        loops = {(v.root, v.path): n for v, n in t.loops}
        found = None
        for n, combo in enumerate(itertools.product(*(cands.get(k, [ABSENT]) for k in names))):
            if n >= max_search:
                break
            data = _data(dict(zip(names, combo)), loops)
            if reaches(t, data):
                found = data
                break
        if found is None:
            unreachable.append(t.label)
        else:
            recipients.append(found)
    return recipients, unreachable


WORST_CASE_NAMES = ("long names and titles", "non-Latin text", "right-to-left text")  # worst_case(), in order


def worst_case() -> list[dict]:
    """Data that breaks layouts: very long names and titles, non-Latin and right-to-left text."""
    long = "Maximiliana-Alexandrina " * 4
    return [
        {"profile": {"first_name": long.strip(), "last_name": "Wolfeschlegelsteinhausenbergerdorff"},
         "event": {"product_name": "Handcrafted reclaimed-oak serving board with brass inlay " * 3,
                   "items": [sample_item(i) | {"name": "An extraordinarily long product title " * 4}
                             for i in range(5)]}},
        {"profile": {"first_name": "Zoë 王小明"}, "event": {"product_name": "手工橡木砧板"}},
        {"profile": {"first_name": "مريم"}, "event": {"product_name": "لوح تقديم من خشب البلوط"}},
    ]


# ---------------------------------------------------------------- the designer's samples

SAMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SAMPLE_KEYS = ("profile", "event")
SCOPE_KEYS = ("templates", "triggers")  # which templates / flow triggers a sample is for (absent: all)


@dataclass
class Sample:
    """``samples/NAME.yaml``: a recipient's data, where each value is written, and what was ignored."""

    name: str
    path: str
    data: dict[str, Any]
    places: dict[tuple, Pos] = field(default_factory=dict)  # data path (keys, list indices) -> its value
    warnings: list[Diagnostic] = field(default_factory=list)
    templates: list[str] | None = None  # None: every template
    triggers: list[str] | None = None  # None: every trigger (and templates no flow sends)

    def applies(self, template: str, trigger: str | None) -> bool:
        """Whether this sample is for ``template`` compiled for ``trigger``."""
        return (self.templates is None or template in self.templates) and \
            (self.triggers is None or trigger in self.triggers)

    def pos(self, at: tuple) -> Pos:
        while at not in self.places and at:
            at = at[:-1]
        return self.places.get(at, Pos(self.path))


def sample_files(root: Path) -> list[Path]:
    found: list[MailwrightError] = []  # a file where samples/ should be: the samples' own reading says nothing
    return [p for p in user_files(root / "samples", "*.y*ml", found) if p.suffix in (".yaml", ".yml")]


def read_sample(path: Path) -> Sample:
    """One sample file: ``profile:`` and ``event:`` mappings, and optionally the ``templates:`` and ``triggers:``
    it is for (other keys ignored, with a warning)."""
    p = str(path)
    text = read_text(path, what="sample")
    value, node = load_yaml(path, text, what="sample")
    if node is None:
        raise MailwrightError(Pos(p), "the sample is empty: give it profile: and event: mappings")
    places: dict[tuple, Pos] = {}
    keys: dict[tuple, Pos] = {}
    _places(node, p, (), places, keys)
    sample = Sample(path.stem, p, {"profile": {}, "event": {}}, places)
    if not isinstance(value, dict):
        raise MailwrightError(places[()], "a sample is a mapping with profile: and event: mappings")
    errors: list[Diagnostic] = []
    for key, val in value.items():
        name = str(key)
        if name in SCOPE_KEYS:
            names = [val] if isinstance(val, str) else val
            if not isinstance(names, list) or not names or not all(isinstance(x, str) and x for x in names):
                errors.append(Diagnostic(sample.pos((name,)), f"'{name}' is a name or a list of names, as "
                                         f"{name}: [{'cart-reminder' if name == 'templates' else 'cart_abandoned'}]"))
            else:
                setattr(sample, name, list(names))
        elif name not in SAMPLE_KEYS:  # `preview` and `send-test` read the same files
            sample.warnings.append(Diagnostic(keys.get((name,), places[()]),
                                              f"'{name}' is ignored: a sample has profile:, event:, templates: "
                                              "and triggers:", "warning"))
        elif val is not None and not isinstance(val, dict):
            errors.append(Diagnostic(sample.pos((name,)), f"'{name}' must be a mapping of property names to values"))
        elif val is not None:
            sample.data[name] = _plain(val, (name,), sample, errors)
    if errors:
        raise MailwrightErrors(errors)
    return sample


def _places(node: yaml.Node, path: str, at: tuple, places: dict, keys: dict) -> None:
    places[at] = Pos(path, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
                continue  # merged keys keep the mapping's place
            try:
                name = str(construct_scalar(k, path))
            except MailwrightError:
                continue
            keys[at + (name,)] = Pos(path, k.start_mark.line + 1, k.start_mark.column + 1)
            _places(v, path, at + (name,), places, keys)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _places(v, path, at + (i,), places, keys)


def _plain(v: Any, at: tuple, sample: Sample, errors: list[Diagnostic]) -> Any:
    """JSON-like data: keys as text, dates as ISO text; anything else YAML can hold is an error."""
    if isinstance(v, dict):
        return {str(k): _plain(x, at + (str(k),), sample, errors) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x, at + (i,), sample, errors) for i, x in enumerate(v)]
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    errors.append(Diagnostic(sample.pos(at), f"a sample value is text, a number, true/false, a list or a mapping "
                                             f"(not {type(v).__name__})"))
    return None


@dataclass(frozen=True)
class Read:
    """A name a template reads, and how: looping over it (``list``), printing it (``value``), or testing it."""

    path: tuple[str, ...]  # from profile/event; "[]" stands for each item of a list
    kind: str  # list, value, test
    pos: Pos | None


def reads(tree: list, scope: dict[str, tuple] | None = None) -> list[Read]:
    """Every profile/event name a placeholder tree reads."""
    scope = scope or {}
    out: list[Read] = []

    def full(v: Var) -> tuple | None:
        if v.root in scope:
            return scope[v.root] + v.path
        return (v.root, *v.path) if v.root in SAMPLE_KEYS else None

    for item in tree:
        if isinstance(item, PIf):
            for cond in item.slot.conds:
                for v in uses(cond) if cond is not None else []:
                    if (path := full(v)) is not None:
                        out.append(Read(path, "test", v.pos or item.slot.pos))
            for body in item.bodies:
                out += reads(body, scope)
        elif isinstance(item, PFor):
            n = item.slot.node
            it = full(n.iterable)
            if it is not None:
                out.append(Read(it, "list", n.iterable.pos or n.pos))
            out += reads(item.body, {**scope, n.var: (it + ("[]",)) if it is not None else ("?",)})
        elif isinstance(item, Slot) and item.kind == "out":
            v = item.node.expr.var
            if (path := full(v)) is not None:
                out.append(Read(path, "value", v.pos or item.pos))
    return out


def _dotted(at: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(at))


def shape_problems(sample: Sample, trees: list[list], template: str) -> list[Diagnostic]:
    """Where the sample's data has another shape than the template ``template`` (its placeholder ``trees``) reads."""
    found: dict[tuple, Diagnostic] = {}

    def problem(at: tuple, message: str, read: Read) -> None:
        if at not in found:
            notes = [(read.pos, f"{template} reads {_dotted(read.path).replace('.[]', '[…]')} here")] \
                if read.pos else []
            found[at] = Diagnostic(sample.pos(at), message, notes=notes)

    def walk(cur: Any, steps: tuple, at: tuple, read: Read) -> None:
        if cur is None:
            return
        if not steps:
            if read.kind == "list" and not isinstance(cur, list):
                problem(at, f"{_dotted(at)} is {value_kind(cur, yaml=True)}, but the template loops over it: give a list", read)
            elif read.kind == "value" and isinstance(cur, (dict, list)):
                problem(at, f"{_dotted(at)} is {value_kind(cur, yaml=True)}, but the template prints it: give a single value",
                        read)
            return
        step, rest = steps[0], steps[1:]
        if step == "[]":
            for i, x in enumerate(cur if isinstance(cur, list) else []):
                walk(x, rest, at + (i,), read)
        elif isinstance(cur, dict):
            if step in cur:
                walk(cur[step], rest, at + (step,), read)
        else:
            problem(at, f"{_dotted(at)} is {value_kind(cur, yaml=True)}, but the template reads {_dotted(at + (step,))}: "
                        "give a mapping", read)

    for tree in trees:
        for r in reads(tree):
            walk(sample.data.get(r.path[0]), r.path[1:], r.path[:1], r)
    return list(found.values())
