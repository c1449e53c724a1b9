"""Every dialect construct, each run by its reference engine against the reference meaning, case by
case: the property tests (test_properties.py) draw a sample, and mutation testing found filters,
boolean literals, loop limits and refusals that no sample reached (docs/testing.md)."""

import pytest

from mailwright.dialect import APPROX, UNSUPPORTED, Context, load_connectors
from mailwright.errors import Pos, UnsupportedError
from mailwright.expr import Scope, Var, evaluate, parse_condition, parse_output, render_output
from tests.engines import RENDERERS, visible_text

POS = Pos("t.mjml", 3, 7)
ESPS = ("klaviyo", "hubspot", "activecampaign")


def dialect(esp, warnings=None, config=None):
    warn = (lambda pos, msg, rule=None: warnings.append((pos, msg))) if warnings is not None else (lambda *a: None)
    return load_connectors()[esp].dialect(Context(config or {}, None, warn, "t"))


def support(esp, construct):
    return load_connectors()[esp].dialect.CAPABILITIES[construct].level


TEXTS = ["ada lovelace", "ÉLAN vital", "hello world again", "x", "abcde", "abcdef", "", None]
NUMBERS = [0, 2.5, -2.5, 12, 3.14159, 1234.5, "7.25", "", None]
TEXT_FILTERS = ["upper", "lower", "title", "capitalize", "truncate(5)", "truncate(1)", 'default("friend")',
                "truncate(5) | title", "truncate(5) | upper", 'title | default("x")',
                'upper | default("n/a")', 'default("a b") | upper', 'truncate(3) | default("none") | lower']
NUM_FILTERS = ["round", "round(1)", "round(2)", "money", 'round(1) | default("0")']


def filters(expr):
    return [f.split("(")[0].strip() for f in expr.split("|")]


def shown(esp, text, recipient):
    return visible_text(RENDERERS[esp](text, recipient, {}))


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("expr, values", [(f, TEXTS) for f in TEXT_FILTERS] + [(f, NUMBERS) for f in NUM_FILTERS])
def test_every_filter_means_what_the_reference_says(esp, expr, values):
    o = parse_output(f"profile.v | {expr}", POS, Scope({}))
    warnings = []
    if any(support(esp, f"filter {f}") == UNSUPPORTED for f in filters(expr)):
        with pytest.raises(UnsupportedError) as e:
            dialect(esp).output(o, POS, "html")
        assert str(e.value).startswith("t.mjml:3:7: error: ")
        return
    text = dialect(esp, warnings).output(o, POS, "html")
    approx = [f for f in filters(expr) if support(esp, f"filter {f}") == APPROX]
    assert {(p, m.split(":")[0]) for p, m in warnings} == ({(POS, dialect(esp).label)} if approx else set())
    for v in values + ["missing"]:
        recipient = {"profile": {} if v == "missing" else {"v": v}}
        want = render_output(o, recipient)
        assert shown(esp, text, recipient) == " ".join(want.split()), (esp, expr, v, text)


def test_a_default_in_html_is_escaped_as_html():
    for esp in ESPS:
        text = dialect(esp).output(parse_output('profile.v | default("a<b & c")', POS, Scope({})), POS, "html")
        assert "a&lt;b &amp; c" in text, (esp, text)
        plain = dialect(esp).output(parse_output('profile.v | default("a<b & c")', POS, Scope({})), POS, "text")
        assert "a<b & c" in plain, (esp, plain)


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("src", ["profile.vip == true", "profile.vip == false", "profile.vip != true",
                                 "profile.vip != false", "not (profile.vip == true)"])
def test_boolean_literals(esp, src):
    cond = parse_condition(src, POS, Scope({}))
    if support(esp, "boolean literal") == UNSUPPORTED:
        with pytest.raises(UnsupportedError) as e:
            dialect(esp).if_block([(cond, "YES"), (None, "NO")], POS)
        assert str(e.value).startswith("t.mjml:3:7: error: ActiveCampaign cannot express boolean literal; ")
        return
    text = dialect(esp).if_block([(cond, "YES"), (None, "NO")], POS)
    for vip in (True, False, "missing"):
        recipient = {"profile": {} if vip == "missing" else {"vip": vip}}
        want = "YES" if evaluate(cond, recipient) else "NO"
        assert shown(esp, text, recipient) == want, (esp, src, vip, text)


