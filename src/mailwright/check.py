"""``mailwright check``: the CI gate over what a project sends (docs/check.md).

Compiles the project, then checks every template × trigger × ESP, and every
variant (sample recipients from :func:`mailwright.variants.derive` that reach each
branch), against rules a designer can act on: client support (the caniemail
dataset, vendored in ``data/``), accessibility, Gmail's clipping size, subject
and preheader, the plain-text part, and links. Each finding points into the
designer's own file: the template, the component or the theme that wrote the
construct.
"""

from __future__ import annotations

import bisect
import fnmatch
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from . import ir
from .errors import Diagnostic, MailwrightError, Pos
from .expr import Const, fold

if TYPE_CHECKING:
    from .compile import Output
    from .project import Project

# ---------------------------------------------------------------------- rules

RULES: dict[str, str] = {
    "client-support": "a feature the configured email clients do not support (caniemail)",
    "a11y-lang": "the document's language and direction (<mjml lang dir>)",
    "a11y-alt": "alt text on every image",
    "a11y-table-role": 'role="presentation" on layout tables',
    "a11y-headings": "heading levels that do not skip (h1 then h3)",
    "a11y-link-text": "link text that says where the link goes",
    "a11y-contrast": "text and background contrast (WCAG AA)",
    "size": "Gmail clips messages above 102 KB",
    "subject-length": "a subject that is present and fits the inbox",
    "preheader": "a preheader that is present and fits the inbox",
    "text-part": "a plain-text part with copy in it",
    "links": "well-formed link and image URLs (--online: they answer)",
}

# The current versions of the big four, as the dataset's family.platform keys (docs/check.md).
DEFAULT_CLIENTS = [
    "gmail.desktop-webmail", "gmail.ios", "gmail.android",
    "apple-mail.macos", "apple-mail.ios",
    "outlook.windows", "outlook.macos", "outlook.outlook-com", "outlook.ios", "outlook.android",
    "yahoo.desktop-webmail", "yahoo.ios", "yahoo.android",
]

KB = 1024
SIZE_WARN, SIZE_CLIP = 90 * KB, 102 * KB
ESP_ADDITIONS = 0.10  # tracking links and the open pixel, as a share of the HTML (any ESP)
SUBJECT_MAX, PREHEADER_MAX = 60, 140
ONLINE_TIMEOUT = 5.0

VAGUE_LINKS = frozenset({
    "click here", "click", "here", "click this link", "this link", "link", "this", "read more", "more",
    "learn more", "more info", "more information", "info", "details", "go", "see more", "continue",
})


@dataclass
class Settings:
    clients: list[str]
    disable: set[str]

    def enabled(self, rule: str) -> bool:
        return not any(rule == d or rule.startswith(d.rstrip("-*") + "-") for d in self.disable)


@dataclass
class Report:
    findings: list[Diagnostic] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.findings)


# ---------------------------------------------------------------------- entry points

def run_check(project_path: str | Path, esps: list[str] | None = None, online: bool = False) -> list[Diagnostic]:
    """Every finding for the project at ``project_path`` (sorted by place)."""
    return check_project(Path(project_path), esps, online).findings


def check_project(project_path: Path, esps: list[str] | None = None, online: bool = False) -> Report:
    from .compile import compile_project, parse_template
    from .dialect import load_connectors
    from .project import load_project

    report = Report()
    connectors = load_connectors()
    try:
        project = load_project(Path(project_path), list(connectors))
        settings = load_settings(project)
    except MailwrightError as e:
        report.findings.append(e.diagnostic)
        return report
    result = compile_project(project, list(esps) if esps else None)
    out = _Findings(settings)
    out.extend(d for d in result.diagnostics if d.severity == "error")  # what does not compile cannot pass
    templates: dict[str, ir.Template] = {}
    for name in project.templates:
        try:
            templates[name] = parse_template(project, name)
        except MailwrightError:
            continue  # already among the compile errors
    counts = {"templates": len(templates), "outputs": 0, "variants": 0}
    links: list[_Link] = []
    for name, t in templates.items():
        src = _Source(t, project)
        outputs = [o for o in result.outputs if o.name == name]
        counts["outputs"] += len(outputs)
        if settings.enabled("client-support"):
            out.extend(client_support(src, [o.html for o in outputs], settings.clients))
        if settings.enabled("a11y-lang"):
            out.extend(a11y_lang(t, [o.html for o in outputs]))
        out.extend(a11y_static(src, project, settings))
        if settings.enabled("a11y-headings"):
            for o in outputs:
                out.extend(a11y_headings(src, {"trigger": o.trigger, "esp": o.esp}))
        if settings.enabled("links") or online:
            found = collect_links(src)
            links += found
            if settings.enabled("links"):
                out.extend(link_findings(found))
        worst: tuple[int, str, str | None] = (0, "", None)
        for o in outputs:
            n, largest = variant_checks(t, o, settings, out)
            counts["variants"] += n
            worst = max(worst, (largest, connectors[o.esp].label, o.trigger), key=lambda w: w[0])
        if settings.enabled("size") and (d := size_finding(t, *worst)) is not None:
            out.append(d)
    if online and settings.enabled("links"):
        out.extend(check_online(links))
    report.findings = out.sorted()
    report.checked = {
        **counts,
        "esps": list(esps or project.esps),
        "clients": settings.clients,
        "rules": [r for r in RULES if settings.enabled(r)],
        "online": online,
    }
    return report


def load_settings(project: Project) -> Settings:
    """``[check] clients`` and ``disable`` from mailwright.toml, checked."""
    cfg = project.config.get("check", {})
    if not isinstance(cfg, dict):
        raise MailwrightError(Pos(str(project.config_path)), "[check] must be a table")
    for key in cfg:
        if key not in ("clients", "disable"):
            raise MailwrightError(project.pos_of_key("check", key),
                                  f"unknown setting '{key}' in [check] (settings: clients, disable)")
    known = client_keys()
    clients = DEFAULT_CLIENTS
    if "clients" in cfg:
        raw = cfg["clients"]
        pos = project.pos_of_key("check", "clients")
        if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            raise MailwrightError(pos, '[check] clients must be a list of names such as "gmail" or "outlook.windows"')
        clients = []
        for pattern in raw:
            glob = pattern if "." in pattern else pattern + ".*"
            hits = [k for k in known if fnmatch.fnmatchcase(k, glob)]
            if not hits:
                families = sorted({k.split(".")[0] for k in known})
                raise MailwrightError(pos, f"[check] clients: no client matches '{pattern}' "
                                           f"(families: {', '.join(families)}; or family.platform)")
            clients += [h for h in hits if h not in clients]
    disable = cfg.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(d, str) for d in disable):
        raise MailwrightError(project.pos_of_key("check", "disable"), "[check] disable must be a list of rule names")
    for d in disable:
        if d not in RULES and not any(r.startswith(d.rstrip("-*") + "-") for r in RULES):
            raise MailwrightError(project.pos_of_key("check", "disable"),
                                  f"[check] disable: unknown rule '{d}' (rules: {', '.join(RULES)})")
    return Settings(list(clients), set(disable))


