"""render.py: the MJML the renderer writes (copy that is syntax in some ESP becomes a slot, in
text and in the attributes that reach the recipient), and the placeholder stream: what
parse_stream and placeholders find what the placeholder regex (_regex below) finds."""

from __future__ import annotations

import random
import re

import pytest

from mailwright import ir
from mailwright.errors import Pos
from mailwright.render import PFor, PIf, Renderer, Slot, Slots, _any_of, parse_stream, placeholders

POS = Pos("t.mjml", 1, 1)


def _slots(*kinds: str) -> Slots:
    slots = Slots("seed")
    for k in kinds:
        slots.add(Slot(k, None, POS))
    return slots


def _regex(slots: Slots) -> re.Pattern:
    """Both placeholder forms, as a regex: the oracle the prefix search is held to."""
    return re.compile(rf"<!--{slots.prefix}(\d+)x-->|{slots.prefix}(\d+)x")


def _by_regex(s: str, slots: Slots) -> list:
    """The stream as the regex splits it, flat: text, then ('slot', i) per placeholder."""
    out: list = []
    pos = 0
    for m in _regex(slots).finditer(s):
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
        assert list(placeholders(page, p)) == [(m.start(), m.end(), int(m.group(1) or m.group(2)))
                                               for m in _regex(slots).finditer(page)], page


def test_a_compile_never_compiles_the_placeholder_regex(monkeypatch):
    """Placeholders in copy, in a link's URL (text part) and around mj-raw copy are all found by
    their prefix: the per-template regex compile was most of making a Renderer."""
    from tests.conftest import compile_sources, email

    compile_, nonce = re._compile, re.compile(r"mw[0-9a-f]{8}n")  # re.compile, re.sub, … all compile through it

    def guarded(pattern, flags):  # noqa: ANN001, ANN202
        if isinstance(pattern, str) and nonce.search(pattern):
            pytest.fail(f"placeholder regex compiled: {pattern}")
        return compile_(pattern, flags)

    monkeypatch.setattr(re, "_compile", guarded)
    src = email('<mj-section><mj-column><mj-text>Hi {{ profile.first_name }} '
                '<a href="https://s.test/?u={{ profile.email }}&amp;k=%41">go</a></mj-text>'
                '<mj-raw><canvas class="k"/></mj-raw></mj-column></mj-section>',
                head='<mj-style inline="inline">.k { color: red }</mj-style>')
    res = compile_sources({"t": src}, esps=("klaviyo",))
    assert not res.diagnostics
    (o,) = res.outputs
    assert o.text.startswith("Hi {{ person.first_name }} go (https://s.test/?u={{ person.email }}&k=%41)\n")
    assert '<canvas class="k" style="color: red;"></canvas>' in o.html  # the inliner saw the mj-raw copy


# ------------------------------------------------------------------ the renderer's MJML

LITERALS = {"curly": re.compile(r"\{\{|\{\Z"), "pct": re.compile(r"%(?=[A-Z])")}


def _template(body: list, head: list | None = None) -> ir.Template:
    col = ir.Element("mj-column", {}, [ir.Element("mj-text", {}, body, POS, ending=True)], POS)
    sec = ir.Element("mj-section", {}, [col], POS)
    return ir.Template("t", "t.mjml", POS, [ir.Text("Hi", POS)], POS, None, head or [],
                       ir.Element("mj-body", {}, [sec], POS))


def _image(**attrs: str) -> ir.Template:
    img = ir.Element("mj-image", {k.replace("_", "-"): [ir.Text(v, POS)] for k, v in attrs.items()}, [], POS)
    t = _template([])
    t.body.children[0].children[0].children = [img]
    return t


def test_copy_attributes_carry_literals_as_slots_and_others_stay_as_written():
    r = Renderer(_image(href='https://x.test/?q={{a}}&"', css_class='{{b}} "c"', alt="50%OFF"), None,
                 LITERALS, "seed")
    doc = r.mjml()
    lits = [s for s in r.slots.items if s.kind == "lit"]
    assert [(s.node.text, s.node.spans) for s in lits] == [("{{", {"curly": ((0, 2),)}), ("%", {"pct": ((0, 1),)})]
    assert f'href="https://x.test/?q={r.slots.token(0)}a}}}}&&quot;"' in doc
    assert 'css-class="{{b}} &quot;c&quot;"' in doc  # MJML reads it: never copy
    assert f'alt="50{r.slots.token(1)}OFF"' in doc


