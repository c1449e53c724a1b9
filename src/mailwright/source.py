"""Reading MJML source with every position kept.

MJML is XML-like, but the content of "ending tags" (mj-text, mj-button, …) is
HTML that MJML copies through.  This parser keeps the file, line and column of
every element, attribute and piece of text, so that any later error can point
into the designer's own file, and it splits text into *chunks*: literal copy,
send-time tags (``{{ }}``, ``{% %}``, ``{# #}``, inline ``<mw-raw>``) and
build-time parameters (``[[ name ]]``).
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import FrozenInstanceError, dataclass, field

from .errors import Diagnostic, MailwrightError, Pos

# Elements whose content MJML treats as raw HTML (plus ours that hold text).
ENDING_TAGS = frozenset(
    {
        "mj-text", "mj-button", "mj-table", "mj-raw", "mj-navbar-link",
        "mj-accordion-title", "mj-accordion-text", "mj-social-element",
        "mj-title", "mj-preview", "mj-style", "mw-subject", "mw-raw",
        "mj-html-attribute",
    }
)
# Ending tags whose content is not copy (never scanned for send-time tags).
OPAQUE_TAGS = frozenset({"mj-style", "mw-raw"})

_NAME = re.compile(r"[A-Za-z_][\w.:-]*")
_ATTR = re.compile(r"""\s*([A-Za-z_:][\w.:-]*)\s*(?:=\s*("[^"]*"|'[^']*'))?""", re.S)


class SourceFile:
    """A user's file: its text (line ends normalised) and offset → position."""

    def __init__(self, path: str, text: str):
        self.path = path
        # Normalise CRLF / CR line ends as an XML parser would (mjml-python refuses CRLF).
        self.text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.warnings: list[Diagnostic] = []

    @functools.cached_property
    def _starts(self) -> list[int]:
        """Offsets where lines start: made when a line is first asked for (most files never are)."""
        return [0] + [m.end() for m in re.finditer("\n", self.text)]

    def line_col(self, offset: int) -> tuple[int, int]:
        starts = self._starts
        i = bisect.bisect_right(starts, offset) - 1
        return i + 1, offset - starts[i] + 1

    def pos(self, offset: int) -> Pos:
        return _At((self, offset))

    def error(self, offset: int, message: str) -> MailwrightError:
        return MailwrightError(self.pos(offset), message)

    def warn(self, offset: int, message: str, rule: str) -> None:
        self.warnings.append(Diagnostic(self.pos(offset), message, "warning", rule=rule))


class _At(tuple, Pos):
    """A place in a SourceFile kept as (file, offset): line and column are worked out when read, which
    for most nodes is never (diagnostics and a few checks read them). It is equal to, hashes as,
    prints as and copies as the ``Pos`` of the same place. It is a tuple only because making one is
    then a single C call (≈ 15,000 per 100 templates): do not read it as one."""

    __slots__ = ()
    __init__ = object.__init__  # not Pos's: the tuple is all there is

    @property
    def path(self) -> str:
        return self[0].path

    @property
    def line(self) -> int:
        return self[0].line_col(self[1])[0]

    @property
    def col(self) -> int:
        return self[0].line_col(self[1])[1]

    def resolved(self) -> Pos:
        return Pos(self[0].path, *self[0].line_col(self[1]))

    # Pos's own (dataclass) __eq__ wants the same class; as a subclass ours is asked first, both ways
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Pos):
            return (self.path, self.line, self.col) == (other.path, other.line, other.col)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def _unordered(self, other: object) -> bool:
        return NotImplemented

    __lt__ = __le__ = __gt__ = __ge__ = _unordered  # a Pos has no order; a tuple's would compare files

    def __hash__(self) -> int:
        return hash((self.path, self.line, self.col))

    def __repr__(self) -> str:
        return repr(self.resolved())

    def __reduce__(self) -> tuple:
        return Pos, (self.path, self.line, self.col)

    def __setattr__(self, name: str, value: object) -> None:  # frozen, as a Pos is
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


# ---------------------------------------------------------------- chunks

@dataclass(slots=True)
class Lit:
    """Literal copy."""

    text: str
    pos: Pos