@pytest.mark.parametrize("limit, want", [(None, "a.b.c."), (2, "a.b."), (5, "a.b.c.")])
def test_a_klaviyo_loop_and_its_limit(limit, want):
    body = dialect("klaviyo").output(parse_output("item", POS, Scope({}, ("item",))), POS, "html") + "."
    text = dialect("klaviyo").for_block("item", Var("event", ("items",)), limit, body, POS)
    assert shown("klaviyo", text, {"event": {"items": ["a", "b", "c"]}}) == want


@pytest.mark.parametrize("esp", ["hubspot", "activecampaign"])
def test_a_loop_elsewhere_is_refused_where_it_stands(esp):
    with pytest.raises(UnsupportedError) as e:
        dialect(esp).for_block("item", Var("event", ("items",)), 2, "x", POS)
    assert str(e.value).startswith(f"t.mjml:3:7: error: {dialect(esp).label} cannot express loop; ")
    assert "<mw-if when=\"esp == 'klaviyo'\">" in str(e.value)


@pytest.mark.parametrize("esp, const, construct, way_out", [
    ("klaviyo", "a%}b", "a string containing '%}' or '}}' in a condition",
     "compare against a value without those characters"),
    ("klaviyo", "a}}b", "a string containing '%}' or '}}' in a condition",
     "compare against a value without those characters"),
    ("klaviyo", "a\nb", "a string containing a line break in a condition", "compare against a value without line "
                                                                           "breaks"),
    ("hubspot", "a%}b", "a string containing '%}' or '}}' in a condition",
     "compare against a value without those characters"),
    ("hubspot", "}}", "a string containing '%}' or '}}' in a condition",
     "compare against a value without those characters"),
    ("activecampaign", "a~PERCENT~b", "the text '~PERCENT~' in a condition (ActiveCampaign writes '%' as "
                                      "~PERCENT~ inside %IF%)", "compare against a value without it"),
])
def test_a_constant_a_dialect_cannot_write_is_refused_saying_why(esp, const, construct, way_out):
    cond = parse_condition(f"profile.city == {const!r}", POS, Scope({}))
    with pytest.raises(UnsupportedError) as e:
        dialect(esp).if_block([(cond, "YES")], POS)
    assert str(e.value) == f"t.mjml:3:7: error: {dialect(esp).label} cannot express {construct}; {way_out}"


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("src", ["profile.n > 2", "profile.n >= 2", "profile.n < 2", "profile.n <= 2",
                                 "profile.n == 2", "profile.n != 2", "not (profile.n > 2)",
                                 "'ab' in profile.s", "'ab' not in profile.s", "profile.s in 'xaby'",
                                 "profile.s not in 'xaby'", "not ('ab' in profile.s)", "not (profile.s not in 'xaby')",
                                 "profile.s in ['ab', 'cd']", "profile.s not in ['ab', 'cd']",
                                 "not (profile.s in ['ab'])", "profile.s is defined", "not (profile.s is defined)",
                                 "profile.s == 'it''s'", "profile.s == 'say \"hi\"'", "profile.s == 'back\\\\slash'",
                                 "profile.s == 'a\\\\nb'", "profile.s != 'x\\\\'", "'\\\\t' in profile.s"])
