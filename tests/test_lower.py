"""Lowering (mailwright.lower) directly: attributes, their checks, and expressions seen again."""

from __future__ import annotations

import pytest

from mailwright import ir
from mailwright.errors import MailwrightErrors, Pos
from mailwright.expr import uses
from mailwright.lower import lower
from mailwright.project import Segment
from mailwright.source import Lit, SourceFile, parse_document

PATH = "t.mjml"


def document(body: str, head: str = "") -> str:
    return f"<mjml><mj-head><mw-subject>Hi</mw-subject>{head}</mj-head><mj-body>{body}</mj-body></mjml>"


def col(body: str, needle: str, head: str = "") -> int:
    """The 1-based column of ``needle`` in the body of the one-line document."""
    text = document(body, head)
    return text.index(needle, text.index("<mj-body>")) + 1


def lowered(body: str, head: str = "", segments: dict | None = None) -> ir.Template:
    text = document(body, head)
    return lower(parse_document(SourceFile(PATH, text)), "t", PATH, segments or {}, ["klaviyo"])


def column(inner: str) -> str:
    return f"<mj-section><mj-column>{inner}</mj-column></mj-section>"


def first(t: ir.Template, tag: str) -> ir.Element:
    found = [n for n in ir.walk([t.body]) if isinstance(n, ir.Element) and n.tag == tag]
    return found[0]


def test_plain_attributes_become_text_at_their_value_and_an_empty_one_nothing():
    body = column('<mj-image src="https://x.test/a.png" alt="" width="100px"/>')
    t = lowered(body)
    img = first(t, "mj-image")
    assert [type(n) for n in img.attrs["src"]] == [ir.Text]
    assert img.attrs["src"][0].text == "https://x.test/a.png"
    assert img.attrs["src"][0].pos == Pos(PATH, 1, col(body, "https://"))  # where the value starts, not the attribute
    assert img.attrs["alt"] == []
    assert img.attrs["width"][0].text == "100px"
    assert t.warnings == []


def test_an_attribute_left_empty_by_composition_lowers_to_nothing():
    # a component parameter given as "" leaves one empty piece of copy (compose.py), not none
    text = document(column('<mj-image src="a.png" alt="x"/>'))
    root = parse_document(SourceFile(PATH, text))
    img = root.children[1].children[0].children[0].children[0]
    img.attrs["alt"].value = [Lit("", img.attrs["alt"].value_pos)]
    t = lower(root, "t", PATH, {}, ["klaviyo"])
    assert first(t, "mj-image").attrs["alt"] == []


def test_a_plain_attribute_mjml_would_ignore_is_a_warning_at_the_attribute_unless_in_mj_attributes():
    head = '<mj-attributes><mj-text colr="red"/></mj-attributes>'
    body = column('<mj-text colr="red" align="middle" padding="1px">x</mj-text>')
    t = lowered(body, head=head)
    got = [(d.pos.col, d.message, d.rule) for d in t.warnings]
    assert got == [
        (col(body, "colr", head), "<mj-text> has no attribute 'colr': MJML ignores it; did you mean 'color'?",
         "mjml-attribute"),
        (col(body, "align", head), '<mj-text> align="middle" is not left, center, right or justify', "mjml-attribute"),
    ]


def test_an_attribute_with_a_send_time_tag_is_text_and_output_and_its_copy_is_checked():
    t = lowered(column('<mj-button href="https://x.test/?c={{ event.cart_id }}" align="nowhere">Go</mj-button>'))
    href = first(t, "mj-button").attrs["href"]
    assert [type(n) for n in href] == [ir.Text, ir.Output]
    assert href[1].expr.var.path == ("cart_id",)
    assert [d.message for d in t.warnings] == ['<mj-button> align="nowhere" is not left, center, right or justify']



def cols(body: str, needle: str) -> list[int]:
    """The 1-based columns of every ``needle`` in the body of the one-line document."""
    text, at, out = document(body), 0, []
    while (at := text.find(needle, at + 1 if out else text.index("<mj-body>"))) >= 0:
        out.append(at + 1)
    return out


def outputs(t: ir.Template) -> list[ir.Output]:
    return [n for n in ir.walk([t.body]) if isinstance(n, ir.Output)]


