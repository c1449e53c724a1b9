"""A dialect writes each output, condition and name of its template once (dialect.py's memos): what it
writes must still be what writing it again would give, and every warning must still stand at its place."""

import pytest

from mailwright.dialect import APPROX, Context, Support, load_connectors
from mailwright.errors import Pos, UnsupportedError
from mailwright.expr import Scope, parse_condition, parse_output

A, B = Pos("t.mjml", 3, 7), Pos("t.mjml", 9, 2)
ESPS = ("klaviyo", "hubspot", "activecampaign")


def dialect(esp, warnings=None, cls=None, config=None):
    def warn(pos, msg, rule=None):
        if warnings is not None:
            warnings.append((pos, msg))
    return (cls or load_connectors()[esp].dialect)(Context(config or {}, None, warn, "t"))


def out(src, pos=A):
    return parse_output(src, pos, Scope({}))


def cond(src, pos=A):
    return parse_condition(src, pos, Scope({}))


@pytest.mark.parametrize("esp", ESPS)
def test_equal_constants_of_other_types_are_written_apart(esp):
    # Const(1) == Const(True) == Const(1.0) as dataclasses: a memo by value alone would write one for all
    d = dialect(esp)
    texts = [d.condition_text(cond(f"profile.n == {v}"), A) for v in ("1", "1.0")]
    assert [dialect(esp).condition_text(cond(f"profile.n == {v}"), A) for v in ("1", "1.0")] == texts
    assert texts[0] != texts[1]
    outs = [d.output(out(f"profile.n | default({v})"), A, "html") for v in ("1", "true", "1.0")]
    assert outs == [dialect(esp).output(out(f"profile.n | default({v})"), A, "html") for v in ("1", "true", "1.0")]
    assert len(set(outs)) == 3


@pytest.mark.parametrize("esp", ["klaviyo", "hubspot"])
def test_an_approximation_is_reported_at_every_place(esp):
    # title is approximated in both: an equal output elsewhere, and the same one at another place, warn again
    warnings = []
    d = dialect(esp, warnings, config={"properties": {"event.name": "name"}})
    first, again = out("event.name | title", A), out("event.name | title", B)
    texts = {d.output(first, A, "html"), d.output(again, B, "html"), d.output(first, B, "text"),
             d.output(first, A, "text")}
    assert len(texts) == 1
    assert [p for p, _ in warnings] == [A, B, B, A]  # as often as without a memo


def test_a_clean_result_serves_an_equal_expression_elsewhere():
    # without a warning the text is the same at any place: written once, then reused
    calls = []

    class Counting(load_connectors()["klaviyo"].dialect):
        def condition(self, e, pos):
            calls.append(pos)
            return super().condition(e, pos)

        def write_output(self, o, pos):
            calls.append(pos)
            return super().write_output(o, pos)

    d = dialect("klaviyo", cls=Counting)
    c1, c2 = cond("profile.tier == 'gold'", A), cond("profile.tier == 'gold'", B)
    assert d.condition_text(c1, A) == d.condition_text(c2, B) == d.condition_text(c1, A)
    o = out('profile.first_name | default("you & me")')
    html, text = d.output(o, A, "html"), d.output(o, A, "text")
    assert calls == [A, A]
    # the fallback is written per context: escaped in the page, as it is in the text part
    assert "you &amp; me" in html and "you & me" in text


def test_a_name_that_warned_is_written_again_at_its_place():
    base = load_connectors()["klaviyo"].dialect

    class Approximating(base):
        CAPABILITIES = {**base.CAPABILITIES, "profile property": Support(APPROX, "a test")}

    warnings = []
    d = dialect("klaviyo", warnings, cls=Approximating)
    d.output(out("profile.city", A), A, "html")
    d.condition_text(cond("profile.city == 'x'", B), B)  # the same name, in another node
    assert warnings[0][0] == A and {p for p, _ in warnings[1:]} == {B}


@pytest.mark.parametrize("esp", ["hubspot", "activecampaign"])
def test_an_error_is_raised_at_every_place(esp):
    d = dialect(esp)
    for pos in (A, B, A):
        with pytest.raises(UnsupportedError) as e:
            d.output(out("event.total", pos), pos, "html")
        assert e.value.diagnostic.pos == pos


def test_the_templates_of_a_compile_share_what_was_written_clean():
    calls = []

    class Counting(load_connectors()["klaviyo"].dialect):
        def write_output(self, o, pos):
            calls.append(pos)
            return super().write_output(o, pos)

    config = {"properties": {}}
    first = dialect("klaviyo", cls=Counting, config=config).output(out("profile.first_name", A), A, "html")
    again = dialect("klaviyo", cls=Counting, config=dict(config)).output(out("profile.first_name", B), B, "html")
    assert first == again and calls == [A]  # an equal table: the second template reuses the first's text


def test_a_table_changed_in_place_is_not_served_stale():
    config = {"properties": {"event.total": "sum"}}
    assert dialect("klaviyo", config=config).output(out("event.total"), A, "html") == "{{ event.sum }}"
    config["properties"]["event.total"] = "amount"  # a watch session's project, or a test, edits its table
    assert dialect("klaviyo", config=config).output(out("event.total"), A, "html") == "{{ event.amount }}"
    del config["properties"]["event.total"]
    assert dialect("klaviyo", config=config).output(out("event.total"), A, "html") == "{{ event.total }}"


def test_another_dialect_class_does_not_see_what_a_first_wrote():
    base = load_connectors()["klaviyo"].dialect

    class Approximating(base):
        CAPABILITIES = {**base.CAPABILITIES, "profile property": Support(APPROX, "a test")}

    dialect("klaviyo").output(out("profile.zip", A), A, "html")  # clean in Klaviyo's table: kept
    warnings = []
    dialect("klaviyo", warnings, cls=Approximating).output(out("profile.zip", B), B, "html")
    assert [p for p, _ in warnings] == [B]


def test_what_is_shared_stays_bounded(monkeypatch):
    import mailwright.dialect as dialect_module

    class Fresh(load_connectors()["hubspot"].dialect):
        pass

    monkeypatch.setattr(dialect_module, "_SHARED_LIMIT", 10)
    for i in range(40):
        dialect("hubspot", cls=Fresh).output(out(f"profile.p{i}"), A, "html")
        # checked as a template starts: the limit, plus what one template added (an output and its name)
        assert sum(map(len, dialect_module._SHARED[Fresh][1:])) <= 12
