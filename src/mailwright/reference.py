"""What the reference renderers share, and where they are found.

Each connector carries its own reference renderer (``Connector.reference``, in
``mailwright_connectors.<esp>.reference``): a real engine of that ESP's template
language, used by the preview, send-test's checks and the tests. A renderer takes
the compiled source, a recipient in portable form (``{"profile": …, "event": …}``)
and the project's ``[esp.NAME]`` table, and returns the rendered text.

Here: the preview clock every renderer reads dates from, what a recipient reads of
a page (:func:`visible_text`), and a lazy loader, so that an engine (Django for
Klaviyo) is imported only when something is rendered, not when a project compiles.
"""

from __future__ import annotations

import datetime
import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where a page is read: loading the connectors (a compile) needs no HTML parser
    from bs4 import BeautifulSoup

Renderer = Callable[..., str]  # (source, recipient, config=None) -> text

# a Friday (day 7, month 3): previews and tests show the same dates every day
PREVIEW_NOW = datetime.datetime(2025, 3, 7, 9, 30)


def lazy(module: str, name: str = "render") -> Renderer:
    """A renderer that imports ``module`` (and its engine) at its first call."""
    found: list[Renderer] = []

    def render(src: str, recipient: dict, config: dict | None = None) -> str:
        if not found:
            found.append(getattr(importlib.import_module(module), name))
        return found[0](src, recipient, config)

    render.__qualname__ = f"{module}.{name}"
    return render


def renderers() -> dict[str, Renderer]:
    """Every installed connector's reference renderer, by ESP name."""
    from .dialect import load_connectors

    return {name: c.reference for name, c in load_connectors().items() if c.reference is not None}


def drop_nulls(d: Any) -> Any:
    """A recipient without its null values (for engines where null and absent are one)."""
    if isinstance(d, dict):
        return {k: drop_nulls(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [drop_nulls(x) for x in d]
    return d


def visible_text(html: str | BeautifulSoup) -> str:
    """What a recipient reads: body text, hidden preheader and head left out (``html`` may be a
    parsed document; it is changed then)."""
    from bs4 import BeautifulSoup, Comment

    soup = html if isinstance(html, BeautifulSoup) else BeautifulSoup(html, "html.parser")
    for t in soup(["head", "style", "script", "title"]):
        t.decompose()
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    for t in soup.find_all(style=re.compile(r"display:\s*none")):
        t.decompose()
    return " ".join(soup.get_text(" ").split())


def sender(config: dict | None) -> tuple[str, str]:
    """(company, postal address) for the ESP tokens that insert the sender: the project's ``[brand]``
    (handed to a renderer as ``config["brand"]``), else a neutral placeholder, never anyone's data."""
    brand = (config or {}).get("brand") or {}
    company = brand.get("company") if isinstance(brand.get("company"), str) else None
    address = brand.get("address") if isinstance(brand.get("address"), str) else None
    return company or "Your company", address or "Your postal address ([brand] address)"