class _Findings(list):
    """Findings without repeats: the same place and message from several ESPs or triggers is one."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings
        self._seen: dict[tuple, Diagnostic] = {}

    def append(self, d: Diagnostic) -> None:
        if d.rule and not self.settings.enabled(d.rule):
            return
        key = (d.pos, d.severity, d.message, d.rule)
        first = self._seen.get(key)
        if first is None:
            self._seen[key] = d
            super().append(d)
        else:
            for n in d.notes:
                if n not in first.notes:
                    first.notes.append(n)

    def extend(self, ds: Iterable[Diagnostic]) -> None:
        for d in ds:
            self.append(d)

    def sorted(self) -> list[Diagnostic]:
        for d in self:
            if len(d.notes) > 4:  # a component used by many templates: name a few
                more = len(d.notes) - 3
                d.notes[3:] = [(d.notes[3][0], f"and {more} more uses")]
        return sorted(self, key=lambda d: (d.pos.path, d.pos.line, d.pos.col, d.rule or "", d.message))


# ---------------------------------------------------------------------- the designer's source

class _Source:
    """A template's intermediate form as searchable text, each match mapped back to its file."""

    def __init__(self, t: ir.Template, project: Project):
        self.t = t
        self.project = project
        self.nodes = list(ir.walk(ir.template_nodes(t)))
        # <mj-attributes> entries are defaults, not elements of the email
        self.defaults = {id(c) for h in t.head if h.tag == "mj-attributes" for c in ir.walk(h.children)}
        self._files: dict[str, tuple[str, list[int]]] = {}

    # ---- files
    def file(self, path: str) -> tuple[str, list[int]]:
        if path not in self._files:
            try:
                text = Path(path).read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
            except OSError:
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


class _Copy:
    """The inline content of an element as one string: send-time output counts as one word."""

    OUT = "\x00"

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
            elif isinstance(n, ir.If):  # every branch in turn, marked: what stands around it is send-time
                for b in n.branches:
                    self._add(self.OUT)
                    self._flatten(b.body)
            elif isinstance(n, ir.For):
                self._add(self.OUT)
                self._flatten(n.body)

    def pos(self, offset: int) -> Pos | None:
        best = None
        for start, node in self.parts:
            if start <= offset < start + len(node.text):
                best = shift(node.pos, node.text, offset - start)
        return best


ENDING_COPY = ("mj-text", "mj-raw", "mj-table", "mj-button", "mj-navbar-link", "mj-accordion-text",
               "mj-accordion-title", "mj-social-element")


# ---------------------------------------------------------------------- client support (caniemail)

@functools.lru_cache(maxsize=1)
def caniemail() -> dict:
    """The vendored dataset (src/mailwright/data/caniemail.json, MIT; see data/README.md)."""
    path = resources.files("mailwright") / "data" / "caniemail.json"
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def client_keys() -> list[str]:
    keys: dict[str, None] = {}
    for f in caniemail()["data"]:
        for fam, plats in f["stats"].items():
            for plat in plats:
                keys[f"{fam}.{plat}"] = None
    return sorted(keys)


def latest(versions: dict[str, str]) -> str:
    """The support mark of a client's latest tested version.

    The dataset lists versions in the order they were tested; dates (2024-05) sort
    among themselves, version numbers (16.80) do not sort against dates, so the file's
    order decides unless every key is a date.
    """
    keys = list(versions)
    if all(re.fullmatch(r"\d{4}(-\d\d)?", k) for k in keys):
        keys.sort()
    return versions[keys[-1]]


@functools.lru_cache(maxsize=4096)
def unsupported(slug: str, clients: tuple[str, ...]) -> tuple[str, ...]:
    """The clients among ``clients`` whose latest version does not support ``slug`` ("n")."""
    f = _features()["by_slug"].get(slug)
    if f is None:
        return ()
    out = []
    for c in clients:
        fam, _, plat = c.partition(".")
        versions = f["stats"].get(fam, {}).get(plat)
        if isinstance(versions, dict) and versions and latest(versions).strip().startswith("n"):
            out.append(c)
    return tuple(out)


def client_label(clients: Iterable[str]) -> str:
    nice = caniemail()["nicenames"]
    fams: dict[str, list[str]] = {}
    for c in clients:
        fam, _, plat = c.partition(".")
        fams.setdefault(fam, []).append(nice["platform"].get(plat, plat))
    return "; ".join(f"{nice['family'].get(f, f)} ({', '.join(p)})" for f, p in fams.items())


