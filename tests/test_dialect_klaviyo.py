"""Klaviyo writes a condition in disjunctive normal form; one that is atoms joined by 'and' (most) is written
without building the DNF, and must read exactly as the DNF writes it."""

import pytest
from mailwright_connectors.klaviyo.dialect import _split_presence

from mailwright.dialect import Context, dnf, guarded, load_connectors
from mailwright.errors import Pos
from mailwright.expr import Scope, parse_condition

POS = Pos("t.mjml", 2, 5)


def by_dnf(d, e):
    clauses = dnf(_split_presence(guarded(e, expand_in=True)))
    return " or ".join(" and ".join(d._atom(a, POS) for a in c) or "True" for c in clauses) if clauses else "False"


@pytest.mark.parametrize("src", [
    "profile.first_name is defined",
    "profile.first_name is not defined",
    "event.total > 300 and event.count >= 100",
    "event.total > 300 and event.total > 300",  # an atom twice: once in the clause
    "event.total > 3 and (profile.vip is defined and event.total is defined)",  # a presence twice, split
    "profile.tier == 'gold' and not (profile.tier == 'vip')",
    "profile.tier in ['gold', 'vip']",
    "profile.tier not in ['gold', 'vip'] and profile.age < 30",
    "profile.a == 1 or profile.b == 2",
    "not (profile.a == 1 and profile.b == 2)",
    "profile.a == 1 and true",
    "profile.a == 1 and false",
    "'x' in profile.tags and profile.n != 0",
])
def test_a_conjunction_reads_as_its_dnf(src):
    e = parse_condition(src, POS, Scope({}))
    d = load_connectors()["klaviyo"].dialect(Context({}, None, lambda *a, **k: None, "t"))
    assert d.condition(e, POS) == by_dnf(d, e)
