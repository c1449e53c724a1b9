"""Sample recipients derived from a template's conditions, reaching every branch.

From the placeholder trees of a compiled template (the intermediate form every
dialect emits from): both sides of every comparison at its boundary, member and
non-member for ``in``, present and missing (absent and ``""``) for ``is defined``
and for every ``default()``, loops with 0, 1 and more items than ``limit``. A
greedy search adds a recipient only for a branch no earlier one reaches, so the
set stays small (not the product of all conditions).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from .expr import MISSING, Cmp, Const, Defined, Expr, ListLit, Var, evaluate, fold, uses
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