@dataclass(slots=True)
class Tag:
    """A send-time tag: kind is 'out' ({{ }}), 'stmt' ({% %})."""

    kind: str
    src: str  # the inside of the tag, stripped
    pos: Pos  # where the tag starts
    src_pos: Pos  # where its expression text starts


@dataclass(slots=True)
class Param:
    """A build-time parameter or theme token: ``[[ name ]]``."""

    name: str
    pos: Pos
    raw: str = ""  # as typed: copy again where no parameter of that name is in scope


@dataclass(slots=True)
class InlineRaw:
    """``<mw-raw esp="X">…</mw-raw>`` inside text."""

    esp: str
    text: str
    pos: Pos


Chunk = Lit | Tag | Param | InlineRaw

_TAG_OPEN = re.compile(r"\{\{|\{%|\{#|\[\[|<mw-raw\b")


def _find_close(text: str, start: int, close: str) -> int:
    """Index of ``close`` after ``start``, skipping over quoted strings (a backslash escapes in them)."""
    m = _upto_close(close).match(text, start)
    return m.end() if text.startswith(close, m.end()) else -1


@functools.cache
def _upto_close(close: str) -> re.Pattern:
    """What may stand before ``close`` (two characters): anything but it, quoted strings whole."""
    a, b = re.escape(close[0]), re.escape(close[1])
    return re.compile(rf"""(?:[^'"{a}]++|{a}(?!{b})|"(?:[^"\\]|\\.)*+"|'(?:[^'\\]|\\.)*+')*+""", re.S)


def parse_chunks(src: SourceFile, start: int, end: int, *, sendtime: bool = True,
                 normalised: str | None = None) -> list[Chunk]:
    """Split ``src.text[start:end]`` into chunks.

    With ``sendtime=False`` only ``[[ ]]`` is recognised (for attributes such as
    ``when=`` whose value is an expression, not copy). ``normalised`` is the same
    region with whitespace normalised (same length): literal copy is taken from it.
    """
    text = src.text
    at = src.pos
    search = (_TAG_OR_OPEN if sendtime else _TAG_OPEN).search
    copy = text if normalised is None else normalised
    shift = 0 if normalised is None else start  # copy[k - shift] is the copy of text[k]
    out: list[Chunk] = []
    i = lit_start = start
    while True:
        m = search(text, i, end)
        if m is None:
            break
        j = m.start()
        kind = m.lastgroup
        if kind is not None:  # a whole {{ }} or {% %} (most of them): one match, no search for its end
            if j > lit_start:
                out.append(Lit(copy[lit_start - shift : j - shift], _At((src, lit_start))))
            raw = m.group(kind)
            inner = raw.lstrip()
            out.append(Tag(kind, inner.rstrip(), _At((src, j)), _At((src, j + 2 + len(raw) - len(inner)))))
            i = lit_start = m.end()
            continue
        opener = m.group()
        if opener == "[[":
            close = text.find("]]", j + 2, end)
            if close < 0:
                # copy that merely looks like a parameter (some ESPs' merge fields use [[ ]])
                src.warn(j, "'[[' without ']]' is kept as copy; a build-time parameter is '[[ name ]]'",
                         "build-time-parameter")
                i = j + 2
                continue
            inner = text[j + 2 : close].strip()
            if _QUOTED_OPEN.fullmatch(inner):
                chunk: Chunk = Lit("[[", at(j))
            elif _PARAM_NAME.fullmatch(inner):
                chunk = Param(inner, at(j), text[j : close + 2])
            else:
                src.warn(j, f"'[[ {inner} ]]' is not a parameter name or theme token: it is kept as copy",
                         "build-time-parameter")
                i = close + 2
                continue
            if j > lit_start:
                out.append(Lit(copy[lit_start - shift : j - shift], at(lit_start)))
            out.append(chunk)
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
            if j > lit_start:
                out.append(Lit(copy[lit_start - shift : j - shift], at(lit_start)))
            out.append(InlineRaw(esp, text[tag_end + 1 : cm.start()], at(j)))
            i = lit_start = cm.end()
            continue
        # {# #}, or a {{ or {% that is not closed within the region (the search matched any other whole)
        close_tok = _CLOSE_TOK[opener]
        close = _find_close(text, j + 2, close_tok) if opener != "{#" else text.find("#}", j + 2)
        if close < 0 or close + 2 > end:
            raise src.error(j, f"unclosed '{opener}': expected '{close_tok}'")
        if j > lit_start:
            out.append(Lit(copy[lit_start - shift : j - shift], at(lit_start)))
        if opener != "{#":  # comments are dropped at compile time
            raw = text[j + 2 : close]
            inner = raw.lstrip()
            out.append(Tag("out" if opener == "{{" else "stmt", inner.rstrip(), at(j),
                           at(j + 2 + len(raw) - len(inner))))
        i = lit_start = close + 2
    if end > lit_start:
        out.append(Lit(copy[lit_start - shift : end - shift], _At((src, lit_start))))
    return out


