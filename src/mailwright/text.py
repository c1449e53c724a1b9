"""The plain-text part, made once from the placeholder HTML.

Links become ``text (URL)``, block elements line breaks; hidden elements (the
preheader), the head and images are dropped; placeholders stay as tokens so
that each dialect writes its own syntax into the text part too. The page is
parsed by lexbor (a C HTML parser, through selectolax) and its tree walked once
per template and trigger; an ESP's passthrough fragment, which is no document,
by a streaming tokenizer under the same rules.
"""

from __future__ import annotations

import re
from html import unescape

from selectolax.lexbor import LexborHTMLParser

from .render import placeholders

BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "li", "ul", "ol",
                    "blockquote", "section", "article", "header", "footer", "hr"})
SKIP = frozenset({"head", "style", "script", "title", "noscript"})
VOID = frozenset({"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "wbr", "source"})
_WS = re.compile(r"\s+")


# possessive: a tag's attribute run is matched once, never re-tried (the same tokens, in linear time)
_TOKENS = re.compile(r"<!--(.*?)-->|<(/?)([A-Za-z][\w:-]*)((?:[^>\"']++|\"[^\"]*\"|'[^']*')*+)>|<![^>]*>|([^<]+|<)",
                     re.S)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


def _attrs(raw: str) -> dict[str, str]:
    """A start tag's attributes (the last of a name wins), values unescaped."""
    return {k.lower(): unescape(v1 if v1 is not None else v2 if v2 is not None else v3 or "")
            for k, v1, v2, v3 in _ATTR.findall(raw)}


class _Text:
    """The rules over a fragment's tokens (a fragment holds no placeholder)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool, int, str | None]] = []  # tag, hidden, parts index, href
        self.open: dict[str, int] = {}  # how many of each tag the stack holds
        self.hidden = 0

    def start(self, tag: str, raw: str) -> None:
        """A start tag (``raw``: its attributes as written); attributes are read only where they count."""
        if tag in VOID:
            if self.hidden:
                return
            if tag == "img" and self.open.get("a"):
                alt = " ".join((_attrs(raw).get("alt") or "").split())  # a linked image: its alt is the link's text
                if alt:
                    self.parts.append(f" {alt} ")
            elif tag == "br" or tag == "hr":
                self.parts.append("\n")
            return
        a = _attrs(raw) if tag == "a" or "style" in raw.lower() else {}
        style = (a.get("style") or "").replace(" ", "").lower()
        hide = tag in SKIP or "display:none" in style
        if hide:
            self.hidden += 1
        if not self.hidden and tag in BLOCKS:
            self.parts.append("\n")
        self.stack.append((tag, hide, len(self.parts), a.get("href") if tag == "a" else None))
        self.open[tag] = self.open.get(tag, 0) + 1

    def end(self, tag: str) -> None:
        if tag in VOID or not self.open.get(tag):
            return
        while self.stack:
            t, hide, start, href = self.stack.pop()
            self.open[t] -= 1
            if not self.hidden:
                if t == "a" and href:
                    _link(self.parts, start, href, "", None)
                if t in BLOCKS:
                    self.parts.append("\n")
            if hide:
                self.hidden -= 1
            if t == tag:
                break

    def feed(self, doc: str) -> None:
        raw = False  # inside <style>/<script>: content is not markup
        parts = self.parts
        for m in _TOKENS.finditer(doc):
            comment, close, tag, attrs, data = m.groups()
            if raw and not (tag and close and tag.lower() in ("style", "script")):
                continue
            if data is not None:
                if not self.hidden:
                    parts.append(_WS.sub(" ", unescape(data)))
            elif tag:
                tag = tag.lower()
                if close:
                    raw = False
                    self.end(tag)
                else:
                    self.start(tag, attrs)
                    if tag not in VOID and attrs.rstrip().endswith("/"):
                        self.end(tag)
                    elif tag in ("style", "script"):
                        raw = True


def _link(parts: list[str], start: int, href: str, prefix: str, url_token) -> None:
    """A link's text (``parts[start:]``) becomes ``text (URL)``; ``url_token(i, after)`` writes
    placeholder ``i`` of the URL (``after``: the URL after it)."""
    inner = "".join(parts[start:])
    label = " ".join(inner.split())
    href = href.strip()
    if url_token is not None and prefix in href:
        out, last = [], 0
        for s, e, i in placeholders(href, prefix):
            out += (href[last:s], url_token(i, href[e:]))
            last = e
        out.append(href[last:])
        href = "".join(out)
    if not href.startswith("#") and href != label:
        lead = " " if inner[:1].isspace() else ""
        parts[start:] = [f"{lead}{label} ({href})" if label else href]


def _tag_ids(names: frozenset[str]) -> dict[str, int]:
    """lexbor's ids of these (standard) tag names: reading a node's id costs less than its name."""
    make = LexborHTMLParser("").create_node
    return {n: make(n).tag_id for n in names}


_ID = _tag_ids(BLOCKS | SKIP | VOID | {"a"})
_BLOCK_IDS, _SKIP_IDS, _VOID_IDS = (frozenset(_ID[n] for n in names) for names in (BLOCKS, SKIP, VOID))
_A, _IMG, _BR, _HR = _ID["a"], _ID["img"], _ID["br"], _ID["hr"]
_KINDS = {n.tag: n.tag_id for n in LexborHTMLParser("<!doctype html><!--c-->t").root.parent.traverse(include_text=True)}
_TEXT, _COMMENT = _KINDS["-text"], _KINDS["-comment"]
_NOT_ELEMENT = frozenset({0, 1, _KINDS["-document"], _KINDS["-doctype"]})  # 0, 1: lexbor's "undefined", "end of file"
_UNENTERED = _NOT_ELEMENT | _SKIP_IDS


def _tree_text(root, prefix: str, token, url_token=None) -> list[str]:  # noqa: ANN001 - a lexbor node
    """The same rules over a parsed document, walked without recursion (any depth): an element's
    start, its children, its end. What is hidden is never entered."""
    parts: list[str] = []
    append, ws, n = parts.append, _WS.sub, len(prefix)
    # locals, not globals, in the loop below: it runs about 350 times a page
    text, comment, void, img, a_, br, hr = _TEXT, _COMMENT, _VOID_IDS, _IMG, _A, _BR, _HR
    unentered, blocks = _UNENTERED, _BLOCK_IDS
    # one entry per open element with children: what its end does (None, "\n" or a link) and
    # where the walk resumes; about 350 nodes a page, so the loop reads as few node properties as it can
    stack: list[tuple] = []
    links = 0  # how many <a> are open
    c = root.child
    while True:
        if c is None:
            if not stack:
                return parts
            end, c = stack.pop()
            if end is None:
                continue
            if end == "\n":
                append(end)
                continue
            links -= 1
            start, href, block = end
            if href:
                _link(parts, start, href, prefix, url_token)
            if block:
                append("\n")
            continue
        tid = c.tag_id
        if tid == text:
            t = c.text_content
            # most copy has no whitespace but single spaces (every other whitespace is unprintable)
            append(t if t.isprintable() and "  " not in t else ws(" ", t))
        elif tid == comment:
            # a placeholder is exactly prefix, digits, "x"; most comments are mjml's <!--[if mso | IE]>
            t = c.comment_content
            if t.startswith(prefix) and t.endswith("x") and t[n:-1].isdecimal():
                append(token(int(t[n:-1])))
        elif tid in void:
            if tid == img:
                if links:
                    alt = " ".join((c.attributes.get("alt") or "").split())  # a linked image: its alt is the link's text
                    if alt:
                        append(f" {alt} ")
            elif tid == br or tid == hr:
                append("\n")
        elif tid not in unentered:
            a = c.attrs  # read in place, one value: a dict of every attribute costs more
            style = None
            if a:  # (a third of a page's elements have no attribute at all)
                try:
                    style = a["style"]
                except KeyError:
                    pass
            # "display:none" however spaced or cased holds a y: most styles are passed on that alone
            if not style or ("y" not in style and "Y" not in style) or \
                    "display:none" not in style.replace(" ", "").lower():
                block = tid in blocks
                if block:
                    append("\n")
                child = c.child
                if tid == a_:
                    links += 1
                    stack.append(((len(parts), a.get("href"), block), c.next))
                    c = child
                    continue
                if child is not None:
                    stack.append(("\n" if block else None, c.next))
                    c = child
                    continue
                if block:
                    append("\n")
        c = c.next


def html_to_text(doc: str, prefix: str, token, url_token=None) -> str:
    """``prefix``: what each placeholder starts with (``Slots.prefix``); ``token(i)``: what
    placeholder ``i`` becomes; ``url_token(i, after)``: the same when it stands in a link's URL."""
    root = LexborHTMLParser(doc).root
    parts = _tree_text(root.parent or root, prefix, token, url_token) if root is not None else []
    out: list[str] = []
    for ln in "".join(parts).split("\n"):
        ln = ln.strip()
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip() + "\n"


def fragment_to_text(html: str) -> str:
    """An HTML fragment (an ESP's passthrough) as plain text within a line: links as
    ``text (URL)``, tags dropped, the ESP's own syntax kept."""
    p = _Text()
    p.feed(html)
    return "".join(p.parts)