def test_every_operator_means_what_the_reference_says(esp, src):
    cond = parse_condition(src.replace("''", "\\'"), POS, Scope({}))
    text = dialect(esp).if_block([(cond, "YES"), (None, "NO")], POS)
    people = [{"profile": {"n": n, "s": s}} for n in (1, 2, 3) for s in ("ab", "cd", "xabx", "y", "it's",
                                                                       'say "hi"', "back\\slash", "back\\\\slash",
                                                                       "a\\nb", "a\nb", "x\\", "x", "a\\tb", "a\tb")]
    people += [{"profile": {}}, {"profile": {"n": "", "s": ""}}]
    for recipient in people:
        want = "YES" if evaluate(cond, recipient) else "NO"
        assert shown(esp, text, recipient) == want, (esp, src, recipient, text)


MAPPED = {"klaviyo": {"properties": {"profile.tier": "loyalty_tier", "event.cart_value": "cart total"}},
          "hubspot": {"properties": {"profile.tier": "loyalty_tier", "event.cart_value": "cart_value"}},
          "activecampaign": {"fields": {"profile.tier": "LOYALTY", "event.cart_value": "CART_VALUE"}}}
NAMES = ["profile.first_name", "profile.last_name", "profile.email", "profile.phone", "profile.tier",
         "event.cart_value", "profile.city", 'profile["first name"]', "profile.items", "profile.keys",
         'profile.a["b c"]', "profile.a.b", 'profile["x y"].z', "event.sku", "event.a.b"]
RECIPIENT = {"profile": {"first_name": "Ada", "last_name": "King", "email": "ada@x.test", "phone": "+47 1",
                         "tier": "gold", "city": "Oslo", "first name": "Bea", "items": "i", "keys": "k",
                         "a": {"b c": "bc", "b": "ab"}, "x y": {"z": "xyz"}},
             "event": {"cart_value": 42, "sku": "S1", "a": {"b": "eab"}}}


@pytest.mark.parametrize("esp", ESPS)
@pytest.mark.parametrize("name", NAMES)
def test_every_name_reads_the_recipients_value(esp, name):
    o = parse_output(name, POS, Scope({}))
    try:
        text = dialect(esp, config=MAPPED[esp]).output(o, POS, "html")
    except UnsupportedError as e:
        assert str(e).startswith("t.mjml:3:7: error: ") and esp != "klaviyo", (esp, name, str(e))
        return
    if esp == "hubspot" and name in ("profile.items", "profile.keys"):
        pytest.skip("the Jinja2 reference engine reads a dict method there (docs/testing.md, findings)")
    if esp == "activecampaign" and len(o.var.path) > 1:
        pytest.skip("ActiveCampaign's fields are flat: a nested name is the field of the joined path")
    # the Django reference engine prints None for a lookup that finds nothing (docs/testing.md, findings)
    people = [RECIPIENT] + ([] if "lookup" in text else [{"profile": {}, "event": {}}])
    for recipient in people:
        got = visible_text(RENDERERS[esp](text, recipient, MAPPED[esp]))
        assert got == render_output(o, recipient), (esp, name, text)
    cond = parse_condition(f"{name} is defined", POS, Scope({}))
    text = dialect(esp, config=MAPPED[esp]).if_block([(cond, "YES"), (None, "NO")], POS)
    assert shown_with(esp, text, RECIPIENT) == "YES" and shown_with(esp, text, {"profile": {}}) == "NO", text


def shown_with(esp, text, recipient):
    return visible_text(RENDERERS[esp](text, recipient, MAPPED[esp]))


def test_a_klaviyo_condition_too_large_without_parentheses_is_refused():
    src = " and ".join(f"(profile.a{i} == 1 or profile.b{i} == 1)" for i in range(9))
    with pytest.raises(UnsupportedError) as e:
        dialect("klaviyo").if_block([(parse_condition(src, POS, Scope({})), "YES")], POS)
    assert str(e.value) == ("t.mjml:3:7: error: Klaviyo cannot express this condition (it needs more than 256 terms "
                            "without parentheses); split it into nested <mw-if> blocks or segments")


@pytest.mark.parametrize("esp", ESPS)
def test_a_condition_that_is_always_false_shows_the_else(esp):
    text = dialect(esp).if_block([(parse_condition("profile.city == ''", POS, Scope({})), "YES"), (None, "NO")], POS)
    assert shown(esp, text, {"profile": {"city": "Oslo"}}) == shown(esp, text, {"profile": {}}) == "NO"