_QUOTED_OPEN = re.compile(r"'\[\['|\"\[\[\"")
_PARAM_NAME = re.compile(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)?")
_CLOSE_TOK = {"{{": "}}", "{%": "%}", "{#": "#}"}
# _TAG_OPEN, but a well-formed {{ }} or {% %} (as _find_close reads them) matches whole, in group
# 'out' or 'stmt'; within the region's end, so a tag it does not match is read (and refused) the slow way.
_TAG_OR_OPEN = re.compile(r"\{\{(?P<out>" + _upto_close("}}").pattern + r")\}\}|\{%(?P<stmt>"
                          + _upto_close("%}").pattern + r")%\}|" + _TAG_OPEN.pattern, re.S)
_MW_RAW_CLOSE = re.compile(r"</mw-raw\s*>")


# ---------------------------------------------------------------- elements

@dataclass(slots=True)
class Attr:
    name: str
    value: list[Chunk]
    pos: Pos
    value_pos: Pos
    raw: str  # the value as typed (normalised whitespace)

    def with_value(self, value: list[Chunk]) -> Attr:
        """This attribute with another value (the rest shared)."""
        return Attr(self.name, value, self.pos, self.value_pos, self.raw)


@dataclass(slots=True)
class Element:
    tag: str
    pos: Pos
    attrs: dict[str, Attr] = field(default_factory=dict)
    children: list[Element | Comment] = field(default_factory=list)
    content: list[Chunk] | None = None  # for ending tags
    raw_content: str = ""  # ending tags: the content as typed

    def shallow(self) -> Element:
        """A shallow copy: every field shared (add a new field here too)."""
        return Element(self.tag, self.pos, self.attrs, self.children, self.content, self.raw_content)

    def attr_text(self, name: str, default: str | None = None) -> str | None:
        a = self.attrs.get(name)
        if a is None:
            return default
        return "".join(c.text for c in a.value if isinstance(c, Lit))


@dataclass(slots=True)
class Comment:
    text: str
    pos: Pos


def _normalise_attr(value: str) -> str:
    # XML attribute-value normalisation: a newline or tab in a value is a space
    # (mjml-python would copy the newline into the HTML and break style="…").
    return value.translate(_NL_TAB)


_NL_TAB = str.maketrans("\n\t", "  ")


