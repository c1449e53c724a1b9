"""``mailwright preview``: every variant of every template, side by side, per ESP, live.

A local server (127.0.0.1) shows, per template, one tile per distinct variant:
recipients derived from the conditions (:mod:`variants`), the designer's own
``samples/*.yaml`` and worst-case data, merged when they render the same email.
Each tile shows the subject and preheader, the email at mobile and desktop width
in light mode and a dark-mode view, the plain-text part and the compiled source;
the ESP switch renders the same recipient from each ESP's compiled output through
the reference renderers (:mod:`reference`), and a tile says when ESPs differ.
Saving a template recompiles that template only (a component, theme or
mailwright.toml: everything) and open pages reload themselves (server-sent events).
"""

from __future__ import annotations

import html
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from .compile import Output, Result, compile_one, compile_project, parse_template
from .compose import theme_head
from .dialect import load_connectors
from .errors import Diagnostic, MailwrightError, display_path
from .project import Project, load_project
from .reference import visible_text
from .render import PFor, PIf, Slot
from .semantics import interpret
from .variants import Sample, derive, read_sample, sample_files, shape_problems, worst_case

WATCHED = ("templates", "components", "themes", "flows", "samples")
DARK = "filter: invert(1) hue-rotate(180deg);"  # how clients that force dark mode treat a light email


@dataclass
class Tile:
    label: str
    data: dict
    recipients: int = 1
    per_esp: dict[str, dict] = field(default_factory=dict)  # esp -> {html, subject, preheader, text, visible}
    differs: list[str] = field(default_factory=list)  # ESPs whose email differs from the first ESP's
    unfaithful: list[str] = field(default_factory=list)  # ESPs whose engine shows other than the meaning
    error: str | None = None  # the recipient could not be read (a malformed sample): no email to show
    problems: list[str] = field(default_factory=list)  # the sample's shape against what the template reads


def internal(e: BaseException) -> str:
    return (f"mailwright: internal error: {type(e).__name__}: {e} (a bug in mailwright: please report it with "
            "the input that caused it)")


