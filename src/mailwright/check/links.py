"""Link and image URLs the designer wrote: rule ``links`` (well formed; ``--online``: they answer) and rule
``example-data`` (example.com and the like, left over from an example or a default)."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .. import ir
from ..errors import Diagnostic, Pos
from .context import Context
from .source import ENDING_COPY, Copy, Source

ONLINE_TIMEOUT = 5.0
URL_ATTRS = {"href": "href", "src": "src", "background-url": "src", "srcset": "src"}
# RFC 2606 / RFC 6761: names reserved for examples, never a real recipient's destination
EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
_BRAND = re.compile(r"\[\[\s*brand\.([A-Za-z_][\w-]*)\s*\]\]")


@dataclass
class Link:
    url: str  # the whole URL, or its literal start when the rest is decided at send time
    pos: Pos
    kind: str  # "href" or "src"
    src: Source
    literal: bool = True


def collect(ctx: Context) -> list[Link]:
    """Every link and image URL the designer wrote, literal or begun literally (shared by both rules)."""
    return ctx.memo("links", lambda: _collect(ctx.src))


def _collect(src: Source) -> list[Link]:
    out: list[Link] = []
    for el in src.elements():
        if el.tag in ("mj-font", "mj-attributes"):
            continue
        for name, kind in URL_ATTRS.items():
            if name not in el.attrs:
                continue
            nodes = el.attrs[name]
            literal = all(isinstance(n, ir.Text) for n in nodes)
            head = []
            for n in nodes:
                if not isinstance(n, ir.Text):
                    break
                head.append(n.text)
            value = "".join(head)
            pos = nodes[0].pos if nodes else src.attr_pos(el, name)
            if name == "srcset" and literal:
                for cand in value.split(","):
                    out.append(Link(cand.strip().split(" ")[0], pos, kind, src))
            else:
                out.append(Link(value, pos, kind, src, literal))
    for el in src.elements(*ENDING_COPY):
        copy = Copy(el.children)
        for m in re.finditer(r"""<(a|img|area|v:\w+|td|table)\b[^>]*?\s(href|src|background)\s*=\s*(["'])""",
                             copy.text, re.I):
            start = m.end()
            end = copy.text.find(m.group(3), start)
            if end < 0:
                continue
            value = copy.text[start:end]
            head = re.split(r"[\x00\x01]", value, maxsplit=1)[0]
            pos = copy.pos(start) or copy.pos(m.start()) or el.pos
            kind = "href" if m.group(2).lower() == "href" else "src"
            out.append(Link(head, pos, kind, src, literal=not Copy.send_time(value)))
    return out


def url_problem(url: str, kind: str) -> str | None:
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


def links(ctx: Context) -> list[Diagnostic]:
    """Every literal URL well formed (send-time ones are decided per recipient)."""
    out = []
    for link in collect(ctx):
        if link.literal and (problem := url_problem(link.url, link.kind)):
            out.append(link.src.finding(link.pos, problem, "error", "links"))
    return out


def example_host(url: str) -> str | None:
    """The host of ``url`` when it is reserved for examples (example.com, shop.example.org, shop.example)."""
    parts = urlsplit(htmllib.unescape(url).strip())
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        host = parts.path.rpartition("@")[2]
    elif scheme in ("http", "https"):
        host = parts.hostname or ""
    else:
        return None
    host = host.lower().rstrip(".")
    if host.endswith(".example") or any(host == d or host.endswith("." + d) for d in EXAMPLE_DOMAINS):
        return host
    return None


def example_data(ctx: Context) -> list[Diagnostic]:
    """URLs that go to a domain reserved for examples: a placeholder that would reach real recipients."""
    out = []
    for link in collect(ctx):
        if not link.literal and not re.match(r"https?://[^/?#]*[/?#]", link.url, re.I):
            continue  # the host itself is decided at send time
        host = example_host(link.url)
        if host is None:
            continue
        pos, notes = link.pos, []
        brand = _brand_key(link.src, link.pos)
        if brand is not None:  # a [brand] value: the place to fix it is mailwright.toml
            pos, notes = ctx.project.pos_of_key("brand", brand), [(link.pos, f"[[ brand.{brand} ]] is used here")]
        what = "link" if link.kind == "href" else "image"
        message = (f"this {what} goes to {host}, a domain reserved for examples: give the real URL (or disable "
                   "example-data for a project that is itself an example)")
        default = _builtin_default(ctx, link) if brand is None else None
        if default is not None:  # a built-in component's default: the fix is at its use
            uses, param = default
            pos, notes = uses[0][0], [(link.pos, "the component's default is here"), *uses[1:]]
            message = (f"component '{Path(link.pos.path).stem}' {what}s to {host} by default, a domain reserved "
                       f'for examples: give {param}="…" where you use it')
        d = link.src.finding(pos, message, "warning", "example-data")
        d.notes[:0] = notes
        if default is not None:
            d.notes = [n for n in d.notes if n[0] != pos]
        out.append(d)
    return out


def _builtin_default(ctx: Context, link: Link) -> tuple[list[tuple[Pos, str]], str] | None:
    """For a URL written in a built-in component's parameter default: its use in the template, the parameter."""
    path = Path(link.pos.path)
    if path.suffix != ".mjml" or path.is_relative_to(ctx.project.root) or path == Path(ctx.t.path):
        return None
    text, _ = link.src.file(link.pos.path)
    off = link.src.offset(link.pos)
    m = re.search(r"([A-Za-z_][\w-]*)\s*=\s*[\"']$", text[:off] if off is not None else "")
    uses = [n for n in link.src.notes(link.pos) if n[1].endswith("used here")]
    return (uses, m.group(1)) if m and uses else None


def _brand_key(src: Source, pos: Pos) -> str | None:
    text, _ = src.file(pos.path)
    off = src.offset(pos)
    m = _BRAND.match(text, off) if off is not None else None
    return m.group(1) if m else None


def check_online(found: list[Link]) -> list[Diagnostic]:
    """HEAD every well-formed literal URL once (5 s each, a few at a time); GET where HEAD is refused."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    urls: dict[str, list[Link]] = {}
    for link in found:
        if link.literal and url_problem(link.url, link.kind) is None \
                and urlsplit(link.url).scheme.lower() in ("http", "https"):
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
        for (url, links_), (status, err) in zip(urls.items(), pool.map(fetch, list(urls))):
            for link in links_:
                if status is None:
                    out.append(link.src.finding(link.pos, f"could not fetch {url} ({err})", "warning", "links"))
                elif status >= 400:
                    out.append(link.src.finding(link.pos, f"{url} answers HTTP {status}", "error", "links"))
    return out
