"""MJML's attribute cascade, as the rules that read attributes need it, with where each value was set."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .. import ir
from ..compose import theme_tokens
from ..errors import Pos
from .source import Source, plain

if TYPE_CHECKING:
    from ..project import Project

# MJML's own defaults for the attributes the rules read
MJML_DEFAULTS = {
    "mj-text": {"color": "#000000", "font-size": "13px"},
    "mj-button": {"color": "#ffffff", "background-color": "#414141", "font-size": "13px"},
    "mj-table": {"color": "#000000", "font-size": "13px"},
    "mj-hero": {"background-color": "#ffffff"},
    "mj-navbar-link": {"color": "#000000", "font-size": "13px"},
}


class Attributes:
    """The element, its mj-class, <mj-attributes> (theme, then template), mj-all, then MJML's defaults.

    Each value comes with where it was set when that is not on the element: the theme's line for the tag, or
    the template's <mj-attributes> entry.
    """

    def __init__(self, src: Source, project: Project):
        self.src = src
        self.defaults: dict[str, dict[str, tuple[str, Pos | None]]] = {}
        theme = project.theme
        if theme is not None:
            for tag, attrs in theme.attributes.items():
                where = src.locate_in_file(theme.path, re.compile(rf"^\s*\"?{re.escape(tag)}\"?\s*=", re.M))
                self.defaults.setdefault(tag, {}).update({k: (theme_tokens(v, theme), where)
                                                          for k, v in attrs.items()})
        for head in src.t.head:
            if head.tag != "mj-attributes":
                continue
            for c in head.children:
                if not isinstance(c, ir.Element):
                    continue
                vals = {k: (v, c.pos) for k, nodes in c.attrs.items() if (v := plain(nodes)) is not None}
                if c.tag == "mj-class":
                    name = vals.pop("name", ("", None))[0]
                    self.defaults.setdefault(f"mj-class:{name}", {}).update(vals)
                else:
                    self.defaults.setdefault(c.tag, {}).update(vals)

    def get(self, el: ir.Element, name: str) -> tuple[str | None, Pos | None, Pos | None]:
        """The value, where it stands when written on the element, and where a default was set."""
        if name in el.attrs:
            return plain(el.attrs[name]), self.src.attr_pos(el, name), None
        for cls in reversed((plain(el.attrs.get("mj-class")) or "").split()):
            hit = self.defaults.get(f"mj-class:{cls}", {}).get(name)
            if hit is not None:
                return hit[0], None, hit[1]
        for tag in (el.tag, "mj-all"):
            hit = self.defaults.get(tag, {}).get(name)
            if hit is not None:
                return hit[0], None, hit[1]
        return MJML_DEFAULTS.get(el.tag, {}).get(name), None, None

    def has(self, el: ir.Element, name: str) -> bool:
        """Whether ``name`` is set on ``el`` (at send time too) or by a default."""
        return name in el.attrs or self.get(el, name)[0] is not None
