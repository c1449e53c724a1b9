"""Property tests: copy stays copy, and conditions mean the same in every dialect.

Copy and string constants are drawn from all of Unicode (what an XML document may hold) mixed with
the pieces that are syntax in some engine: backslashes, quotes, ``%``, ``{{ }} {% %} {# #}``,
``%TAG%``, ``~PERCENT~`` and line breaks. Each compiled output is run by its reference engine
(Django for Klaviyo, Jinja2 with HubL's filters for HubSpot, the ``%IF%`` evaluator for
ActiveCampaign) and compared with the reference meaning (:func:`mailwright.expr.evaluate`).
"""

import html
import re
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailwright.expr import And, Cmp, Const, Defined, ListLit, Not, Or, Var, evaluate, fold
from tests.conftest import compile_sources, text_email
from tests.engines import RENDERERS, visible_text

ESPS = ("klaviyo", "hubspot", "activecampaign")
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

# the pieces that are syntax somewhere (Django, HubL, jinjava string literals, ActiveCampaign's %IF%)
PIECES = ["\\", "\\\\", "\\n", "\\'", "'", '"', "%", "%%", "{{", "}}", "{%", "%}", "{#", "#}", "{", "}", "#",
          "%FIRSTNAME%", "%IF 1 == 1%", "%/IF%", "~PERCENT~", "\n", "\r", "\r\n", "\t", "<", "&", "&amp;", "[[",
          " ", "é", "\u2028"]
# all of Unicode that an XML document may hold (no surrogates, no C0 controls but tab and line ends,
# no U+FFFE/U+FFFF): the source is MJML
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff").filter(
    lambda c: c >= " " or c in "\t\n\r")


def texts(min_size: int = 0, max_size: int = 6) -> st.SearchStrategy[str]:
    piece = st.sampled_from(PIECES)
    return st.lists(st.one_of(piece, piece, st.text(CHARS, min_size=1, max_size=3)),
                    min_size=min_size, max_size=max_size).map("".join)


COPY = texts(min_size=1)


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


def _words(s: str) -> str:
    return " ".join(s.split())


@settings(SETTINGS, max_examples=100)
@given(copy=COPY)
def test_copy_stays_literal_in_every_dialect(copy):
    body = as_source(copy)
    result = compile_sources({"t": text_email(f"«{body}»", subject=f"S {body}")})
    assert not result.errors, [d.format() for d in result.errors]
    want = _words(f"«{copy}»")
    for out in result.outputs:
        render = RENDERERS[out.esp]
        shown = visible_text(render(out.html, {}))
        assert want in shown, (out.esp, copy, shown)
        # subject and text part are plain text: no entities to decode
        subject, text = render(out.subject, {}), render(out.text, {})
        if out.esp == "activecampaign":  # plain text has no escape in AC: an invisible word joiner
            subject, text = subject.replace("\u2060", ""), text.replace("\u2060", "")
        assert _words(subject) == _words(f"S {copy}"), (out.esp, copy, subject)
        assert want in _words(text), (out.esp, copy, text)


# ---------------------------------------------------------------- conditions

NAMES = {
    "profile.tier": ["gold", "silver", "", None],
    "profile.city": ["Paris", "Oslo", ""],
    "event.cart_value": [0, 50, 99.5, 100, 250],
    "event.session_time": [0, 60, 301, 1000],
}
# a recipient: for each name it has, an index into that name's values (absent names are missing)
PICKS = st.lists(st.fixed_dictionaries({}, optional={k: st.integers(0, 63) for k in NAMES}), min_size=1, max_size=4)
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


def _numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


# String constants of every kind. Numeric-looking text is left out: ActiveCampaign's %IF% compares two
# numeric strings as numbers (PHP), a question of its own, not of escaping. '</' would end the mj-text
# that holds the inline condition.
CONSTS = texts(max_size=4).filter(lambda s: not _numeric(s) and "</" not in s)


def var(name):
    root, prop = name.split(".")
    return Var(root, (prop,))


def _list(vals):
    return ListLit(tuple(vals))


atoms = st.one_of(
    st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(STR_NAMES),
              st.sampled_from(["==", "!="]), st.one_of(st.sampled_from(["gold", "Paris", "x"]), CONSTS)),
    st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(NUM_NAMES),
              st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), st.sampled_from([0, 60, 100, 300])),
    st.builds(lambda n, vals, op: Cmp(op, var(n), _list(vals)), st.sampled_from(STR_NAMES),
              st.lists(st.one_of(st.sampled_from(["gold", "silver", "Oslo"]), CONSTS), min_size=1, max_size=3,
                       unique=True),
              st.sampled_from(["in", "not in"])),
    # 'in' on text, both ways round: a needle in the property, the property in a text
    st.builds(lambda v, op, n: Cmp(op, Const(v), var(n)), CONSTS, st.sampled_from(["in", "not in"]),
              st.sampled_from(STR_NAMES)),
    st.builds(lambda n, op, v: Cmp(op, var(n), Const(v)), st.sampled_from(STR_NAMES),
              st.sampled_from(["in", "not in"]), CONSTS),
    st.builds(lambda n: Defined(var(n)), st.sampled_from(list(NAMES))),
    st.builds(lambda op, v: Cmp(op, Var("esp"), Const(v)), st.sampled_from(["==", "!="]), st.sampled_from(ESPS)),
)

conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(st.builds(And, inner, inner), st.builds(Or, inner, inner), st.builds(Not, inner)),
    max_leaves=5,
)


def literal(v) -> str:
    """A constant in the template language (a Jinja2 literal); '<' escaped, as it could end the mj-text."""
    if isinstance(v, str):
        return repr(v).replace("<", "\\x3c")
    return repr(v)


def source(e) -> str:
    if isinstance(e, Cmp):
        left = e.left.portable if isinstance(e.left, Var) else literal(e.left.value)
        right = e.right
        if isinstance(right, ListLit):
            r = "[" + ", ".join(literal(v) for v in right.values) + "]"
        else:
            r = right.portable if isinstance(right, Var) else literal(right.value)
        return f"{left} {e.op} {r}"
    if isinstance(e, Defined):
        return f"{e.var.portable} is defined"
    if isinstance(e, Not):
        return f"not ({source(e.expr)})"
    op = "and" if isinstance(e, And) else "or"
    return f"({source(e.left)}) {op} ({source(e.right)})"


def constants(e) -> list[str]:
    if isinstance(e, Cmp):
        found = []
        for side in (e.left, e.right):
            if isinstance(side, Const) and isinstance(side.value, str):
                found.append(side.value)
            elif isinstance(side, ListLit):
                found += [v for v in side.values if isinstance(v, str)]
        return found
    if isinstance(e, (And, Or)):
        return constants(e.left) + constants(e.right)
    if isinstance(e, Not):
        return constants(e.expr)
    return []


def near(c: str) -> list[str]:
    """Values an engine that misreads the constant ``c`` would take for it (escapes interpreted,
    dropped or doubled, a line end normalised), and values that contain it or lie inside it."""
    return [c, c.replace("\\n", "\n"), c.replace("\\\\", "\\"), c.replace("\\", ""), c.replace("\\", "\\\\"),
            c.replace("\r\n", "\n").replace("\r", "\n"), c.replace("~PERCENT~", "%"), c.replace("%", "~PERCENT~"),
            f"x{c}y", c[1:], c[:-1]]


def recipients(cond, picks: list[dict]) -> list[dict]:
    """Recipients from ``picks`` (name -> index): a string property takes, besides its usual values,
    the constants of the condition and what an engine misreading them would take."""
    near_consts = [v for c in constants(cond) for v in near(c)]
    out = []
    for pick in picks:
        data: dict = {"profile": {}, "event": {}}
        for name, i in pick.items():
            pool = NAMES[name] + (near_consts if name in STR_NAMES else [])
            root, prop = name.split(".")
            data[root][prop] = pool[i % len(pool)]
        out.append(data)
    return out


def _config(esp):
    return tomllib.loads(MAPPING).get("esp", {}).get(esp, {})


# What a dialect may refuse, with a located error naming the ESP: a closing delimiter inside a
# string (Django's lexer, HubL's pattern-based tools and our own fake find tags by pattern), a line
# break in a Django string literal (a tag never spans lines in Django), and text that looks like
# ActiveCampaign's own escape for '%'.
REFUSED = {
    "klaviyo": lambda c: "%}" in c or "}}" in c or "\n" in c,
    "hubspot": lambda c: "%}" in c or "}}" in c,
    "activecampaign": lambda c: c.replace("%", "~PERCENT~").replace("~PERCENT~", "%") != c,
}


@SETTINGS
@given(cond=conditions, picks=PICKS)
def test_conditions_keep_their_truth_in_every_dialect(cond, picks):
    tmpl = text_email(f"{{% if {source(cond)} %}}YES{{% else %}}NO{{% endif %}}")
    result = compile_sources({"t": tmpl}, MAPPING)
    for esp in ESPS:
        refused = [d for d in result.errors if f"[{esp}." in d.format()]
        should = any(REFUSED[esp](c) for c in constants(fold(cond, {"esp": esp, "trigger": None})))
        assert bool(refused) == should, (esp, source(cond), [d.format() for d in result.errors])
        assert all(re.match(r".*t\.mjml:1:\d+: error: ", d.format()) for d in refused), refused
    assert all(any(f"[{esp}." in d.format() for esp in ESPS) for d in result.errors), result.errors
    for out in result.outputs:
        assert tags_found_by_pattern(out.html, out.esp), (out.esp, source(cond))
        known = fold(cond, {"esp": out.esp, "trigger": None})
        for recipient in recipients(cond, picks):
            want = "YES" if evaluate(known, recipient) else "NO"
            shown = visible_text(RENDERERS[out.esp](out.html, recipient, _config(out.esp)))
            assert shown.startswith(want), (out.esp, source(cond), recipient, shown[:40])


# ---------------------------------------------------------------- string constants, one atom at a time

FORMS = ["==", "!=", "in list", "not in list", "needle in", "needle not in", "in text", "not in text"]


