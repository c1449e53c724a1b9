"""The preview's model: the compiled project, each template's tiles, and what changed on disk.

Per template, one tile per distinct variant: recipients derived from the conditions
(:mod:`mailwright.variants`), the designer's own ``samples/*.yaml`` (those meant for
the template) and worst-case data, merged when they render the same email, each
labelled with what makes it different (:mod:`.labels`). Every ESP's output is
rendered for each recipient by that connector's reference renderer; a tile says when
ESPs show different copy (compliance tokens aside) or when an engine shows other
than the template means.
"""

from __future__ import annotations

import html
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from ..compile import Output, Result, compile_one, compile_project, parse_template
from ..compose import theme_head
from ..dialect import load_connectors
from ..errors import Diagnostic, MailwrightError, display_path
from ..flows import load_flows
from ..project import Project, load_project
from ..reference import visible_text
from ..render import PFor, PIf, Slot
from ..semantics import interpret
from ..variants import WORST_CASE_NAMES, Sample, derive, read_sample, sample_files, shape_problems, worst_case
from .labels import Describer, labels

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
        self._cache: dict[str, Any] = {}  # sent_by, findings: until the build changes
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
            self._cache = {}
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
            self._cache = {}
            self._bump()

    def _adopt(self, fresh: Result, names: set[str], others: list[Output] | None = None) -> None:
        """Take the fresh outputs of ``names``; where one failed, keep the last that compiled."""
        self.errors = [d.format() for d in fresh.errors]
        got = {(o.name, o.trigger, o.esp) for o in fresh.outputs}
        kept = [o for o in self.result.outputs if o.name in names and (o.name, o.trigger, o.esp) not in got] \
            if fresh.errors else []
        self.result = Result(outputs=(others or []) + fresh.outputs + kept,
                             flows=fresh.flows if others is None else self.result.flows,  # one template: as were
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

    # ------------------------------------------------------------ what the index shows beside each template
    def sent_by(self) -> dict[str, list[tuple[str, str, str]]]:
        """template -> the flows that send it: (flow name, flow file's name, trigger event)."""
        if "sent_by" not in self._cache:
            out: dict[str, list[tuple[str, str, str]]] = {}
            if self.project is not None:
                try:
                    flows, _ = load_flows(self.project.root, set(self.project.templates), dict(self.project.segments))
                except Exception:  # a broken flow is among the build's errors
                    flows = []
                for f in flows:
                    for t in dict.fromkeys(s.template for s in f.sends()):
                        out.setdefault(t, []).append((f.name, f.id, f.event))
            self._cache["sent_by"] = out
        return self._cache["sent_by"]

    def findings(self) -> tuple[list[Diagnostic], str | None]:
        """``mailwright check``'s findings for the project, or why they could not be had (never raises)."""
        if "findings" not in self._cache:
            try:
                from ..check import check_project

                self._cache["findings"] = (check_project(self.root).findings, None)
            except Exception as e:  # the page shows it and carries on
                self._cache["findings"] = ([], f"check could not run: {internal(e)}")
        return self._cache["findings"]

    def findings_for(self, name: str) -> list[Diagnostic]:
        """The findings at the template's own file, or with a note there (a component it uses)."""
        if self.project is None or name not in self.project.templates:
            return []
        path = str(self.project.templates[name])
        return [d for d in self.findings()[0] if d.pos.path == path or any(p.path == path for p, _ in d.notes)]

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
            people: list[tuple[str, dict, Sample | None]] = []  # (kind, data, sample)
            tiles: list[Tile] = []
            for esp, out in outs.items():
                try:
                    derived, _ = derive([out.rendered.page, out.rendered.subject], {"esp": esp, "trigger": trigger})
                except Exception as e:  # the other recipients still show
                    tiles.append(Tile(f"derived ({esp})", {}, error=f"{self._where(out)}: {internal(e)}"))
                    continue
                for d in derived:
                    if all(d != p for _, p, _ in people):
                        people.append(("derived", d, None))
            for smp in self.samples():
                if isinstance(smp, Tile):
                    tiles.append(smp)
                elif smp.applies(name, trigger):
                    people.append((f"sample: {smp.name}", smp.data, smp))
            people += [(f"worst case: {WORST_CASE_NAMES[i]}", d, None) for i, d in enumerate(worst_case())]
            by_look: dict[str, Tile] = {}
            shown: list[Tile] = []
            for kind, data, smp in people:
                tile = Tile(kind, data)
                if smp is not None and outs:
                    r = next(iter(outs.values())).rendered
                    tile.problems = [d.format() for d in
                                     smp.warnings + shape_problems(smp, [r.page, r.text, r.subject, r.preheader],
                                                                   name)]
                for esp, out in outs.items():
                    tile.per_esp[esp] = self._render(out, data)
                look = json.dumps({e: (r.get("subject"), r.get("visible"), r.get("error"))
                                   for e, r in tile.per_esp.items()}, sort_keys=True)
                if look in by_look and kind == "derived":
                    by_look[look].recipients += 1  # renders the same email: one tile
                    continue
                by_look[look] = tile
                ok = {e: r for e, r in tile.per_esp.items() if "error" not in r}
                if ok:
                    first = next(iter(ok.values()))["copy"]
                    tile.differs = [e for e, r in ok.items() if r["copy"] != first]
                tile.unfaithful = [e for e, r in ok.items() if not r["faithful"]]
                shown.append(tile)
            self._label(shown, outs)
            tiles += shown
            self.tiles[key] = tiles
            return tiles

    def _label(self, tiles: list[Tile], outs: dict[str, Output]) -> None:
        """Each tile's label: what makes its recipient different (worst cases keep their name)."""
        if not outs or self.project is None:
            return
        r = next(iter(outs.values())).rendered
        describe = Describer.of([r.page, r.subject, r.preheader, r.text], self.project.segments)
        told = [t for t in tiles if not t.label.startswith("worst case")]
        for t, text in zip(told, labels([describe.facts(t.data) for t in told])):
            if t.label == "derived":
                t.label = text or "every recipient alike"
            elif text:
                t.label += f" · {text}"

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

    def _renderer_config(self, esp: str) -> dict:
        """What a reference renderer reads: the ESP's [esp.NAME] mappings, and [brand] as ``brand``
        (the sender details the ESP's own tokens insert: no one else's company in a user's preview)."""
        if self.project is None:
            return {}
        brand = self.project.config.get("brand", {})
        return {**self.project.esp_config(esp), "brand": brand if isinstance(brand, dict) else {}}

    def _locate(self, out: Output, data: dict, e: Exception) -> str:
        """Name the place of a render failure: the first <mw-raw> of this ESP its renderer refuses, else the template."""
        render = load_connectors()[out.esp].reference
        cfg = self._renderer_config(out.esp)
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
        cfg = self._renderer_config(out.esp)
        render = load_connectors()[out.esp].reference
        if render is None:  # an ESP without a reference renderer: the language's meaning
            page = interpret(out.rendered.page, data, out.esp, out.trigger)
            subject = interpret(out.rendered.subject, data, out.esp, out.trigger, "text")
            pre = interpret(out.rendered.preheader, data, out.esp, out.trigger, "text")
            text = interpret(out.rendered.text, data, out.esp, out.trigger, "text")
            faithful = True
            copy_page = page
        else:
            page = render(out.html, data, cfg)
            meant = interpret(out.rendered.page, data, out.esp, out.trigger, raw=lambda t: render(t, data, cfg))
            faithful = visible_text(meant) == visible_text(page)
            masked = compliance_raws(out.rendered.page, out.esp)
            copy_page = interpret(out.rendered.page, data, out.esp, out.trigger,
                                  raw=lambda t: "" if t in masked else render(t, data, cfg))
            subject = html.unescape(render(out.subject, data, cfg))
            pre = html.unescape(render(out.preheader, data, cfg))
            text = render(out.text, data, cfg)
        return {"html": page, "subject": " ".join(subject.split()), "preheader": " ".join(pre.split()),
                "text": text, "visible": visible_text(page), "source": out.html, "faithful": faithful,
                "copy": copy_of(copy_page)}


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


def compliance_raws(tree: list, esp: str) -> set[str]:
    """The ``<mw-raw esp=ESP>`` texts that are compliance content: side by side with other ESPs' raws (one
    place, each ESP's own tokens), where any of them holds its ESP's required tokens (unsubscribe, address).
    Each ESP renders these differently by nature; they are not the copy."""
    conns = load_connectors()
    found: set[str] = set()

    def is_compliance(slot: Slot) -> bool:
        conn = conns.get(slot.node.esp)
        return conn is not None and any(re.search(rx, slot.node.text) for rx, _ in conn.dialect.COMPLIANCE)

    def walk(items: list) -> None:
        group: list[Slot] = []
        for item in [*items, None]:
            if isinstance(item, Slot) and item.kind == "raw":
                group.append(item)
                continue
            if isinstance(item, str) and not item.strip():
                continue
            if group and any(is_compliance(g) for g in group):
                found.update(g.node.text for g in group if g.node.esp == esp)
            group = []
            if isinstance(item, PIf):
                for body in item.bodies:
                    walk(body)
            elif isinstance(item, PFor):
                walk(item.body)

    walk(tree)
    return found


def copy_of(page: str) -> str:
    """What a recipient sees of a page, to compare across ESPs: its text, its links and its images."""
    soup = BeautifulSoup(page, "html.parser")
    links = [a.get("href", "") for a in soup.find_all("a")]
    images = [(i.get("src", ""), i.get("alt", "")) for i in soup.find_all("img")]
    return json.dumps([visible_text(page), links, images], ensure_ascii=False)