def test_copy_in_text_carries_literals_as_comments():
    r = Renderer(_template([ir.Text("a {{ b", POS), ir.Text("plain %x", POS), ir.Text("ends {", POS)]), None,
                 LITERALS, "seed")
    doc = r.mjml()
    c = r.slots.comment
    assert f"<mj-text>a {c(0)} bplain %xends {c(1)}</mj-text>" in doc
    assert [s.node.text for s in r.slots.items] == ["{{", "{"]


def test_an_attribute_of_several_pieces_escapes_its_quotes_in_each():
    # a value of more than one piece is walked (not the one-piece shortcut): each piece escaped
    t = _image(alt="x")
    t.body.children[0].children[0].children[0].attrs = {
        "alt": [ir.Text('say "a" ', POS), ir.Text('"b"', POS)], "css-class": [ir.Text('c"', POS), ir.Text("d", POS)]}
    doc = Renderer(t, None, LITERALS, "seed").mjml()
    assert '<mj-image alt="say &quot;a&quot; &quot;b&quot;" css-class="c&quot;d">' in doc


def _raw(*pieces: str) -> tuple[Renderer, str]:
    """A renderer of one <mj-raw> of these text pieces, and its MJML."""
    t = _template([])
    t.body.children[0].children[0].children = [
        ir.Element("mj-raw", {}, [ir.Text(p, POS) for p in pieces], POS, ending=True)]
    r = Renderer(t, None, LITERALS, "seed")
    return r, r.mjml()


def test_raw_copy_is_a_verbatim_slot_per_piece_around_literals():
    r, doc = _raw("<canvas/>{{x", "")
    assert [(s.kind, s.node if s.kind == "verbatim" else s.node.text) for s in r.slots.items] == \
        [("verbatim", "<canvas></canvas>"), ("lit", "{{"), ("verbatim", "x")]
    assert f"<mj-raw>{r.slots.comment(0)}{r.slots.comment(1)}{r.slots.comment(2)}</mj-raw>" in doc


def test_raw_copy_without_literals_is_one_verbatim_slot():
    r, doc = _raw("<canvas/><br/>", "")
    assert [(s.kind, s.node) for s in r.slots.items] == [("verbatim", "<canvas></canvas><br/>")]
    assert f"<mj-raw>{r.slots.comment(0)}</mj-raw>" in doc


@pytest.mark.parametrize("pats", [
    [r"\{\{|\{\Z", r"%(?=[A-Z])"],
    [r"(b)c", r"(a)\1"],         # groups: not joined (a number would change), searched one by one
    [r"ab", r"(?i)CD"],
    [r"(?i)ab", r"(?i)CD"],      # inline flags do not join
    [r"ab", re.compile("cd", re.IGNORECASE)],  # nor do flags given to re.compile
])
def test_any_literal_is_true_exactly_when_some_pattern_matches(pats):
    compiled = {str(i): p if isinstance(p, re.Pattern) else re.compile(p) for i, p in enumerate(pats)}
    found = _any_of(compiled)
    for text in ["", "{", "x{", "{x", "{{", "%A", "%a", "aa", "a", "b", "cd", "CD", "xab", "aB"]:
        assert bool(found(text)) == any(p.search(text) for p in compiled.values()), text
    assert not _any_of({})("{{")


# ------------------------------------------------------------------ emission

def _outputs(copy: str) -> dict:
    from tests.conftest import compile_sources, text_email

    res = compile_sources({"t": text_email(copy)})
    assert not [d for d in res.diagnostics if d.severity == "error"], res.diagnostics
    return {o.esp: o for o in res.outputs}


def test_copy_that_decodes_to_syntax_in_the_text_part_is_written_as_literal():
    text = {esp: o.text.split("\n")[0] for esp, o in _outputs("a &#123;&#123; b &#37;FIRSTNAME&#37;").items()}
    assert text == {
        "klaviyo": "a {{ '{{' }} b %FIRSTNAME%",
        "hubspot": "a {% raw %}{{% endraw %}{% raw %}{{% endraw %} b %FIRSTNAME%",
        "activecampaign": "a {{ b %\u2060FIRSTNAME%",
    }


def test_an_output_of_a_compile_time_name_is_its_value():
    out = _outputs("for {{ esp }}, {{ trigger | default('none') }}")
    for esp, o in out.items():
        assert f"for {esp}, none" in o.html and f"for {esp}, none" in o.text
