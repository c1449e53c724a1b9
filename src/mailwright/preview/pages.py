"""The preview's HTML: the index (templates, the flows that send them, their check findings), a template's
tiles, one tile's email, and the flows page (each flow as each ESP runs it)."""

from __future__ import annotations

import html
import json
from urllib.parse import quote

from ..dialect import load_connectors
from ..flowviz import CSS as FLOW_CSS
from ..flowviz import graph_for, to_html, to_mermaid
from .model import DARK, Preview, Tile

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}
header{background:#111;color:#fff;padding:10px 16px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header a{color:#fff}header a.on{font-weight:700;text-decoration:underline}
main{padding:16px}.tiles{display:flex;flex-direction:column;gap:18px}
.tile{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px}
.tile h3{margin:0 0 6px;font-size:15px}.meta{color:#555;font-size:12px;word-break:break-all}
.subject{font-weight:700}.flag{background:#fde68a;border-radius:4px;padding:1px 6px;margin-left:6px}
.flag.bad{background:#fca5a5}
.frames{display:flex;flex-wrap:wrap;gap:12px;margin-top:8px}
.frames figure{margin:0;flex:0 1 auto;min-width:0}.frames figcaption{font-size:11px;color:#666}
iframe{border:1px solid #ccc;background:#fff;height:640px;max-width:100%;display:block}
iframe.mobile{width:375px}iframe.desktop{width:640px}
body[data-width=mobile] figure.desktop,body[data-width=desktop] figure.mobile{display:none}
body[data-mode=light] figure.dark,body[data-mode=dark] figure.light{display:none}
.view{display:flex;gap:6px;align-items:center}.view button{border:1px solid #888;background:#333;color:#fff;
border-radius:4px;padding:2px 8px;cursor:pointer}.view button[aria-pressed=true]{background:#fff;color:#111}
.findings li{white-space:pre-wrap;font-family:monospace;font-size:12px}.warning{color:#92400e}
.template{background:#fff;border:1px solid #ddd;border-radius:8px;padding:8px 12px;margin:8px 0}
pre{white-space:pre-wrap;background:#f8f8f8;padding:8px;max-height:300px;overflow:auto}
.errors{background:#fee2e2;border:1px solid #f87171;padding:8px;white-space:pre-wrap}
.tile.error{border-color:#f87171}
"""  + FLOW_CSS


# the page reloads when the build changes; the errors of a broken build show at once, in the banner
LIVE = """<script>(()=>{const v=document.body.dataset.version;const es=new EventSource('/events');
es.onmessage=e=>{let d;try{d=JSON.parse(e.data)}catch(_){return}
const b=document.getElementById('mw-errors');if(b&&d.errors.length){b.textContent=d.errors.join('\\n');b.hidden=false}
if(String(d.version)!==v){location.reload()}}})();</script>"""


# the frames shown: width (both, mobile, desktop) and mode (light, dark, both), kept across reloads
VIEW = """<script>(()=>{const b=document.body,s=window.localStorage;
const set=(k,v)=>{b.dataset[k]=v;try{s.setItem('mw-'+k,v)}catch(_){}
document.querySelectorAll('.view button[data-'+k+']').forEach(x=>x.setAttribute('aria-pressed',
String(x.dataset[k]===v)))};
for(const k of ['width','mode']){let v=null;try{v=s.getItem('mw-'+k)}catch(_){}if(v)set(k,v);
document.querySelectorAll('.view button[data-'+k+']').forEach(x=>x.onclick=()=>set(k,x.dataset[k]))}})();</script>"""

VIEW_BUTTONS = ("<span class='view'>" + "".join(
    f"<button type='button' data-{k}='{v}' aria-pressed='{str(v == default).lower()}'>{v}</button>"
    for k, default, values in (("width", "both", ("mobile", "desktop", "both")),
                               ("mode", "light", ("light", "dark", "both"))) for v in values) + "</span>")


def _page(title: str, body: str, version: int) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width'><style>{CSS}</style></head>"
            f"<body data-version='{version}' data-width='both' data-mode='light'>{body}{VIEW}{LIVE}</body></html>")


def _errors(p: Preview) -> str:
    shown = "\n".join(p.errors)
    return f"<div id='mw-errors' class='errors'{'' if p.errors else ' hidden'}>{html.escape(shown)}</div>"


def index_page(p: Preview) -> str:
    """Each template (per trigger), the flows that send it, and its check findings."""
    findings_error = p.findings()[1] if p.project is not None else None
    names: dict[str, list[str | None]] = {}
    for n, t in p.template_keys():
        names.setdefault(n, []).append(t)
    rows = []
    for n, triggers in names.items():
        links = " ".join(f"<a href='/t/{quote(n)}?trigger={quote(t or '')}'>{html.escape(t or 'preview')}</a>"
                         for t in triggers)
        flows = "".join(f"<li>sent by <a href='/flows#{quote(fid)}'>{html.escape(fname)}</a> on "
                        f"<code>{html.escape(event)}</code></li>" for fname, fid, event in p.sent_by().get(n, []))
        found = p.findings_for(n)
        counts = (f"{sum(d.severity == 'error' for d in found)} errors, "
                  f"{sum(d.severity != 'error' for d in found)} warnings") if found else "no findings"
        items = "".join(f"<li class='{d.severity}'>{html.escape(d.format())}</li>" for d in found)
        check = (f"<details class='findings'><summary>check: {counts}</summary><ul>{items}</ul></details>"
                 if found else f"<div class='findings'>check: {counts}</div>")
        rows.append(f"<section class='template' data-template='{html.escape(n)}'><h3>{html.escape(n)}</h3>"
                    f"<div>preview: {links}</div><ul class='flows'>{flows or '<li>sent by no flow</li>'}</ul>"
                    f"{check}</section>")
    name = html.escape(p.project.name) if p.project else ""
    trouble = f"<div class='errors'>{html.escape(findings_error)}</div>" if findings_error else ""
    return _page("mailwright preview", f"<header><b>mailwright preview</b> {name} <a href='/flows'>flows</a></header>"
                 f"<main>{_errors(p)}{trouble}<h2>Templates</h2>{''.join(rows)}</main>", p.version)


def flows_page(p: Preview) -> str:
    """Every flow as each ESP's translation runs it: boxes and arrows, and the Mermaid text compile writes."""
    conns = load_connectors()
    by_flow: dict[str, list] = {}
    for f in p.result.flows:
        by_flow.setdefault(f.name, []).append(f)
    parts = []
    for name, outs in sorted(by_flow.items()):
        esps = []
        for f in outs:
            try:
                g = graph_for(conns[f.esp], f.files)
            except Exception as e:  # one diagram that fails never takes the page
                esps.append(f"<div class='errors'>{html.escape(f.esp)}: {html.escape(str(e))}</div>")
                continue
            if g is None:
                continue
            esps.append(f"<section class='tile' data-esp='{f.esp}'><h3>{html.escape(conns[f.esp].label)}</h3>"
                        f"{to_html(g)}<details><summary>Mermaid ({f.esp}/flows/{html.escape(name)}.mmd)</summary>"
                        f"<pre>{html.escape(to_mermaid(g))}</pre></details></section>")
        parts.append(f"<h2 id='{html.escape(name)}'>{html.escape(name)}</h2><div class='tiles'>{''.join(esps)}</div>")
    return _page("flows", f"<header><a href='/'>← templates</a><b>flows</b></header>"
                 f"<main>{_errors(p)}{''.join(parts) or '<p>No flows in this project.</p>'}</main>", p.version)


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
            f"{' · trigger ' + html.escape(trigger) if trigger else ''}<span>ESP: {switch}</span>{VIEW_BUTTONS}</header>")
    return _page(name, f"{head}<main>{_errors(p)}<div class='tiles'>{''.join(tiles)}</div></main>", p.version)


def _tile(name: str, q: str, esp: str, i: int, tile: Tile) -> str:
    problems = "".join(f"<div class='errors problem'>{html.escape(m)}</div>" for m in tile.problems)
    r = tile.per_esp.get(esp, {})
    error = tile.error or r.get("error")
    label = f"<span class='label'>{html.escape(tile.label)}</span>"
    if error:
        return (f"<section class='tile error' data-tile='{i}'><h3>{label}"
                f"<span class='flag bad'>cannot show this email</span></h3>{problems}"
                f"<pre class='errors'>{html.escape(error)}</pre></section>")
    src = f"/render/{quote(name)}?{q}&esp={esp}&v={i}"
    frames = "".join(
        f"<figure class='{width} {mode}'><figcaption>{width} · {mode}</figcaption>"
        f"<iframe class='{width}' title='{width} · {mode}' src='{src}{'&dark=1' if mode == 'dark' else ''}'></iframe>"
        "</figure>" for width in ("mobile", "desktop") for mode in ("light", "dark"))
    flag = (f"<span class='flag differs' title='the same recipient reads other copy (text, links or images) in "
            f"these ESPs: mw-raw, esp branches'>differs between ESPs: {', '.join(tile.differs)}</span>"
            if tile.differs else "")
    if tile.unfaithful:
        flag += (f"<span class='flag bad'>{', '.join(tile.unfaithful)}: the ESP would show something other than "
                 "the template means: please report it</span>")
    merged = f" · {tile.recipients} recipients alike" if tile.recipients > 1 else ""
    data = html.escape(json.dumps(tile.data, ensure_ascii=False, indent=1, default=str))
    return (f"<section class='tile' data-tile='{i}'><h3>{label}{merged}{flag}</h3>{problems}"
            f"<div>Subject: <span class='subject'>{html.escape(r['subject'])}</span></div>"
            f"<div>Preheader: <span class='preheader'>{html.escape(r['preheader'])}</span></div>"
            f"<div class='frames'>{frames}</div>"
            f"<details><summary>Recipient data</summary><pre class='data'>{data}</pre></details>"
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

