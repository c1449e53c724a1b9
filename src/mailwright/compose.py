"""Build-time composition: components with parameters, and themes.

Resolved on the parsed tree before anything send-time, so every piece of text
keeps the file and position it was written at: an error in a component points
into the component's file, with a note naming the template that used it.

Syntax (never mistaken for send-time tags):

* ``<x-NAME param="value">children</x-NAME>`` uses component ``NAME``;
* a component file's root is ``<x-component p="default" required="a b" doc="…">``;
* ``[[ p ]]`` inserts a parameter, ``[[ theme.token ]]`` a theme token;
* ``<x-slot/>`` receives the children given at the call site.
"""

from __future__ import annotations

import copy
import functools
import html
import os.path
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Diagnostic, MailwrightError, MailwrightErrors, Pos
from .inputs import read_text
from .source import Attr, Chunk, Comment, Element, Lit, Param, SourceFile, Tag, parse_document

RESERVED = {"required", "doc"}
_SLOT = re.compile(r"<x-slot\s*/>")


@dataclass
class Slot:
    """HTML children given at a call site, for an <x-slot/> inside text."""

    chunks: list
    pos: Pos
MAX_DEPTH = 20


@dataclass
class Component:
    name: str
    path: str
    root: Element
    defaults: dict[str, list[Chunk]]
    required: list[str]
    doc: str = ""
    # worked out once at load (the tree is never changed after): what each use must rebuild
    body: Sequence[_Node] = field(default=(), repr=False, compare=False)
    live_defaults: tuple[str, ...] = ()  # defaults that need resolving ([[ ]] in them)
    brand_defaults: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (default, [brand] keys it reads)


@dataclass
class Theme:
    name: str
    path: str
    tokens: dict[str, str]
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    css: str = ""
    inline_css: str = ""
    description: str = ""


def load_component(path: Path) -> Component:
    src = SourceFile(str(path), read_source(path))
    root = parse_document(src)
    if root.tag != "x-component":
        raise MailwrightError(root.pos, f"a component file's root element is <x-component>, not <{root.tag}>")
    required = (root.attr_text("required") or "").split()
    defaults = {k: a.value for k, a in root.attrs.items() if k not in RESERVED}
    comp = Component(path.stem, str(path), root, defaults, required, root.attr_text("doc") or "")
    comp.body = _plan_tree(root, [])[4]
    comp.live_defaults = tuple(k for k, v in defaults.items() if _live(v))
    comp.brand_defaults = tuple(
        (k, keys) for k, v in defaults.items()
        if (keys := tuple(c.name[6:] for c in v if type(c) is Param and c.name.startswith("brand."))))
    return comp


THEME_KEYS = ("description", "tokens", "attributes", "style")