@functools.lru_cache(maxsize=1)
def _features() -> dict:
    """How each caniemail feature shows in HTML, from its title (as the caniemail package reads them)."""
    data = caniemail()["data"]
    by_title = {f["title"]: f for f in data}
    props: dict[str, list[str]] = {}
    groups = {
        "block-size & inline-size": ["block-size", "inline-size"],
        "border-inline & border-block": ["border-inline", "border-block"],
        "border-inline & border-block individual logical properties": [
            "border-block-end", "border-block-start", "border-inline-end", "border-inline-start"],
        "border-inline & border-block longhand properties": [
            "border-block-color", "border-block-style", "border-block-width", "border-inline-color",
            "border-inline-style", "border-inline-width"],
        "border-radius logical properties": [
            "border-end-end-radius", "border-end-start-radius", "border-start-end-radius", "border-start-start-radius"],
        "color-scheme CSS property": ["color-scheme"],
        "css column properties": ["column-count", "column-fill", "column-gap", "column-rule", "column-rule-color",
                                  "column-rule-style", "column-rule-width", "column-span", "column-width",
                                  "columns"],
        "gap, column-gap, row-gap": ["column-gap", "gap", "row-gap"],
        "grid-template-* properties": ["grid-template", "grid-template-areas", "grid-template-columns",
                                       "grid-template-rows"],
        "margin-block-start & margin-block-end": ["margin-block-end", "margin-block-start"],
        "margin-inline & margin-block": ["margin-block", "margin-inline"],
        "margin-inline-start & margin-inline-end": ["margin-inline-end", "margin-inline-start"],
        "padding-block-start & padding-block-end": ["padding-block-end", "padding-block-start"],
        "padding-inline & padding-block": ["padding-block", "padding-inline"],
        "padding-inline-start & padding-inline-end": ["padding-inline-end", "padding-inline-start"],
        "left, right, top, bottom": ["left", "right", "top", "bottom"],
    }
    values = {
        "fit-content, min-content, max-content": ["fit-content", "max-content", "min-content"],
        "system-ui, ui-serif, ui-sans-serif, ui-rounded, ui-monospace": [
            "system-ui", "ui-monospace", "ui-rounded", "ui-sans-serif", "ui-serif"],
    }
    funcs: dict[str, str] = {}
    units: dict[str, str] = {}
    pairs: dict[tuple[str, str], str] = {}
    atrules: dict[str, str] = {}
    pseudo: dict[str, str] = {}
    keywords: dict[str, str] = {}
    value_words: dict[str, str] = {}
    elements: dict[str, str] = {}
    attributes: dict[str, str] = {}
    media: dict[str, str] = {}
    selectors: dict[str, str] = {}
    images: dict[str, str] = {}
    for f in data:
        title, slug, cat = f["title"].strip(), f["slug"], f["category"]
        if cat == "css":
            if title in groups:
                for p in groups[title]:
                    props.setdefault(p, []).append(slug)
            elif re.fullmatch(r"[a-z-]+", re.sub(r" (shorthand|property)$", "", title)):
                props.setdefault(re.sub(r" (shorthand|property)$", "", title), []).append(slug)
            if title in values:
                for v in values[title]:
                    value_words[v] = slug
            if title == "CSS Variables (Custom Properties)":
                funcs["var"] = slug
            elif "()" in title and not title.startswith(":"):
                for name in re.findall(r"([a-z-]+)\(\)", title):
                    funcs[name] = slug
            if title.endswith(" unit"):
                units[title[:-5]] = slug
            if title.endswith(" keyword"):
                keywords[title[:-8]] = slug
            m = re.fullmatch(r"([a-z-]+):\s*([a-z-]+)", title)
            if m:
                pairs[(m.group(1), m.group(2))] = slug
            if title.startswith("@"):
                m = re.fullmatch(r"@([a-z-]+)", title)
                if m:
                    atrules[m.group(1)] = slug
                else:
                    for feat in re.findall(r"\(([a-z-]+)\)", title):
                        media[feat] = slug
            if title.startswith(":"):
                pseudo[title.replace("()", "")] = slug
            if slug.startswith("css-selector-"):
                selectors[slug[len("css-selector-"):]] = slug
        elif cat == "html":
            special = {
                "address": ["address"], "HTML5 doctype": ["!doctype"], "Image maps": ["map"],
                "Embedded <svg> image": ["svg"], "<h1> to <h6> elements": [f"h{i}" for i in range(1, 7)],
                "<ul>, <ol> and <dl>": ["ul", "ol", "dl"],
                "HTML5 semantics": ["article", "aside", "details", "figcaption", "figure", "footer", "header",
                                    "main", "mark", "nav", "section", "summary", "time"],
            }
            if title in special:
                for e in special[title]:
                    elements[e] = slug
            elif re.fullmatch(r"<\w+> element", title):
                elements[title[1:].split(">")[0]] = slug
            m = re.fullmatch(r'<(\w+) (\w+)="(\w+)"> element', title)
            if m:
                pairs[(f"<{m.group(1)}>{m.group(2)}", m.group(3))] = slug
            if title == "srcset and sizes attributes":
                attributes["srcset"] = attributes["sizes"] = slug
            elif title.endswith(" attribute"):
                attributes[title[: -len(" attribute")]] = slug
            if title == "HTML comments":
                elements["!--"] = slug
        elif cat == "image":
            m = re.match(r"(\w+) image format", title, re.I)
            if m:
                images[m.group(1).lower()] = slug
    images.update({"jpeg": images.get("jpg", ""), "tif": images.get("tiff", ""), "heic": images.get("heif", "")})
    if "Animated PNG image format" in by_title:
        images["apng"] = by_title["Animated PNG image format"]["slug"]
    return {
        "by_slug": {f["slug"]: f for f in data}, "props": props, "values": value_words, "funcs": funcs,
        "units": units, "pairs": pairs, "atrules": atrules, "pseudo": pseudo, "keywords": keywords,
        "elements": elements, "attributes": attributes, "media": media, "selectors": selectors,
        "images": {k: v for k, v in images.items() if v},
    }


@dataclass(frozen=True)
class Evidence:
    """A caniemail feature seen in the compiled HTML, and how to find where the designer wrote it."""

    slug: str
    label: str
    pattern: str  # a regular expression over the designer's text (case-insensitive)
    attr: str | None = None  # an MJML attribute that writes it
    attr_value: str | None = None  # … when its value matches this (from the start)


def _css_word(word: str) -> str:
    return rf"(?<![\w-]){re.escape(word)}"


@functools.lru_cache(maxsize=4096)
def declaration(prop: str, value: str) -> tuple[Evidence, ...]:
    """What one CSS declaration uses."""
    fx = _features()
    prop, value = prop.strip().lower(), value.strip()
    out: list[Evidence] = []
    if re.fullmatch(r"[a-z-]+", prop) and not prop.startswith("-"):
        parts = prop.split("-")
        for i in range(len(parts), 0, -1):
            for slug in fx["props"].get("-".join(parts[:i]), []):
                out.append(Evidence(slug, prop, _css_word(prop) + r"\s*[:=]", prop))
    low = value.lower()
    if "!" in low and re.search(r"!\s*important", low) and "!important" in fx["keywords"]:
        out.append(Evidence(fx["keywords"]["!important"], "!important", r"!\s*important"))
        low = re.sub(r"!\s*important", "", low).strip()
    for name in dict.fromkeys(re.findall(r"([a-z-]+)\(", low)):
        if name in fx["funcs"]:
            out.append(Evidence(fx["funcs"][name], f"{name}()", _css_word(name) + r"\("))
    for unit in dict.fromkeys(re.findall(r"(?<![\w#.-])\d*\.?\d+([a-z]+|%)", low)):
        if unit in fx["units"]:
            out.append(Evidence(fx["units"][unit], f"the {unit} unit", rf"\d{re.escape(unit)}(?![\w-])"))
    if re.search(r"(?<![\w-])initial(?![\w-])", low) and "initial" in fx["units"]:
        out.append(Evidence(fx["units"]["initial"], "initial", _css_word("initial") + r"(?![\w-])"))
    for word, slug in fx["values"].items():
        if re.search(rf"(^|[\s,]){re.escape(word)}([\s,]|$)", low):
            out.append(Evidence(slug, word, _css_word(word)))
    pair = fx["pairs"].get((prop, low))
    if pair:
        out.append(Evidence(pair, f"{prop}:{low}", _css_word(prop) + rf"\s*[:=]\s*[\"']?{re.escape(low)}(?![\w-])"))
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", value, re.I):
        out += image_evidence(url)
    return tuple(out)


