"""render.py's placeholder stream: what parse_stream finds is what Slots.re finds (the regex
text.py and the rest read placeholders by), on the awkward spots around a placeholder."""

from __future__ import annotations

import random

import pytest

from mailwright.errors import Pos
from mailwright.render import PFor, PIf, Slot, Slots, parse_stream

POS = Pos("t.mjml", 1, 1)


def _slots(*kinds: str) -> Slots:
    slots = Slots("seed")
    for k in kinds:
        slots.add(Slot(k, None, POS))
    return slots


def _by_regex(s: str, slots: Slots) -> list:
    """The stream as Slots.re splits it, flat: text, then ('slot', i) per placeholder."""
    out: list = []
    pos = 0
    for m in slots.re.finditer(s):
        out += [s[pos:m.start()], ("slot", int(m.group(1) or m.group(2)))]
        pos = m.end()
    return out + [s[pos:]]


def _flat(tree: list, slots: Slots) -> list:
    out: list = []
    for item in tree:
        if isinstance(item, str):
            out.append(item)
        else:
            out.append(("slot", next(i for i, x in enumerate(slots.items) if x is item)))
    return out


def test_both_forms_and_the_text_around_them():
    slots = _slots("out", "out", "out")
    p = slots.prefix
    page = f"<p>a<!--{p}0x-->b</p>{p}1x<!--{p}2x-->"
    tree = parse_stream(page, slots)
    assert tree == ["<p>a", slots.items[0], "b</p>", slots.items[1], "", slots.items[2], ""]


@pytest.mark.parametrize("around, text", [
    ("<!--{t}", ["<!--", "", ""]),          # no closing: a bare token after copy that opens a comment
    ("{t}-->", ["", "", "-->"]),            # no opening: the '-->' is copy
    ("<!- {t}-->", ["<!- ", "", "-->"]),
    ("<!--<!--{t}-->-->", ["<!--", "", "-->"]),
])
def test_half_a_comment_stays_copy(around, text):
    slots = _slots("out")
    tree = parse_stream(around.format(t=slots.token(0)), slots)
    assert tree == [text[0], slots.items[0], text[2]]


@pytest.mark.parametrize("junk", ["{p}x", "{p}", "{p}12", "{p}-1x", "mw{p}", "{p}{p}0x"])
def test_the_prefix_without_a_number_is_copy(junk):
    slots = _slots("out")
    p = slots.prefix
    page = junk.format(p=p)
    assert _flat(parse_stream(page, slots), slots) == _by_regex(page, slots)


def test_blocks_nest():
    slots = _slots("if", "out", "br", "for", "lit", "endfor", "end")
    c = slots.comment
    page = f"A{c(0)}B{c(1)}C{c(2)}D{c(3)}E{c(4)}F{c(5)}G{c(6)}H"
    tree = parse_stream(page, slots)
    s = slots.items
    assert tree[0] == "A" and tree[2] == "H"
    blk = tree[1]
    assert isinstance(blk, PIf) and blk.slot is s[0]
    assert blk.bodies[0] == ["B", s[1], "C"]
    assert blk.bodies[1][0] == "D" and blk.bodies[1][2] == "G"
    loop = blk.bodies[1][1]
    assert isinstance(loop, PFor) and loop.slot is s[3] and loop.body == ["E", s[4], "F"]


def test_a_marker_left_open_is_an_internal_error():
    slots = _slots("if")
    with pytest.raises(AssertionError):
        parse_stream(f"x{slots.comment(0)}y", slots)


def test_random_pages_split_as_the_regex_splits_them():
    slots = _slots(*["out"] * 12)
    p = slots.prefix
    # a number follows the prefix only in p + "7x" (slot 7 exists)
    bits = ["<!--", "-->", "<", "-", "!", "x", "a1", "a", p, p[:-1], p + "7x", "<!--" + p, "x-->", " "]
    rnd = random.Random(5)
    for _ in range(3000):
        page = "".join(rnd.choice(bits) for _ in range(rnd.randint(0, 12)))
        assert _flat(parse_stream(page, slots), slots) == _by_regex(page, slots), page
