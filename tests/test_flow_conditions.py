"""Flow conditions keep their meaning: random branch, trigger and audience conditions are
translated for Klaviyo, HubSpot and ActiveCampaign, the emitted filters are evaluated (tests/flow_engines.py, whose
docstring states the vendor semantics assumed) for random recipients, and each answer is compared
with the reference meaning (:func:`mailwright.expr.evaluate`), as templates' conditions are."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwright.dialect import FlowContext, load_connectors
from mailwright.errors import MailwrightError, Pos
from mailwright.expr import And, Cmp, Const, Defined, ListLit, Not, Or, Var, evaluate, uses
from mailwright.flows import Branch, Duration, Flow, Wait
from tests.flow_engines import (
    activecampaign_condition,
    activecampaign_fields,
    hubspot_branch,
    hubspot_contact,
    klaviyo_filter,
    klaviyo_profile,
)

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

TEXT = {"profile.tier": ["gold", "silver", "Gold", "", None, "a'b", "x\\y"],
        "profile.first_name": ["Ada", "ada", "", None],
        "event.category": ["linen", "Linen", "linen & wool", "", None]}
NUMBERS = {"profile.orders": [0, 1, 2, 5, None], "event.cart_value": [0, 59, 60, 99.5, 100, 101, 300, None],
           "event.session_time": [0, 60, 61, 300, 301, None]}
CONSTANTS = ["gold", "Gold", "silver", "linen", "Ada", "a'b", "x\\y", "in", ""]
NUMBER_CONSTANTS = [0, 1, 60, 100, 300, 99.5]
CONFIG = {
    "klaviyo": {"properties": {"profile.orders": "orders"}},
    "hubspot": {"events": {"placed_order": "pe1_placed_order"},
                "properties": {"event.cart_value": "cart_value", "event.session_time": "session_time",
                               "event.category": "last_category"}},
    "activecampaign": {"fields": {"event.cart_value": "%CART_VALUE%", "event.session_time": "session_time",
                                  "event.category": "%last_category%", "profile.orders": "%ORDERS%"}},
}
POS = Pos("flows/f.yaml", 4, 11)


def var(name: str) -> Var:
    root, prop = name.split(".")
    return Var(root, (prop,))


def atoms(roots: tuple[str, ...]):
    text = [n for n in TEXT if n.split(".")[0] in roots]
    numbers = [n for n in NUMBERS if n.split(".")[0] in roots]
    return st.one_of(
        st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(text), st.sampled_from(["==", "!="]),
                  st.sampled_from(CONSTANTS)),
        st.builds(lambda n, op, vs: Cmp(op, var(n), ListLit(tuple(vs))), st.sampled_from(text),
                  st.sampled_from(["in", "not in"]),
                  st.lists(st.sampled_from(CONSTANTS), min_size=1, max_size=3, unique=True)),
        st.builds(lambda v, op, n: Cmp(op, Const(v), var(n)), st.sampled_from(CONSTANTS),
                  st.sampled_from(["in", "not in"]), st.sampled_from(text)),
        st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(numbers),
                  st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), st.sampled_from(NUMBER_CONSTANTS)),
        st.builds(lambda v, op, n: Cmp(op, Const(v), var(n)), st.sampled_from(NUMBER_CONSTANTS),
                  st.sampled_from(["<", "<=", ">", ">="]), st.sampled_from(numbers)),
        st.builds(lambda n: Defined(var(n)), st.sampled_from(text + numbers)),
    )


def conditions(roots: tuple[str, ...]):
    return st.recursive(atoms(roots), lambda inner: st.one_of(
        st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)), max_leaves=4)


def _recipient(roots: tuple[str, ...]):
    names = {**TEXT, **NUMBERS}
    return st.fixed_dictionaries({}, optional={n: st.sampled_from(v) for n, v in names.items()
                                               if n.split(".")[0] in roots}).map(_portable)


def _portable(flat: dict) -> dict:
    out: dict = {"profile": {}, "event": {}}
    for k, v in flat.items():
        root, prop = k.split(".")
        out[root][prop] = v
    return out


def translate(esp: str, cond, place: str) -> dict | MailwrightError:
    """The flow definition with ``cond`` in ``place`` ('branch', 'where' or 'audience'), or the
    located error the translation gives."""
    conn = load_connectors()[esp]
    wait = Wait(Duration(60, "1m", POS), None, POS)
    flow = Flow("f", "f", "flows/f.yaml", POS, "placed_order", POS)
    if place == "where":
        flow.where, flow.where_pos, flow.steps = cond, POS, [wait]
    elif place == "audience":
        flow.audience, flow.audience_pos, flow.steps = cond, POS, [wait]
    else:
        flow.steps = [Branch(cond, "…", [wait], [], POS, frozenset(v.root for v in uses(cond)))]
    ctx = FlowContext("t", esp, CONFIG[esp], {}, lambda *a, **k: None, conn.label)
    try:
        return json.loads(conn.flows(ctx).translate(flow)[".json"])
    except MailwrightError as e:
        return e


def check_refusal(e: MailwrightError, esp: str) -> None:
    assert str(e).startswith("flows/f.yaml:4:11: error: "), str(e)
    assert {"klaviyo": "Klaviyo", "hubspot": "HubSpot", "activecampaign": "ActiveCampaign"}[esp] in str(e), str(e)


def keeps_its_meaning(esp: str, case) -> None:
    """A drawn condition is refused with the way out, or its translation means the same for everyone drawn."""
    place, cond, drawn = case
    out = translate(esp, cond, place)
    if isinstance(out, MailwrightError):
        check_refusal(out, esp)
        return
    for recipient in people(cond, drawn):
        assert MEANING[esp](out, place, recipient) == evaluate(cond, recipient), (place, cond, recipient)


# ---------------------------------------------------------------- Klaviyo

def klaviyo_meaning(definition: dict, place: str, recipient: dict) -> bool:
    profile, event = klaviyo_profile(recipient, CONFIG["klaviyo"])
    d = definition["data"]["attributes"]["definition"]
    if place == "where":
        return klaviyo_filter(d["triggers"][0]["trigger_filter"], profile, event)
    if place == "audience":
        return klaviyo_filter(d["profile_filter"], profile, event)
    (split,) = [a for a in d["actions"] if a["type"] in ("conditional-split", "trigger-split")]
    flt = split["data"]["profile_filter" if split["type"] == "conditional-split" else "trigger_filter"]
    return klaviyo_filter(flt, profile, event)


PLACES = {"klaviyo": [("branch", ("profile",)), ("branch", ("event",)), ("where", ("event",)),
                      ("audience", ("profile",))],
          "hubspot": [("branch", ("profile", "event")), ("where", ("event",)), ("audience", ("profile",))],
          "activecampaign": [("branch", ("profile", "event")), ("where", ("event",)), ("audience", ("profile",))]}


def cases(esp: str):
    return st.sampled_from(PLACES[esp]).flatmap(lambda pr: st.tuples(
        st.just(pr[0]), conditions(pr[1]), st.lists(_recipient(pr[1]), min_size=1, max_size=3)))


def people(cond, drawn: list[dict]) -> list[dict]:
    """The drawn recipients, and for each name the condition reads, each of them with every value
    of that name (absent included): each atom meets its boundaries (equal, just below, just above)."""
    names = {v.portable for v in uses(cond)}
    out = list(drawn)
    for base in drawn:
        for name in sorted(names):
            root, prop = name.split(".")
            for value in [*{**TEXT, **NUMBERS}[name], "absent"]:
                r = {"profile": dict(base["profile"]), "event": dict(base["event"])}
                r[root].pop(prop, None)
                if value != "absent":
                    r[root][prop] = value
                out.append(r)
    return out


@SETTINGS
@given(case=cases("klaviyo"))
def test_klaviyo_flow_conditions_keep_their_meaning(case):
    keeps_its_meaning("klaviyo", case)


# ---------------------------------------------------------------- HubSpot

def hubspot_meaning(flow: dict, place: str, recipient: dict) -> bool:
    if place == "where":
        enrol = flow["enrollmentCriteria"]["eventFilterBranches"][0]
        return all(hubspot_branch(b, recipient["event"]) for b in enrol["filterBranches"])
    (branch,) = [a for a in flow["actions"] if a["type"] == "LIST_BRANCH"]
    return hubspot_branch(branch["listBranches"][0]["filterBranch"], hubspot_contact(recipient, CONFIG["hubspot"]))


@SETTINGS
@given(case=cases("hubspot"))
def test_hubspot_flow_conditions_keep_their_meaning(case):
    keeps_its_meaning("hubspot", case)


# ---------------------------------------------------------------- ActiveCampaign

def activecampaign_meaning(recipe: dict, place: str, recipient: dict) -> bool:
    fields = activecampaign_fields(recipient, CONFIG["activecampaign"])
    if place == "audience":
        return activecampaign_condition(recipe["trigger"]["segment"], fields)
    (step,) = recipe["steps"]
    assert step["action"] == "if/else" and step["yes"] == [{"action": "wait", "for": "1 minute"}]
    assert step["no"] == ([{"action": "end"}] if place == "where" else [])
    return activecampaign_condition(step["condition"], fields)


@SETTINGS
@given(case=cases("activecampaign"))
def test_activecampaign_flow_conditions_keep_their_meaning(case):
    keeps_its_meaning("activecampaign", case)


MEANING = {"klaviyo": klaviyo_meaning, "hubspot": hubspot_meaning, "activecampaign": activecampaign_meaning}


# ---------------------------------------------------------------- every atom, at its boundaries

def every_atom(roots: tuple[str, ...]) -> list:
    """Each kind of atom with each name and constant, and its negation: random compositions above may
    miss one operator at its boundary (a `>` written as greater-or-equal differs only there)."""
    text = [n for n in TEXT if n.split(".")[0] in roots]
    numbers = [n for n in NUMBERS if n.split(".")[0] in roots]
    found: list = []
    for n in text:
        found += [Cmp(op, var(n), Const(c)) for op in ("==", "!=") for c in CONSTANTS]
        found += [Cmp(op, var(n), ListLit(vs)) for op in ("in", "not in")
                  for vs in (("gold",), ("gold", "Ada"), ("linen", ""))]
        found += [Cmp(op, Const(c), var(n)) for op in ("in", "not in") for c in CONSTANTS]
    for n in numbers:
        found += [Cmp(op, var(n), Const(c)) for op in ("==", "!=", "<", "<=", ">", ">=") for c in NUMBER_CONSTANTS]
        found += [Cmp(op, Const(c), var(n)) for op in ("<", "<=", ">", ">=") for c in NUMBER_CONSTANTS]
    found += [Defined(var(n)) for n in text + numbers]
    return found + [Not(a) for a in found]


@pytest.mark.parametrize("esp,place,roots", [(esp, place, roots) for esp in PLACES
                                             for place, roots in PLACES[esp] if place == "branch" or esp != "klaviyo"])
def test_every_atom_keeps_its_meaning(esp, place, roots):
    meaning = MEANING[esp]
    base = [{"profile": {}, "event": {}}]
    for cond in every_atom(roots):
        out = translate(esp, cond, place)
        if isinstance(out, MailwrightError):
            check_refusal(out, esp)
            continue
        for recipient in people(cond, base):
            assert meaning(out, place, recipient) == evaluate(cond, recipient), (place, cond, recipient)


# ---------------------------------------------------------------- the evaluators can fail

@pytest.mark.parametrize("esp", list(PLACES))
def test_most_conditions_are_translated(esp):
    """The properties above check translations, not refusals: most drawn conditions must translate."""
    translated = refused = 0
    for place, roots in PLACES[esp]:
        for cond in _examples(roots):
            out = translate(esp, cond, place)
            translated += not isinstance(out, MailwrightError)
            refused += isinstance(out, MailwrightError)
    assert translated > 3 * refused, (translated, refused)


def _examples(roots):
    found = []

    @settings(max_examples=20, derandomize=True, database=None)
    @given(conditions(roots))
    def collect(c):
        found.append(c)

    collect()
    return found


def test_the_evaluators_read_each_operator():
    """A hand-written case per operator, so a wrong evaluator cannot agree with a wrong translation."""
    p = {"first_name": "Ada", "properties": {"n": 5}}
    group = lambda *c: {"condition_groups": [{"conditions": list(c)}]}  # noqa: E731
    prop = lambda f: {"type": "profile-property", "property": "properties['n']", "filter": f}  # noqa: E731
    assert klaviyo_filter(group(prop({"type": "numeric", "operator": "greater-than", "value": 5.0})), p, {}) is False
    assert klaviyo_filter(group(prop({"type": "numeric", "operator": "greater-than-or-equal", "value": 5.0})), p, {})
    assert klaviyo_filter(group(prop({"type": "existence", "operator": "not-set"})), p, {}) is False
    name = {"type": "profile-property", "property": "first_name",
            "filter": {"type": "string", "operator": "not-equals", "value": "Ada"}}
    assert klaviyo_filter(group(name), p, {}) is False
    assert klaviyo_filter({"condition_groups": [{"conditions": []}]}, p, {}) is False
    f = lambda op, value=None, kind="NUMBER": {"filterType": "PROPERTY", "property": "n", "operation": {  # noqa: E731
        "operationType": kind, "operator": op, "value": value, "includeObjectsWithNoValueSet": False}}
    branch = lambda *fs: {"filterBranchType": "AND", "filters": list(fs), "filterBranches": []}  # noqa: E731
    assert hubspot_branch(branch(f("IS_KNOWN", kind="ALL_PROPERTY")), {"n": 5})
    assert not hubspot_branch(branch(f("IS_UNKNOWN", kind="ALL_PROPERTY")), {"n": 5})
    assert hubspot_branch(branch(f("IS_UNKNOWN", kind="ALL_PROPERTY")), {"n": ""})
    assert not hubspot_branch(branch(f("IS_GREATER_THAN", 5)), {"n": 5})
    assert hubspot_branch(branch(f("IS_GREATER_THAN_OR_EQUAL_TO", 5)), {"n": 5})
    assert not hubspot_branch(branch(f("IS_NOT_EQUAL_TO", 5)), {})
    assert not hubspot_branch({"filterBranchType": "OR", "filters": [], "filterBranches": []}, {})
