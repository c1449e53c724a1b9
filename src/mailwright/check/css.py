"""CSS as the rules read it, parsed by tinycss2: the declarations of a ``style`` attribute, and the at-rules,
selectors and declarations of a stylesheet (``<mj-style>``, the theme's CSS, MJML's ``<style>``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import tinycss2
from tinycss2 import ast

# at-rules whose block holds rules (the others hold declarations: @font-face, @page)
NESTING = frozenset({"media", "supports", "document", "-moz-document", "container", "layer", "keyframes",
                     "-webkit-keyframes"})


@dataclass(frozen=True)
class Declaration:
    name: str  # lower-cased
    value: str  # as written, without !important
    important: bool = False


@dataclass(frozen=True)
class AtRule:
    name: str  # lower-cased, without @
    features: tuple[str, ...]  # the media features of its prelude: (max-width: 480px) -> max-width


@dataclass(frozen=True)
class Rule:
    selector: str  # "" inside @keyframes
    declarations: tuple[Declaration, ...]


def declarations(style: str) -> list[Declaration]:
    """The declarations of a ``style`` attribute (or a rule's block), in order; what does not parse is left out."""
    return _declarations(tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True))


def style_map(style: str) -> dict[str, str]:
    """A ``style`` attribute as property -> value (the last one wins, as in a browser)."""
    return {d.name: d.value for d in declarations(style)}


def _declarations(nodes: list) -> list[Declaration]:
    return [Declaration(n.lower_name, tinycss2.serialize(n.value).strip(), n.important)
            for n in nodes if isinstance(n, ast.Declaration)]


def stylesheet(css: str) -> Iterator[AtRule | Rule]:
    """Every at-rule and rule of a stylesheet, nested ones included."""
    yield from _rules(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), in_keyframes=False)


def _rules(nodes: list, in_keyframes: bool) -> Iterator[AtRule | Rule]:
    for n in nodes:
        if isinstance(n, ast.AtRule):
            name = n.lower_at_keyword
            yield AtRule(name, tuple(_features(n.prelude)))
            if n.content is None:
                continue
            if name in NESTING:
                inner = tinycss2.parse_rule_list(n.content, skip_comments=True, skip_whitespace=True)
                yield from _rules(inner, in_keyframes=name.endswith("keyframes"))
            else:
                yield Rule("", tuple(_declarations(tinycss2.parse_blocks_contents(n.content, skip_comments=True,
                                                                                   skip_whitespace=True))))
        elif isinstance(n, ast.QualifiedRule):
            selector = "" if in_keyframes else tinycss2.serialize(n.prelude).strip()
            decls = tinycss2.parse_blocks_contents(n.content, skip_comments=True, skip_whitespace=True)
            yield Rule(selector, tuple(_declarations(decls)))


def _features(tokens: list) -> Iterator[str]:
    for t in tokens:
        if isinstance(t, ast.ParenthesesBlock):
            first = next((c for c in t.content if not isinstance(c, ast.WhitespaceToken | ast.Comment)), None)
            if isinstance(first, ast.IdentToken):
                yield first.lower_value
            else:
                yield from _features(t.content)
