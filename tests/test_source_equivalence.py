"""The reader (mailwright.source) against the reader as it was before the speed work (commit 115ae5d),
kept below as the oracle: the same tree (tags, attributes in order, chunks, raw text), the same
positions (path, line, column of every node), the same warnings and the same errors, on every MJML
file of the repository, on the benchmark's generated templates, and on random edits of them (which
reach the error paths). Positions are now worked out lazily from offsets; they must print, compare
and hash as the eager ones did."""

from __future__ import annotations

import bisect
import copy
import functools
import pickle
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.compile import template
from mailwright.errors import Diagnostic, MailwrightError, Pos
from mailwright.source import (
    ENDING_TAGS,
    MAX_NESTING,
    OPAQUE_TAGS,
    Attr,
    Comment,
    Element,
    InlineRaw,
    Lit,
    Param,
    SourceFile,
    Tag,
    parse_document,
)
from tests.conftest import ROOT

# ---------------------------------------------------------------- what a parse gives, comparable


def _p(pos: Pos) -> tuple:
    assert isinstance(pos, Pos)
    return (pos.path, pos.line, pos.col, str(pos))


def dump(node) -> tuple:
    if isinstance(node, Element):
        attrs = [(k, a.name, [dump(c) for c in a.value], _p(a.pos), _p(a.value_pos), a.raw)
                 for k, a in node.attrs.items()]
        content = None if node.content is None else [dump(c) for c in node.content]
        return ("E", node.tag, _p(node.pos), attrs, [dump(c) for c in node.children], content, node.raw_content)
    if isinstance(node, Comment):
        return ("C", node.text, _p(node.pos))
    if isinstance(node, Lit):
        return ("L", node.text, _p(node.pos))
    if isinstance(node, Tag):
        return ("T", node.kind, node.src, _p(node.pos), _p(node.src_pos))
    if isinstance(node, Param):
        return ("P", node.name, _p(node.pos), node.raw)
    assert isinstance(node, InlineRaw)
    return ("R", node.esp, node.text, _p(node.pos))


def _diags(ds: list[Diagnostic]) -> list:
    return [(d.format(), d.rule, _p(d.pos)) for d in ds]


def outcome(parse, src, fragment: bool) -> tuple:
    try:
        root = parse(src, fragment)
    except MailwrightError as e:
        return ("error", str(e), _diags(e.diagnostics), _diags(src.warnings))
    return ("ok", dump(root), _diags(src.warnings))


def same(text: str, fragment: bool = False, path: str = "t.mjml") -> None:
    new = outcome(parse_document, SourceFile(path, text), fragment)
    old = outcome(ref_parse_document, RefSource(path, text), fragment)
    assert new == old


# ---------------------------------------------------------------- the inputs

def _repo_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("**/*.mjml")
                  if ".venv" not in p.parts and "node_modules" not in p.parts)


FILES = _repo_files()
GENERATED = [template(random.Random(s), s, 6) for s in range(12)]
PIECES = ["<", ">", "/>", "</", '"', "'", "=", " ", "\n", "\t", "\r\n", "\r", "{{", "}}", "{%", "%}", "{#", "#}",
          "[[", "]]", "[[ a.b ]]", "[[ 'x' ]]", "[[ '[[' ]]", "{{ x }}", "{% if a < 3 %}", "<!--", "-->", "<?x ?>",
          '<mw-raw esp="klaviyo">', "</mw-raw>", "<mw-raw>", "<mj-text>", "</mj-text>", "<mj-column>",
          "</mj-column >", '<x-card a="1">', "</x-card>", ' a="1"', " a='{{ b }}'", " b", ' c="\nd\te"', "<p>", "x",
          "<mj-style>", "</mj-style\n>", "&lt;", "\u00a0", "\u2028", "<mj-raw/>", '<mw-if when="[[ x ]]">']


def test_the_repository_and_the_benchmark_templates_read_alike():
    assert len(FILES) > 100
    for f in FILES:
        text = (ROOT / f).read_text(encoding="utf-8", errors="replace")
        same(text, path=f)
        same(text, fragment=True, path=f)
    for text in GENERATED:
        same(text)
        same(text, fragment=True)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_random_edits_read_alike(data):
    base = data.draw(st.sampled_from(GENERATED[:3] + [(ROOT / f).read_text() for f in FILES[:40:4]]))
    text = base
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + data.draw(st.sampled_from(PIECES)) + text[at:]
        else:
            text = text[:at] + text[at + data.draw(st.integers(1, 12)):]
    same(text, fragment=data.draw(st.booleans()))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES + ["<mjml>", "</mjml>", "<mj-body>", "</mj-body>", "<mj-text>", "a b"]),
                max_size=14), st.booleans())
