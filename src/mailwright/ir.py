"""The one intermediate form every check and every dialect works from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Pos
from .expr import Expr, OutputExpr, Var


@dataclass(slots=True)
class Text:
    """Literal copy, as the designer typed it (HTML source in HTML contexts)."""

    text: str
    pos: Pos


@dataclass(slots=True)
class Output:
    expr: OutputExpr
    pos: Pos


@dataclass(slots=True)
class Branch:
    cond: Expr | None  # None: the else branch
    body: list[Node]
    pos: Pos


@dataclass(slots=True)
class If:
    branches: list[Branch]
    pos: Pos
    structural: bool = False


@dataclass(slots=True)
class For:
    var: str
    iterable: Var
    limit: int | None
    body: list[Node]
    pos: Pos
    structural: bool = False


@dataclass(slots=True)
class Raw:
    """Vendor passthrough: emitted verbatim for ``esp``, dropped for the others."""

    esp: str
    text: str
    pos: Pos


@dataclass(slots=True)
class Element:
    """An MJML element. For ending tags (mj-text, …) ``children`` is inline content."""

    tag: str
    attrs: dict[str, list[Node]]
    children: list[Node]
    pos: Pos
    ending: bool = False
    comment: str | None = None  # an MJML comment kept in place


Node = Text | Output | If | For | Raw | Element


@dataclass  # one per template, so no slots: callers may add to it (compile sets components_used)
class Template:
    name: str
    path: str
    pos: Pos
    subject: list[Node]
    subject_pos: Pos
    preview: list[Node] | None
    head: list[Element]
    body: Element
    mjml_attrs: dict[str, str] = field(default_factory=dict)
    warnings: list = field(default_factory=list)  # Diagnostics found while lowering
    source: str = ""  # the template file's text (seeds placeholders that never collide with it)
    theme_override: bool = False  # <mjml mw-theme="…">: this template's own theme (or none)
    theme: Any = None  # with theme_override: the compose.Theme, or None for no theme


def walk(nodes: list[Node]):
    """Every node, depth first (attributes included)."""
    for n in nodes:
        yield n
        if isinstance(n, Element):
            for v in n.attrs.values():
                yield from walk(v)
            yield from walk(n.children)
        elif isinstance(n, If):
            for b in n.branches:
                yield from walk(b.body)
        elif isinstance(n, For):
            yield from walk(n.body)


def template_nodes(t: Template) -> list[Node]:
    return [*t.subject, *(t.preview or []), *t.head, t.body]
