"""IR → one placeholder document → MJML → one inlining pass → per-dialect text.

Send-time constructs travel through mjml-python and the CSS inliner as opaque
placeholders (both damage raw template tags: the inliner moves block tags out
of tables, MJML chokes on '<' in mj-raw).  In HTML content a placeholder is a
comment, which an HTML parser keeps in place even inside <table>; in attribute
values and <title> it is a token of letters and digits.  The document is
rendered and inlined once per template (and trigger); each dialect then puts
its own syntax back (:func:`emit`).
"""

from __future__ import annotations

import hashlib
import html as htmllib
import re
from dataclasses import dataclass, field
from typing import Any

import css_inline
from mjml import mjml2html

from . import ir
from .dialect import Dialect
from .errors import Diagnostic, MailwrightError, Pos
from .expr import Expr, live_branches


@dataclass
class Slot:
    kind: str  # out, lit, raw, verbatim, if, br, end, for, endfor
    node: Any
    pos: Pos
    conds: list[Expr | None] = field(default_factory=list)  # if: the live branch conditions


class Slots:
    def __init__(self, seed: str):
        nonce = hashlib.sha256(seed.encode()).hexdigest()[:8]
        while f"mw{nonce}" in seed:  # never collide with the designer's own text
            nonce = hashlib.sha256(nonce.encode()).hexdigest()[:8]
        self.prefix = f"mw{nonce}n"
        self.items: list[Slot] = []

    def add(self, slot: Slot) -> int:
        self.items.append(slot)
        return len(self.items) - 1

    def token(self, i: int) -> str:
        return f"{self.prefix}{i}x"

    def comment(self, i: int) -> str:
        return f"<!--{self.prefix}{i}x-->"

    def url_token(self, i: int, after: str = "") -> str:
        """The token for slot ``i`` standing in a URL of the plain-text part (``after``:
        what follows it there). Copy there is written as URL text: a percent-escape
        as it is, anything else as the dialect writes copy in a URL."""
        s = self.items[i]
        if s.kind != "lit" or s.node.url:
            return self.token(i)
        pct = s.node.text.endswith("%") and re.match(r"[0-9A-Fa-f]{2}", after) is not None
        lit = Literal(s.node.text, {} if pct and s.node.text == "%" else s.node.spans, url=True)
        return self.token(self.add(Slot("lit", lit, s.pos)))


