"""Rule ``a11y-contrast``: the colour of each piece of text against the background behind it (WCAG AA).

The text colour is that of the innermost element holding the text (a ``<span style="color:…">`` inside a
button wins over the button's ``color``); the background is the nearest one set around it, in the copy or
along the MJML tree.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace

from .. import ir
from ..errors import Diagnostic, Pos
from . import css
from .colors import RGB, contrast, hex_of, parse_color, see_through
from .context import Context
from .source import TAG, VOID_TAGS, Copy, tag_attrs

WHITE: RGB = (1.0, 1.0, 1.0)  # an email client's page
BOLD_TAGS = frozenset({"b", "strong", "th", "h1", "h2", "h3", "h4", "h5", "h6"})
# what the copy is read as: comments and style blocks (skipped), end tags, start tags
_TOKEN = re.compile(r"<!--.*?(?:-->|$)|<(style|script)\b.*?(?:</\1\s*>|$)|</\s*([a-zA-Z][\w-]*)\s*>|"
                    + TAG.pattern, re.S | re.I)


@dataclass(frozen=True)
class Ink:
    """A text colour, and where it was written (on the element, or in the copy) or set (theme, mj-attributes)."""

    value: str | None
    pos: Pos | None
    origins: tuple[Pos, ...]
    what: str


@dataclass(frozen=True)
class Bg:
    """A background: its colour (None when an image or unknown), and where it was set when not on an element."""

    color: RGB | None
    origin: Pos | None = None


@dataclass(frozen=True)
class Look:
    """What applies to the text at one point of the copy."""

    ink: Ink
    bg: Bg
    size: float  # px
    bold: bool


def a11y_contrast(ctx: Context) -> list[Diagnostic]:
    """Every piece of text against its background, along the MJML tree and into the copy."""
    attrs, src = ctx.attributes, ctx.src
    out: dict[tuple, Diagnostic] = {}

    def layer(el: ir.Element, bg: Bg, *names: str) -> Bg:
        for n in names:
            if n == "background-color" and attrs.has(el, "background-url"):
                return Bg(None)  # text on an image: cannot be known from here
            v, _, origin = attrs.get(el, n)
            if not see_through(v):
                bg = Bg(parse_color(v), origin)
        return bg

    def look(el: ir.Element, bg: Bg, what: str) -> Look:
        value, pos, origin = attrs.get(el, "color")
        weight = (attrs.get(el, "font-weight")[0] or "").strip().lower()
        return Look(Ink(value, pos, (origin,) if origin else (), what), bg,
                    _px(attrs.get(el, "font-size")[0], 13.0), _bold(weight, False))

    def text(el: ir.Element, at: Look) -> None:
        fg, bg = parse_color(at.ink.value), at.bg.color
        if fg is None or bg is None:
            return
        ratio = contrast(fg, bg)
        large = at.size >= 24 or (at.bold and at.size >= 18.66)
        need = 3.0 if large else 4.5
        if ratio >= need - 1e-9:
            return
        kind = "large text" if large else "normal text"
        d = src.finding(at.ink.pos or el.pos,
                        f"{at.ink.what} {hex_of(fg)} on background {hex_of(bg)} has contrast {ratio:.2f}:1, below "
                        f"WCAG AA {need:g}:1 for {kind}; darken the text or lighten the background",
                        "warning", "a11y-contrast")
        for origin in dict.fromkeys(o for o in [*at.ink.origins, at.bg.origin] if o is not None):
            d.notes.insert(0, (origin, "the colour is set here"))
        out.setdefault((d.pos, d.message), d)

    def copy(el: ir.Element, base: Look) -> None:
        """The copy's text, each piece with the colours of the elements around it."""
        c = Copy(el.children)
        stack: list[tuple[str, Look]] = [("", base)]
        i = 0
        for m in _TOKEN.finditer(c.text):
            if _visible(c.text[i:m.start()]):
                text(el, stack[-1][1])
            i = m.end()
            if m.group(2):  # an end tag: back to what stood before its start tag
                name = m.group(2).lower()
                if any(t == name for t, _ in stack[1:]):
                    while stack.pop()[0] != name:
                        pass
            elif m.group(3):
                tag = m.group(3).lower()
                here = _inline(tag, tag_attrs(m.group(4) or ""), stack[-1][1], c, m)
                if tag not in VOID_TAGS and not m.group().endswith("/>"):
                    stack.append((tag, here))
        if _visible(c.text[i:]):
            text(el, stack[-1][1])

    def walk(nodes: list[ir.Node], bg: Bg) -> None:
        for n in nodes:
            if isinstance(n, ir.If):
                for b in n.branches:
                    walk(b.body, bg)
            elif isinstance(n, ir.For):
                walk(n.body, bg)
            elif isinstance(n, ir.Element):
                el = n
                if el.tag in ("mj-body", "mj-wrapper", "mj-section", "mj-group", "mj-hero"):
                    walk(el.children, layer(el, bg, "background-color"))
                elif el.tag == "mj-column":
                    walk(el.children, layer(el, bg, "background-color", "inner-background-color"))
                elif el.tag in ("mj-text", "mj-table", "mj-navbar-link"):
                    copy(el, look(el, layer(el, bg, "container-background-color"), "text color"))
                elif el.tag == "mj-button":
                    here = layer(el, layer(el, bg, "container-background-color"), "background-color")
                    copy(el, look(el, here, "button text color"))
                else:
                    walk(el.children, bg)

    walk([src.t.body], Bg(WHITE))
    return list(out.values())


def _inline(tag: str, a: dict[str, str], outer: Look, c: Copy, m: re.Match) -> Look:
    """What a start tag in the copy sets for the text inside it: colour, background, size, weight."""
    style = css.style_map(a.get("style") or "")
    at = outer
    for value in (a.get("bgcolor"), style.get("background"), style.get("background-color")):
        if not see_through(value):
            at = replace(at, bg=Bg(parse_color(value)))
    if "background-image" in style and not see_through(style["background-image"]) or \
            "url(" in style.get("background", ""):
        at = replace(at, bg=Bg(None))
    color, where = style.get("color"), r"(?<![\w-])color\s*:"
    if color is None and tag == "font" and "color" in a:
        color, where = a["color"], r"(?<![\w-])color\s*="
    if not see_through(color):
        hit = re.search(where, m.group(), re.I)
        pos = c.pos(m.start() + hit.start()) if hit else None
        at = replace(at, ink=Ink(color, pos or c.pos(m.start()), (), "text color"))
    if "font-size" in style:
        at = replace(at, size=_px(style["font-size"], at.size, relative_to=at.size))
    if tag in BOLD_TAGS or "font-weight" in style:
        at = replace(at, bold=_bold(style.get("font-weight", "bold"), at.bold))
    return at


def _visible(chunk: str) -> bool:
    """Whether a piece of copy shows anything (send-time output counts; a branch's edges do not)."""
    return bool(html.unescape(chunk.replace(Copy.EDGE, "")).strip())


def _px(value: str | None, default: float, relative_to: float | None = None) -> float:
    m = re.match(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(px|em|%)?\s*(?:!\s*important)?\s*$", value or "", re.I)
    if not m:
        return default
    n, unit = float(m.group(1)), (m.group(2) or "px").lower()
    if unit == "px":
        return n
    base = relative_to if relative_to is not None else default
    return n * base if unit == "em" else n * base / 100


def _bold(weight: str, default: bool) -> bool:
    w = weight.strip().lower()
    if w in ("bold", "bolder"):
        return True
    if w.isdigit():
        return int(w) >= 700
    return False if w in ("normal", "lighter") else default