def test_small_documents_read_alike(pieces, fragment):
    same("".join(pieces), fragment)


@pytest.mark.parametrize("text", [
    '<mjml><mj-body a="1" a="2" b="{{ x }}" b=\'[[ y ]]\'/></mjml>',  # twice: a warning each, last wins
    '<mjml><mj-body a="1" b="2" a="3"/></mjml>',  # the last one given goes last
    '<mjml a="1"b="2"\n  c = "3" />',  # no space between attributes; spaces around '='
    '<mjml><mj-text a="">x</mj-text><mj-text>\r\n{{ a }}\r</mj-text  ></mjml>',
    '<mjml><mw-if when="a [[ b ]] {{ c }}"></mw-if><mj-text href="a\n\tb {{ c }}\nd">[[ z</mj-text></mjml>',
    '<mjml><mj-text a="1" b>x</mj-text></mjml>',  # a name without a value: the error is at 'b'
    '<mjml><mj-text a="1" "b"></mj-text></mjml>',
    "<mjml><mj-text a='1'/ ></mjml>",
    '<mjml>\n  <mj-body>\n    text\n  </mj-body>\n</mjml>',
    "<mjml><mj-body></mj-column></mj-body></mjml>",
    "<mjml><mj-body>" + "<mj-wrapper>" * (MAX_NESTING + 1),
    # a component's use holds MJML elements or HTML: comments, and what ending tags hold, do not count
    '<mjml><mj-body><x-card><!-- a > b <p> --><mj-text>x</mj-text></x-card></mj-body></mjml>',
    '<mjml><mj-body><x-card>\n<mw-raw esp="k">text <p></mw-raw></x-card></mj-body></mjml>',
    '<mjml><mj-body><x-card> <mj-image src="x"/> <b>bold</b></x-card></mj-body></mjml>',
])
def test_edge_cases_read_alike(text):
    same(text)
    same(text, fragment=True)


def test_every_ending_tag_starts_with_m():
    # _html_children looks for them only where '<m' stands
    assert all(t.startswith(("mj-", "mw-")) for t in ENDING_TAGS)


