"""The plain-text part, made once from the placeholder HTML.

Links become ``text (URL)``, block elements line breaks, hidden elements (the
preheader) and images without a link are dropped; placeholders stay as tokens
so that each dialect writes its own syntax into the text part too.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "li", "ul", "ol",
          "blockquote", "section", "article", "header", "footer", "hr"}
SKIP = {"head", "style", "script", "title", "noscript"}


def html_to_text(doc: str, slot_re: re.Pattern, token) -> str:
    soup = BeautifulSoup(doc, "html.parser")
    parts: list[str] = []

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, Comment):
                m = slot_re.fullmatch(f"<!--{child}-->")
                if m:
                    parts.append(token(int(m.group(1))))
                continue
            if isinstance(child, (Doctype, Declaration, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                parts.append(re.sub(r"\s+", " ", str(child)))
                continue
            if not isinstance(child, Tag) or child.name in SKIP:
                continue
            style = (child.get("style") or "").replace(" ", "").lower()
            if "display:none" in style:
                continue
            if child.name == "br":
                parts.append("\n")
                continue
            if child.name == "img":
                continue
            if child.name == "a":
                before = len(parts)
                walk(child)
                label = "".join(parts[before:]).strip()
                href = (child.get("href") or "").strip()
                if href and not href.startswith("#") and href != label:
                    parts.append(f" ({href})" if label else href)
                continue
            block = child.name in BLOCKS
            if block:
                parts.append("\n")
            walk(child)
            if block:
                parts.append("\n")

    walk(soup)
    text = "".join(parts)
    lines = [ln.strip() for ln in text.split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip() + "\n"