def image_evidence(url: str) -> list[Evidence]:
    fx = _features()
    url = url.strip()
    m = re.match(r"data:image/([\w+.-]+)", url, re.I)
    ext = m.group(1).lower().split("+")[0] if m else None
    if ext is None:
        m = re.search(r"\.([a-z0-9]+)$", re.split(r"[?#]", url, maxsplit=1)[0], re.I)
        ext = m.group(1).lower() if m else None
    out = []
    data = url.lower().startswith("data:")
    if ext in fx["images"]:
        pattern = rf"data:image/{re.escape(ext)}" if data else rf"\.{re.escape(ext)}(?!\w)"
        out.append(Evidence(fx["images"][ext], f"a .{ext} image", pattern))
    if data and "image-base64" in fx["by_slug"]:
        out.append(Evidence("image-base64", "an embedded (data:) image", r"data:image/"))
    return out


def stylesheet(css: str) -> list[Evidence]:
    """What a <style> block uses: at-rules, media features, selectors, declarations."""
    fx = _features()
    out: list[Evidence] = []
    if "/*" in css and "css-comments" in fx["by_slug"]:
        out.append(Evidence("css-comments", "a CSS comment", r"/\*"))
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    for m in re.finditer(r"@([a-z-]+)([^{;]*)", css, re.I):
        name, prelude = m.group(1).lower(), m.group(2).lower()
        if name in fx["atrules"]:
            out.append(Evidence(fx["atrules"][name], f"@{name}", rf"@{re.escape(name)}(?![\w-])"))
        for feat in re.findall(r"\(\s*([a-z-]+)", prelude):
            key = feat.replace("min-", "").replace("max-", "").replace("any-", "")
            slug = fx["media"].get(feat) or fx["media"].get(key)
            if slug:
                out.append(Evidence(slug, f"@{name} ({feat})", re.escape(feat)))
    for m in re.finditer(r"([^{}]*)\{([^{}]*)\}", css):
        sel, body = m.group(1).strip(), m.group(2)
        if sel.startswith("@") or not sel or re.fullmatch(r"[\d.%\s,a-z]*", sel) and "%" in sel:
            continue
        out += selector(sel)
        for decl in body.split(";"):
            prop, colon, value = decl.partition(":")
            if colon:
                out += declaration(prop, value)
    return out


@functools.lru_cache(maxsize=1024)
def selector(sel: str) -> tuple[Evidence, ...]:
    fx = _features()
    out: list[Evidence] = []
    for p in re.findall(r"::?[a-z-]+", sel.lower()):
        slug = fx["pseudo"].get(p)
        if slug:
            out.append(Evidence(slug, p, re.escape(p) + r"(?![\w-])"))
    kinds = fx["selectors"]
    bare = re.sub(r"\[[^\]]*\]|\([^)]*\)|::?[a-z-]+", lambda m: " [a] " if m.group().startswith("[") else "", sel)
    checks = {
        "grouping": "," in sel,
        "adjacent-sibling": "+" in bare,
        "general-sibling": "~" in bare,
        "child": ">" in bare,
        "universal": "*" in bare,
        "attribute": "[a]" in bare,
        "chaining": bool(re.search(r"\.[\w-]+\.[\w-]+", sel)),
    }
    for kind, hit in checks.items():
        if hit and kind in kinds:
            out.append(Evidence(kinds[kind], f"the selector '{sel.strip()}'", re.escape(sel.strip())))
    return tuple(out)


class _Scan(HTMLParser):
    """Every caniemail feature a compiled document uses (conditional comments are not read: they are for
    Outlook's Word engine, and MJML's own)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: dict[Evidence, None] = {}
        self.fx = _features()
        self.in_style = False

    def add(self, evs: Iterable[Evidence]) -> None:
        for e in evs:
            self.found.setdefault(e, None)

    def handle_decl(self, decl: str) -> None:
        if decl.lower().startswith("doctype") and "!doctype" in self.fx["elements"]:
            self.add([Evidence(self.fx["elements"]["!doctype"], "<!doctype html>", r"<!doctype")])

    def handle_comment(self, data: str) -> None:
        if "!--" in self.fx["elements"]:
            self.add([Evidence(self.fx["elements"]["!--"], "an HTML comment", r"<!--")])

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        fx = self.fx
        if tag in fx["elements"]:
            self.add([Evidence(fx["elements"][tag], f"<{tag}>", rf"<{tag}(?=[\s/>])")])
        for k, v in attrs:
            v = v or ""
            if k in fx["attributes"]:
                self.add([Evidence(fx["attributes"][k], f"the {k} attribute", rf"(?<=[\s\"']){re.escape(k)}\s*=", k)])
            pair = fx["pairs"].get((f"<{tag}>{k}", v.lower()))
            if pair:
                self.add([Evidence(pair, f'<{tag} {k}="{v}">', rf"{re.escape(k)}\s*=\s*[\"']?{re.escape(v)}")])
            if k == "style" and v:
                for decl in v.split(";"):
                    prop, colon, value = decl.partition(":")
                    if colon:
                        self.add(declaration(prop, value))
            if k in ("src", "srcset", "background"):
                for url in ([v] if k != "srcset" else [c.strip().split(" ")[0] for c in v.split(",")]):
                    self.add(image_evidence(url))
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and "html-anchor-links" in fx["by_slug"]:
            if a.get("href", "").startswith("#") or "name" in a:
                self.add([Evidence("html-anchor-links", "a link to an anchor (#…)", r"href\s*=\s*[\"']#", "href", "#")])
        if tag == "a" and a.get("href", "").lower().startswith("mailto:") and "html-mailto-links" in fx["by_slug"]:
            self.add([Evidence("html-mailto-links", "a mailto: link", r"mailto:", "href", "mailto:")])
        if tag == "meta" and a.get("name", "").lower() == "color-scheme" and "html-meta-color-scheme" in fx["by_slug"]:
            self.add([Evidence("html-meta-color-scheme", "the color-scheme meta tag", r"color-scheme")])
        if tag == "style":
            self.in_style = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.add(stylesheet(data))


def scan(html: str) -> _Scan:
    s = _Scan()
    s.feed(html)
    s.close()
    return s


BASELINE_MJML = """<mjml><mj-head><mj-title>Title</mj-title><mj-preview>Preview</mj-preview></mj-head><mj-body>
<mj-wrapper><mj-section><mj-group><mj-column><mj-text>Text</mj-text></mj-column></mj-group></mj-section></mj-wrapper>
<mj-section><mj-column>
<mj-text>Text</mj-text><mj-image src="https://example.com/image" alt="" href="https://example.com"/>
<mj-button href="https://example.com">Button</mj-button><mj-divider/><mj-spacer/>
<mj-table><tr><td>Cell</td></tr></mj-table>
<mj-social><mj-social-element name="facebook" href="https://example.com">Facebook</mj-social-element></mj-social>
</mj-column></mj-section>
<mj-hero background-color="#ffffff"><mj-text>Hero</mj-text></mj-hero>
</mj-body></mjml>"""


@functools.lru_cache(maxsize=1)
def baseline() -> frozenset[str]:
    """The features MJML's own output contains (its standard elements with their defaults, rendered by
    mjml-python and inlined as a template is): never the designer's doing, never reported."""
    import css_inline
    from mjml import mjml2html

    html = mjml2html(BASELINE_MJML)
    html = css_inline.CSSInliner(inline_style_tags=True, keep_style_tags=True, keep_link_tags=True,
                                 load_remote_stylesheets=False).inline(html)
    return frozenset(e.slug for e in scan(html).found)