class Preview:
    """The compiled project, its tiles, and what changed on disk.

    A change that breaks the build keeps the last outputs that compiled on show and
    sets ``errors``; every change, good or bad, bumps ``version`` so that open pages hear of it.
    """

    def __init__(self, root: Path):
        self.root = root
        self.lock = threading.RLock()
        self.version = 0
        self.changed = threading.Condition(self.lock)
        self.project: Project | None = None
        self.result = Result()
        self.errors: list[str] = []
        self.tiles: dict[tuple, list[Tile]] = {}
        self.mtimes = self._mtimes()
        self.rebuild()

    # ------------------------------------------------------------ compiling
    def rebuild(self) -> None:
        with self.lock:
            try:
                project = load_project(self.root, list(load_connectors()))
                fresh = compile_project(project)
                self.project = project
                self._adopt(fresh, set(project.templates))
            except MailwrightError as e:
                self.errors = [d.format() for d in e.diagnostics]
            except Exception as e:  # never a dead preview: the page shows it
                self.errors = [internal(e)]
            self.tiles = {}
            self._bump()

    def recompile_template(self, name: str) -> None:
        """One template changed on disk: compile it alone and replace its outputs."""
        with self.lock:
            try:
                assert self.project is not None
                t = parse_template(self.project, name)
                fresh = Result()
                conns = load_connectors()
                dialects = {e: conns[e].dialect for e in self.project.esps}
                head = theme_head(self.project.theme) if self.project.theme else ""
                triggers = sorted({o.trigger for o in self.result.outputs if o.name == name}, key=str) or [None]
                for trig in triggers:
                    compile_one(self.project, t, trig, dialects, head, fresh)
                others = [o for o in self.result.outputs if o.name != name]
                self._adopt(fresh, {name}, others)
            except MailwrightError as e:
                self.errors = [d.format() for d in e.diagnostics]
            except Exception as e:
                self.errors = [internal(e)]
            self.tiles = {k: v for k, v in self.tiles.items() if k[0] != name}
            self._bump()

    def _adopt(self, fresh: Result, names: set[str], others: list[Output] | None = None) -> None:
        """Take the fresh outputs of ``names``; where one failed, keep the last that compiled."""
        self.errors = [d.format() for d in fresh.errors]
        got = {(o.name, o.trigger, o.esp) for o in fresh.outputs}
        kept = [o for o in self.result.outputs if o.name in names and (o.name, o.trigger, o.esp) not in got] \
            if fresh.errors else []
        self.result = Result(outputs=(others or []) + fresh.outputs + kept,
                             diagnostics=fresh.diagnostics)

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def _mtimes(self) -> dict[str, float]:
        out = {}
        files = [self.root / "mailwright.toml"]
        for d in WATCHED:
            try:
                files += (self.root / d).rglob("*") if (self.root / d).is_dir() else []
            except OSError:  # a folder that vanished or loops: the next look sees it settled
                continue
        for f in files:
            try:
                if f.is_file():
                    out[str(f)] = f.stat().st_mtime_ns
            except OSError:
                continue
        return out

    def poll(self) -> bool:
        """Look at the disk; recompile what changed. True when something did."""
        now = self._mtimes()
        if now == self.mtimes:
            return False
        changed = {k for k in set(now) | set(self.mtimes) if now.get(k) != self.mtimes.get(k)}
        self.mtimes = now
        templates = self.root / "templates"
        only = [Path(k) for k in changed]
        if self.project is not None and not self.errors and \
                all(p.parent == templates and p.suffix == ".mjml" and p.exists() for p in only) and \
                all(p.stem in self.project.templates for p in only):
            for p in only:
                self.recompile_template(p.stem)
        else:
            self.rebuild()
        return True

    # ------------------------------------------------------------ tiles
    def outputs(self, name: str, trigger: str | None) -> dict[str, Output]:
        return {o.esp: o for o in self.result.outputs if o.name == name and o.trigger == trigger}

    def template_keys(self) -> list[tuple[str, str | None]]:
        seen = []
        for o in self.result.outputs:
            if (o.name, o.trigger) not in seen:
                seen.append((o.name, o.trigger))
        return sorted(seen, key=lambda k: (k[0], k[1] or ""))

    def samples(self) -> list[Sample | Tile]:
        """The designer's samples; a malformed one is an error tile (the others still show)."""
        out: list[Sample | Tile] = []
        for f in sample_files(self.root):
            try:
                out.append(read_sample(f))
            except MailwrightError as e:
                out.append(Tile(f"sample: {f.stem}", {}, error="\n".join(d.format() for d in e.diagnostics)))
            except Exception as e:
                out.append(Tile(f"sample: {f.stem}", {}, error=f"{display_path(str(f))}: {internal(e)}"))
        return out

    def tiles_for(self, name: str, trigger: str | None) -> list[Tile]:
        key = (name, trigger)
        with self.lock:
            if key in self.tiles:
                return self.tiles[key]
            outs = self.outputs(name, trigger)
            people: list[tuple[str, dict, Sample | None]] = []
            tiles: list[Tile] = []
            for esp, out in outs.items():
                try:
                    derived, _ = derive([out.rendered.page, out.rendered.subject], {"esp": esp, "trigger": trigger})
                except Exception as e:  # the other recipients still show
                    tiles.append(Tile(f"derived ({esp})", {}, error=f"{self._where(out)}: {internal(e)}"))
                    continue
                for d in derived:
                    if all(d != p for _, p, _ in people):
                        people.append((f"derived {len(people) + 1}", d, None))
            for smp in self.samples():
                if isinstance(smp, Tile):
                    tiles.append(smp)
                else:
                    people.append((f"sample: {smp.name}", smp.data, smp))
            people += [(f"worst case {i + 1}", d, None) for i, d in enumerate(worst_case())]
            by_look: dict[str, Tile] = {}
            for label, data, smp in people:
                tile = Tile(label, data)
                if smp is not None and outs:
                    out = next(iter(outs.values()))
                    r = out.rendered
                    tile.problems = [d.format() for d in
                                     smp.warnings + shape_problems(smp, [r.page, r.text, r.subject, r.preheader],
                                                                   name)]
                for esp, out in outs.items():
                    tile.per_esp[esp] = self._render(out, data)
                look = json.dumps({e: (r.get("subject"), r.get("visible"), r.get("error"))
                                   for e, r in tile.per_esp.items()}, sort_keys=True)
                if look in by_look and not label.startswith(("sample", "worst")):
                    by_look[look].recipients += 1  # renders the same email: one tile
                    continue
                by_look[look] = tile
                shown = {e: r for e, r in tile.per_esp.items() if "error" not in r}
                if len({r["visible"] for r in shown.values()}) > 1:
                    first = next(iter(shown))
                    tile.differs = [e for e, r in shown.items() if r["visible"] != shown[first]["visible"]]
                tile.unfaithful = [e for e, r in shown.items() if not r["faithful"]]
                tiles.append(tile)
            self.tiles[key] = tiles
            return tiles

    def _where(self, out: Output) -> str:
        if self.project is not None and out.name in self.project.templates:
            return display_path(str(self.project.templates[out.name]))
        return out.name

    def _render(self, out: Output, data: dict) -> dict:
        """One recipient's email from one ESP's output; a failure is ``{"error": "PATH:LINE:COL: error: …"}``."""
        try:
            return self._render_unsafe(out, data)
        except Exception as e:
            return {"error": self._locate(out, data, e)}

    def _locate(self, out: Output, data: dict, e: Exception) -> str:
        """Name the place of a render failure: the first <mw-raw> of this ESP its renderer refuses, else the template."""
        render = load_connectors()[out.esp].reference
        cfg = self.project.esp_config(out.esp) if self.project else {}
        reason = " ".join(str(e).split()) or type(e).__name__
        if render is not None:
            r = out.rendered
            for raw in _raws([r.subject, r.preheader, r.page, r.text], out.esp):
                try:
                    render(raw.node.text, data, cfg)
                except Exception as bad:
                    why = " ".join(str(bad).split()) or type(bad).__name__
                    return Diagnostic(raw.node.pos or raw.pos, f"the {out.esp} reference renderer cannot render this "
                                      f"<mw-raw>: {why}").format()
        return f"{self._where(out)}: error: the {out.esp} output for this recipient failed to render: {reason} " \
               "(a bug in mailwright: please report it)"

    def _render_unsafe(self, out: Output, data: dict) -> dict:
        assert self.project is not None
        cfg = self.project.esp_config(out.esp)
        render = load_connectors()[out.esp].reference
        if render is None:  # an ESP without a reference renderer: the language's meaning
            page = interpret(out.rendered.page, data, out.esp, out.trigger)
            subject = interpret(out.rendered.subject, data, out.esp, out.trigger, "text")
            pre = interpret(out.rendered.preheader, data, out.esp, out.trigger, "text")
            text = interpret(out.rendered.text, data, out.esp, out.trigger, "text")
            faithful = True
        else:
            page = render(out.html, data, cfg)
            meant = interpret(out.rendered.page, data, out.esp, out.trigger, raw=lambda t: render(t, data, cfg))
            faithful = visible_text(meant) == visible_text(page)
            subject = html.unescape(render(out.subject, data, cfg))
            pre = html.unescape(render(out.preheader, data, cfg))
            text = render(out.text, data, cfg)
        return {"html": page, "subject": " ".join(subject.split()), "preheader": " ".join(pre.split()),
                "text": text, "visible": visible_text(page), "source": out.html, "faithful": faithful}


