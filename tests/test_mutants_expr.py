"""Compile-time folding, the reference meaning and the normal forms, pinned case by case
(mutation testing found them checked only through whole emails; docs/testing.md)."""

import pytest

from mailwright.conditions import All, Any_, Atom, cnf, dnf, guarded, write_formula
from mailwright.expr import (
    MISSING,
    And,
    Cmp,
    Const,
    Defined,
    ListLit,
    Not,
    Or,
    Var,
    _compare,
    evaluate,
    fold,
    live_branches,
    lookup,
)

T, F = Const(True), Const(False)
P = Var("profile", ("city",))
Q = Var("profile", ("tier",))
TRIGGER = Var("trigger")
KNOWN = {"trigger": "signup", "esp": "klaviyo"}
X = Defined(P)  # undecided at compile time
Y = Defined(Q)


@pytest.mark.parametrize("e, folded", [
    (And(T, X), X), (And(X, T), X), (And(F, X), F), (And(X, F), F), (And(X, Y), And(X, Y)), (And(T, T), T),
    (Or(T, X), T), (Or(X, T), T), (Or(F, X), X), (Or(X, F), X), (Or(X, Y), Or(X, Y)), (Or(F, F), F),
    (Not(T), F), (Not(F), T), (Not(X), Not(X)), (Not(Defined(TRIGGER)), F),
    (Defined(TRIGGER), T), (Defined(Var("esp")), T), (Defined(P), X),
    (Cmp("==", TRIGGER, Const("signup")), T), (Cmp("!=", TRIGGER, Const("signup")), F),
    (Cmp("in", TRIGGER, ListLit(("order", "signup"))), T), (Cmp("==", Const("signup"), TRIGGER), T),
    (Cmp("==", Const(1), Const(2)), F), (Cmp("==", P, Const("a")), Cmp("==", P, Const("a"))),
    (Cmp("==", TRIGGER, P), Cmp("==", TRIGGER, P)),
    (And(Cmp("==", Var("esp"), Const("klaviyo")), Or(Not(X), Cmp("==", TRIGGER, Const("order")))), Not(X)),
    (Or(And(X, Defined(TRIGGER)), And(Y, Not(Defined(TRIGGER)))), X),
    (Const("text"), Const("text")),
])
def test_fold(e, folded):
    assert fold(e, KNOWN) == folded


@pytest.mark.parametrize("value", [None, "", MISSING])
def test_a_known_name_without_a_value_is_undefined(value):
    assert fold(Defined(TRIGGER), {"trigger": value}) == F
    assert fold(Cmp("!=", TRIGGER, Const("x")), {"trigger": value}) == F


@pytest.mark.parametrize("op, a, b, result", [
    ("==", 1, 1, True), ("==", 1, 2, False), ("!=", 1, 2, True), ("!=", 1, 1, False),
    ("<", 1, 2, True), ("<", 2, 2, False), ("<=", 2, 2, True), ("<=", 3, 2, False),
    (">", 3, 2, True), (">", 2, 2, False), (">=", 2, 2, True), (">=", 1, 2, False),
    ("in", "a", "cat", True), ("in", "x", "cat", False), ("in", 1, "123", False), ("in", 2, [1, 2], True),
    ("in", 3, (1, 2), False), ("in", 1, 1, False), ("not in", "x", "cat", True), ("not in", "a", "cat", False),
    ("not in", 3, [1, 2], True), ("not in", 1, 1, False), ("not in", 1, "123", True),
    ("<", 1, "a", False), (">=", "a", 1, False),
    ("==", None, None, False), ("!=", None, 1, False), ("!=", 1, "", False), ("not in", MISSING, [1], False),
    ("==", "", "", False), ("==", 0, 0, True),
])
def test_compare(op, a, b, result):
    assert _compare(op, a, b) is result


def test_an_unknown_operator_is_a_bug():
    with pytest.raises(AssertionError, match="^~$"):
        _compare("~", 1, 1)


def test_lookup():
    data = {"profile": {"city": "Oslo", "tags": {"vip": None}, "n": 3}}
    assert lookup(P, data) == "Oslo"
    assert lookup(Var("profile", ("tags", "vip")), data) is None
    assert lookup(Var("profile", ("n", "x")), data) is MISSING
    assert lookup(Var("profile", ("zip",)), data) is MISSING
    assert lookup(Var("event"), data) is MISSING
    assert lookup(Var("profile"), data) == data["profile"]


@pytest.mark.parametrize("e, result", [
    (Const(1), True), (Const(0), False), (Const(""), False),
    (And(Defined(P), Cmp("==", P, Const("Oslo"))), True), (And(Defined(P), Defined(Q)), False),
    (And(Defined(Q), Defined(P)), False), (Or(Defined(Q), Defined(P)), True), (Or(Defined(P), Defined(Q)), True),
    (Or(Defined(Q), Not(Defined(P))), False), (Not(Defined(Q)), True),
    (Cmp("in", P, ListLit(("Bergen", "Oslo"))), True), (Cmp("==", P, Q), False), (Cmp("!=", Q, Const("x")), False),
    (Cmp("in", Const("sl"), P), True),
])
def test_evaluate(e, result):
    assert evaluate(e, {"profile": {"city": "Oslo", "tier": ""}}) is result


@pytest.mark.parametrize("e", [P, ListLit((1,))])
def test_evaluate_refuses_what_is_not_a_condition(e):
    with pytest.raises(AssertionError, match="^not a condition: "):
        evaluate(e, {"profile": {"city": "Oslo"}})
    with pytest.raises(AssertionError):
        evaluate(Cmp("==", Not(X), Const(1)), {})