# MJML elements whose output is all MJML's own, beyond the baseline: a feature found only there is theirs
MJML_HEAVY = ("mj-carousel", "mj-accordion", "mj-navbar")
# features MJML writes for an attribute of another name
MJML_WRITES = {
    "html-background": ["background-url"], "css-background-image": ["background-url"],
    "css-background-size": ["background-size", "background-url"], "css-border-radius": ["inner-border-radius"],
}


def client_support(src: _Source, pages: list[str], clients: list[str]) -> list[Diagnostic]:
    """Features the compiled HTML uses that a configured client does not support, at the designer's source."""
    seen: dict[str, list[Evidence]] = {}
    base = baseline()
    for html in pages:
        for ev in scan(html).found:
            if ev.slug not in base:
                lst = seen.setdefault(ev.slug, [])
                if ev not in lst:
                    lst.append(ev)
    out = []
    key = tuple(clients)
    for slug, evs in seen.items():
        missing = unsupported(slug, key)
        if not missing:
            continue
        feature = _features()["by_slug"][slug]
        pos, ev = None, evs[0]
        for e in evs:
            attrs = ([e.attr] if e.attr else []) + MJML_WRITES.get(slug, [])
            pos = src.locate(re.compile(e.pattern, re.I), attrs, e.attr_value)
            if pos is not None:
                ev = e
                break
        if pos is None:
            heavy = next(src.elements(*MJML_HEAVY), None)
            pos = heavy.pos if heavy is not None else src.t.pos
        same = ev.label.lower().removeprefix("the ") == feature["title"].lower().strip()
        what = ev.label if same else f"{ev.label} ({feature['title']})"
        out.append(src.finding(pos, f"{what} is not supported by {client_label(missing)}; see {feature['url']}",
                               "warning", "client-support"))
    return out


# ---------------------------------------------------------------------- accessibility

def a11y_lang(t: ir.Template, pages: list[str]) -> list[Diagnostic]:
    out = []
    for html in pages[:1]:
        attrs = scan_html_tag(html)
        lang, dir_ = attrs.get("lang", "").strip(), attrs.get("dir", "").strip().lower()
        missing = []
        if not lang or lang.lower() == "und":
            missing.append('lang (MJML writes lang="und": screen readers then guess the language)')
        if dir_ not in ("ltr", "rtl"):
            missing.append(f'dir (MJML writes dir="{dir_ or "auto"}")')
        if missing:
            out.append(Diagnostic(t.pos, f"the document sets no {' and no '.join(missing)}; write "
                                         '<mjml lang="en" dir="ltr"> with the language of the copy', "warning",
                                  rule="a11y-lang"))
    return out


def scan_html_tag(html: str) -> dict[str, str]:
    m = re.search(r"<html\b([^>]*)>", html, re.I)
    if not m:
        return {}
    return {k.lower(): v for k, v in re.findall(r"""([\w:-]+)\s*=\s*["']([^"']*)["']""", m.group(1))}


_TAG = re.compile(r"""<([a-zA-Z][\w-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>'"]+))?)*)\s*/?>""")


def tag_attrs(s: str) -> dict[str, str]:
    return {k.lower(): (v1 or v2 or v3) for k, v1, v2, v3 in
            re.findall(r"""([^\s=>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>'"]+)))?""", s)}


def a11y_static(src: _Source, project: Project, settings: Settings) -> list[Diagnostic]:
    """The accessibility rules that read the designer's source as written (every branch at once)."""
    out: list[Diagnostic] = []
    if settings.enabled("a11y-alt"):
        out += a11y_alt(src, project)
    if settings.enabled("a11y-table-role"):
        out += a11y_tables(src, project)
    if settings.enabled("a11y-link-text"):
        out += a11y_link_text(src)
    if settings.enabled("a11y-contrast"):
        out += a11y_contrast(src, project)
    return out


def a11y_alt(src: _Source, project: Project) -> list[Diagnostic]:
    out = []
    attrs = _Attributes(src, project)
    for el in src.elements("mj-image"):
        if not attrs.has(el, "alt"):
            out.append(src.finding(el.pos, '<mj-image> has no alt: describe the image (alt="…"), or write alt="" '
                                           "for a purely decorative one", "error", "a11y-alt"))
    for el in src.elements(*ENDING_COPY):
        copy = _Copy(el.children)
        for m in re.finditer(r"<img\b", copy.text, re.I):
            end = copy.text.find(">", m.end())
            attrs = tag_attrs(copy.text[m.end(): end if end >= 0 else None])
            if "alt" not in attrs:
                pos = copy.pos(m.start()) or el.pos
                out.append(src.finding(pos, '<img> has no alt: describe the image (alt="…"), or write alt="" for a '
                                            "purely decorative one", "error", "a11y-alt"))
    return out


def a11y_tables(src: _Source, project: Project) -> list[Diagnostic]:
    out = []
    attrs = _Attributes(src, project)
    msg = ('a layout table without role="presentation": screen readers announce its rows and cells; '
           'add role="presentation" (or give a data table <th> header cells)')
    for el in src.elements("mj-table"):
        copy = _Copy(el.children)
        if not attrs.has(el, "role") and not re.search(r"<(th|caption)\b", copy.text, re.I):
            out.append(src.finding(el.pos, f"<mj-table> is {msg}", "warning", "a11y-table-role"))
    for el in src.elements("mj-text", "mj-raw", "mj-table"):
        copy = _Copy(el.children)
        for m in re.finditer(r"<table\b", copy.text, re.I):
            end = copy.text.find(">", m.end())
            attrs = tag_attrs(copy.text[m.end(): end if end >= 0 else None])
            close = copy.text.lower().find("</table", m.end())
            inner = copy.text[m.end(): close if close >= 0 else None]
            if "role" not in attrs and not re.search(r"<(th|caption)\b", inner, re.I):
                pos = copy.pos(m.start()) or el.pos
                out.append(src.finding(pos, f"<table> is {msg}", "warning", "a11y-table-role"))
    return out