class Renderer:
    """Writes one template (for one trigger) as MJML with placeholders.

    The walk appends pieces to one list per document (joined once), rather than
    joining a string per element and again in each parent."""

    def __init__(self, t: ir.Template, trigger: str | None, literals: dict[str, re.Pattern], seed: str):
        self.t = t
        self.known = {"trigger": trigger}
        self.literals = literals  # each ESP's LITERAL pattern
        self.any_literal = _any_of(literals)
        self.slots = Slots(seed)
        self.inline_css: list[str] = []
        self.html_attributes: list[tuple[str, dict[str, str], Pos]] = []

    # -------------------------------------------------------------- documents
    def mjml(self, theme_head: str = "") -> str:
        out: list[str] = ["<mjml"]
        head: list[str] = []
        for e in self.t.head:
            if not self._take_inline_style(e) and not self._take_html_attributes(e):
                self._element(e, head)
        out += [f' {k}="{_attr_escape(v)}"' for k, v in self.t.mjml_attrs.items()]
        out += ("><mj-head>", theme_head, *head, "</mj-head>")
        self._element(self.t.body, out)
        out.append("</mjml>")
        return "".join(out)

    def inline_string(self, nodes: list[ir.Node]) -> str:
        """Subject / preheader: a token string (no HTML around it)."""
        return self.inline(nodes, mode="token")

    def _take_inline_style(self, e: ir.Element) -> bool:
        # mjml-python ignores <mj-style inline="inline">: its CSS goes to the inliner.
        if e.tag == "mj-style" and _plain(e.attrs.get("inline")) == "inline":
            self.inline_css.append("".join(n.text for n in e.children if isinstance(n, ir.Text)))
            return True
        return False

    def _take_html_attributes(self, e: ir.Element) -> bool:
        # mjml-python lacks <mj-html-attributes>: applied to the HTML after MJML (as MJML does).
        if e.tag != "mj-html-attributes":
            return False
        for sel in e.children:
            if not isinstance(sel, ir.Element) or sel.tag != "mj-selector":
                continue
            path = _plain(sel.attrs.get("path"))
            if not path:
                raise MailwrightError(sel.pos, '<mj-selector> needs path="…" (a CSS selector)')
            attrs = {}
            for a in sel.children:
                if isinstance(a, ir.Element) and a.tag == "mj-html-attribute":
                    name = _plain(a.attrs.get("name"))
                    if not name:
                        raise MailwrightError(a.pos, '<mj-html-attribute> needs name="…"')
                    attrs[name] = self.inline(a.children, mode="token", attr=True)
            self.html_attributes.append((path, attrs, sel.pos))
        return True

    # -------------------------------------------------------------- structure
    def _element(self, e: ir.Element, out: list[str]) -> None:
        tag = e.tag
        if tag == "#comment":
            out.append(f"<!--{e.comment}-->")
            return
        out.append("<" + tag)
        any_literal, text_type = self.any_literal, ir.Text
        for k, v in e.attrs.items():
            # most values are one piece of copy no ESP would read as syntax: escaped, no walk
            if len(v) == 1 and type(n := v[0]) is text_type and not (k in COPY_ATTRS and any_literal(n.text)):
                out.append(f' {k}="{_attr_escape(n.text)}"')
            else:
                out.append(f' {k}="')
                self._inline(v, out, "token", True, False, k in COPY_ATTRS)
                out.append('"')
        out.append(">")
        if tag == "mj-style":
            out += [n.text for n in e.children if isinstance(n, ir.Text)]
        elif e.ending:
            self._inline(e.children, out, "token" if tag == "mj-title" else "comment", False, tag == "mj-raw", True)
        else:
            for c in e.children:
                if type(c) is ir.Element:
                    self._element(c, out)
                else:
                    self._structural(c, out)
        out.append(f"</{tag}>")

    def _structural(self, n: ir.Node, out: list[str]) -> None:
        if isinstance(n, ir.Element):
            self._element(n, out)
            return
        slots = self.slots

        def mark(slot: Slot) -> None:
            out.append(f"<mj-raw>{slots.comment(slots.add(slot))}</mj-raw>")

        def body_of(body: list[ir.Node]) -> None:
            for c in body:
                self._structural(c, out)

        self._control(n, mark, body_of)

    def _control(self, n: ir.Node, mark, body_of) -> None:
        if isinstance(n, ir.If):
            live = self._live(n)
            if not live:
                return
            if live[0][0] is None:  # decided at compile time
                body_of(live[0][1].body)
                return
            mark(Slot("if", n, n.pos, conds=[c for c, _ in live]))
            for k, (_, b) in enumerate(live):
                if k:
                    mark(Slot("br", n, b.pos))
                body_of(b.body)
            mark(Slot("end", n, n.pos))
        elif isinstance(n, ir.For):
            mark(Slot("for", n, n.pos))
            body_of(n.body)
            mark(Slot("endfor", n, n.pos))
        elif isinstance(n, ir.Raw):
            mark(Slot("raw", n, n.pos))
        else:
            raise MailwrightError(n.pos, "text or output cannot stand between MJML elements; put it in <mj-text>")

    def _live(self, n: ir.If) -> list[tuple[Expr | None, ir.Branch]]:
        return live_branches([(b.cond, b) for b in n.branches], self.known)

    # -------------------------------------------------------------- inline
    def inline(self, nodes: list[ir.Node], mode: str, attr: bool = False, verbatim: bool = False,
               copy: bool = True) -> str:
        """``copy=False``: an attribute MJML itself reads (width, padding, css-class …):
        its value is never copy, so no ESP's literal escaping applies to it."""
        out: list[str] = []
        self._inline(nodes, out, mode, attr, verbatim, copy)
        return "".join(out)

    def _inline(self, nodes: list[ir.Node], out: list[str], mode: str, attr: bool, verbatim: bool,
                copy: bool) -> None:
        slots = self.slots

        def mark(slot: Slot) -> None:
            i = slots.add(slot)
            out.append(slots.comment(i) if mode == "comment" else slots.token(i))

        for n in nodes:
            kind = type(n)
            if kind is ir.Text:
                text = n.text
                if copy and self.any_literal(text):
                    self._text(n, mark, out, attr, verbatim)
                elif verbatim:
                    if text:
                        mark(Slot("verbatim", _xml_self_closing(text), n.pos))
                else:
                    out.append(text.replace('"', "&quot;") if attr else text)
            elif kind is ir.Output:
                mark(Slot("out", n, n.pos))
            else:
                self._control(n, mark, lambda body: self._inline(body, out, mode, attr, verbatim, copy))

    def _text(self, n: ir.Text, mark, out: list[str], attr: bool, verbatim: bool) -> None:
        last = 0
        text = n.text
        for start, end, spans in literal_regions(text, self.literals):
            self._plain(text[last:start], n.pos, mark, out, attr, verbatim)
            mark(Slot("lit", Literal(text[start:end], spans), n.pos))
            last = end
        self._plain(text[last:], n.pos, mark, out, attr, verbatim)

    def _plain(self, s: str, pos: Pos, mark, out: list[str], attr: bool, verbatim: bool) -> None:
        if not s:
            return
        if verbatim:
            mark(Slot("verbatim", _xml_self_closing(s), pos))
        else:
            out.append(_attr_escape(s) if attr else s)


