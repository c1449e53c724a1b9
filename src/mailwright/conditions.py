"""Normal forms of conditions, shared by the dialects and the flow translations.

A condition of the intermediate form becomes atoms every dialect can write
directly (presence, absence, a comparison on present values), guarded so that a
missing value never compares true, then a DNF or CNF when an ESP's condition
builder takes one of those shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .expr import And, Cmp, Const, Defined, Expr, ListLit, Not, Or, Var


@dataclass(frozen=True)
class Atom:
    """A primitive test every dialect can write directly.

    kind: 'present' / 'missing' (of ``a``), 'cmp' (``a op b`` on present values),
    'ncmp' (not ``a op b``).
    """

    kind: str
    a: Any
    op: str = ""
    b: Any = None


@dataclass(frozen=True)
class All:
    items: tuple


@dataclass(frozen=True)
class Any_:
    items: tuple


def guarded(e: Expr, expand_in: bool = False, negate: bool = False):
    """Rewrite a condition so that no engine's treatment of missing values matters.

    language.md §7: a comparison involving a missing value is false, whatever the
    operator; so each comparison is guarded by the presence of the names it reads,
    and ``not`` is pushed down to the atoms. With ``expand_in``, ``x in [a, b]``
    becomes ``x == a or x == b`` (for engines without list literals).
    """
    t = type(e)  # exact types (the IR classes are final): this runs for every condition, in every ESP
    if t is Not:
        return guarded(e.expr, expand_in, not negate)
    if t is And or t is Or:
        parts = (guarded(e.left, expand_in, negate), guarded(e.right, expand_in, negate))
        return All(parts) if (t is And) != negate else Any_(parts)
    if t is Const:
        return Const(bool(e.value) != negate)
    if t is Defined:
        return Atom("missing" if negate else "present", e.var)
    if t is Cmp:
        left, right = e.left, e.right
        if (type(left) is Const and left.value == "") or (type(right) is Const and right.value == ""):
            return Const(negate)  # '' is missing: the comparison is false (language.md §7)
        core = _cmp_atoms(e, expand_in, negate)
        kind, join = ("missing", Any_) if negate else ("present", All)
        guards = tuple(Atom(kind, v) for v in (left, right) if type(v) is Var)
        return join(guards + (core,))
    raise AssertionError(e)


def _cmp_atoms(e: Cmp, expand_in: bool, negate: bool):
    if expand_in and isinstance(e.right, ListLit):
        member = e.op == "in"
        if member != negate:  # some item equals
            return Any_(tuple(Atom("cmp", e.left, "==", Const(v)) for v in e.right.values))
        return All(tuple(Atom("cmp", e.left, "!=", Const(v)) for v in e.right.values))
    return Atom("ncmp" if negate else "cmp", e.left, e.op, e.right)


def write_formula(f, atom, and_: str, or_: str, true: str, false: str, top: bool = True) -> str:
    """A :func:`guarded` formula in one engine's syntax: connectives and parentheses here, each
    atom by ``atom(Atom) -> str``. With ``top``, the outermost group goes without parentheses."""
    if isinstance(f, Const):
        return true if f.value else false
    if isinstance(f, (All, Any_)):
        inner = (and_ if isinstance(f, All) else or_).join(
            write_formula(x, atom, and_, or_, true, false, top=False) for x in f.items)
        return inner if top else f"({inner})"
    return atom(f)


def _normal_form(f, limit: int, outer: type) -> list[list[Atom]] | None:
    """Clauses of ``outer`` (Any_ for DNF, All for CNF), each a group joined by the other connective."""
    if isinstance(f, Atom):
        return [[f]]
    if isinstance(f, Const):
        # DNF: true is one empty group and false none; CNF the other way round
        return [[]] if bool(f.value) == (outer is Any_) else []
    if isinstance(f, outer):
        out: list[list[Atom]] = []
        for it in f.items:
            sub = _normal_form(it, limit, outer)
            if sub is None:
                return None
            out += sub
        return out if len(out) <= limit else None
    acc: list[list[Atom]] = [[]]
    for it in f.items:
        sub = _normal_form(it, limit, outer)
        if sub is None:
            return None
        acc = [a + [x for x in b if x not in a] for a in acc for b in sub]
        if len(acc) > limit:
            return None
    return acc


def dnf(f, limit: int = 256) -> list[list[Atom]] | None:
    """Disjunctive normal form (for engines without parentheses); None if too large."""
    return _normal_form(f, limit, Any_)


def cnf(f, limit: int = 64) -> list[list[Atom]] | None:
    """Conjunctive normal form (an AND of ORs, as filter groups are); None if too large."""
    return _normal_form(f, limit, All)