def atom_source(form: str, name: str, c: str, other: str) -> str:
    lit = literal(c)
    return {"==": f"{name} == {lit}", "!=": f"{name} != {lit}",
            "in list": f"{name} in [{literal(other)}, {lit}]", "not in list": f"{name} not in [{lit}]",
            "needle in": f"{lit} in {name}", "needle not in": f"{lit} not in {name}",
            "in text": f"{name} in {lit}", "not in text": f"{name} not in {lit}"}[form]


def dialect(esp: str):
    from mailwright.dialect import Context, load_connectors

    return load_connectors()[esp].dialect(Context(_config(esp), None, lambda *a, **k: None, "t"))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(c=CONSTS, form=st.sampled_from(FORMS), negate=st.booleans(), other=st.sampled_from(["gold", "Oslo"]))
def test_string_constants_keep_their_meaning(c, form, negate, other):
    from mailwright.errors import Pos, UnsupportedError
    from mailwright.expr import Scope, parse_condition

    src = atom_source(form, "profile.city", c, other)
    src = f"not ({src})" if negate else src
    cond = parse_condition(src, Pos("t.mjml"), Scope({}))
    assert c in constants(cond), (src, cond)  # the template language reads the constant back as drawn
    people = [{"profile": {"city": v}} for v in NAMES["profile.city"] + [None] + near(c)] + [{"profile": {}}]
    for esp in ESPS:
        try:
            text = dialect(esp).if_block([(cond, "YES"), (None, "NO")], Pos("t.mjml", 3, 7))
        except UnsupportedError as e:
            assert REFUSED[esp](c), (esp, src, str(e))
            assert str(e).startswith("t.mjml:3:7: error: "), str(e)
            continue
        assert not REFUSED[esp](c), (esp, src, text)
        assert tags_found_by_pattern(text, esp), (esp, src, text)
        for recipient in people:
            want = "YES" if evaluate(cond, recipient) else "NO"
            got = RENDERERS[esp](text, recipient, _config(esp))
            assert got == want, (esp, src, text, recipient)


def test_a_backslash_in_a_constant_is_a_backslash():
    """``profile.city == 'a\\nb'`` matched a city holding a line break in HubSpot (issue 13)."""
    result = compile_sources({"t": text_email(r"{% if profile.city == 'a\\nb' %}YES{% else %}NO{% endif %}")})
    assert not result.errors, [d.format() for d in result.errors]
    for out in result.outputs:
        for city, want in (("a\\nb", "YES"), ("a\nb", "NO"), ("anb", "NO")):
            shown = visible_text(RENDERERS[out.esp](out.html, {"profile": {"city": city}}))
            assert shown.startswith(want), (out.esp, city, shown[:20])


_STRING = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""", re.S)
_TAG_BY_PATTERN = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)


def tags_found_by_pattern(page: str, esp: str) -> bool:
    """Each ``{% … %}`` / ``{{ … }}`` found by pattern (not knowing quotes) holds whole string
    literals: a tool that finds tags so (Django's lexer, HubSpot's formatter) sees the same tags."""
    if esp == "activecampaign":
        return True
    for m in _TAG_BY_PATTERN.finditer(page):
        rest = _STRING.sub("", m.group()[2:-2])
        if "'" in rest or '"' in rest:
            return False
    return True


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


# date("FORMAT"): any mix of its codes and copy, on any day, in the two ESPs that can format dates
DATE_CODES = ["%Y", "%y", "%m", "%-m", "%d", "%-d", "%B", "%b", "%A", "%a", "%%"]
DATE_COPY = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}\\%\ufffe\uffff\u2028\u2029"),
                    min_size=1, max_size=3)


@SETTINGS
@given(esp=st.sampled_from(("klaviyo", "hubspot")), day=st.dates(), data=st.data(),
       parts=st.lists(st.one_of(st.sampled_from(DATE_CODES), DATE_COPY), min_size=1, max_size=5))
def test_date_means_the_same(esp, day, data, parts):
    from mailwright.errors import Pos
    from mailwright.expr import Scope, parse_output, render_output

    if not any(p in DATE_CODES[:-1] for p in parts):
        parts.append("%Y")
    fmt = "".join(parts)
    literal = '"' + fmt.replace('"', '\\"') + '"'
    expr = f"event.day | date({literal})"
    value = data.draw(st.sampled_from([day.isoformat(), None, "", "missing"]))
    recipient = {"profile": {} if value == "missing" else {"day": value}, "event": {}}
    recipient["event"] = recipient["profile"]
    toml = '[esp.hubspot.properties]\n"event.day" = "day"\n' if esp == "hubspot" else ""
    result = compile_sources({"t": text_email("«{{ " + expr + " }}»")}, toml, esps=(esp,))
    assert not result.errors, [d.format() for d in result.errors]
    want = render_output(parse_output(expr, Pos("x"), Scope({})), recipient)
    (out,) = result.outputs
    shown = visible_text(RENDERERS[esp](out.html, recipient, {"properties": {"event.day": "day"}}))
    got = shown[shown.index("«") + 1 : shown.index("»")]
    assert got.strip() == " ".join(want.split()), (esp, expr, recipient, got)
