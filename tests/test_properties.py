"""Property tests: copy stays copy, and conditions mean the same in every dialect."""

import html

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwright.expr import And, Cmp, Const, Defined, Not, Or, Var, evaluate
from tests.conftest import compile_sources, text_email
from tests.engines import RENDERERS, visible_text

ESPS = ("klaviyo", "hubspot", "activecampaign")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# copy made of the characters that are syntax somewhere
COPY = st.text(alphabet=st.sampled_from(list("{}[]%#$/ -_aZ09IFELSE!'\"")), min_size=1, max_size=30)


def as_source(copy: str) -> str:
    """Copy as a designer writes it: '{{', '{%', '{#' and '[[' spelled out (language.md §5)."""
    out, i = [], 0
    while i < len(copy):
        two = copy[i : i + 2]
        if two in ("{{", "{%", "{#"):
            out.append('{{ "' + two + '" }}')
            i += 2
        elif two == "[[":
            out.append('[[ "[[" ]]')
            i += 2
        else:
            out.append(html.escape(copy[i], quote=False))
            i += 1
    return "".join(out)


@SETTINGS
@given(copy=COPY)
def test_copy_stays_literal_in_every_dialect(copy):
    body = as_source(copy)
    result = compile_sources({"t": text_email(f"«{body}»", subject=f"S {body}")})
    assert not result.errors, [d.format() for d in result.errors]
    want = " ".join(f"«{copy}»".split())
    for out in result.outputs:
        shown = visible_text(RENDERERS[out.esp](out.html, {}))
        assert want in shown, (out.esp, copy, shown)
        subject = html.unescape(RENDERERS[out.esp](out.subject, {}))
        if out.esp == "activecampaign":  # plain text has no escape in AC: an invisible word joiner
            subject = subject.replace("\u2060", "")
        assert " ".join(subject.split()) == " ".join(f"S {copy}".split()), (out.esp, copy)
        text = RENDERERS[out.esp](out.text, {})
        if out.esp == "activecampaign":  # no escape in AC's plain text: an invisible word joiner
            text = text.replace("\u2060", "")
        assert want in " ".join(html.unescape(text).split()) if out.esp != "activecampaign" else want in " ".join(text.split())


# ---------------------------------------------------------------- conditions

NAMES = {
    "profile.tier": st.sampled_from(["gold", "silver", "", None]),
    "profile.city": st.sampled_from(["Paris", "Oslo", ""]),
    "event.cart_value": st.sampled_from([0, 50, 99.5, 100, 250]),
    "event.session_time": st.sampled_from([0, 60, 301, 1000]),
}
STR_NAMES = ["profile.tier", "profile.city"]
NUM_NAMES = ["event.cart_value", "event.session_time"]
MAPPING = '''
[esp.hubspot.properties]
"event.cart_value" = "cart_value"
"event.session_time" = "session_time"
[esp.activecampaign.fields]
"event.cart_value" = "CART_VALUE"
"event.session_time" = "SESSION_TIME"
'''


def var(name):
    root, prop = name.split(".")
    return Var(root, (prop,))


atoms = st.one_of(
    st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(STR_NAMES),
              st.sampled_from(["==", "!="]), st.sampled_from(["gold", "Paris", "x"])),
    st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(NUM_NAMES),
              st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), st.sampled_from([0, 60, 100, 300])),
    st.builds(lambda n, vals, op: Cmp(op, var(n), _list(vals)), st.sampled_from(STR_NAMES),
              st.lists(st.sampled_from(["gold", "silver", "Oslo"]), min_size=1, max_size=3, unique=True),
              st.sampled_from(["in", "not in"])),
    st.builds(lambda n: Defined(var(n)), st.sampled_from(list(NAMES))),
)


def _list(vals):
    from mailwright.expr import ListLit
    return ListLit(tuple(vals))


conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)),
    max_leaves=5,
)


def source(e) -> str:
    if isinstance(e, Cmp):
        right = e.right
        r = repr(list(right.values)) if hasattr(right, "values") else repr(right.value)
        return f"{e.left.portable} {e.op} {r}"
    if isinstance(e, Defined):
        return f"{e.var.portable} is defined"
    if isinstance(e, Not):
        return f"not ({source(e.expr)})"
    op = "and" if isinstance(e, And) else "or"
    return f"({source(e.left)}) {op} ({source(e.right)})"


recipients = st.fixed_dictionaries({}, optional={k: v for k, v in NAMES.items()})


def _data(flat):
    data = {"profile": {}, "event": {}}
    for k, v in flat.items():
        root, prop = k.split(".")
        data[root][prop] = v
    return data


@SETTINGS
@given(cond=conditions, people=st.lists(recipients, min_size=1, max_size=4))
def test_conditions_keep_their_truth_in_every_dialect(cond, people):
    tmpl = text_email(f"{{% if {source(cond)} %}}YES{{% else %}}NO{{% endif %}}")
    result = compile_sources({"t": tmpl}, MAPPING)
    assert not result.errors, [d.format() for d in result.errors]
    for flat in people:
        data = _data(flat)
        want = "YES" if evaluate(cond, data) else "NO"
        for out in result.outputs:
            shown = visible_text(RENDERERS[out.esp](out.html, data, _config(out.esp)))
            assert shown.startswith(want), (out.esp, source(cond), data, shown[:40])


def _config(esp):
    import tomllib
    return tomllib.loads(MAPPING).get("esp", {}).get(esp, {})


# ---------------------------------------------------------------- outputs and filters

TEXT_VALUES = st.sampled_from(["ada lovelace", "ÉLAN vital", "x", "", None, "0", "hello world again", "Zoë"])
NUM_VALUES = st.sampled_from([0, 2.5, -2.5, 1.005, 12, 3.14159, 1234.5, "7.25", "", None])
TEXT_FILTERS = {"klaviyo": ["upper", "lower", "capitalize", "truncate(5)", "truncate(1)"],
                "hubspot": ["upper", "lower", "capitalize", "truncate(5)", "truncate(1)"],
                "activecampaign": []}
NUM_FILTERS = {"klaviyo": ["round", "round(1)", "round(2)", "money"], "hubspot": ["round", "round(1)", "money"],
               "activecampaign": []}


@SETTINGS
@given(esp=st.sampled_from(ESPS), numeric=st.booleans(), data=st.data())
def test_outputs_and_filters_mean_the_same(esp, numeric, data):
    from mailwright.errors import Pos
    from mailwright.expr import Scope, parse_output, render_output

    pool = (NUM_FILTERS if numeric else TEXT_FILTERS)[esp]
    filters = data.draw(st.lists(st.sampled_from(pool), max_size=2)) if pool else []
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(filters)))
        filters.insert(at, data.draw(st.sampled_from(['default("friend")', "default('n/a')", 'default("0")'])))
    expr = " | ".join(["profile.v", *filters])
    value = data.draw(NUM_VALUES if numeric else TEXT_VALUES)
    present = data.draw(st.booleans())
    recipient = {"profile": {"v": value} if present else {}, "event": {}}
    result = compile_sources({"t": text_email("«{{ " + expr + " }}»")}, esps=(esp,))
    assert not result.errors, [d.format() for d in result.errors]
    want = render_output(parse_output(expr, Pos("x"), Scope({})), recipient)
    (out,) = result.outputs
    shown = visible_text(RENDERERS[esp](out.html, recipient))
    got = shown[shown.index("«") + 1 : shown.index("»")]
    assert got.strip() == " ".join(want.split()), (esp, expr, recipient, got)