def test_a_lazy_position_is_the_position_it_names():
    src = SourceFile("a.mjml", "ab\ncd\n")
    p, q = src.pos(4), Pos("a.mjml", 2, 2)
    assert (p.path, p.line, p.col, str(p), repr(p)) == ("a.mjml", 2, 2, "a.mjml:2:2", repr(q))
    assert p == q and q == p and not (p != q) and not (q != p) and p == src.pos(4)
    assert p != src.pos(3) and src.pos(3) != p and p != Pos("b.mjml", 2, 2) and p != ("a.mjml", 2, 2)
    assert hash(p) == hash(q) and {q: 1}[p] == 1 and {p: 1}[q] == 1
    assert [p] == [q] and q in {p}
    for c in (copy.copy(p), copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(c) is Pos and c == q  # a copy does not carry the file's text along
    with pytest.raises(TypeError):
        assert p < src.pos(5)  # a Pos has no order, nor has this one
    with pytest.raises(AttributeError):
        p.line = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.other = 3  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the oracle (the reader at 115ae5d)

class RefSource:
    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        self.warnings: list[Diagnostic] = []

    def pos(self, offset: int) -> Pos:
        i = bisect.bisect_right(self._starts, offset) - 1
        return Pos(self.path, i + 1, offset - self._starts[i] + 1)

    def error(self, offset: int, message: str) -> MailwrightError:
        return MailwrightError(self.pos(offset), message)

    def warn(self, offset: int, message: str, rule: str) -> None:
        self.warnings.append(Diagnostic(self.pos(offset), message, "warning", rule=rule))


_NAME = re.compile(r"[A-Za-z_][\w.:-]*")
_ATTR = re.compile(r"""\s*([A-Za-z_:][\w.:-]*)\s*(?:=\s*("[^"]*"|'[^']*'))?""", re.S)
_TAG_OPEN = re.compile(r"\{\{|\{%|\{#|\[\[|<mw-raw\b")
_MW_RAW_CLOSE = re.compile(r"</mw-raw\s*>")
_HTML_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_ENDING_RE = re.compile(r"<(" + "|".join(sorted(ENDING_TAGS)) + r")\b[^>]*>.*?</\1\s*>", re.S)
_CLOSE_REST = re.compile(r"\s*>")
_BAD_LT = re.compile(r"<(?![A-Za-z/!])")


def _ref_find_close(text: str, start: int, close: str) -> int:
    a, b = re.escape(close[0]), re.escape(close[1])
    m = re.compile(rf"""(?:[^'"{a}]++|{a}(?!{b})|"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+')*+""", re.S).match(text, start)
    return m.end() if text.startswith(close, m.end()) else -1


def ref_parse_chunks(src, start, end, *, sendtime=True, normalised=None):
    text = src.text
    out: list = []
    i = start
    lit_start = start

    def flush(upto):
        if upto > lit_start:
            piece = text[lit_start:upto] if normalised is None else normalised[lit_start - start : upto - start]
            out.append(Lit(piece, src.pos(lit_start)))

    while i < end:
        m = _TAG_OPEN.search(text, i, end)
        if not m:
            break
        j = m.start()
        opener = m.group()
        if opener == "[[":
            close = text.find("]]", j + 2, end)
            if close < 0:
                src.warn(j, "'[[' without ']]' is kept as copy; a build-time parameter is '[[ name ]]'",
                         "build-time-parameter")
                i = j + 2
                continue
            inner = text[j + 2 : close].strip()
            if re.fullmatch(r"'\[\['|\"\[\[\"", inner):
                flush(j)
                out.append(Lit("[[", src.pos(j)))
            elif re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)?", inner):
                flush(j)
                out.append(Param(inner, src.pos(j), text[j : close + 2]))
            else:
                src.warn(j, f"'[[ {inner} ]]' is not a parameter name or theme token: it is kept as copy",
                         "build-time-parameter")
                i = close + 2
                continue
            i = lit_start = close + 2
            continue
        if not sendtime:
            i = j + len(opener)
            continue
        if opener == "<mw-raw":
            tag_end = text.find(">", j, end)
            cm = _MW_RAW_CLOSE.search(text, j, end)
            if tag_end < 0 or cm is None:
                raise src.error(j, "unclosed <mw-raw>: it ends with </mw-raw>")
            attrs = dict((k, v[1:-1]) for k, v in _ATTR.findall(text[j + 7 : tag_end]) if v)
            esp = attrs.get("esp")
            if not esp:
                raise src.error(j, '<mw-raw> needs esp="…" naming the ESP it is for')
            flush(j)
            out.append(InlineRaw(esp, text[tag_end + 1 : cm.start()], src.pos(j)))
            i = lit_start = cm.end()
            continue
        close_tok = {"{{": "}}", "{%": "%}", "{#": "#}"}[opener]
        close = _ref_find_close(text, j + 2, close_tok) if opener != "{#" else text.find("#}", j + 2)
        if close < 0 or close + 2 > end:
            raise src.error(j, f"unclosed '{opener}': expected '{close_tok}'")
        flush(j)
        if opener != "{#":
            raw = text[j + 2 : close]
            lead = len(raw) - len(raw.lstrip())
            kind = "out" if opener == "{{" else "stmt"
            out.append(Tag(kind, raw.strip(), src.pos(j), src.pos(j + 2 + lead)))
        i = lit_start = close + 2
    flush(end)
    return out


def _ref_normalise_attr(value):
    return re.sub(r"[\n\t]", " ", value)