def test_an_expression_read_again_is_at_its_own_place_each_time():
    body = column('<mj-text>{{ profile.first_name | default("a") }} and {{ profile.first_name | default("a") }}'
                  "</mj-text>")
    at = [Pos(PATH, 1, c) for c in cols(body, "profile")]
    for _ in range(2):  # the second time every expression of the template was read before
        t = lowered(body)
        assert [(o.expr.var.pos, o.expr.filters[0].pos) for o in outputs(t)] == [(p, p) for p in at]


def test_a_loop_header_read_again_is_at_its_own_place():
    loop = "{% for item in event.items %}{{ item.name }}{% endfor %}"
    body = column(f"<mj-text>{loop}{loop}</mj-text>")
    t = lowered(body)
    fors = [n for n in ir.walk([t.body]) if isinstance(n, ir.For)]
    assert [f.iterable.pos.col for f in fors] == cols(body, "item in")
    assert [o.expr.var.pos.col for o in outputs(t)] == cols(body, "item.name")


def test_a_name_known_inside_a_loop_is_still_unknown_outside_it():
    body = column("<mj-text>{% for item in event.items %}{{ item.name }}{% endfor %} {{ item.name }}</mj-text>")
    with pytest.raises(MailwrightErrors) as e:
        lowered(body)
    assert [(d.pos.col, d.message.split(" (")[0]) for d in e.value.diagnostics] == [
        (cols(body, "item.name")[1], "unknown name 'item' in 'item.name'")]


def test_the_same_bad_expression_twice_is_reported_twice_each_time():
    body = column("<mj-text>{{ profile.a | nope }} {{ profile.a | nope }}</mj-text>")
    for _ in range(2):
        with pytest.raises(MailwrightErrors) as e:
            lowered(body)
        assert [d.pos.col for d in e.value.diagnostics] == cols(body, "profile")


def test_a_segment_is_read_from_the_segments_given_and_its_names_stay_at_the_segment():
    body = column('<mw-if when="segment.vip"><mj-text>x</mj-text></mw-if>')
    where = Pos("mailwright.toml", 7, 7)
    for source, root in (("profile.tier == 'gold'", "profile"), ("event.total > 9", "event")):
        t = lowered(body, segments={"vip": Segment("vip", source, where)})
        cond = next(n for n in ir.walk([t.body]) if isinstance(n, ir.If)).branches[0].cond
        assert cond.left.root == root
        assert cond.left.pos is where


def test_a_condition_read_again_has_every_name_at_its_own_place():
    cond = "{% if profile.a == 'x' and not (profile.b is defined or event.c != 1) %}y{% endif %}"
    body = column(f"<mj-text>{cond} {cond}</mj-text>")
    t = lowered(body)
    ifs = [n for n in ir.walk([t.body]) if isinstance(n, ir.If)]
    assert [[v.pos.col for v in uses(i.branches[0].cond)] for i in ifs] == [[c] * 3 for c in cols(body, "profile.a")]


def test_a_misspelt_esp_is_reported_at_each_condition_that_names_it():
    body = column("<mj-text>{% if esp == 'klavyo' %}a{% endif %}{% if esp == 'klavyo' %}b{% endif %}</mj-text>")
    with pytest.raises(MailwrightErrors) as e:
        lowered(body)
    assert [(d.pos.col, d.message.split(" (")[0]) for d in e.value.diagnostics] == [
        (c, "unknown ESP 'klavyo'") for c in cols(body, "esp ==")]


def test_the_expression_cache_stays_bounded(monkeypatch):
    import mailwright.lower as lower_module

    monkeypatch.setattr(lower_module, "_PARSED", {})
    monkeypatch.setattr(lower_module, "_PARSED_MAX", 3)
    body = column("<mj-text>" + " ".join(f"{{{{ event.p{i} }}}}" for i in range(7)) + "</mj-text>")
    for n in range(10):  # ten projects' segments in one process
        t = lowered(body, segments={"s": Segment("s", f"event.x == {n}", Pos("mailwright.toml", 1, 1))})
        assert [o.expr.var.path for o in outputs(t)] == [(f"p{i}",) for i in range(7)]
        assert len(lower_module._PARSED) <= 8
        assert all(len(d) <= 3 for d in lower_module._PARSED.values())