def _any_of(literals: dict[str, re.Pattern]):
    """``f(text)``: true when some ESP's LITERAL pattern matches somewhere in ``text``.
    One search of the patterns joined, when they join without changing meaning."""
    pats = list(literals.values())
    if not pats:
        return lambda text: False
    if len({p.flags for p in pats}) == 1 and all(p.groups == 0 and isinstance(p.pattern, str) for p in pats):
        try:
            return re.compile("|".join(f"(?:{p.pattern})" for p in pats), pats[0].flags).search
        except re.error:  # e.g. inline flags, allowed only at the start of the whole
            pass
    return lambda text: any(p.search(text) for p in pats)


# attributes whose value reaches the recipient (as text or URL): copy, escaped per ESP
COPY_ATTRS = frozenset({"href", "src", "alt", "title", "background-url"})


@dataclass(frozen=True)
class Literal:
    """Copy that would be syntax in some ESP: ``spans`` says, per ESP, which parts
    of ``text`` its own LITERAL pattern matches (found in the whole text, as a
    compile for that ESP alone would find them)."""

    text: str
    spans: dict[str, tuple[tuple[int, int], ...]]
    url: bool = False  # stands in a link's URL in the plain-text part

    def write(self, d: Dialect, context: str) -> str:
        out, last = [], 0
        ctx = "url" if self.url and context == "text" else context
        for s, e in self.spans.get(d.name, ()):
            out.append(self.text[last:s])
            out.append(d.literal(self.text[s:e], ctx))
            last = e
        out.append(self.text[last:])
        return "".join(out)


def literal_regions(text: str, literals: dict[str, re.Pattern]):
    """(start, end, spans) for each region of ``text`` that some ESP's pattern matches;
    overlapping matches of different ESPs make one region."""
    found = [(m.start(), m.end(), esp) for esp, pat in literals.items() for m in pat.finditer(text)]
    if not found:
        return
    found.sort()
    region: list = []
    r_start, r_end = found[0][0], found[0][1]
    for s, e, esp in found:
        if s >= r_end and region:
            yield r_start, r_end, _spans(region, r_start)
            region, r_start, r_end = [], s, e
        region.append((s, e, esp))
        r_end = max(r_end, e)
    yield r_start, r_end, _spans(region, r_start)


def _spans(region: list, base: int) -> dict[str, tuple[tuple[int, int], ...]]:
    out: dict[str, list] = {}
    for s, e, esp in region:
        out.setdefault(esp, []).append((s - base, e - base))
    return {k: tuple(v) for k, v in out.items()}


def _plain(nodes: list[ir.Node] | None) -> str | None:
    if nodes is None:
        return None
    return "".join(n.text for n in nodes if isinstance(n, ir.Text)).strip()