def test_live_branches():
    assert live_branches([(F, "a"), (X, "b"), (And(T, Y), "c"), (T, "d"), (X, "e")], KNOWN) == \
        [(X, "b"), (Y, "c"), (None, "d")]
    assert live_branches([(X, "a"), (None, "b"), (None, "c")], KNOWN) == [(X, "a"), (None, "b")]
    assert live_branches([(Defined(TRIGGER), "a"), (X, "b")], KNOWN) == [(None, "a")]
    assert live_branches([(F, "a")], KNOWN) == []


# ---------------------------------------------------------------- conditions.py

def present(v):
    return Atom("present", v)


def missing(v):
    return Atom("missing", v)


@pytest.mark.parametrize("e, negate, out", [
    (Cmp("==", P, Const("a")), False, All((present(P), Atom("cmp", P, "==", Const("a"))))),
    (Cmp("==", P, Const("a")), True, Any_((missing(P), Atom("ncmp", P, "==", Const("a"))))),
    (Cmp("<", P, Q), False, All((present(P), present(Q), Atom("cmp", P, "<", Q)))),
    (Cmp("==", P, Const("")), False, F), (Cmp("==", Const(""), P), True, T),
    (Cmp("in", P, ListLit(("a", "b"))), False, All((present(P), Atom("cmp", P, "in", ListLit(("a", "b")))))),
    (Defined(P), False, present(P)), (Defined(P), True, missing(P)),
    (Const(1), False, T), (Const(0), True, T), (Const("x"), True, F), (Const(0), False, F),
    (Not(Defined(P)), False, missing(P)), (Not(Not(Defined(P))), False, present(P)),
    (Not(Defined(P)), True, present(P)),
    (And(Defined(P), Defined(Q)), False, All((present(P), present(Q)))),
    (And(Defined(P), Defined(Q)), True, Any_((missing(P), missing(Q)))),
    (Or(Defined(P), Not(Defined(Q))), False, Any_((present(P), missing(Q)))),
    (Or(Defined(P), Defined(Q)), True, All((missing(P), missing(Q)))),
])
def test_guarded(e, negate, out):
    assert guarded(e, negate=negate) == out


@pytest.mark.parametrize("op, negate, group, test", [
    ("in", False, Any_, "=="), ("in", True, All, "!="), ("not in", False, All, "!="), ("not in", True, Any_, "==")])
def test_guarded_expands_in_for_engines_without_lists(op, negate, group, test):
    out = guarded(Cmp(op, P, ListLit(("a", "b"))), expand_in=True, negate=negate)
    guard = missing(P) if negate else present(P)
    items = group((Atom("cmp", P, test, Const("a")), Atom("cmp", P, test, Const("b"))))
    assert out == (Any_((guard, items)) if negate else All((guard, items)))


def test_guarded_refuses_what_is_not_a_condition():
    with pytest.raises(AssertionError, match="^Var"):
        guarded(P)


def test_guarded_keeps_in_against_a_name_whole():
    assert guarded(Cmp("in", Const("a"), P), expand_in=True) == All((present(P), Atom("cmp", Const("a"), "in", P)))


def write(f, top=True):
    return write_formula(f, lambda a: a.a.path[0] if a.kind == "present" else "!" + a.a.path[0],
                         " AND ", " OR ", "TRUE", "FALSE", top)


def test_write_formula():
    f = All((present(P), Any_((present(Q), missing(P))), Any_((T, F))))
    assert write(f) == "city AND (tier OR !city) AND (TRUE OR FALSE)"
    assert write(f, top=False) == "(city AND (tier OR !city) AND (TRUE OR FALSE))"
    assert write(T) == "TRUE" and write(F) == "FALSE" and write(present(Q)) == "tier"
    assert write_formula(All((present(P), present(Q))), lambda a: a.kind, "&", "|", "1", "0") == "present&present"


A, B, C, D = (Atom("present", Var("profile", (n,))) for n in "abcd")


@pytest.mark.parametrize("f, clauses", [
    (A, [[A]]), (T, [[]]), (F, []), (Any_((All((A, B)), C)), [[A, B], [C]]),
    (All((Any_((A, B)), Any_((C, D)))), [[A, C], [A, D], [B, C], [B, D]]),
    (All((A, Any_((A, B)))), [[A], [A, B]]), (All((T, A)), [[A]]), (All((F, A)), []), (Any_((F, A)), [[A]]),
    (Any_((T, A)), [[], [A]]),
])
def test_dnf(f, clauses):
    assert dnf(f) == clauses


@pytest.mark.parametrize("f, clauses", [
    (A, [[A]]), (T, []), (F, [[]]), (All((Any_((A, B)), C)), [[A, B], [C]]),
    (Any_((All((A, B)), All((C, D)))), [[A, C], [A, D], [B, C], [B, D]]),
])
def test_cnf(f, clauses):
    assert cnf(f) == clauses


def atoms(n):
    return tuple(Atom("present", Var("profile", (f"p{i}",))) for i in range(n))


def test_normal_forms_give_up_past_their_limits():
    assert len(dnf(Any_(atoms(256)))) == 256 and dnf(Any_(atoms(257))) is None
    assert len(cnf(All(atoms(64)))) == 64 and cnf(All(atoms(65))) is None
    assert dnf(Any_((Any_(atoms(3)), A)), limit=3) is None
    assert dnf(Any_((A, Any_(atoms(3)))), limit=3) is None
    wide = All((Any_(atoms(2)), Any_(atoms(2))))  # 4 groups
    assert len(dnf(wide, limit=4)) == 4 and dnf(wide, limit=3) is None
    assert dnf(All((Any_(atoms(4)), A)), limit=3) is None
    assert dnf(Any_((A, B)), limit=2) == [[A], [B]]