def _raws(trees: list[list], esp: str) -> list[Slot]:
    out: list[Slot] = []
    for tree in trees:
        for item in tree:
            if isinstance(item, PIf):
                out += _raws(item.bodies, esp)
            elif isinstance(item, PFor):
                out += _raws([item.body], esp)
            elif isinstance(item, Slot) and item.kind == "raw" and item.node.esp == esp:
                out.append(item)
    return out


# ---------------------------------------------------------------- pages

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}
header{background:#111;color:#fff;padding:10px 16px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header a{color:#fff}header a.on{font-weight:700;text-decoration:underline}
main{padding:16px}.tiles{display:flex;flex-direction:column;gap:18px}
.tile{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px}
.tile h3{margin:0 0 6px;font-size:15px}.meta{color:#555;font-size:12px;word-break:break-all}
.subject{font-weight:700}.flag{background:#fde68a;border-radius:4px;padding:1px 6px;margin-left:6px}
.flag.bad{background:#fca5a5}
.frames{display:flex;gap:12px;overflow-x:auto;margin-top:8px}
.frames figure{margin:0}.frames figcaption{font-size:11px;color:#666}
iframe{border:1px solid #ccc;background:#fff;height:640px}
iframe.mobile{width:375px}iframe.desktop{width:640px}
pre{white-space:pre-wrap;background:#f8f8f8;padding:8px;max-height:300px;overflow:auto}
.errors{background:#fee2e2;border:1px solid #f87171;padding:8px;white-space:pre-wrap}
.tile.error{border-color:#f87171}
"""


# the page reloads when the build changes; the errors of a broken build show at once, in the banner
LIVE = """<script>(()=>{const v=document.body.dataset.version;const es=new EventSource('/events');
es.onmessage=e=>{let d;try{d=JSON.parse(e.data)}catch(_){return}
const b=document.getElementById('mw-errors');if(b&&d.errors.length){b.textContent=d.errors.join('\\n');b.hidden=false}
if(String(d.version)!==v){location.reload()}}})();</script>"""


def _page(title: str, body: str, version: int) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body data-version='{version}'>{body}{LIVE}</body></html>")


def _errors(p: Preview) -> str:
    shown = "\n".join(p.errors)
    return f"<div id='mw-errors' class='errors'{'' if p.errors else ' hidden'}>{html.escape(shown)}</div>"


def index_page(p: Preview) -> str:
    rows = "".join(
        f"<li><a href='/t/{quote(n)}?trigger={quote(t or '')}'>{html.escape(n)}</a>"
        f"{' · trigger ' + html.escape(t) if t else ''}</li>" for n, t in p.template_keys())
    name = html.escape(p.project.name) if p.project else ""
    return _page("mailwright preview", f"<header><b>mailwright preview</b> {name}</header>"
                 f"<main>{_errors(p)}<h2>Templates</h2><ul>{rows}</ul></main>", p.version)


class NotFound(Exception):
    """A request for something the preview does not have: 404 with the reason."""


class BadRequest(Exception):
    """A malformed request: 400 with the reason."""


def known_template(p: Preview, name: str) -> bool:
    return bool(p.outputs(name, None)) or any(n == name for n, _ in p.template_keys()) or \
        (p.project is not None and name in p.project.templates)


def template_page(p: Preview, name: str, trigger: str | None, esp: str | None) -> str:
    if not known_template(p, name):
        raise NotFound(f"no template '{name}' in this project")
    outs = p.outputs(name, trigger)
    if not outs:
        why = "it does not compile (see above)" if p.errors else f"it is not sent for trigger '{trigger}'"
        return _page(name, f"<main>{_errors(p)}<p>No output for {html.escape(name)}: {html.escape(why)}.</p></main>",
                     p.version)
    esp = esp if esp in outs else next(iter(outs))
    q = f"trigger={quote(trigger or '')}"
    switch = " ".join(f"<a class='{'on' if e == esp else ''}' href='/t/{quote(name)}?{q}&esp={e}'>{e}</a>"
                      for e in outs)
    tiles = []
    for i, tile in enumerate(p.tiles_for(name, trigger)):
        tiles.append(_tile(name, q, esp, i, tile))
    head = (f"<header><a href='/'>← templates</a><b>{html.escape(name)}</b>"
            f"{' · trigger ' + html.escape(trigger) if trigger else ''}<span>ESP: {switch}</span></header>")
    return _page(name, f"{head}<main>{_errors(p)}<div class='tiles'>{''.join(tiles)}</div></main>", p.version)


def _tile(name: str, q: str, esp: str, i: int, tile: Tile) -> str:
    problems = "".join(f"<div class='errors problem'>{html.escape(m)}</div>" for m in tile.problems)
    r = tile.per_esp.get(esp, {})
    error = tile.error or r.get("error")
    if error:
        return (f"<section class='tile error' data-tile='{i}'><h3>{html.escape(tile.label)}"
                f"<span class='flag bad'>cannot show this email</span></h3>{problems}"
                f"<pre class='errors'>{html.escape(error)}</pre></section>")
    src = f"/render/{quote(name)}?{q}&esp={esp}&v={i}"
    frames = "".join(
        f"<figure><figcaption>{cap}</figcaption><iframe class='{cls}' title='{cap}' src='{src}{extra}'></iframe>"
        "</figure>" for cap, cls, extra in (("mobile · light", "mobile", ""), ("mobile · dark", "mobile", "&dark=1"),
                                            ("desktop · light", "desktop", ""),
                                            ("desktop · dark", "desktop", "&dark=1")))
    flag = (f"<span class='flag' title='the same recipient sees another email in these ESPs (ESP-specific "
            f"content: mw-raw, esp branches)'>differs in {', '.join(tile.differs)}</span>" if tile.differs else "")
    if tile.unfaithful:
        flag += (f"<span class='flag bad'>{', '.join(tile.unfaithful)}: the ESP would show something other than "
                 "the template means: please report it</span>")
    merged = f" · {tile.recipients} recipients alike" if tile.recipients > 1 else ""
    return (f"<section class='tile' data-tile='{i}'><h3>{html.escape(tile.label)}{merged}{flag}</h3>{problems}"
            f"<div class='meta'>{html.escape(json.dumps(tile.data, ensure_ascii=False, default=str)[:400])}</div>"
            f"<div>Subject: <span class='subject'>{html.escape(r['subject'])}</span></div>"
            f"<div>Preheader: <span class='preheader'>{html.escape(r['preheader'])}</span></div>"
            f"<div class='frames'>{frames}</div>"
            f"<details><summary>Plain text</summary><pre class='text'>{html.escape(r['text'])}</pre></details>"
            f"<details><summary>Compiled source ({esp})</summary><pre>{html.escape(r['source'])}</pre></details>"
            "</section>")


def render_page(p: Preview, name: str, trigger: str | None, esp: str, v: str, dark: bool) -> tuple[int, str]:
    """One tile's email (the iframe's document): status and HTML."""
    try:
        index = int(v)
    except ValueError:
        raise BadRequest(f"v must be a tile number (0, 1, …), not '{v}'") from None
    if not known_template(p, name):
        raise NotFound(f"no template '{name}' in this project")
    outs = p.outputs(name, trigger)
    if esp not in outs:
        raise NotFound(f"'{name}' has no {esp or 'ESP'} output" + (f" for trigger '{trigger}'" if trigger else "")
                       + (f" (it has: {', '.join(outs)})" if outs else ""))
    tiles = p.tiles_for(name, trigger)
    if not 0 <= index < len(tiles):
        raise NotFound(f"no tile {index}: '{name}' has {len(tiles)} (0 to {len(tiles) - 1})")
    tile = tiles[index]
    error = tile.error or tile.per_esp.get(esp, {}).get("error")
    if error:
        return 422, f"<!doctype html><meta charset='utf-8'><pre>{html.escape(error)}</pre>"
    doc = tile.per_esp[esp]["html"]
    if dark:
        doc = doc.replace("<head>", f"<head><style>html{{{DARK}}} img{{{DARK}}}</style>", 1)
    return 200, doc


class _Handler(BaseHTTPRequestHandler):
    preview: Preview

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Every request gets an answer: a page, 400/404 with the reason, or 500 naming the failure."""
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            return
        except BadRequest as e:
            self._answer(400, str(e))
        except NotFound as e:
            self._answer(404, str(e))
        except Exception as e:
            self._answer(500, internal(e))

    def _answer(self, status: int, reason: str) -> None:
        try:
            self._send(status, reason + "\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        p = self.preview
        trigger = q.get("trigger") or None
        if url.path == "/":
            with p.lock:
                return self._send(200, index_page(p))
        if url.path.startswith("/t/"):
            with p.lock:
                return self._send(200, template_page(p, unquote(url.path[3:]), trigger, q.get("esp")))
        if url.path.startswith("/render/"):
            with p.lock:
                status, doc = render_page(p, unquote(url.path[8:]), trigger, q.get("esp", ""), q.get("v", "0"),
                                          q.get("dark") == "1")
            return self._send(status, doc)
        if url.path == "/events":
            return self._events()
        raise NotFound(f"nothing at {url.path}")

    def _events(self) -> None:
        """Server-sent events: ``{"version": N, "errors": [...]}`` now and at every change of the build."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        p = self.preview
        last = None
        while True:
            with p.changed:
                if last == p.version:
                    p.changed.wait(timeout=15)
                version, errors = p.version, list(p.errors)
            try:
                self.wfile.write(f"data: {json.dumps({'version': version, 'errors': errors})}\n\n".encode())
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                return
            last = version


class Server:
    """The preview server and its watcher, on 127.0.0.1."""

    def __init__(self, root: Path, port: int = 8765, interval: float = 0.2):
        self.preview = Preview(root)
        handler = type("Handler", (_Handler,), {"preview": self.preview})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.interval = interval
        self._stop = threading.Event()

    def start(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.preview.poll()
            except Exception as e:  # keep watching; tell the open pages
                with self.preview.lock:
                    self.preview.errors = [internal(e)]
                    self.preview._bump()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def snapshot(root: Path, out_dir: Path, chromium: str, only: list[str] | None = None, log=print,
             offline: bool = True) -> list[Path]:
    """PNG screenshots of every tile (variant × ESP × width × light/dark) through headless Chromium."""
    from playwright.sync_api import sync_playwright

    server = Server(root, port=0).start()
    written: list[Path] = []
    try:
        p = server.preview
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"])
            page = browser.new_page()
            if offline:  # load only from the preview server: remote fonts and images are left out
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.url)
                           else route.abort())
            for name, trigger in p.template_keys():
                if only and name not in only:
                    continue
                for esp in p.outputs(name, trigger):
                    stem = f"{name}{'--' + trigger if trigger else ''}"
                    page.set_viewport_size({"width": 1400, "height": 900})
                    page.goto(f"{server.url}t/{quote(name)}?trigger={quote(trigger or '')}&esp={esp}")
                    page.wait_for_load_state("load")
                    matrix = out_dir / stem / esp / "matrix.png"
                    matrix.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(matrix))
                    written.append(matrix)
                    for v, _tile in enumerate(p.tiles_for(name, trigger)):
                        for width, wname in ((375, "mobile"), (640, "desktop")):
                            for dark in (False, True):
                                page.set_viewport_size({"width": width, "height": 900})
                                url = (f"{server.url}render/{quote(name)}?trigger={quote(trigger or '')}&esp={esp}"
                                       f"&v={v}{'&dark=1' if dark else ''}")
                                page.goto(url)
                                f = out_dir / stem / esp / f"v{v + 1}-{wname}-{'dark' if dark else 'light'}.png"
                                f.parent.mkdir(parents=True, exist_ok=True)
                                page.screenshot(path=str(f), full_page=True)
                                written.append(f)
                    log(f"{name}{' (' + trigger + ')' if trigger else ''} {esp}: {len(p.tiles_for(name, trigger))} tiles")
            browser.close()
    finally:
        server.stop()
    return written


def wait_for_change(p: Preview, version: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with p.changed:
        while p.version == version:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            p.changed.wait(left)
    return True