def link_words(html: str) -> str:
    text = re.sub(r"<[^>]*>", " ", html)
    text = re.sub(r"&nbsp;|&#160;", " ", text)
    return " ".join(re.sub(r"[^\w\s\x00]", " ", text.lower()).split())


def a11y_link_text(src: _Source) -> list[Diagnostic]:
    out = []

    def vague(words: str) -> bool:
        return words in VAGUE_LINKS

    for el in src.elements("mj-button", "mj-navbar-link"):
        if "href" not in el.attrs:
            continue
        copy = _Copy(el.children)
        words = link_words(copy.text)
        if vague(words):
            out.append(src.finding(el.pos, f'the link text "{words}" does not say where it goes; name the '
                                           'destination ("See the linen collection")', "warning", "a11y-link-text"))
    for el in src.elements("mj-text", "mj-raw", "mj-table"):
        copy = _Copy(el.children)
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


def a11y_headings(src: _Source, known: dict) -> list[Diagnostic]:
    """Heading levels in the order a recipient meets them, along every branch (for this ESP and trigger)."""
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


# ---- contrast

NAMED = {
    "black": "#000000", "white": "#ffffff", "red": "#ff0000", "green": "#008000", "blue": "#0000ff",
    "yellow": "#ffff00", "gray": "#808080", "grey": "#808080", "silver": "#c0c0c0", "orange": "#ffa500",
    "purple": "#800080", "navy": "#000080", "maroon": "#800000", "teal": "#008080", "olive": "#808000",
    "lime": "#00ff00", "aqua": "#00ffff", "fuchsia": "#ff00ff", "lightgray": "#d3d3d3", "lightgrey": "#d3d3d3",
    "darkgray": "#a9a9a9", "darkgrey": "#a9a9a9", "dimgray": "#696969", "gainsboro": "#dcdcdc",
    "whitesmoke": "#f5f5f5",
}
MJML_DEFAULTS = {
    "mj-text": {"color": "#000000", "font-size": "13px"},
    "mj-button": {"color": "#ffffff", "background-color": "#414141", "font-size": "13px"},
    "mj-table": {"color": "#000000", "font-size": "13px"},
    "mj-hero": {"background-color": "#ffffff"},
    "mj-navbar-link": {"color": "#000000", "font-size": "13px"},
}
UNKNOWN = "unknown"  # a background image: the contrast cannot be known


