"""The designer's source: a template's intermediate form as searchable text, each match mapped back to the
file (template, component or theme) and line where it was written."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ir
from ..errors import Diagnostic, Pos

if TYPE_CHECKING:
    from ..project import Project

# MJML elements whose content is the designer's HTML copy
ENDING_COPY = ("mj-text", "mj-raw", "mj-table", "mj-button", "mj-navbar-link", "mj-accordion-text",
               "mj-accordion-title", "mj-social-element")
VOID_TAGS = frozenset({"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "wbr", "source"})
TAG = re.compile(r"""<([a-zA-Z][\w-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>'"]+))?)*)\s*/?>""")


class Source:
    """A template's nodes, and the files they came from."""

    def __init__(self, t: ir.Template, project: Project):
        self.t = t
        self.project = project
        self.nodes = list(ir.walk(ir.template_nodes(t)))
        # <mj-attributes> entries are defaults, not elements of the email
        self.defaults = {id(c) for h in t.head if h.tag == "mj-attributes" for c in ir.walk(h.children)}
        self._files: dict[str, tuple[str, list[int]]] = {}

    # ---- files
    def file(self, path: str) -> tuple[str, list[int]]:
        """A file's text (newlines normalised) and where each of its lines starts."""
        if path not in self._files:
            try:
                text = Path(path).read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
            except (OSError, UnicodeDecodeError):
                text = ""
            self._files[path] = (text, [0] + [m.end() for m in re.finditer("\n", text)])
        return self._files[path]

    def offset(self, pos: Pos) -> int | None:
        text, starts = self.file(pos.path)
        if not text or pos.line < 1 or pos.line > len(starts):
            return None
        return starts[pos.line - 1] + pos.col - 1

    def pos_at(self, path: str, offset: int) -> Pos:
        text, starts = self.file(path)
        line = max(bisect.bisect_right(starts, offset) - 1, 0)
        return Pos(path, line + 1, offset - starts[line] + 1)

    def content_pos(self, pos: Pos, tag: str) -> Pos:
        """Where the content of the element starting at ``pos`` begins (after its start tag)."""
        text, _ = self.file(pos.path)
        off = self.offset(pos)
        if off is None or not text.startswith("<" + tag, off):
            return pos
        m = re.compile(r"""<[\w-]+(?:"[^"]*"|'[^']*'|[^'">])*>""").match(text, off)
        return self.pos_at(pos.path, m.end()) if m else pos

    def attr_pos(self, el: ir.Element, name: str) -> Pos:
        """The position of attribute ``name`` (its name) on ``el``'s start tag."""
        text, _ = self.file(el.pos.path)
        off = self.offset(el.pos)
        if off is not None and text.startswith("<" + el.tag, off):
            i = off + len(el.tag) + 1
            attr = re.compile(r"""\s*([A-Za-z_:][\w.:-]*)\s*(?:=\s*("[^"]*"|'[^']*'))?""")
            while True:
                m = attr.match(text, i)
                if not m or m.end() == i:
                    break
                if m.group(1) == name:
                    return self.pos_at(el.pos.path, m.start(1))
                i = m.end()
        nodes = el.attrs.get(name) or []
        return nodes[0].pos if nodes else el.pos

    # ---- nodes
    def locate_in_file(self, path: str, pattern: re.Pattern) -> Pos | None:
        text, _ = self.file(path)
        m = pattern.search(text)
        return self.pos_at(path, m.start() + len(m.group()) - len(m.group().lstrip())) if m else None

    def elements(self, *tags: str) -> Iterator[ir.Element]:
        for n in self.nodes:
            if isinstance(n, ir.Element) and (not tags or n.tag in tags) and id(n) not in self.defaults:
                yield n

    def locate(self, pattern: re.Pattern, attrs: Iterable[str] = (), value: str | None = None) -> Pos | None:
        """The first place in the designer's source where ``pattern`` is written, or an MJML attribute
        in ``attrs`` is set (to a value matching ``value``); then the theme's file."""
        attrs = set(attrs)
        style_done: set[int] = set()
        for n in self.nodes:
            if isinstance(n, ir.Element):
                for a in sorted(attrs & n.attrs.keys()):
                    if value is None or re.match(value, plain(n.attrs[a]) or "\x00", re.I):
                        return self.attr_pos(n, a)
                if n.tag == "mj-style":
                    for c in n.children:
                        if isinstance(c, ir.Text):
                            style_done.add(id(c))
                            m = pattern.search(c.text)
                            if m:
                                return shift(self.content_pos(c.pos, "mj-style"), c.text, m.start())
            elif isinstance(n, ir.Text) and id(n) not in style_done:
                m = pattern.search(n.text)
                if m:
                    return shift(n.pos, n.text, m.start())
            elif isinstance(n, ir.Raw):
                m = pattern.search(n.text)
                if m:
                    return shift(self.content_pos(n.pos, "mw-raw"), n.text, m.start())
        theme = self.project.theme
        return self.locate_in_file(theme.path, pattern) if theme is not None else None

    def notes(self, pos: Pos) -> list[tuple[Pos, str]]:
        """For a place in a component's file: where the template uses that component."""
        if pos.path == self.t.path or (self.project.theme and pos.path == self.project.theme.path):
            if pos.path != self.t.path:
                return [(self.t.pos, f"in template '{self.t.name}'")]
            return []
        if pos.path == str(self.project.config_path):
            return [(self.t.pos, f"in template '{self.t.name}'")]
        name = Path(pos.path).stem
        text, _ = self.file(self.t.path)
        m = re.search(rf"<x-{re.escape(name)}(?=[\s/>])", text)
        if m:
            return [(self.pos_at(self.t.path, m.start()), f"in component '{name}' used here")]
        return [(self.t.pos, f"in template '{self.t.name}'")]

    def finding(self, pos: Pos, message: str, severity: str, rule: str) -> Diagnostic:
        return Diagnostic(pos, message, severity, notes=self.notes(pos), rule=rule)


def shift(pos: Pos, text: str, offset: int) -> Pos:
    """``pos`` moved ``offset`` characters into ``text`` (which starts at ``pos``)."""
    before = text[:offset]
    nl = before.count("\n")
    if not nl:
        return Pos(pos.path, pos.line, pos.col + offset)
    return Pos(pos.path, pos.line + nl, offset - before.rfind("\n"))


def plain(nodes: list[ir.Node] | None) -> str | None:
    """An attribute's value when it is literal text; None when absent or decided at send time."""
    if nodes is None or any(not isinstance(n, ir.Text) for n in nodes):
        return None
    return "".join(n.text for n in nodes)


def tag_attrs(s: str) -> dict[str, str]:
    """The attributes of an HTML start tag's inside (after the name), names lower-cased."""
    return {k.lower(): (v1 or v2 or v3) for k, v1, v2, v3 in
            re.findall(r"""([^\s=>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>'"]+)))?""", s)}


class Copy:
    """The inline content of an element as one string: send-time output is OUT (it shows as text), the
    edges of a branch or loop are EDGE (what stands around them is decided at send time)."""

    OUT = "\x00"
    EDGE = "\x01"

    def __init__(self, nodes: list[ir.Node]):
        self.parts: list[tuple[int, ir.Text]] = []
        self._buf: list[str] = []
        self._len = 0
        self._flatten(nodes)
        self.text = "".join(self._buf)

    def _add(self, s: str) -> None:
        self._buf.append(s)
        self._len += len(s)

    def _flatten(self, nodes: list[ir.Node]) -> None:
        for n in nodes:
            if isinstance(n, ir.Text):
                self.parts.append((self._len, n))
                self._add(n.text)
            elif isinstance(n, (ir.Output, ir.Raw)):
                self._add(self.OUT)
            elif isinstance(n, ir.If):  # every branch in turn
                for b in n.branches:
                    self._add(self.EDGE)
                    self._flatten(b.body)
                self._add(self.EDGE)
            elif isinstance(n, ir.For):
                self._add(self.EDGE)
                self._flatten(n.body)
                self._add(self.EDGE)

    def pos(self, offset: int) -> Pos | None:
        best = None
        for start, node in self.parts:
            if start <= offset < start + len(node.text):
                best = shift(node.pos, node.text, offset - start)
        return best

    @classmethod
    def send_time(cls, s: str) -> bool:
        return cls.OUT in s or cls.EDGE in s