_HTML_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                        "track", "wbr", "param", "keygen", "command"})
_SELF_CLOSED = re.compile(r"""<([A-Za-z][\w:-]*)((?:[^<>"']|"[^"]*"|'[^']*')*?)\s*/>""")


def _xml_self_closing(s: str) -> str:
    """mj-raw content as the engine writes it: MJML reads it as XML, so ``<canvas />``
    is an empty element (``<canvas></canvas>``); HTML would leave it open."""
    return _SELF_CLOSED.sub(lambda m: m.group() if m.group(1).lower() in _HTML_VOID
                            else f"<{m.group(1)}{m.group(2)}></{m.group(1)}>", s)


def _attr_escape(s: str) -> str:
    return s.replace('"', "&quot;")


# ------------------------------------------------------------------ MJML + inlining

def to_html(mjml_src: str, r: Renderer, t: ir.Template) -> str:
    """Run MJML and the one inlining pass; placeholders come through unchanged."""
    return inline_html(mjml_html(mjml_src, t), r, t)


def mjml_html(mjml_src: str, t: ir.Template) -> str:
    """to_html's first engine: MJML."""
    try:
        out = mjml2html(mjml_src)
    except ValueError as e:  # mjml-python reports a byte offset into what we gave it
        raise MailwrightError(t.pos, f"MJML could not render this template: {e}") from None
    return out


def inline_html(out: str, r: Renderer, t: ir.Template) -> str:
    """The rest of to_html: mj-raw copy back, <mj-html-attributes>, the inliner."""
    # put mj-raw copy back (mjml-python cannot take '<' inside mj-raw)
    items = r.slots.items
    if any(s.kind == "verbatim" for s in items):
        pieces, last = [], 0
        for start, end, i in placeholders(out, r.slots.prefix):
            if items[i].kind == "verbatim":
                pieces += (out[last:start], items[i].node)
                last = end
        pieces.append(out[last:])
        out = "".join(pieces)
    if r.html_attributes:
        out = _apply_html_attributes(out, r.html_attributes)
    inliner = css_inline.CSSInliner(
        inline_style_tags=True, keep_style_tags=True, keep_link_tags=True,
        load_remote_stylesheets=False, extra_css="\n".join(r.inline_css) or None,
    )
    try:
        return inliner.inline(out)
    except css_inline.InlineError as e:
        raise MailwrightError(t.pos, f"CSS inlining failed: {e}") from None


def _apply_html_attributes(doc: str, rules: list[tuple[str, dict[str, str], Pos]]) -> str:
    import soupsieve
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(doc, "html.parser")
    for selector, attrs, pos in rules:
        try:
            found = soup.select(selector)
        except soupsieve.SelectorSyntaxError as e:
            raise MailwrightError(pos, f"bad CSS selector '{selector}': {e}") from None
        for el in found:
            for k, v in attrs.items():
                el[k] = htmllib.unescape(v)
    return str(soup)


# ------------------------------------------------------------------ emission

@dataclass
class PIf:
    slot: Slot
    bodies: list[list]


@dataclass
class PFor:
    slot: Slot
    body: list


_SLOT_NUMBER = re.compile(r"(\d+)x")


def placeholders(s: str, prefix: str):
    """(start, end, slot number) of each placeholder in ``s``, in order (``<!--PREFIX7x-->`` or
    ``PREFIX7x``), found by the literal prefix (one C search between placeholders; the regex's
    alternation made the engine try every character)."""
    find, number, n = s.find, _SLOT_NUMBER.match, len(prefix)
    i = find(prefix)
    while i >= 0:
        m = number(s, i + n)
        if m is None:
            i = find(prefix, i + 1)
            continue
        start, end = i, m.end()
        # the comment form; "<!--" holds no 'x' or '>', so it never overlaps the previous placeholder
        if i >= 4 and s.startswith("<!--", i - 4) and s.startswith("-->", end):
            start, end = i - 4, end + 3
        yield start, end, int(m.group(1))
        i = find(prefix, end)


