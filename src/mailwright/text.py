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
    def __init__(self, slot_re: re.Pattern, token, url_token=None):
        self.slot_re, self.token, self.url_token = slot_re, token, url_token
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
                    _link(self.parts, start, href, self.slot_re, self.url_token)
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
            elif comment is not None and not self.hidden:
                c = self.slot_re.fullmatch(f"<!--{comment}-->")
                if c:
                    parts.append(self.token(int(c.group(1))))


def _link(parts: list[str], start: int, href: str, slot_re: re.Pattern, url_token) -> None:
    """A link's text (``parts[start:]``) becomes ``text (URL)``."""
    inner = "".join(parts[start:])
    label = " ".join(inner.split())
    href = href.strip()
    if url_token is not None:
        href = slot_re.sub(lambda m: url_token(int(m.group(1) or m.group(2)), m.string[m.end():]), href)
    if not href.startswith("#") and href != label:
        lead = " " if inner[:1].isspace() else ""
        parts[start:] = [f"{lead}{label} ({href})" if label else href]


def _tree_text(root, slot_re: re.Pattern, token, url_token=None) -> list[str]:  # noqa: ANN001 - a lexbor node
    """The same rules over a parsed document, walked without recursion (any depth): an element's
    start, its children, its end. What is hidden is never entered."""
    parts: list[str] = []
    frames: list[list] = [[root.child, False, None, 0, None]]  # next child, inside <a>, tag, parts index, href
    while frames:
        frame = frames[-1]
        c = frame[0]
        if c is None:  # the element ends
            frames.pop()
            _, _, tag, start, href = frame
            if href:
                _link(parts, start, href, slot_re, url_token)
            if tag in BLOCKS:
                parts.append("\n")
            continue
        frame[0] = c.next
        tag = c.tag
        if tag == "-text":
            parts.append(_WS.sub(" ", c.text_content))
        elif tag == "-comment":
            if m := slot_re.fullmatch(f"<!--{c.comment_content}-->"):
                parts.append(token(int(m.group(1))))
        elif tag in VOID:
            if tag == "img" and frame[1]:
                alt = " ".join((c.attributes.get("alt") or "").split())  # a linked image: its alt is the link's text
                if alt:
                    parts.append(f" {alt} ")
            elif tag == "br" or tag == "hr":
                parts.append("\n")
        elif not tag.startswith("-") and tag != "!doctype":
            a = c.attributes
            if tag in SKIP or "display:none" in (a.get("style") or "").replace(" ", "").lower():
                continue
            if tag in BLOCKS:
                parts.append("\n")
            frames.append([c.child, frame[1] or tag == "a", tag, len(parts), a.get("href") if tag == "a" else None])
    return parts


def html_to_text(doc: str, slot_re: re.Pattern, token, url_token=None) -> str:
    """``url_token(i)``: the token for placeholder ``i`` when it stands in a link's URL."""
    root = LexborHTMLParser(doc).root
    parts = _tree_text(root.parent or root, slot_re, token, url_token) if root is not None else []
    out: list[str] = []
    for ln in "".join(parts).split("\n"):
        ln = ln.strip()
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip() + "\n"


_NO_SLOTS = re.compile(r"(?!)")


def fragment_to_text(html: str) -> str:
    """An HTML fragment (an ESP's passthrough) as plain text within a line: links as
    ``text (URL)``, tags dropped, the ESP's own syntax kept."""
    p = _Text(_NO_SLOTS, str)
    p.feed(html)
    return "".join(p.parts)