def load_theme(path: Path) -> Theme:
    """``themes/NAME.toml``; every mistake in it is an error at its line, all in one pass."""
    import difflib

    from .inputs import load_toml
    from .project import key_places

    text = read_text(path, what="theme")
    data = load_toml(path, text, what="theme")
    places = key_places(str(path), text)
    errors: list[Diagnostic] = []

    def bad(keys: tuple[str, ...], message: str) -> None:
        for n in range(len(keys), 0, -1):
            if keys[:n] in places:
                errors.append(Diagnostic(places[keys[:n]][0], message))
                return
        errors.append(Diagnostic(Pos(str(path)), message))

    def scalar(v) -> bool:
        return isinstance(v, (str, int, float)) and not isinstance(v, bool)

    for key in data:
        if key not in THEME_KEYS:
            close = difflib.get_close_matches(key, THEME_KEYS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            bad((key,), f"unknown key '{key}' in a theme: {hint}(known: {', '.join(THEME_KEYS)})")
    sections = {k: data.get(k, {}) for k in ("tokens", "attributes", "style")}
    for k, v in sections.items():
        if not isinstance(v, dict):
            bad((k,), f"[{k}] is a table, not {type(v).__name__}")
            sections[k] = {}
    tokens = {}
    for k, v in sections["tokens"].items():
        if scalar(v):
            tokens[k] = str(v)
        else:
            bad(("tokens", k), f"token '{k}' must be text or a number")
    attrs: dict[str, dict[str, str]] = {}
    for tag, d in sections["attributes"].items():
        if not isinstance(d, dict) or not all(scalar(x) for x in d.values()):
            bad(("attributes", tag), f"[attributes] {tag} must be a table of MJML attributes, as "
                                     '{ font-family = "…" }')
            continue
        attrs[tag] = {a: str(x) for a, x in d.items()}
    style = sections["style"]
    for k in ("css", "inline_css"):
        if not isinstance(style.get(k, ""), str):
            bad(("style", k), f"[style] {k} must be text (CSS)")
    if not isinstance(data.get("description", ""), str):
        bad(("description",), "description must be text")
    if errors:
        raise MailwrightErrors(errors)
    return Theme(path.stem, str(path), tokens, attrs, style.get("css", ""), style.get("inline_css", ""),
                 data.get("description", ""))


class Composer:
    """Expands components and theme tokens in a template's tree."""

    def __init__(self, components: dict[str, Component], theme: Theme | None,
                 brand: dict[str, str] | None = None, config_path: str = "mailwright.toml"):
        self.components = components
        self.theme = theme
        self.brand = brand or {}  # [brand] of mailwright.toml: [[ brand.company ]] …
        self.config_path = os.path.basename(config_path)  # the project's own mailwright.toml (no Path: per template)
        self.uses: dict[str, list[tuple[Pos, str]]] = {}  # component file -> where it was used
        self.warnings: list[Diagnostic] = []
        self._literal_params: set[str] = set()

    def expand(self, root: Element, allowed: list[Path] | None = None) -> Element:
        """Components, includes and theme tokens resolved. ``allowed``: the folders
        ``<mj-include>`` may read from (default: the template's own folder)."""
        # what each node needs rebuilt (the components' was worked out at load)
        includes: list[Element] = []
        node = _plan_tree(root, includes)
        if node[1]:  # plain MJML: composing would only copy it
            return root
        if includes:
            base = Path(root.pos.path).parent
            roots = [p.resolve() for p in (allowed if allowed is not None else [base])]
            root = resolve_includes(root, base, [], _Includes(roots, self.warnings))
            node = _plan_tree(root, includes)
        out: list = []
        self._element(node, {}, [], None, out)
        if not out or not isinstance(out[0], Element):  # a root <x-…> that gave no element: said as lower() would
            raise MailwrightError(root.pos, f"a template's root element is <mjml>, not <{root.tag}>")
        return out[0]

    # node: an element (or comment) and what composing must do to it (_plan_tree);
    # params: name -> chunks;  trail: the chain of component uses (for notes);
    # what the node becomes (none, one or many nodes) is appended to ``out``
    def _element(self, node: _Node, params: dict[str, list[Chunk]], trail: list[tuple[Pos, str]],
                 slot: list | Slot | None, out: list) -> None:
        el, static, live_attrs, live_content, kids = node
        if static:  # nothing build-time in it or below: shared, never changed
            out.append(el)
            return
        tag = el.tag
        if tag[:2] == "x-" and tag != "x-component":
            if tag == "x-slot":
                if slot is None:
                    raise self._err(el.pos, "<x-slot/> is only meaningful inside a component", trail)
                if isinstance(slot, Slot):
                    raise self._err(slot.pos, "this component's <x-slot/> takes MJML elements, not text", trail)
                out.extend(slot)
            elif tag == "x-each":
                self._each(node, params, trail, slot, out)
            else:
                self._use(node, params, trail, slot, out)
            return
        new = el.shallow()  # (copy.copy's generic protocol is slow)
        if live_attrs:  # only the attributes with [[ ]] are rebuilt; the rest (and their order) kept
            new.attrs = attrs = el.attrs.copy()
            for k, sole in live_attrs:
                a = attrs[k]
                # most are one parameter ("[[ url ]]"): its value as it is (chunk lists are never changed)
                attrs[k] = a.with_value(params[sole] if sole in params else self._chunks(a.value, params, trail))
        if live_content is not None:
            sole = live_content
            new.content = params[sole] if sole in params else self._chunks(el.content, params, trail, slot)
        new.children = children = []
        for k in kids:
            self._element(k, params, trail, slot, children)
        out.append(new)

    def _each(self, node: _Node, params: dict, trail: list, slot, out: list) -> None:
        """A static loop: ``<x-each var="color" in="red | green">…[[ color ]]…</x-each>``."""
        el = node[0]
        var, items = el.attrs.get("var"), el.attrs.get("in")
        if var is None or items is None:
            raise self._err(el.pos, '<x-each> needs var="NAME" and in="A | B | C"', trail)
        name = "".join(c.text for c in var.value if isinstance(c, Lit)).strip()
        if not re.fullmatch(r"[A-Za-z_][\w-]*", name) or name.startswith("theme"):
            raise self._err(var.value_pos, f"'{name}' is not a parameter name", trail)
        for k in el.attrs:
            if k not in ("var", "in"):
                raise self._err(el.attrs[k].pos, f"<x-each> has no attribute '{k}' (var, in)", trail)
        chunks = self._chunks(items.value, params, trail)
        if any(not isinstance(c, Lit) for c in chunks):
            raise self._err(items.value_pos, "<x-each in=…> is a build-time list: send-time tags cannot stand in it",
                            trail)
        text = "".join(c.text for c in chunks)
        values = [v.strip() for v in text.split("|")] if text.strip() else []
        # one value from one place (a parameter, a [brand] key): its items keep that place
        where = chunks[0].pos if len(chunks) == 1 else items.value_pos
        for v in values:
            scope = {**params, name: [Lit(v, where)]}
            for k in node[4]:
                self._element(k, scope, trail, slot, out)

    def _use(self, node: _Node, params: dict, trail: list, slot: list | Slot | None, out: list) -> None:
        el = node[0]
        name = el.tag[2:]
        comp = self.components.get(name)
        if comp is None:
            known = ", ".join(sorted(self.components))
            raise self._err(el.pos, f"unknown component <{el.tag}> (components: {known})", trail)
        if len(trail) >= MAX_DEPTH:
            raise self._err(el.pos, f"components nest deeper than {MAX_DEPTH}: is <{el.tag}> using itself?", trail)
        args: dict[str, list[Chunk]] = {}
        defaults = comp.defaults
        for k, a in el.attrs.items():
            if k not in defaults and k not in comp.required:
                known = ", ".join(sorted(set(defaults) | set(comp.required))) or "none"
                raise self._err(a.pos, f"component '{name}' has no parameter '{k}' (parameters: {known})", trail)
            # a value with nothing to resolve is passed as it is (chunk lists are never changed)
            args[k] = self._chunks(a.value, params, trail) if _live(a.value) else a.value
        for r in comp.required:
            if r not in args:
                raise self._err(el.pos, f"component '{name}' needs the parameter '{r}'", trail)
        brand = self.brand
        for k, keys in comp.brand_defaults:  # a default from [brand] that the project lacks: say so at the use
            missing = [] if k in args else [b for b in keys if not isinstance(brand.get(b), str)]
            if missing:
                raise self._err(el.pos, f"component '{name}' takes {k} from [brand] {missing[0]} in "
                                        f"{self.config_path}, which is not set: set it there, or give {k}=\"…\" here",
                                trail)
        scope = {**defaults, **args}
        for k in comp.live_defaults:  # defaults may refer to theme tokens and [brand]
            if k not in args:
                scope[k] = self._chunks(defaults[k], {}, trail)
        children: list | Slot
        if el.content is not None:  # HTML children: fill an <x-slot/> that stands in text
            live = node[3] is not None  # most copy holds send-time tags only: passed as it is
            children = Slot(self._chunks(el.content, params, trail) if live else el.content, el.pos)
        else:
            children = []
            for k in node[4]:
                self._element(k, params, trail, slot, children)
        inner_trail = trail + [(el.pos, f"in component '{name}' used here")]
        if comp.path not in self.uses:
            self.uses[comp.path] = list(reversed(inner_trail))
        for k in comp.body:
            self._element(k, scope, inner_trail, children, out)

    def _chunks(self, chunks: list[Chunk], params: dict, trail: list, slot=None) -> list[Chunk]:
        out: list[Chunk] = []
        for c in chunks:
            kind = type(c)
            if kind is Lit:
                if "<x-" not in c.text:  # most copy: nothing to look for in it
                    out.append(c)
                    continue
                if "<x-each" in c.text:
                    raise self._err(c.pos, "<x-each> repeats MJML elements (sections, columns, column content); "
                                           "it cannot stand inside copy such as <mj-text>", trail)
            if kind is Lit and slot is not None and _SLOT.search(c.text):
                pieces = _SLOT.split(c.text)
                for k, piece in enumerate(pieces):
                    if k:
                        if not isinstance(slot, Slot):
                            raise self._err(c.pos, "this component's <x-slot/> stands in text: give it HTML "
                                                   "children, not MJML elements", trail)
                        out.extend(slot.chunks)
                    if piece:
                        out.append(Lit(piece, c.pos))
                continue
            if kind is not Param:
                out.append(c)
                continue
            if c.name.startswith("brand."):
                key = c.name[6:]
                value = self.brand.get(key)
                if not isinstance(value, str):  # "" is a value: the project says it has none
                    raise self._err(c.pos, f"'[[ {c.name} ]]' has no value: set {key} in the [brand] table of "
                                           f"{self.config_path}" + _brand_way_out(trail), trail)
                out.append(Lit(html.escape(value, quote=True), c.pos))
                continue
            if c.name.startswith("theme."):
                token = c.name[6:]
                if self.theme is None:  # no theme: tokens (the built-in components') from the default one
                    self.theme = default_theme()
                if token not in self.theme.tokens:
                    known = ", ".join(sorted(self.theme.tokens))
                    msg = f"theme '{self.theme.name}' has no token '{token}' (tokens: {known})"
                    if _builtin(c.pos.path) and not _builtin(self.theme.path):
                        # the fault is the user's theme, not the built-in component that reads the token:
                        # said once, at the theme's [tokens]
                        raise MailwrightError(_tokens_pos(self.theme.path), f"{msg}; the built-in component "
                                              f"'{Path(c.pos.path).stem}' uses it: add {token} = \"…\"",
                                              [(c.pos, "used here")])
                    raise self._err(c.pos, msg, trail)
                out.append(Lit(self.theme.tokens[token], c.pos))
            elif c.name in params:
                out.extend(params[c.name])
            elif not trail:
                # a template's own copy: '[[ FirstName ]]' is some ESP's merge field, not ours
                if c.name not in self._literal_params:
                    self._literal_params.add(c.name)
                    self.warnings.append(Diagnostic(
                        c.pos, f"'[[ {c.name} ]]' is not a build-time parameter here: it is kept as copy",
                        "warning", rule="build-time-parameter"))
                out.append(Lit(c.raw or f"[[ {c.name} ]]", c.pos))
            else:
                raise self._err(c.pos, f"unknown parameter '[[ {c.name} ]]'", trail)
        return out

    @staticmethod
    def _err(pos: Pos, msg: str, trail: list[tuple[Pos, str]]) -> MailwrightError:
        return MailwrightError(pos, msg, notes=list(reversed(trail)))


@functools.cache
def default_theme() -> Theme:
    """The built-in 'clean' theme: where tokens come from when a template has no theme."""
    from .project import builtin_dir

    return load_theme(builtin_dir("themes") / "clean.toml")


def _builtin(path: str) -> bool:
    """Is this file one of mailwright's own (components, themes shipped with it)?"""
    from .project import builtin_dir

    p = Path(path).resolve()
    return any(p.is_relative_to(builtin_dir(k).resolve()) for k in ("components", "themes"))


def _tokens_pos(path: str) -> Pos:
    """Where a theme file's [tokens] table starts (line 1 when it has none)."""
    try:
        lines = read_text(path, what="theme").splitlines()
    except (OSError, MailwrightError):
        return Pos(path, 1, 1)
    for i, line in enumerate(lines):
        if re.match(r"\s*\[\s*tokens\s*\]", line):
            return Pos(path, i + 1, 1)
    return Pos(path, 1, 1)


def _brand_way_out(trail: list[tuple[Pos, str]]) -> str:
    """For a component's default: the parameter can be given at the use instead."""
    return ", or give the parameter where the component is used" if trail else ""


@dataclass
class _Includes:
    """Where ``<mj-include>`` may read from, and where the included files' warnings go."""

    roots: list[Path]
    warnings: list[Diagnostic]


# An element as composing sees it: (the element, nothing build-time in it or below, the attributes holding
# [[ ]] as (name, sole), what its content needs, its children's nodes). sole: the parameter's name when a
# value is just one "[[ name ]]" (not theme. or brand.), else "" (never a parameter's name). content: None
# (nothing), "" (resolving) or its sole parameter. A comment is (comment, True, (), None, ()).
_Node = tuple[Element | Comment, bool, tuple[tuple[str, str], ...], str | None, Sequence]


def _live(chunks: list[Chunk]) -> bool:
    """Whether composing changes (or refuses) these chunks: a ``[[ ]]``, or ``<x-`` in copy."""
    for c in chunks:
        kind = type(c)
        if kind is Param or (kind is Lit and "<x-" in c.text):
            return True
    return False


def _sole(chunks: list[Chunk]) -> str:
    """The name when ``chunks`` is one parameter (not a theme token or [brand] key), else ""."""
    if len(chunks) == 1 and type(c := chunks[0]) is Param and c.name[:6] not in ("theme.", "brand."):
        return c.name
    return ""


def _plan_tree(el: Element, includes: list[Element]) -> _Node:
    """The node of ``el`` and, in it, of everything below; ``<mj-include>`` elements are added to ``includes``."""
    live_attrs: tuple[tuple[str, str], ...] = ()
    for k, a in el.attrs.items():
        for c in a.value:
            if type(c) is Param:
                live_attrs += ((k, _sole(a.value)),)
                break
    live_content = _sole(el.content) if el.content is not None and _live(el.content) else None
    tag = el.tag
    static = not live_attrs and live_content is None and tag[:2] != "x-"
    if tag == "mj-include":
        includes.append(el)
        static = False
    kids = ()
    if el.children:
        kids = []
        for c in el.children:
            if isinstance(c, Comment):
                kids.append((c, True, (), None, ()))
            else:
                kids.append(k := _plan_tree(c, includes))
                static = static and k[1]
    return (el, static, live_attrs, live_content, kids)


def resolve_includes(el: Element, base: Path, seen: list[str], inc: _Includes) -> Element:
    """MJML's ``<mj-include path="…">`` (mjml-python cannot load it): spliced in,
    every position pointing into the included file. ``type="css"`` becomes an
    ``<mj-style>`` (``css-inline="inline"`` an inline one), ``type="html"`` an
    ``<mj-raw>``."""
    new_children: list = []
    changed = False
    for c in el.children:
        if isinstance(c, Element) and c.tag == "mj-include":
            new_children.extend(_include(c, base, seen, inc))
            changed = True
        elif isinstance(c, Element):
            r = resolve_includes(c, base, seen, inc)
            changed |= r is not c
            new_children.append(r)
        else:
            new_children.append(c)
    if not changed:
        return el
    out = copy.copy(el)
    out.children = new_children
    return out


def _include(el: Element, base: Path, seen: list[str], inc: _Includes) -> list:
    rel = el.attr_text("path")
    if not rel:
        raise MailwrightError(el.pos, '<mj-include> needs path="…"')
    path = (base / rel).resolve()  # symlinks resolved: what is read is what is checked
    if not path.exists() and path.suffix == "":
        path = path.with_suffix(".mjml")
    if not any(path.is_relative_to(r) for r in inc.roots):
        where = " or ".join(str(r) for r in inc.roots)
        raise MailwrightError(el.pos, f"<mj-include> reads {rel}, outside the project ({where}); "
                                      "add its folder to [compile] include_paths in mailwright.toml to allow it")
    if not path.is_file():
        raise MailwrightError(el.pos, f"<mj-include>: no file {rel}")
    if str(path) in seen:
        raise MailwrightError(el.pos, f"<mj-include> includes {rel} again (a cycle)")
    text = read_source(path)
    kind = el.attr_text("type", "mjml")
    src = SourceFile(str(path), text)
    if kind in ("css", "html"):
        tag = "mj-style" if kind == "css" else "mj-raw"
        new = Element(tag, src.pos(0))
        new.raw_content = src.text
        new.content = [Lit(src.text, src.pos(0))]
        if kind == "css" and el.attr_text("css-inline") == "inline":
            new.attrs["inline"] = Attr("inline", [Lit("inline", el.pos)], el.pos, el.pos, "inline")
        if kind == "html":
            from .source import parse_chunks

            new.content = parse_chunks(src, 0, len(src.text))
        inc.warnings.extend(src.warnings)
        return [new]
    wrapped = src.text.lstrip().startswith("<mjml")
    root = parse_document(src, fragment=not wrapped)
    inc.warnings.extend(src.warnings)
    root = resolve_includes(root, path.parent, seen + [str(path)], inc)
    if wrapped:
        body = [c for c in root.children if isinstance(c, Element) and c.tag in ("mj-body", "mj-head")]
        return [k for b in body for k in b.children]
    return list(root.children)


def read_source(path: Path) -> str:
    """A user's MJML file as text (decoding and file-kind problems are located errors)."""
    return read_text(path, what="MJML file")


_TOKEN = re.compile(r"\[\[\s*theme\.([A-Za-z_][\w-]*)\s*\]\]")


def theme_tokens(value: str, theme: Theme) -> str:
    """``[[ theme.NAME ]]`` in a theme's own values (attributes, CSS) replaced by the token."""
    return _TOKEN.sub(lambda m: theme.tokens.get(m.group(1), m.group()), value)


def theme_head(theme: Theme) -> str:
    """The theme as MJML head elements."""
    from html import escape

    def sub(v: str) -> str:
        return theme_tokens(v, theme)

    parts = []
    if theme.attributes:
        parts.append("<mj-attributes>")
        for tag, attrs in theme.attributes.items():
            a = " ".join(f'{k}="{escape(sub(v), quote=True)}"' for k, v in attrs.items())
            if tag.startswith("mj-class:"):
                parts.append(f'<mj-class name="{tag[9:]}" {a} />')
            else:
                parts.append(f"<{tag} {a} />")
        parts.append("</mj-attributes>")
    if theme.css.strip():
        parts.append(f"<mj-style>{sub(theme.css)}</mj-style>")
    if theme.inline_css.strip():
        parts.append(f'<mj-style inline="inline">{sub(theme.inline_css)}</mj-style>')
    return "".join(parts)


def component_table(components: dict[str, Component]) -> str:
    """The Markdown table of components (components/README.md holds the built-in ones')."""
    import html as _html

    rows = ["| component | parameters | description |", "|---|---|---|"]
    for name in sorted(components):
        c = components[name]
        params = [f"`{r}` (required)" for r in c.required]
        for k, v in c.defaults.items():
            if k in c.required:
                continue
            text = "".join(_as_typed(x) for x in v)
            params.append(f'`{k}`=`{text}`' if text else f'`{k}`=""')
        doc = _html.unescape(c.doc).replace("[brand]", "`[brand]`")
        rows.append(f"| `{name}` | {', '.join(params)} | {doc} |")
    return "\n".join(rows) + "\n"


def _as_typed(chunk: Chunk) -> str:
    if isinstance(chunk, Lit):
        return chunk.text
    if isinstance(chunk, Param):
        return chunk.raw or f"[[ {chunk.name} ]]"
    if isinstance(chunk, Tag):
        return "{{ " + chunk.src + " }}" if chunk.kind == "out" else "{% " + chunk.src + " %}"
    return ""