def parse_stream(s: str, slots: Slots) -> list:
    """A placeholder document as a tree of strings, slots and blocks.

    Placeholders are found by their literal prefix (:func:`placeholders`)."""
    items = slots.items
    pos = 0
    root: list = []
    cur = root
    stack: list[tuple[Any, list]] = [(None, root)]
    for start, end, k in placeholders(s, slots.prefix):
        cur.append(s[pos:start])
        pos = end
        slot = items[k]
        kind = slot.kind
        if kind == "if":
            blk = PIf(slot, [[]])
            cur.append(blk)
            cur = blk.bodies[0]
            stack.append((blk, cur))
        elif kind == "br":
            blk = stack[-1][0]
            cur = []
            blk.bodies.append(cur)
            stack[-1] = (blk, cur)
        elif kind == "for":
            blk = PFor(slot, [])
            cur.append(blk)
            cur = blk.body
            stack.append((blk, cur))
        elif kind == "end" or kind == "endfor":
            stack.pop()
            cur = stack[-1][1]
        else:
            cur.append(slot)
    cur.append(s[pos:])
    if len(stack) != 1:  # an engine moved a marker: never emit a broken template
        raise AssertionError("placeholder markers out of order after rendering")
    return root


def emit(tree: list, d: Dialect, context: str, known: dict[str, Any],
         errors: list[Diagnostic] | None = None) -> str:
    """Write a parsed placeholder document in one dialect.

    With ``errors``, what the dialect cannot write is recorded there and the rest is
    still written (every error of the template at once); without, the first raises."""
    out: list[str] = []
    append = out.append
    text = context == "text"
    literal = d.LITERAL.search
    for item in tree:
        kind = type(item)
        if kind is str:  # most of a page: copied as it is (in plain text, syntax escaped)
            append(_escape_plain(item, d) if text and literal(item) else item)
            continue
        try:
            if kind is Slot:
                # most slots are an output no compile-time name decides: straight to the dialect
                if item.kind == "out" and item.node.expr.var.root not in _KNOWN_ROOTS:
                    append(d.output(item.node.expr, item.pos, context))
                else:
                    append(_slot(item, d, context))
            else:
                append(_block(item, d, context, known, errors))
        except MailwrightError as e:
            if errors is None:
                raise
            errors.extend(e.diagnostics)
    return "".join(out)


_KNOWN_ROOTS = ("trigger", "esp")  # names compile time knows (see _slot)


def _block(item: PIf | PFor, d: Dialect, context: str, known: dict[str, Any], errors: list | None) -> str:
    """A block of the tree (emit writes its strings and slots itself)."""
    if isinstance(item, PIf):
        live = live_branches(zip(item.slot.conds, item.bodies), known)
        if not live:
            return ""
        if live[0][0] is None:
            return emit(live[0][1], d, context, known, errors)
        return d.if_block([(c, emit(b, d, context, known, errors)) for c, b in live], item.slot.pos)
    n = item.slot.node
    d.require("loop", n.pos)  # say so before anything inside the loop does
    return d.for_block(n.var, n.iterable, n.limit, emit(item.body, d, context, known, errors), n.pos)


def _slot(s: Slot, d: Dialect, context: str) -> str:
    if s.kind == "out":
        var = s.node.expr.var
        if var.root in _KNOWN_ROOTS:  # known at compile time
            from html import escape

            from .expr import render_output

            val = d.ctx.trigger if var.root == "trigger" else d.name
            text = render_output(s.node.expr, {var.root: val} if val is not None else {})
            text = escape(text) if context == "html" else text
            return d.LITERAL.sub(lambda m: d.literal(m.group(), context), text)
        return d.output(s.node.expr, s.pos, context)
    if s.kind == "lit":
        return s.node.write(d, context)
    if s.kind == "raw":
        if s.node.esp != d.name:
            return ""
        if context == "text":  # passthrough HTML, in the plain-text part: its text and links (ESP syntax kept)
            from .text import fragment_to_text

            return fragment_to_text(s.node.text)
        return s.node.text
    if s.kind == "verbatim":
        return s.node
    raise AssertionError(s.kind)


def _escape_plain(s: str, d: Dialect) -> str:
    # In plain text, entities are already decoded: what looks like syntax is copy.
    return d.LITERAL.sub(lambda m: d.literal(m.group(), "text"), s)