def parse_document(src: SourceFile, fragment: bool = False) -> Element:
    """Parse a whole MJML-like file and return its single root element.

    With ``fragment``, the file may hold several elements (an ``mj-include``d
    part): they come back as the children of a ``#fragment`` element.
    """
    text = src.text
    n = len(text)
    at = src.pos
    next_tag, start_tag, end_tag = _NEXT_TAG.match, _START_TAG.match, _END_TAG.match
    i = 0
    root: Element | None = Element("#fragment", at(0)) if fragment else None
    stack: list[Element] = [root] if fragment else []

    while i < n:
        nm = next_tag(text, i)  # blanks, then '<': the way between two tags (anything else is below)
        if nm is None:  # stray text, or blanks to the end (\s and str.strip() agree on what a blank is)
            lt = text.find("<", i)
            if lt < 0:
                lt = n
            stray = text[i:lt]
            if stray.strip():
                off = i + (len(stray) - len(stray.lstrip()))
                where = f"inside <{stack[-1].tag}>" if stack else "outside the root element"
                raise src.error(off, f"text is not allowed {where}; put copy in <mj-text> or <mj-button>")
            break
        lt = nm.end() - 1
        # a well-formed start or end tag is one regex match; anything else (comments, errors) the slow way
        sm = start_tag(text, lt)
        if sm is not None:
            el, selfclosing = _start_tag(src, lt, sm)
            i = sm.end()
        elif (em := end_tag(text, lt)) is not None or text.startswith("</", lt):
            if em is None:
                m = _NAME.match(text, lt + 2)
                if not m:
                    raise src.error(lt, "malformed closing tag")
                name = m.group()
                gm = _CLOSE_REST.match(text, m.end())  # '</mj-text\n  >' is a closing tag too
                if gm is None:
                    raise src.error(lt, f"malformed closing tag </{name}: expected '>'")
                i = gm.end()
            else:
                name = em.group(1)
                i = em.end()
            if not stack or stack[-1].tag != name:  # a name never starts with "#": not the fragment
                opened = f"; <{stack[-1].tag}> opened at {stack[-1].pos} is still open" if stack else ""
                raise src.error(lt, f"unexpected </{name}>{opened}")
            stack.pop()
            continue
        elif text.startswith("<!--", lt):
            end = text.find("-->", lt + 4)
            if end < 0:
                raise src.error(lt, "unclosed comment '<!--'")
            if stack:
                stack[-1].children.append(Comment(text[lt + 4 : end], at(lt)))
            i = end + 3
            continue
        elif text.startswith("<?", lt):
            end = text.find("?>", lt)
            i = n if end < 0 else end + 2
            continue
        else:
            m = _NAME.match(text, lt + 1)
            if not m:
                raise src.error(lt, "'<' does not start a tag; write &lt; for a literal '<'")
            el, i, selfclosing = _parse_start_tag(src, lt, m)
        if stack:
            stack[-1].children.append(el)
        elif root is None:
            root = el
        else:
            raise src.error(lt, f"a second root element <{el.tag}>; a file holds one")
        if selfclosing:
            continue
        tag = el.tag
        # an ending tag's content is HTML (or CSS), up to the first closing tag of this name; so is that
        # of a component's use when it holds HTML rather than MJML elements
        if tag in ENDING_TAGS:
            cm = _closing(tag).search(text, i)
            html = True
        elif tag[:2] == "x-" and tag != "x-component":
            cm = _closing(tag).search(text, i)
            html = _html_children(text[i : cm.start() if cm else n])
        else:
            html = False
        if html:
            if cm is None:
                raise src.error(lt, f"<{tag}> is never closed")
            close = cm.start()
            if tag in OPAQUE_TAGS:
                el.raw_content = text[i:close]
                el.content = [Lit(el.raw_content, at(i))]
            else:
                el.raw_content = _normalise_html_attrs(text[i:close])
                _check_html(src, i, close)
                el.content = parse_chunks(src, i, close, normalised=el.raw_content)
            i = cm.end()
        else:
            stack.append(el)
            if len(stack) > MAX_NESTING:
                raise src.error(lt, f"elements nest deeper than {MAX_NESTING} levels here; "
                                    "is a closing tag missing?")
    if fragment:
        stack = stack[1:]
    if stack:
        raise src.error(_offset(src, stack[-1].pos), f"<{stack[-1].tag}> is never closed")
    if root is None:
        raise MailwrightError(at(0), "the file is empty: expected an MJML document")
    return root


_NEXT_TAG = re.compile(r"\s*+<")
# A start tag whose attributes are all name="value" (or 'value'), as _parse_start_tag reads them.
_EACH_ATTR = re.compile(r"""\s*+([A-Za-z_:][\w.:-]*+)\s*+=\s*+("[^"]*+"|'[^']*+')""")
_START_TAG = re.compile(r"""<([A-Za-z_][\w.:-]*+)((?:\s*+[A-Za-z_:][\w.:-]*+\s*+=\s*+(?:"[^"]*+"|'[^']*+'))*+)\s*+/?>""")
_END_TAG = re.compile(r"</([A-Za-z_][\w.:-]*+)\s*+>")