def ref_parse_document(src, fragment=False):
    text = src.text
    n = len(text)
    i = 0
    root = Element("#fragment", src.pos(0)) if fragment else None
    stack: list = [root] if fragment else []

    while i < n:
        lt = text.find("<", i)
        if lt < 0:
            lt = n
        stray = text[i:lt]
        if stray.strip():
            off = i + (len(stray) - len(stray.lstrip()))
            where = f"inside <{stack[-1].tag}>" if stack else "outside the root element"
            raise src.error(off, f"text is not allowed {where}; put copy in <mj-text> or <mj-button>")
        if lt >= n:
            break
        if text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            if end < 0:
                raise src.error(lt, "unclosed comment '<!--'")
            if stack:
                stack[-1].children.append(Comment(text[lt + 4 : end], src.pos(lt)))
            i = end + 3
            continue
        if text.startswith("<?", lt):
            end = text.find("?>", lt)
            i = n if end < 0 else end + 2
            continue
        if text.startswith("</", lt):
            m = _NAME.match(text, lt + 2)
            if not m:
                raise src.error(lt, "malformed closing tag")
            name = m.group()
            gm = _CLOSE_REST.match(text, m.end())
            if gm is None:
                raise src.error(lt, f"malformed closing tag </{name}: expected '>'")
            gt = gm.end() - 1
            if not stack or stack[-1].tag != name or stack[-1].tag == "#fragment":
                opened = f"; <{stack[-1].tag}> opened at {stack[-1].pos} is still open" if stack else ""
                raise src.error(lt, f"unexpected </{name}>{opened}")
            stack.pop()
            i = gt + 1
            continue
        m = _NAME.match(text, lt + 1)
        if not m:
            raise src.error(lt, "'<' does not start a tag; write &lt; for a literal '<'")
        el, i, selfclosing = _ref_parse_start_tag(src, lt, m)
        if stack:
            stack[-1].children.append(el)
        elif root is None:
            root = el
        else:
            raise src.error(lt, f"a second root element <{el.tag}>; a file holds one")
        if selfclosing:
            continue
        html_component = el.tag.startswith("x-") and el.tag != "x-component" and _ref_html_children(text, i, el.tag)
        if html_component or el.tag in ENDING_TAGS:
            cm = _ref_closing(el.tag).search(text, i)
            if cm is None:
                raise src.error(lt, f"<{el.tag}> is never closed")
            close = cm.start()
            if el.tag in OPAQUE_TAGS:
                el.raw_content = text[i:close]
                el.content = [Lit(el.raw_content, src.pos(i))]
            else:
                el.raw_content = _ref_normalise_html_attrs(text[i:close])
                _ref_check_html(src, i, close)
                el.content = ref_parse_chunks(src, i, close, normalised=el.raw_content)
            i = cm.end()
        else:
            stack.append(el)
            if len(stack) > MAX_NESTING:
                raise src.error(lt, f"elements nest deeper than {MAX_NESTING} levels here; "
                                    "is a closing tag missing?")
    if fragment:
        stack = stack[1:]
    if stack:
        p = stack[-1].pos
        raise src.error(src._starts[p.line - 1] + p.col - 1, f"<{stack[-1].tag}> is never closed")
    if root is None:
        raise MailwrightError(src.pos(0), "the file is empty: expected an MJML document")
    return root


@functools.cache
def _ref_closing(tag):
    return re.compile(rf"</{re.escape(tag)}\s*>")


def _ref_normalise_html_attrs(region):
    if "\n" not in region and "\t" not in region:
        return region
    return _HTML_TAG.sub(lambda m: re.sub(r"[\n\t]", " ", m.group()), region)


def _ref_html_children(text, start, tag):
    cm = _ref_closing(tag).search(text, start)
    close = cm.start() if cm else -1
    inner = re.sub(r"<!--.*?-->", "", text[start : close if close >= 0 else len(text)], flags=re.S)
    inner = _ENDING_RE.sub("", inner)
    if re.sub(r"<[^>]*>", "", inner).strip():
        return True
    return any(not re.match(r"(mj-|mw-|x-)", t) for t in re.findall(r"</?([A-Za-z][\w:-]*)", inner))


def _ref_parse_start_tag(src, lt, m):
    text = src.text
    name = m.group()
    el = Element(name, src.pos(lt))
    j = m.end()
    while True:
        ws = re.compile(r"\s*").match(text, j)
        j = ws.end()
        if text.startswith("/>", j):
            return el, j + 2, True
        if text.startswith(">", j):
            return el, j + 1, False
        am = _ATTR.match(text, j)
        if not am or am.end() == j:
            raise src.error(j, f"malformed attribute in <{name}>")
        aname, aval = am.group(1), am.group(2)
        if aval is None:
            raise src.error(am.start(1), f"attribute '{aname}' needs a quoted value")
        if aname in el.attrs:
            src.warn(am.start(1), f"attribute '{aname}' is given twice in <{name}>: the last value is used",
                     "duplicate-attribute")
            del el.attrs[aname]
        vstart = am.start(2) + 1
        vend = am.end(2) - 1
        sendtime = not name.startswith("mw-")
        chunks = ref_parse_chunks(src, vstart, vend, sendtime=sendtime)
        for c in chunks:
            if isinstance(c, Lit):
                c.text = _ref_normalise_attr(c.text)
        el.attrs[aname] = Attr(
            aname, chunks, src.pos(am.start(1)), src.pos(vstart), _ref_normalise_attr(text[vstart:vend])
        )
        j = am.end()


def _ref_check_html(src, start, end):
    text = src.text
    pos = start
    while True:
        m = _BAD_LT.search(text, pos, end)
        if not m:
            return
        before = text[start : m.start()]
        if before.count("{{") > before.count("}}") or before.count("{%") > before.count("%}"):
            pos = m.end()
            continue
        raise src.error(m.start(), "'<' does not start a tag; write &lt; for a literal '<'")
