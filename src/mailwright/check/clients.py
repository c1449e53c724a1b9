"""Rule ``client-support``: features of the compiled HTML that the configured email clients do not support,
from the caniemail dataset (vendored in ``mailwright/data``), found where the designer wrote them."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib import resources

from ..errors import Diagnostic
from . import css
from .context import Context


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


def stylesheet(text: str) -> list[Evidence]:
    """What a <style> block uses: at-rules, media features, selectors, declarations."""
    fx = _features()
    out: list[Evidence] = []
    if "/*" in text and "css-comments" in fx["by_slug"]:
        out.append(Evidence("css-comments", "a CSS comment", r"/\*"))
    for item in css.stylesheet(text):
        if isinstance(item, css.AtRule):
            if item.name in fx["atrules"]:
                out.append(Evidence(fx["atrules"][item.name], f"@{item.name}", rf"@{re.escape(item.name)}(?![\w-])"))
            for feat in item.features:
                key = feat.replace("min-", "").replace("max-", "").replace("any-", "")
                slug = fx["media"].get(feat) or fx["media"].get(key)
                if slug:
                    out.append(Evidence(slug, f"@{item.name} ({feat})", re.escape(feat)))
            continue
        if item.selector:
            out += selector(item.selector)
        for d in item.declarations:
            out += declaration(d.name, d.value + (" !important" if d.important else ""))
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
                for d in css.declarations(v):
                    self.add(declaration(d.name, d.value + (" !important" if d.important else "")))
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


def client_support(ctx: Context) -> list[Diagnostic]:
    """Features the compiled HTML uses that a configured client does not support, at the designer's source."""
    src = ctx.src
    seen: dict[str, list[Evidence]] = {}
    base = baseline()
    for html in dict.fromkeys(o.html for o in ctx.outputs):
        for ev in scan(html).found:
            if ev.slug not in base:
                lst = seen.setdefault(ev.slug, [])
                if ev not in lst:
                    lst.append(ev)
    out = []
    key = tuple(ctx.clients)
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