HS_WAY_OUT = ("HubSpot emails cannot loop over event data; wrap the loop in <mw-if when=\"esp == 'klaviyo'\"> "
              "with an <mw-else> alternative")
AC_WAY_OUT = HS_WAY_OUT.replace("HubSpot", "ActiveCampaign")


@pytest.mark.parametrize("esp, name, message, mapping", [
    ("hubspot", "item", f"HubSpot cannot express a loop variable; {HS_WAY_OUT}", None),
    ("hubspot", "profile.Shoe.Size", 'HubSpot cannot express the nested name profile.Shoe.Size; map it to a contact '
     'property: [esp.hubspot.properties] "profile.Shoe.Size" = "…"',
     ("esp.hubspot.properties", "profile.Shoe.Size", "shoe_size")),
    ("hubspot", "event.Cart.Value", "HubSpot cannot express the event property event.Cart.Value (HubSpot emails only "
     'see contact properties); map it to a contact property in mailwright.toml: [esp.hubspot.properties] '
     '"event.Cart.Value" = "…"', ("esp.hubspot.properties", "event.Cart.Value", "cart_value")),
    ("activecampaign", "item", f"ActiveCampaign cannot express a loop variable; {AC_WAY_OUT}", None),
    # the suggested line quotes the name without escaping its quotes (docs/testing.md, findings)
    ("activecampaign", 'profile["shoe size"]', "ActiveCampaign cannot express the name profile[\"shoe size\"]; map it "
     "to a field: [esp.activecampaign.fields] ", ("esp.activecampaign.fields", 'profile["shoe size"]', "SHOE_SIZE")),
    ("activecampaign", "event.cart.value", "ActiveCampaign cannot express the event property event.cart.value "
     "(ActiveCampaign emails only see contact fields); map it to a custom field in mailwright.toml: "
     '[esp.activecampaign.fields] "event.cart.value" = "TAG"',
     ("esp.activecampaign.fields", "event.cart.value", "CART_VALUE")),
])
def test_a_name_a_dialect_cannot_read_is_refused_with_the_line_that_fixes_it(esp, name, message, mapping):
    o = parse_output(name, POS, Scope({}, ("item",)))
    with pytest.raises(UnsupportedError) as e:
        dialect(esp).output(o, POS, "html")
    assert str(e.value) == f"t.mjml:3:7: error: {message}" or '"shoe size"' in name and \
        str(e.value).startswith(f"t.mjml:3:7: error: {message}")
    assert e.value.diagnostic.mapping == mapping


def test_hubspot_annotates_the_document_with_a_label_that_cannot_end_the_comment():
    d = load_connectors()["hubspot"].dialect(Context({}, None, lambda *a: None, "sale-->now"))
    assert d.finish("<p>x</p>") == ("<!--\n  templateType: email\n  isAvailableForNewContent: true\n"
                                    "  isEnabledForEmailV3Rendering: true\n  label: salenow\n-->\n<p>x</p>")


@pytest.mark.parametrize("esp, mapped", [("klaviyo", "loyalty_tier"), ("hubspot", "loyalty_tier"),
                                         ("activecampaign", "LOYALTY")])
def test_a_mapped_name_is_written_as_the_esps_own(esp, mapped):
    o = parse_output("profile.tier", POS, Scope({}))
    assert mapped in dialect(esp, config=MAPPED[esp]).output(o, POS, "html")
    assert mapped not in dialect(esp).output(o, POS, "html")


def test_a_refused_constant_in_a_list_is_located():
    cond = parse_condition("profile.s in ['a', 'b%}c']", POS, Scope({}))
    for esp in ("klaviyo", "hubspot"):
        with pytest.raises(UnsupportedError) as e:
            dialect(esp).if_block([(cond, "YES")], POS)
        assert str(e.value).startswith("t.mjml:3:7: error: "), (esp, str(e.value))


