"""What MJML (v4) accepts on each element, for checking what mjml-python lets pass.

mjml-python accepts unknown attributes and malformed values silently; MJML's own
validator warns about them. So does mailwright, at the attribute's position.
"""

from __future__ import annotations

import difflib
import functools
import re

PAD = ["padding", "padding-top", "padding-bottom", "padding-left", "padding-right"]
BORDER = ["border", "border-top", "border-bottom", "border-left", "border-right", "border-radius"]
FONT = ["color", "font-family", "font-size", "font-style", "font-weight", "line-height", "letter-spacing",
        "text-decoration", "text-transform"]
LINK = ["href", "rel", "target", "title", "name"]
BG = ["background-color", "background-url", "background-repeat", "background-size", "background-position",
      "background-position-x", "background-position-y"]

ATTRIBUTES: dict[str, set[str]] = {
    "mjml": {"lang", "dir", "owa"},
    "mj-body": {"background-color", "width"},
    "mj-section": {*BG, *BORDER, *PAD, "direction", "full-width", "text-align", "text-padding"},
    "mj-wrapper": {*BG, *BORDER, *PAD, "direction", "full-width", "text-align", "gap"},
    "mj-column": {"background-color", "inner-background-color", *BORDER, "inner-border", "inner-border-top",
                  "inner-border-bottom", "inner-border-left", "inner-border-right", "inner-border-radius",
                  "width", "vertical-align", *PAD, "direction"},
    "mj-group": {"width", "vertical-align", "background-color", "direction"},
    "mj-text": {*FONT, "height", "align", "container-background-color", *PAD},
    "mj-button": {"background-color", *BORDER, *FONT, "container-background-color", "height", *LINK,
                  "inner-padding", *PAD, "text-align", "vertical-align", "width", "align"},
    "mj-image": {"align", "alt", *BORDER, "container-background-color", "fluid-on-mobile", "height", *LINK,
                 *PAD, "sizes", "src", "srcset", "usemap", "width", "full-width", "max-height", "font-size"},
    "mj-divider": {"border-color", "border-style", "border-width", "container-background-color", *PAD,
                   "width", "align"},
    "mj-spacer": {"container-background-color", "height", *PAD},
    "mj-table": {"align", "border", "cellpadding", "cellspacing", "container-background-color", *FONT,
                 *PAD, "role", "table-layout", "width"},
    "mj-raw": {"position"},
    "mj-hero": {"background-color", "background-height", "background-position", "background-url",
                "background-width", "border-radius", "height", "inner-background-color", "inner-padding",
                "inner-padding-top", "inner-padding-bottom", "inner-padding-left", "inner-padding-right",
                "mode", *PAD, "vertical-align", "width"},
    "mj-font": {"name", "href"},
    "mj-breakpoint": {"width"},
    "mj-style": {"inline"},
    "mj-title": set(),
    "mj-preview": set(),
}
GLOBAL = {"css-class", "mj-class"}

_COLOR = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})|[a-zA-Z]+|rgba?\([^)]*\)|transparent")
_UNIT = re.compile(r"-?\d+(\.\d+)?(px|%|em|rem)?")
_PX = re.compile(r"\d+(\.\d+)?(px)?")
TYPES: dict[str, tuple[str, re.Pattern]] = {
    "align": ("left, center, right or justify", re.compile(r"left|center|right|justify")),
    "vertical-align": ("top, middle or bottom", re.compile(r"top|middle|bottom")),
    "direction": ("ltr or rtl", re.compile(r"ltr|rtl")),
    "text-align": ("left, center or right", re.compile(r"left|center|right|justify")),
    "full-width": ("full-width or false", re.compile(r"full-width|false")),
    "mode": ("fixed-height or fluid-height", re.compile(r"fixed-height|fluid-height")),
    "fluid-on-mobile": ("true or false", re.compile(r"true|false")),
}
for _a in ("color", "background-color", "container-background-color", "border-color", "inner-background-color"):
    TYPES[_a] = ("a colour (#rrggbb, a name or rgb())", _COLOR)
for _a in (*PAD, "inner-padding", "text-padding"):
    TYPES[_a] = ("1 to 4 lengths such as 10px 25px", re.compile(rf"{_UNIT.pattern}(\s+{_UNIT.pattern}){{0,3}}"))
for _a in ("font-size", "letter-spacing", "border-width", "icon-size"):
    TYPES[_a] = ("a length such as 16px", _UNIT)
TYPES["width"] = ("a length such as 600px or 50%", _UNIT)
TYPES["height"] = ("a length such as 40px or auto", re.compile(rf"{_UNIT.pattern}|auto"))


@functools.lru_cache(maxsize=4096)  # a pure function of three strings; templates repeat the same few thousand
def check(tag: str, name: str, value: str) -> str | None:
    """A message when MJML would not accept ``name="value"`` on ``tag``; None when it would."""
    allowed = ATTRIBUTES.get(tag)
    if allowed is None or name in GLOBAL:
        return None
    if name not in allowed:
        close = [a for a in sorted(allowed | GLOBAL) if near(a, name)]
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"<{tag}> has no attribute '{name}': MJML ignores it{hint}"
    t = TYPES.get(name)
    v = value.strip()
    if t and v and not t[1].fullmatch(v) and "mw" not in v:
        return f"<{tag}> {name}=\"{value}\" is not {t[0]}"
    return None


def near(a: str, b: str) -> bool:
    """Close enough for a 'did you mean' (difflib's similarity, as the rest of the house uses)."""
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8