def parse_color(value: str | None) -> tuple[float, float, float] | None:
    if not value:
        return None
    v = value.strip().lower().replace("!important", "").strip()
    v = NAMED.get(v, v)
    m = re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", v)
    if m:
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return tuple(int(h[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]
    m = re.fullmatch(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*(?:,\s*([\d.]+)\s*)?\)", v)
    if m and (m.group(4) is None or float(m.group(4)) >= 1):
        return tuple(min(int(m.group(i)), 255) / 255 for i in (1, 2, 3))  # type: ignore[return-value]
    return None


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    def lum(c: tuple[float, float, float]) -> float:
        r, g, b_ = (x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b_

    la, lb = sorted((lum(a), lum(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hex_of(c: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(x * 255):02x}" for x in c)


class _Attributes:
    """MJML's attribute cascade: the element, its mj-class, <mj-attributes> (theme, then template), mj-all.

    Each value comes with where it was set when that is not on the element: the theme's line for the tag, or
    the template's <mj-attributes> entry.
    """

    def __init__(self, src: _Source, project: Project):
        self.src = src
        self.defaults: dict[str, dict[str, tuple[str, Pos | None]]] = {}
        theme = project.theme
        if theme is not None:
            def sub(v: str) -> str:
                for k, tok in theme.tokens.items():
                    v = v.replace(f"[[ theme.{k} ]]", tok).replace(f"[[theme.{k}]]", tok)
                return v

            for tag, attrs in theme.attributes.items():
                where = src.locate_in_file(theme.path, re.compile(rf"^\s*\"?{re.escape(tag)}\"?\s*=", re.M))
                self.defaults.setdefault(tag, {}).update({k: (sub(v), where) for k, v in attrs.items()})
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


def _px(value: str | None) -> float | None:
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(px)?\s*$", value or "")
    return float(m.group(1)) if m else None


@dataclass(frozen=True)
class _Bg:
    """A background: its colour (None when an image or unknown), and where it was set when not on an element."""

    color: tuple[float, float, float] | None
    origin: Pos | None = None


def a11y_contrast(src: _Source, project: Project) -> list[Diagnostic]:
    """Text colour against the nearest background along the MJML tree (and inline colours in the copy)."""
    attrs = _Attributes(src, project)
    out: list[Diagnostic] = []

    def layer(el: ir.Element, bg: _Bg, *names: str) -> _Bg:
        for n in names:
            if n == "background-color" and attrs.has(el, "background-url"):
                return _Bg(None)  # text on an image: cannot be known from here
            v, _, origin = attrs.get(el, n)
            if v and v.strip().lower() not in ("transparent", "none", "inherit", "initial"):
                bg = _Bg(parse_color(v), origin)
        return bg

    def check(el: ir.Element, fg_value: str | None, fg_pos: Pos | None, origins: list[Pos | None], bg: _Bg,
              large: bool, what: str) -> None:
        fg = parse_color(fg_value)
        if fg is None or bg.color is None:
            return
        ratio = contrast(fg, bg.color)
        need = 3.0 if large else 4.5
        if ratio < need - 1e-9:
            kind = "large text" if large else "normal text"
            d = src.finding(fg_pos or el.pos,
                            f"{what} {hex_of(fg)} on background {hex_of(bg.color)} has contrast {ratio:.2f}:1, below "
                            f"WCAG AA {need:g}:1 for {kind}; darken the text or lighten the background",
                            "warning", "a11y-contrast")
            for origin in dict.fromkeys(o for o in [*origins, bg.origin] if o is not None):
                d.notes.insert(0, (origin, "the colour is set here"))
            out.append(d)

    def large_text(el: ir.Element) -> bool:
        size = _px(attrs.get(el, "font-size")[0]) or 13
        weight = (attrs.get(el, "font-weight")[0] or "").strip().lower()
        bold = weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 700)
        return size >= 24 or (bold and size >= 18.66)

    def inline_colors(el: ir.Element, bg: _Bg, large: bool) -> None:
        """``style="color:…"`` in the copy, against the nearest background set in the copy or around it."""
        copy = _Copy(el.children)
        stack: list[tuple[str, _Bg]] = []
        for m in re.finditer(r"</\s*([a-zA-Z][\w-]*)\s*>|" + _TAG.pattern, copy.text):
            if m.group(1):  # an end tag: back to its start tag's background
                name = m.group(1).lower()
                while stack:
                    if stack.pop()[0] == name:
                        break
                continue
            tag, a = m.group(2).lower(), tag_attrs(m.group(3) or "")
            here = stack[-1][1] if stack else bg
            decls = {}
            for d in (a.get("style") or "").split(";"):
                k, colon, v = d.partition(":")
                if colon:
                    decls[k.strip().lower()] = v.strip()
            for value in (a.get("bgcolor"), decls.get("background"), decls.get("background-color")):
                if value and value.strip().lower() not in ("transparent", "none", "inherit"):
                    here = _Bg(parse_color(value))
            if "background-image" in decls or "url(" in decls.get("background", ""):
                here = _Bg(None)
            if "color" in decls:
                off = m.start() + re.search(r"(?<![\w-])color\s*:", m.group()).start()
                check(el, decls["color"], copy.pos(off) or copy.pos(m.start()), [], here, large, "text color")
            if tag not in VOID_TAGS and not m.group().endswith("/>"):
                stack.append((tag, here))

    def walk(nodes: list[ir.Node], bg: _Bg) -> None:
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
                    here = layer(el, bg, "container-background-color")
                    fg, fpos, origin = attrs.get(el, "color")
                    large = large_text(el)
                    check(el, fg, fpos, [origin], here, large, "text color")
                    inline_colors(el, here, large)
                elif el.tag == "mj-button":
                    here = layer(el, layer(el, bg, "container-background-color"), "background-color")
                    fg, fpos, origin = attrs.get(el, "color")
                    check(el, fg, fpos, [origin], here, large_text(el), "button text color")
                else:
                    walk(el.children, bg)

    walk([src.t.body], _Bg((1.0, 1.0, 1.0)))  # an email client's page is white
    return out


VOID_TAGS = frozenset({"br", "img", "meta", "link", "hr", "input", "col", "area", "base", "wbr", "source"})


# ---------------------------------------------------------------------- variants: size, subject, preheader, text

def variant_checks(t: ir.Template, o: Output, settings: Settings, out: _Findings) -> tuple[int, int]:
    """The rules that need each recipient's rendering. Returns how many variants were checked, and the
    largest one's size in bytes."""
    from .semantics import interpret
    from .variants import derive

    r = o.rendered
    if r is None:
        return 0, 0
    people, _ = derive([r.page, r.text, r.subject, r.preheader], {"trigger": o.trigger, "esp": o.esp})
    people = people or [{"profile": {}, "event": {}}]
    largest = 0
    if settings.enabled("size"):
        largest = max(len(interpret(r.page, p, o.esp, o.trigger).encode("utf-8")) for p in people)
    if settings.enabled("subject-length"):
        subjects = {" ".join(interpret(r.subject, p, o.esp, o.trigger, "text").split()) for p in people}
        if "" in subjects:
            out.append(Diagnostic(t.subject_pos, "the subject is empty for some recipients: give every branch copy "
                                                 "or a default()", "warning", rule="subject-length"))
        long = max(subjects, key=len)
        if len(long) > SUBJECT_MAX:
            out.append(Diagnostic(t.subject_pos, f'the subject is {len(long)} characters for some recipients ("{long}"); '
                                                 f"inboxes cut it after about {SUBJECT_MAX}", "warning",
                                  rule="subject-length"))
    if settings.enabled("preheader"):
        pre_el = next((e for e in t.head if e.tag == "mj-preview"), None)
        if t.preview is None:
            out.append(Diagnostic(t.subject_pos, "no preheader: add <mj-preview>…</mj-preview> after <mw-subject> "
                                                 "(inboxes show the start of the body instead)", "warning",
                                  rule="preheader"))
        else:
            pos = pre_el.pos if pre_el is not None else t.subject_pos
            pres = {" ".join(interpret(r.preheader, p, o.esp, o.trigger, "text").split()) for p in people}
            if "" in pres:
                out.append(Diagnostic(pos, "the preheader is empty for some recipients", "warning", rule="preheader"))
            long = max(pres, key=len)
            if len(long) > PREHEADER_MAX:
                out.append(Diagnostic(pos, f"the preheader is {len(long)} characters for some recipients; inboxes "
                                           f"show about {PREHEADER_MAX}", "warning", rule="preheader"))
    if settings.enabled("text-part"):
        for p in people:
            text = interpret(r.text, p, o.esp, o.trigger, "text", raw=lambda s: "")
            if not re.search(r"\w", re.sub(r"\(?https?://\S+\)?", " ", text)):
                out.append(Diagnostic(t.pos, "the plain-text part has no copy for some recipients: put the message "
                                             "in text (mj-text, alt text), not only in images", "error",
                                      rule="text-part"))
                break
    return len(people), largest


def size_finding(t: ir.Template, largest: int, esp_label: str, trigger: str | None) -> Diagnostic | None:
    """Gmail clips a message above 102 KB: the largest variant as the ESP sends it (its tracking links)."""
    sent = largest * (1 + ESP_ADDITIONS)
    if sent <= SIZE_WARN:
        return None
    clipped = sent > SIZE_CLIP
    where = f" (trigger {trigger})" if trigger else ""
    tail = ("Gmail clips it at 102 KB, hiding the rest and the footer" if clipped else
            "Gmail clips messages above 102 KB")
    return Diagnostic(t.pos, f"the largest variant is about {sent / KB:.1f} KB as {esp_label} sends it{where} "
                             f"({largest / KB:.1f} KB of HTML + ~{ESP_ADDITIONS:.0%} for tracking links); {tail}: "
                             "trim copy or markup", "error" if clipped else "warning", rule="size")


# ---------------------------------------------------------------------- links

@dataclass
class _Link:
    url: str
    pos: Pos
    kind: str  # "href" or "src"
    src: _Source


URL_ATTRS = {"href": "href", "src": "src", "background-url": "src", "srcset": "src"}


def collect_links(src: _Source) -> list[_Link]:
    """Every literal link and image URL the designer wrote (send-time values are fine as they are)."""
    out: list[_Link] = []
    for el in src.elements():
        if el.tag in ("mj-font", "mj-attributes"):
            continue
        for name, kind in URL_ATTRS.items():
            if name not in el.attrs:
                continue
            nodes = el.attrs[name]
            if any(not isinstance(n, ir.Text) for n in nodes):
                continue  # send-time: decided per recipient
            value = "".join(n.text for n in nodes)
            pos = nodes[0].pos if nodes else src.attr_pos(el, name)
            if name == "srcset":
                for cand in value.split(","):
                    out.append(_Link(cand.strip().split(" ")[0], pos, kind, src))
            else:
                out.append(_Link(value, pos, kind, src))
    for el in src.elements(*ENDING_COPY):
        copy = _Copy(el.children)
        for m in re.finditer(r"""<(a|img|area|v:\w+|td|table)\b[^>]*?\s(href|src|background)\s*=\s*(["'])""",
                             copy.text, re.I):
            start = m.end()
            end = copy.text.find(m.group(3), start)
            value = copy.text[start: end if end >= 0 else None]
            if end < 0 or _Copy.OUT in value:
                continue  # send-time
            pos = copy.pos(start) or copy.pos(m.start()) or el.pos
            out.append(_Link(value, pos, "href" if m.group(2).lower() == "href" else "src", src))
    return out


def url_problem(url: str, kind: str) -> str | None:
    import html as htmllib

    u = htmllib.unescape(url)
    if not u.strip() or u.strip() == "#":
        return "an empty link (or '#') goes nowhere: give the real URL"
    if u != u.strip() or re.search(r"\s", u):
        return f"the URL '{u.strip()}' contains spaces: encode them as %20 or remove them"
    parts = urlsplit(u)
    scheme = parts.scheme.lower()
    if kind == "href" and scheme in ("mailto", "tel", "sms"):
        return None if parts.path else f"'{u}' has no address after {scheme}:"
    if scheme not in ("http", "https") or not parts.netloc:
        what = "a link" if kind == "href" else "an image"
        return f"'{u}' is not an absolute http(s) URL: {what} in an email needs one (https://…)"
    return None


def link_findings(links: list[_Link]) -> list[Diagnostic]:
    out = []
    for link in links:
        problem = url_problem(link.url, link.kind)
        if problem:
            out.append(link.src.finding(link.pos, problem, "error", "links"))
    return out


def check_online(links: list[_Link]) -> list[Diagnostic]:
    """HEAD every well-formed literal URL once (5 s each, a few at a time); GET where HEAD is refused."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    urls: dict[str, list[_Link]] = {}
    for link in links:
        if url_problem(link.url, link.kind) is None and urlsplit(link.url).scheme.lower() in ("http", "https"):
            urls.setdefault(link.url, []).append(link)

    def fetch(url: str) -> tuple[int | None, str]:
        try:
            with requests.Session() as s:
                r = s.head(url, timeout=ONLINE_TIMEOUT, allow_redirects=True)
                if r.status_code in (403, 405, 501):  # some servers refuse HEAD: ask as a browser does
                    r = s.get(url, timeout=ONLINE_TIMEOUT, allow_redirects=True, stream=True)
                    r.close()
                return r.status_code, ""
        except requests.RequestException as e:
            return None, type(e).__name__

    out = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for (url, found), (status, err) in zip(urls.items(), pool.map(fetch, list(urls))):
            for link in found:
                if status is None:
                    out.append(link.src.finding(link.pos, f"could not fetch {url} ({err})", "warning", "links"))
                elif status >= 400:
                    out.append(link.src.finding(link.pos, f"{url} answers HTTP {status}", "error", "links"))
    return out


# ---------------------------------------------------------------------- the command

def _styled(d: Diagnostic, color: bool) -> str:
    line = d.format()
    if color:
        tint = "red" if d.severity == "error" else "yellow"
        line = line.replace(f"{d.severity}:", click.style(f"{d.severity}:", fg=tint, bold=True), 1)
    return line


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("project", default=".", type=click.Path(path_type=Path))  # checked in the body: --json answers
@click.option("--esp", "esps", multiple=True, metavar="ESP",
              help="Check the output for this ESP only (repeatable). Default: the project's [project] esps.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
@click.option("--online", is_flag=True,
              help="Also fetch every literal link and image URL (HEAD, 5 s timeout; send-time URLs are skipped).")
def command(project: Path, esps: tuple[str, ...], as_json: bool, online: bool) -> None:
    """Check every template of PROJECT before it is sent: the CI gate.

    \b
    For each template, trigger and ESP, and each variant (sample recipients
    reaching every branch): client support (caniemail), accessibility (lang,
    alt, table roles, headings, link text, contrast), Gmail's 102 KB clipping,
    subject and preheader, the plain-text part, and links. Each finding is
    PATH:LINE:COL: error|warning: MESSAGE [rule], in your own file.
    Configure in mailwright.toml:
      [check]
      clients = ["gmail", "apple-mail", "outlook.windows"]
      disable = ["a11y-contrast"]
    \b
    Exit status: 0 no errors (warnings allowed), 1 errors, 2 a usage error.
    Every rule, and how to fix or disable it: docs/check.md.
    \b
    Examples:
      mailwright check examples/shop
      mailwright check . --esp klaviyo
      mailwright check . --json | jq '.findings[] | select(.severity == "error")'
      mailwright check . --online
    """
    import os

    if not as_json:
        _usage(project, esps)
        report = check_project(project, list(esps) or None, online)
    else:  # one JSON document on stdout, whatever happens
        doc: dict = {"ok": False, "findings": [], "checked": {}}
        status = 1
        try:
            _usage(project, esps)
            report = check_project(project, list(esps) or None, online)
            doc.update(ok=report.ok, findings=[d.to_json() for d in report.findings], checked=report.checked)
            status = 0 if report.ok else 1
        except click.UsageError as e:
            doc["usage_error"], status = e.format_message(), 2
        except MailwrightError as e:
            doc["findings"] = [d.to_json() for d in e.diagnostics]
        except Exception as e:  # a bug in mailwright: still a document, and the exit status of one
            if os.environ.get("MAILWRIGHT_DEBUG"):
                raise
            doc["internal_error"], status = f"{type(e).__name__}: {e}", 70
            click.echo(f"mailwright: internal error: {doc['internal_error']} (please report it with the input "
                       "that caused it; MAILWRIGHT_DEBUG=1 shows the traceback)", err=True)
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        sys.exit(status)

    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for d in report.findings:
        click.echo(_styled(d, color))
    errors = sum(d.severity == "error" for d in report.findings)
    warnings = len(report.findings) - errors
    c = report.checked
    summary = (f"checked {c.get('templates', 0)} templates, {c.get('outputs', 0)} outputs, "
               f"{c.get('variants', 0)} variants: {errors} error{'s' * (errors != 1)}, "
               f"{warnings} warning{'s' * (warnings != 1)}")
    click.echo(summary, err=True)
    sys.exit(0 if report.ok else 1)


def _usage(project: Path, esps: tuple[str, ...]) -> None:
    """The checks click would make on the arguments (made here, so that --json can answer them)."""
    from .dialect import load_connectors

    if not project.is_dir():
        what = "is not a folder" if project.exists() else "does not exist"
        raise click.BadParameter(f"'{project}' {what}", param_hint="PROJECT")
    available = list(load_connectors())
    for e in esps:
        if e not in available:
            raise click.BadParameter(f"unknown ESP '{e}' (installed: {', '.join(available)})", param_hint="--esp")
