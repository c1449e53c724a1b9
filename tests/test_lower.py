"""Lowering (mailwright.lower) directly: attributes, their checks, and expressions seen again."""

from __future__ import annotations

from mailwright import ir
from mailwright.errors import Pos
from mailwright.lower import lower
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
