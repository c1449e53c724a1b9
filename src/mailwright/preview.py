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
from urllib.parse import parse_qs, quote, urlparse

import yaml

from .compile import Output, Result, compile_one, compile_project, parse_template
from .compose import theme_head
from .dialect import load_connectors
from .errors import MailwrightError
from .project import Project, load_project
from .semantics import interpret
from .variants import derive, worst_case

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


class Preview:
    """The compiled project, its tiles, and what changed on disk."""

    def __init__(self, root: Path):
        self.root = root
        self.lock = threading.RLock()
        self.version = 0
        self.changed = threading.Condition(self.lock)
        self.mtimes = self._mtimes()
        self.rebuild()

    # ------------------------------------------------------------ compiling
    def rebuild(self) -> None:
        with self.lock:
            self.errors: list[str] = []
            try:
                self.project: Project = load_project(self.root, list(load_connectors()))
                self.result: Result = compile_project(self.project)
                self.errors = [d.format() for d in self.result.errors]
            except MailwrightError as e:
                self.errors = [e.diagnostic.format()]
                self.result = Result()
            self.tiles: dict[tuple, list[Tile]] = {}
            self._bump()

    def recompile_template(self, name: str) -> None:
        """One template changed on disk: compile it alone and replace its outputs."""
        with self.lock:
            try:
                t = parse_template(self.project, name)
                fresh = Result()
                conns = load_connectors()
                dialects = {e: conns[e].dialect for e in self.project.esps}
                import re

                lit = re.compile("|".join(f"(?:{d.LITERAL.pattern})" for d in dialects.values()))
                head = theme_head(self.project.theme) if self.project.theme else ""
                triggers = sorted({o.trigger for o in self.result.outputs if o.name == name}, key=str) or [None]
                for trig in triggers:
                    compile_one(self.project, t, trig, dialects, lit, head, fresh)
                self.errors = [d.format() for d in fresh.errors]
                if not fresh.errors:
                    self.result.outputs = [o for o in self.result.outputs if o.name != name] + fresh.outputs
            except MailwrightError as e:
                self.errors = [e.diagnostic.format()]
            self.tiles = {k: v for k, v in self.tiles.items() if k[0] != name}
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        self.changed.notify_all()

    def _mtimes(self) -> dict[str, float]:
        out = {}
        cfg = self.root / "mailwright.toml"
        if cfg.exists():
            out[str(cfg)] = cfg.stat().st_mtime_ns
        for d in WATCHED:
            for f in (self.root / d).rglob("*") if (self.root / d).is_dir() else []:
                if f.is_file():
                    out[str(f)] = f.stat().st_mtime_ns
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
        if all(p.parent == templates and p.suffix == ".mjml" and p.exists() for p in only) and \
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

    def samples(self) -> list[tuple[str, dict]]:
        out = []
        for f in sorted((self.root / "samples").glob("*.y*ml")):
            try:
                data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                continue
            out.append((f"sample: {f.stem}", {"profile": data.get("profile") or {}, "event": data.get("event") or {}}))
        return out

    def tiles_for(self, name: str, trigger: str | None) -> list[Tile]:
        key = (name, trigger)
        with self.lock:
            if key in self.tiles:
                return self.tiles[key]
            outs = self.outputs(name, trigger)
            people: list[tuple[str, dict]] = []
            for esp, out in outs.items():
                derived, _ = derive([out.rendered.page, out.rendered.subject], {"esp": esp, "trigger": trigger})
                for d in derived:
                    if all(d != p for _, p in people):
                        people.append((f"derived {len(people) + 1}", d))
            people += self.samples() + [(f"worst case {i + 1}", d) for i, d in enumerate(worst_case())]
            tiles: list[Tile] = []
            by_look: dict[str, Tile] = {}
            for label, data in people:
                tile = Tile(label, data)
                for esp, out in outs.items():
                    tile.per_esp[esp] = self._render(out, data)
                look = json.dumps({e: (r["subject"], r["visible"]) for e, r in tile.per_esp.items()}, sort_keys=True)
                if look in by_look and not label.startswith(("sample", "worst")):
                    by_look[look].recipients += 1  # renders the same email: one tile
                    continue
                by_look[look] = tile
                seen = {r["visible"] for r in tile.per_esp.values()}
                if len(seen) > 1:
                    first = next(iter(tile.per_esp))
                    tile.differs = [e for e, r in tile.per_esp.items() if r["visible"] != tile.per_esp[first]["visible"]]
                tile.unfaithful = [e for e, r in tile.per_esp.items() if not r["faithful"]]
                tiles.append(tile)
            self.tiles[key] = tiles
            return tiles

    def _render(self, out: Output, data: dict) -> dict:
        from .reference import RENDERERS, visible_text

        cfg = self.project.esp_config(out.esp)
        render = RENDERERS.get(out.esp)
        if render is None:  # an ESP without a reference renderer: the language's meaning
            page = interpret(out.rendered.page, data, out.esp, out.trigger)
            subject = interpret(out.rendered.subject, data, out.esp, out.trigger, "text")
            pre = interpret(out.rendered.preheader, data, out.esp, out.trigger, "text")
            text = interpret(out.rendered.text, data, out.esp, out.trigger, "text")
        else:
            page = render(out.html, data, cfg)
            meant = interpret(out.rendered.page, data, out.esp, out.trigger, raw=lambda t: render(t, data, cfg))
            faithful = visible_text(meant) == visible_text(page)
            subject = html.unescape(render(out.subject, data, cfg))
            pre = html.unescape(render(out.preheader, data, cfg))
            text = render(out.text, data, cfg)
            return {"html": page, "subject": " ".join(subject.split()), "preheader": " ".join(pre.split()),
                    "text": text, "visible": visible_text(page), "source": out.html, "faithful": faithful}
        return {"html": page, "subject": " ".join(subject.split()), "preheader": " ".join(pre.split()),
                "text": text, "visible": visible_text(page), "source": out.html, "faithful": True}


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
"""


def _page(title: str, body: str, version: int) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body data-version='{version}'>{body}"
            "<script>const v=document.body.dataset.version;const es=new EventSource('/events');"
            "es.onmessage=e=>{if(e.data!==v){location.reload()}};</script></body></html>")


def _errors(p: Preview) -> str:
    return f"<div class='errors'>{html.escape(chr(10).join(p.errors))}</div>" if p.errors else ""


def index_page(p: Preview) -> str:
    rows = "".join(
        f"<li><a href='/t/{quote(n)}?trigger={quote(t or '')}'>{html.escape(n)}</a>"
        f"{' · trigger ' + html.escape(t) if t else ''}</li>" for n, t in p.template_keys())
    return _page("mailwright preview", f"<header><b>mailwright preview</b> {html.escape(p.project.name)}</header>"
                 f"<main>{_errors(p)}<h2>Templates</h2><ul>{rows}</ul></main>", p.version)


def template_page(p: Preview, name: str, trigger: str | None, esp: str | None) -> str:
    outs = p.outputs(name, trigger)
    if not outs:
        return _page(name, f"<main>{_errors(p)}<p>No output for {html.escape(name)}.</p></main>", p.version)
    esp = esp if esp in outs else next(iter(outs))
    q = f"trigger={quote(trigger or '')}"
    switch = " ".join(f"<a class='{'on' if e == esp else ''}' href='/t/{quote(name)}?{q}&esp={e}'>{e}</a>"
                      for e in outs)
    tiles = []
    for i, tile in enumerate(p.tiles_for(name, trigger)):
        r = tile.per_esp[esp]
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
        tiles.append(
            f"<section class='tile' data-tile='{i}'><h3>{html.escape(tile.label)}{merged}{flag}</h3>"
            f"<div class='meta'>{html.escape(json.dumps(tile.data, ensure_ascii=False)[:400])}</div>"
            f"<div>Subject: <span class='subject'>{html.escape(r['subject'])}</span></div>"
            f"<div>Preheader: <span class='preheader'>{html.escape(r['preheader'])}</span></div>"
            f"<div class='frames'>{frames}</div>"
            f"<details><summary>Plain text</summary><pre class='text'>{html.escape(r['text'])}</pre></details>"
            f"<details><summary>Compiled source ({esp})</summary><pre>{html.escape(r['source'])}</pre></details>"
            "</section>")
    head = (f"<header><a href='/'>← templates</a><b>{html.escape(name)}</b>"
            f"{' · trigger ' + html.escape(trigger) if trigger else ''}<span>ESP: {switch}</span></header>")
    return _page(name, f"{head}<main>{_errors(p)}<div class='tiles'>{''.join(tiles)}</div></main>", p.version)


def render_page(p: Preview, name: str, trigger: str | None, esp: str, v: int, dark: bool) -> str:
    tiles = p.tiles_for(name, trigger)
    doc = tiles[v].per_esp[esp]["html"] if 0 <= v < len(tiles) and esp in tiles[v].per_esp else ""
    if dark:
        doc = doc.replace("<head>", f"<head><style>html{{{DARK}}} img{{{DARK}}}</style>", 1)
    return doc


class _Handler(BaseHTTPRequestHandler):
    preview: Preview

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        p = self.preview
        trigger = q.get("trigger") or None
        try:
            if url.path == "/":
                return self._send(200, index_page(p))
            if url.path.startswith("/t/"):
                return self._send(200, template_page(p, url.path[3:], trigger, q.get("esp")))
            if url.path.startswith("/render/"):
                return self._send(200, render_page(p, url.path[8:], trigger, q.get("esp", ""), int(q.get("v", 0)),
                                                   q.get("dark") == "1"))
            if url.path == "/events":
                return self._events()
            return self._send(404, "not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _events(self) -> None:
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
                version = p.version
            try:
                self.wfile.write(f"data: {version}\n\n".encode())
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
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
            except Exception as e:  # keep watching; show it on the page
                self.preview.errors = [f"mailwright: internal error: {type(e).__name__}: {e}"]

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
