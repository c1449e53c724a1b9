"""The accessibility rules that read the designer's source as written: ``a11y-lang``, ``a11y-alt``,
``a11y-table-role``, ``a11y-link-text``, ``a11y-headings`` (contrast has its own module)."""

from __future__ import annotations

import re

from .. import ir
from ..errors import Diagnostic, Pos
from ..expr import Const, fold
from .context import Context
from .source import ENDING_COPY, Copy, Source, shift, tag_attrs

VAGUE_LINKS = frozenset({
    "click here", "click", "here", "click this link", "this link", "link", "this", "read more", "more",
    "learn more", "more info", "more information", "info", "details", "go", "see more", "continue",
})


def lang(ctx: Context) -> list[Diagnostic]:
    """The document's language and direction, as MJML writes them on <html>."""
    out = []
    for html in [o.html for o in ctx.outputs][:1]:
        attrs = scan_html_tag(html)
        lang, dir_ = attrs.get("lang", "").strip(), attrs.get("dir", "").strip().lower()
        missing = []
        if not lang or lang.lower() == "und":
            missing.append('lang (MJML writes lang="und": screen readers then guess the language)')
        if dir_ not in ("ltr", "rtl"):
            missing.append(f'dir (MJML writes dir="{dir_ or "auto"}")')
        if missing:
            out.append(Diagnostic(ctx.t.pos, f"the document sets no {' and no '.join(missing)}; write "
                                         '<mjml lang="en" dir="ltr"> with the language of the copy', "warning",
                                  rule="a11y-lang"))
    return out


def scan_html_tag(html: str) -> dict[str, str]:
    m = re.search(r"<html\b([^>]*)>", html, re.I)
    if not m:
        return {}
    return {k.lower(): v for k, v in re.findall(r"""([\w:-]+)\s*=\s*["']([^"']*)["']""", m.group(1))}


def alt(ctx: Context) -> list[Diagnostic]:
    """Alt text on every image: <mj-image>, and <img> in the copy."""
    src, attrs = ctx.src, ctx.attributes
    out = []
    for el in src.elements("mj-image"):
        if not attrs.has(el, "alt"):
            out.append(src.finding(el.pos, '<mj-image> has no alt: describe the image (alt="…"), or write alt="" '
                                           "for a purely decorative one", "error", "a11y-alt"))
    for el in src.elements(*ENDING_COPY):
        copy = Copy(el.children)
        for m in re.finditer(r"<img\b", copy.text, re.I):
            end = copy.text.find(">", m.end())
            if "alt" not in tag_attrs(copy.text[m.end(): end if end >= 0 else None]):
                pos = copy.pos(m.start()) or el.pos
                out.append(src.finding(pos, '<img> has no alt: describe the image (alt="…"), or write alt="" for a '
                                            "purely decorative one", "error", "a11y-alt"))
    return out


def table_role(ctx: Context) -> list[Diagnostic]:
    """role="presentation" on layout tables: <mj-table>, and <table> in the copy."""
    src, attrs = ctx.src, ctx.attributes
    out = []
    msg = ('a layout table without role="presentation": screen readers announce its rows and cells; '
           'add role="presentation" (or give a data table <th> header cells)')
    for el in src.elements("mj-table"):
        copy = Copy(el.children)
        if not attrs.has(el, "role") and not re.search(r"<(th|caption)\b", copy.text, re.I):
            out.append(src.finding(el.pos, f"<mj-table> is {msg}", "warning", "a11y-table-role"))
    for el in src.elements("mj-text", "mj-raw", "mj-table"):
        copy = Copy(el.children)
        for m in re.finditer(r"<table\b", copy.text, re.I):
            end = copy.text.find(">", m.end())
            tag = tag_attrs(copy.text[m.end(): end if end >= 0 else None])
            close = copy.text.lower().find("</table", m.end())
            inner = copy.text[m.end(): close if close >= 0 else None]
            if "role" not in tag and not re.search(r"<(th|caption)\b", inner, re.I):
                pos = copy.pos(m.start()) or el.pos
                out.append(src.finding(pos, f"<table> is {msg}", "warning", "a11y-table-role"))
    return out


def link_words(html: str) -> str:
    text = re.sub(r"<[^>]*>", " ", html)
    text = re.sub(r"&nbsp;|&#160;", " ", text)
    return " ".join(re.sub(r"[^\w\s\x00\x01]", " ", text.lower()).split())  # send-time parts stay words


def link_text(ctx: Context) -> list[Diagnostic]:
    """Link text that says where the link goes (buttons, navbar links, <a> in the copy)."""
    src = ctx.src
    out = []

    def vague(words: str) -> bool:
        return words in VAGUE_LINKS

    for el in src.elements("mj-button", "mj-navbar-link"):
        if "href" not in el.attrs:
            continue
        copy = Copy(el.children)
        words = link_words(copy.text)
        if vague(words):
            out.append(src.finding(el.pos, f'the link text "{words}" does not say where it goes; name the '
                                           'destination ("See the linen collection")', "warning", "a11y-link-text"))
    for el in src.elements("mj-text", "mj-raw", "mj-table"):
        copy = Copy(el.children)
        for m in re.finditer(r"<a\b([^>]*)>(.*?)</a\s*>", copy.text, re.I | re.S):
            attrs = tag_attrs(m.group(1))
            if "aria-label" in attrs or ("title" in attrs and not vague(link_words(attrs["title"]))):
                continue
            words = link_words(m.group(2))
            if vague(words):
                pos = copy.pos(m.start()) or el.pos
                out.append(src.finding(pos, f'the link text "{words}" does not say where it goes; name the '
                                            'destination ("Read the care guide")', "warning", "a11y-link-text"))
    return out


def headings(ctx: Context) -> list[Diagnostic]:
    """Heading levels in the order a recipient meets them, along every branch, for each ESP and trigger."""
    return [d for o in ctx.outputs for d in _headings(ctx.src, {"trigger": o.trigger, "esp": o.esp})]


def _headings(src: Source, known: dict) -> list[Diagnostic]:
    found: dict[Pos, Diagnostic] = {}

    def text(n: ir.Text, states: set) -> set:
        for m in re.finditer(r"<h([1-6])(?=[\s/>])", n.text, re.I):
            level = int(m.group(1))
            for prev in sorted(s for s in states if s is not None):
                if level > prev + 1:
                    pos = shift(n.pos, n.text, m.start())
                    if pos not in found:
                        found[pos] = src.finding(pos, f"<h{level}> follows <h{prev}>: a heading level is skipped "
                                                      f"(use <h{prev + 1}>, or style the heading instead)",
                                                 "warning", "a11y-headings")
                    break
            states = {level}
        return states

    def run(nodes: list[ir.Node], states: set) -> set:
        for n in nodes:
            if isinstance(n, ir.Text):
                states = text(n, states)
            elif isinstance(n, ir.Element):
                if n.tag not in ("mj-style", "mj-head", "#comment"):
                    states = run(n.children, states)
            elif isinstance(n, ir.If):
                after: set = set()
                closed = False
                for b in n.branches:
                    c = Const(True) if b.cond is None else fold(b.cond, known)
                    if c == Const(False):
                        continue
                    after |= run(b.body, states)
                    if c == Const(True):
                        closed = True
                        break
                states = after if closed else after | states
            elif isinstance(n, ir.For):
                once = run(n.body, states)
                states = states | once | run(n.body, once)
        return states

    run([src.t.body], {None})
    return list(found.values())