def _start_tag(src: SourceFile, lt: int, sm: re.Match) -> tuple[Element, bool]:
    """A start tag _START_TAG matched: its element, and whether it closes itself."""
    name = sm.group(1)
    el = Element(name, _At((src, lt)))
    a0, a1 = sm.span(2)
    if a0 < a1:
        sendtime = not name.startswith("mw-")  # when=, each=, limit=, esp= are not copy
        for am in _EACH_ATTR.finditer(src.text, a0, a1):
            _add_attr(src, el, am.group(1), am.start(1), am.start(2) + 1, am.end(2) - 1, sendtime)
    return el, src.text[sm.end() - 2] == "/"


def _add_attr(src: SourceFile, el: Element, aname: str, name_at: int, vstart: int, vend: int,
              sendtime: bool) -> None:
    """The attribute ``aname`` (its name at ``name_at``, its value text[vstart:vend]) added to ``el``."""
    attrs = el.attrs
    if aname in attrs:
        # the engine (mjml-python) renders it, the last value winning: so do we
        src.warn(name_at, f"attribute '{aname}' is given twice in <{el.tag}>: the last value is used",
                 "duplicate-attribute")
        del attrs[aname]
    text = src.text
    raw = text[vstart:vend]
    if "\n" in raw or "\t" in raw:
        raw = raw.translate(_NL_TAB)
    value_pos = _At((src, vstart))
    if _TAG_OPEN.search(text, vstart, vend) is None:  # plain text, the common case: one literal
        chunks: list[Chunk] = [Lit(raw, value_pos)] if raw else []
    else:
        chunks = parse_chunks(src, vstart, vend, sendtime=sendtime)
        for c in chunks:
            if isinstance(c, Lit):
                c.text = _normalise_attr(c.text)
    attrs[aname] = Attr(aname, chunks, _At((src, name_at)), value_pos, raw)


_HTML_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_ENDING_RE = re.compile(r"<(" + "|".join(sorted(ENDING_TAGS)) + r")\b[^>]*>.*?</\1\s*>", re.S)
_CLOSE_REST = re.compile(r"\s*>")
# deeper than any real email; keeps every later (recursive) stage far from Python's limit
MAX_NESTING = 100


@functools.cache
def _closing(tag: str) -> re.Pattern:
    return re.compile(rf"</{re.escape(tag)}\s*>")


def _normalise_html_attrs(region: str) -> str:
    """Newlines and tabs inside HTML tags in content become spaces (same length:
    positions stay true), as an XML parser normalises attribute values."""
    if "\n" not in region and "\t" not in region:
        return region
    return _HTML_TAG.sub(lambda m: m.group().translate(_NL_TAB), region)


def _html_children(inner: str) -> bool:
    """Does a component use (its content up to its closing tag) hold HTML (text, <p>, …) rather
    than MJML elements?"""
    if "<!--" in inner:
        inner = _COMMENT.sub("", inner)
    if "<m" in inner:  # (every ending tag is mj- or mw-)
        # what stands inside MJML's own text-bearing elements is theirs, not this element's
        inner = _ENDING_RE.sub("", inner)
    # text outside the tags, or a tag that is not MJML's, ours or a component
    return _TAGS_AND_BLANKS.match(inner).end() < len(inner) or _HTML_NAME.search(inner) is not None


_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TAGS_AND_BLANKS = re.compile(r"(?:<[^>]*>|\s)*+")
_HTML_NAME = re.compile(r"</?(?!mj-|mw-|x-)[A-Za-z]")


def _offset(src: SourceFile, pos: Pos) -> int:
    return src._starts[pos.line - 1] + pos.col - 1


def _parse_start_tag(src: SourceFile, lt: int, m: re.Match) -> tuple[Element, int, bool]:
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
        _add_attr(src, el, aname, am.start(1), am.start(2) + 1, am.end(2) - 1, not name.startswith("mw-"))
        j = am.end()


_BAD_LT = re.compile(r"<(?![A-Za-z/!])")


def _check_html(src: SourceFile, start: int, end: int) -> None:
    """mjml-python fails on a bare '<' in content: say where, before it does."""
    text = src.text
    pos = start
    while True:
        m = _BAD_LT.search(text, pos, end)
        if not m:
            return
        # inside a send-time tag '<' is an operator, not markup
        before = text[start : m.start()]
        if before.count("{{") > before.count("}}") or before.count("{%") > before.count("%}"):
            pos = m.end()
            continue
        raise src.error(m.start(), "'<' does not start a tag; write &lt; for a literal '<'")