def ac_output(name, config=None):
    return dialect("activecampaign", config=config).output(parse_output(name, POS, Scope({})), POS, "html")


def test_activecampaign_tags():
    assert ac_output("profile.tier", {"fields": {"profile.tier": "%loyalty%"}}) == "%LOYALTY%"
    assert ac_output("profile.Tier") == "%TIER%"
    assert ac_output("profile.tier", {"fields": {"profile.tier": "BOX"}}) == "%BOX%"
    assert ac_output("profile.a.b") == "%A_B%"
    assert ac_output('profile["shoe-size"]') == "%SHOE-SIZE%"
    cond = parse_condition('profile["shoe-size"] is defined', POS, Scope({}))
    assert dialect("activecampaign").if_block([(cond, "Y")], POS) == "%IF $SHOE_SIZE != ''%Y%/IF%"


@pytest.mark.parametrize("name, tag", [('profile["Shoe size!"]', "SHOE_SIZE"), ('profile["__x y__"]', "X_Y"),
                                       ('profile["!?"]', "FIELD"), ('profile["a b"].c', "A_B_C"),
                                       ('profile["size X"]', "SIZE_X")])
def test_activecampaign_suggests_a_tag_for_a_name_it_cannot_write(name, tag):
    with pytest.raises(UnsupportedError) as e:
        ac_output(name)
    assert e.value.diagnostic.mapping[2] == tag


def test_activecampaign_refuses_in_between_two_fields():
    cond = parse_condition("profile.a in profile.b", POS, Scope({}))
    with pytest.raises(UnsupportedError) as e:
        dialect("activecampaign").if_block([(cond, "Y")], POS)
    assert str(e.value) == ("t.mjml:3:7: error: ActiveCampaign cannot express 'in' between two fields; compare with "
                            "literal text instead")


@pytest.mark.parametrize("src", ["'a~PERCENT~' in profile.s", "'a~PERCENT~' == profile.s", "profile.s == 'a~PERCENT~'"])
def test_activecampaign_refuses_its_own_percent_escape_where_it_stands(src):
    with pytest.raises(UnsupportedError) as e:
        dialect("activecampaign").if_block([(parse_condition(src, POS, Scope({})), "Y")], POS)
    assert str(e.value).startswith("t.mjml:3:7: error: ActiveCampaign cannot express the text '~PERCENT~'")


def test_activecampaign_literals_in_each_context():
    d = dialect("activecampaign")
    assert d.literal("50% off %20 %2f %2F x%", "url") == "50%25 off %20 %2f %2F x%25"
    assert d.literal("50%OFF", "html") == "50&#37;OFF"
    assert d.literal("50%OFF", "text") == "50%\u2060OFF"


def test_a_missing_property_read_through_lookup_prints_nothing_in_klaviyo():
    o = parse_output('profile["favourite colour"]', POS, Scope({}))
    text = dialect("klaviyo").output(o, POS, "html")
    assert text == "{{ person|lookup:'favourite colour' }}"
    assert shown("klaviyo", text, {"profile": {}}) == render_output(o, {"profile": {}}) == ""
    assert shown("klaviyo", text, {"profile": {"favourite colour": "teal"}}) == "teal"
    cond = dialect("klaviyo").condition(parse_condition('profile["favourite colour"] is defined', POS, Scope({})), POS)
    assert shown("klaviyo", f"{{% if {cond} %}}yes{{% else %}}no{{% endif %}}", {"profile": {}}) == "no"


def test_activecampaign_reads_a_field_mapped_with_its_percent_signs():
    config = {"fields": {"event.cart_url": "%Cart_Url%"}}
    text = dialect("activecampaign", config=config).output(parse_output("event.cart_url", POS, Scope({})), POS, "html")
    assert text == "%CART_URL%"
    assert RENDERERS["activecampaign"](text, {"event": {"cart_url": "https://shop.test/c/1"}}, config) == \
        "https://shop.test/c/1"
