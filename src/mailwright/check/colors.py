"""CSS colours as contrast needs them, read by tinycss2 (CSS Color 4): every colour name (rebeccapurple too),
hex, rgb()/rgba()/hsl()/hsla()/hwb(); and WCAG's contrast ratio."""

from __future__ import annotations

import re

import tinycss2.color4

RGB = tuple[float, float, float]  # each channel 0..1

# values that leave the colour behind them showing (a background) or the inherited one (a text colour)
SEE_THROUGH = frozenset({"transparent", "none", "inherit", "initial", "unset", "revert", "currentcolor"})


def see_through(value: str | None) -> bool:
    return value is None or _bare(value).lower() in SEE_THROUGH


def parse_color(value: str | None) -> RGB | None:
    """An opaque colour; None when there is none to know: absent, (semi-)transparent, not a literal colour."""
    if not value:
        return None
    v = _bare(value)
    c = tinycss2.color4.parse_color(v)
    if c is None or isinstance(c, str) or c.alpha < 1:
        return None
    try:
        srgb = c.to("srgb").coordinates
    except NotImplementedError:  # lab(), oklch(): no email client renders them anyway
        return None
    r, g, b = (min(max(float(x), 0.0), 1.0) for x in srgb)
    return r, g, b


def _bare(value: str) -> str:
    return re.sub(r"!\s*important\s*$", "", value.strip(), flags=re.I).strip()


def contrast(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    def lum(c: RGB) -> float:
        r, g, b_ = (x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hex_of(c: RGB) -> str:
    return "#" + "".join(f"{round(x * 255):02x}" for x in c)
