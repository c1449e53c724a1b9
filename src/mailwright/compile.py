"""The pipeline: parse → compose → one intermediate form → checks → render once → emit per ESP."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ir
from .batch import batch_gc
from .compose import Composer, Theme, theme_head, theme_tokens
from .dialect import Context, Dialect, FlowContext, load_connectors
from .errors import Diagnostic, MailwrightError, Pos
from .inputs import read_text
from .lower import lower
from .output import write_outputs  # noqa: F401 - moved to output.py; kept importable from here
from .project import Project
from .render import Renderer, emit, inline_html, mjml_html, parse_stream, to_html
from .source import SourceFile, parse_document
from .text import html_to_text

if TYPE_CHECKING:
    from .cache import BuildCache
    from .flows import Flow


@dataclass
class Output:
    esp: str
    name: str
    trigger: str | None
    html: str
    text: str
    subject: str
    preheader: str
    rendered: Any = field(default=None, repr=False, compare=False)  # the placeholder trees

    @property
    def stem(self) -> str:
        return self.name if self.trigger is None else f"{self.name}--{self.trigger}"


@dataclass
class FlowOutput:
    esp: str
    name: str  # the flow file's name
    files: dict[str, str]  # suffix ('.json', '.md') -> content

    @property
    def definition(self) -> dict:
        return json.loads(self.files[".json"])


@dataclass
class Result:
    outputs: list[Output] = field(default_factory=list)
    flows: list[FlowOutput] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    plan: Any = None  # the tracking plan (signals/contract.py)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def parse_template(project: Project, name: str, roots: list[Path] | None = None) -> ir.Template:
    """Read, compose and lower one template into the intermediate form (``roots``: the project's
    :func:`include_roots`, when the caller has them)."""
    path = project.templates[name]
    src = SourceFile(str(path), read_text(path, what="template"))
    root = parse_document(src)
    override = root.attrs.pop("mw-theme", None)
    theme = template_theme(project, override) if override is not None else project.theme
    brand = project.config.get("brand", {})
    composer = Composer(project.components, theme, brand if isinstance(brand, dict) else {},
                        str(project.config_path))
    root = composer.expand(root, include_roots(project) if roots is None else roots)
    try:
        t = lower(root, name, str(path), dict(project.segments), project.esps)
        t.source = src.text
        t.theme_override, t.theme = override is not None, theme
        t.warnings[:0] = src.warnings + composer.warnings
        t.components_used = list(composer.uses)  # component files (the build cache's dependencies)
        return t
    except MailwrightError as e:
        # a fault inside a component: say which template used it (language.md §7)
        for d in e.diagnostics:
            trail = composer.uses.get(d.pos.path)
            if trail and not d.notes:
                d.notes.extend(trail)
        raise


def template_theme(project: Project, attr) -> Theme | None:
    """``<mjml mw-theme="NAME">``: this template's theme; ``none`` leaves it unthemed."""
    from .compose import load_theme
    from .project import builtin_dir

    name = "".join(c.text for c in attr.value if hasattr(c, "text")).strip()
    if name == "none":
        return None
    for d in (project.root / "themes", builtin_dir("themes")):
        f = d / f"{name}.toml"
        if re.fullmatch(r"[A-Za-z0-9_-]+", name) and f.is_file():
            return load_theme(f)
    known = sorted({p.stem for d in (project.root / "themes", builtin_dir("themes")) if d.is_dir()
                    for p in d.glob("*.toml")})
    raise MailwrightError(attr.value_pos, f"unknown theme '{name}' (themes: {', '.join(known)}; "
                                          "or none for no theme)")


def include_roots(project: Project) -> list[Path]:
    """The folders ``<mj-include>`` may read: the project, the built-in components,
    and any ``[compile] include_paths`` (relative to the project)."""
    from .project import builtin_dir

    extra = project.config.get("compile", {}).get("include_paths", [])
    extra = extra if isinstance(extra, list) else []
    return [project.root, builtin_dir("components"), *(project.root / str(p) for p in extra)]


def triggers_by_template(flows: list[Flow]) -> dict[str, list[str | None]]:
    """Which triggers each template is sent for (language.md §3, §7 'one output per trigger')."""
    found: dict[str, list[str | None]] = {}
    for f in flows:
        for send in f.sends():
            lst = found.setdefault(send.template, [])
            if f.event not in lst:
                lst.append(f.event)
    return found


def compile_project(project: Project, esps: list[str] | None = None, cache: BuildCache | None = None,
                    keep_trees: bool = True, progress: Callable[[int, int], None] | None = None) -> Result:
    """``cache``: templates, flows and the tracking plan whose inputs are unchanged are replayed
    from it (mailwright.cache; then an output has no ``rendered`` trees and the plan offers only
    ``schemas()``: what the build needs). ``keep_trees=False``: no output keeps its placeholder trees
    (``rendered``, what check, preview and send-test interpret), so that each template's are freed when it
    is written; ``mailwright compile``, which writes only the outputs' text, saves ≈ 8% of a 1,000-template
    compile and the memory they held. ``progress(done, total)``: told after each batch of templates."""
    with batch_gc(keeps=True), cache.recording() if cache is not None else contextlib.nullcontext():
        result = _compile_project(project, esps, cache, keep_trees, progress)
    result.diagnostics = settle_warnings(result.diagnostics, accepted_rules(project))
    return result


def mapping_block(diags: list[Diagnostic], config: dict | None = None) -> str:
    """Every missing mapping of a run as one block to paste into mailwright.toml
    (``config``: the project's, so that a table it already has is not opened twice)."""
    tables: dict[str, dict[str, str]] = {}
    for d in diags:
        if d.severity == "error" and d.mapping:
            table, key, value = d.mapping
            tables.setdefault(table, {}).setdefault(key, value)
    out = []
    for table in sorted(tables):
        node: Any = config or {}
        for part in table.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        out.append(f"# under the existing [{table}]:" if isinstance(node, dict) else f"[{table}]")
        out += [f"{json.dumps(k)} = {json.dumps(v, ensure_ascii=False)}" for k, v in sorted(tables[table].items())]
        out.append("")
    return "\n".join(out)


def accepted_rules(project: Project) -> list[str]:
    """``[compile] accept``: warnings (by rule id, ``*`` allowed) the project knows and accepts."""
    accept = project.config.get("compile", {}).get("accept", [])
    return [a for a in accept if isinstance(a, str)] if isinstance(accept, list) else []


def settle_warnings(diags: list[Diagnostic], accept: list[str]) -> list[Diagnostic]:
    """Accepted warnings dropped; one warning repeated at several places said once, with
    the other places as notes (the same approximation in five flows is one finding)."""
    import fnmatch

    out: list[Diagnostic] = []
    groups: dict[tuple[str, str], Diagnostic] = {}
    seen: set[tuple[Pos, str, str]] = set()
    for d in diags:
        if (d.pos, d.severity, d.message) in seen:  # the same finding from two ESPs is one
            continue
        seen.add((d.pos, d.severity, d.message))
        if d.severity != "warning" or d.rule is None:
            out.append(d)
            continue
        if any(fnmatch.fnmatchcase(d.rule, a) for a in accept):
            continue
        key = (d.rule, d.message)
        first = groups.get(key)
        if first is None:
            groups[key] = d
            out.append(d)
        elif d.pos != first.pos and (d.pos, "also here") not in first.notes:
            first.notes.append((d.pos, "also here"))
    for d in groups.values():
        also = sum(1 for _, m in d.notes if m == "also here")  # not a warning's own notes
        if also:
            d.message = f"{d.message} ({also + 1} places)"
    return out


def _compile_project(project: Project, esps: list[str] | None, cache: BuildCache | None = None,
                     keep_trees: bool = True, progress: Callable[[int, int], None] | None = None) -> Result:
    connectors = load_connectors()
    esps = esps or project.esps
    dialects: dict[str, type[Dialect]] = {e: connectors[e].dialect for e in esps}
    result = Result()
    flows: list[Flow] = []
    if os.path.lexists(project.root / "flows"):  # mailwright.flows (and PyYAML) only for a project with flows
        from .flows import load_flows

        flows, flow_errors = load_flows(project.root, set(project.templates), dict(project.segments))
        result.diagnostics.extend(e.diagnostic for e in flow_errors)
    triggers = triggers_by_template(flows)
    head = theme_head(project.theme) if project.theme else ""
    parsed = _Parsed(project)
    roots = include_roots(project)  # once, not per template
    names = list(project.templates)
    for i in range(0, len(names), _BATCH):
        batch = [_start_template(project, name, esps, triggers, connectors, dialects, head, parsed, roots, cache)
                 for name in names[i:i + _BATCH]]
        # each engine's calls back to back (MJML's, then the inliner's): its working set stays in the CPU caches
        for job in batch:
            for rd in job.renders:
                _engine(rd, mjml_html, rd.html, job.t)
        for job in batch:
            for rd in job.renders:
                _engine(rd, inline_html, rd.html, rd.r, job.t)
        for job in batch:
            _finish_template(project, job, dialects, result, cache, keep_trees)
        if progress is not None:
            progress(i + len(batch), len(names))
    compile_flows(project, flows, esps, connectors, result, cache)
    key = cache.plan_key(project, flows, [n for n in triggers if n in project.templates], connectors) \
        if cache is not None else None
    if key is None or not cache.replay_plan(key, result):
        from .signals.contract import project_plan

        result.plan, found = project_plan(project, parsed, flows)
        result.diagnostics.extend(found)
        if key is not None:
            cache.store_plan(key, result.plan, found)
    return result


_BATCH = 32  # templates whose engine calls run back to back (memory stays bounded for large projects)


@dataclass
class _Job:
    """One template between its stages: parsed and written as MJML, rendered, then emitted."""

    name: str
    key: str = ""
    replayed: Result | None = None  # what the build cache gave back, added in the template's turn
    errors: list[Diagnostic] = field(default_factory=list)  # why it could not be parsed
    t: Any = None
    warnings: list[Diagnostic] = field(default_factory=list)
    renders: list[_Render] = field(default_factory=list)
    reads: tuple[int, int] = (0, 0)  # its span of cache.reads


def _start_template(project: Project, name: str, esps: list[str], triggers: dict, connectors: dict,
                    dialects: dict[str, type[Dialect]], head: str, parsed: _Parsed, roots: list[Path],
                    cache: BuildCache | None) -> _Job:
    job = _Job(name)
    if cache is not None:
        job.key = cache.template_key(project, name, esps, triggers.get(name, [None]), connectors)
        replayed = Result()
        if cache.replay(job.key, name, project.components, replayed, Output):
            parsed.lazy.add(name)
            job.replayed = replayed
            return job
        n_read = len(cache.reads)
    try:
        t = parse_template(project, name, roots)
    except MailwrightError as e:
        job.errors = e.diagnostics
        return job
    job.t, job.warnings = t, list(t.warnings)
    parsed[name] = t
    job.renders = [_start(project, t, trigger, dialects, head) for trigger in triggers.get(name, [None])]
    if cache is not None:
        job.reads = (n_read, len(cache.reads))
    return job


def _finish_template(project: Project, job: _Job, dialects: dict[str, type[Dialect]], result: Result,
                     cache: BuildCache | None, keep_trees: bool = True) -> None:
    if job.replayed is not None:
        result.outputs.extend(job.replayed.outputs)
        result.diagnostics.extend(job.replayed.diagnostics)
        return
    if job.t is None:
        result.diagnostics.extend(job.errors)
        return
    n_out, n_diag = len(result.outputs), len(result.diagnostics)
    result.diagnostics.extend(job.warnings)
    for rd in job.renders:
        _finish(project, job.t, rd, dialects, result, keep_trees)
    if cache is not None:
        start, end = job.reads
        inputs = [str(project.templates[job.name]), *(p for p, _ in cache.reads[start:end])]
        if project.theme is not None:
            inputs.append(project.theme.path)
        cache.store(job.key, job.name, inputs, job.t.components_used, result.outputs[n_out:],
                    result.diagnostics[n_diag:])
    _kept()


def _kept() -> None:
    """What a template's compile built is kept to the end of the compile (its temporaries are gone by
    refcount): moved to the oldest generation at once, where a young collection would walk each of
    these objects first (one per 50,000, ≈ 15 ms per 100 templates)."""
    if gc.get_freeze_count() == 0:  # what a caller froze stays frozen
        gc.freeze()  # every tracked object to the permanent generation, the young count reset …
        gc.unfreeze()  # … and all of them into the oldest generation


class _Parsed(dict):
    """Templates in the intermediate form; one replayed from the build cache is parsed only
    when asked for (the tracking plan reads the templates that flows send)."""

    def __init__(self, project: Project):
        super().__init__()
        self.project, self.lazy = project, set()

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.lazy

    def __getitem__(self, name: str) -> ir.Template:
        if not super().__contains__(name) and name in self.lazy:
            self[name] = parse_template(self.project, name)
        return super().__getitem__(name)


def compile_flows(project: Project, flows: list[Flow], esps: list[str], connectors: dict, result: Result,
                  cache: BuildCache | None = None) -> None:
    """Each flow into each ESP's own definition, with the compiled templates at hand (``cache``:
    a flow whose file, config and sent templates are unchanged is replayed from it)."""
    for esp in esps:
        conn = connectors[esp]
        templates = {(o.name, o.trigger): o for o in result.outputs if o.esp == esp}
        for flow in flows:
            if conn.flows is None:
                result.diagnostics.append(Diagnostic(flow.pos, f"{conn.label} has no flow translation installed",
                                                     "warning"))
                continue
            if any((s.template, flow.event) not in templates for s in flow.sends()):
                continue  # a template it sends failed to compile: already reported
            if cache is not None:
                key = cache.flow_key(project, esp, flow, [templates[(s.template, flow.event)] for s in flow.sends()],
                                     connectors)
                if cache.replay_flow(key, esp, flow.id, result, FlowOutput):
                    continue
            warnings = _Warnings()
            ctx = FlowContext(project.name, esp, project.esp_config(esp), templates, warnings.add, conn.label)
            try:
                files = conn.flows(ctx).translate(flow)
            except MailwrightError as e:
                result.diagnostics.append(e.diagnostic)
                continue
            result.diagnostics.extend(_unique(warnings))
            result.flows.append(FlowOutput(esp, flow.id, files))
            if cache is not None:
                cache.store_flow(key, f"{esp}/{flow.id}", files, _unique(warnings))


def _unique(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        if (d.pos, d.message) not in seen:
            seen.add((d.pos, d.message))
            out.append(d)
    return out


def compile_one(project: Project, t: ir.Template, trigger: str | None, dialects: dict[str, type[Dialect]],
                head: str, result: Result) -> None:
    """One template for one trigger: rendered once, then written by each dialect.

    Each ESP's output is what compiling for that ESP alone gives (its own literal
    patterns only), so the ESPs of one run cannot affect each other."""
    rd = _start(project, t, trigger, dialects, head)
    _engine(rd, to_html, rd.html, rd.r, t)
    _finish(project, t, rd, dialects, result)


@dataclass
class _Render:
    """One template for one trigger on its way: its MJML, then its page, or the error that stopped it."""

    trigger: str | None
    r: Renderer
    html: str = ""  # its MJML, then the engines' HTML: the page
    error: Diagnostic | None = None


def _start(project: Project, t: ir.Template, trigger: str | None, dialects: dict[str, type[Dialect]],
           head: str) -> _Render:
    r = Renderer(t, trigger, {esp: cls.LITERAL for esp, cls in dialects.items()}, t.source)
    theme = t.theme if t.theme_override else project.theme
    if t.theme_override:
        head = theme_head(theme) if theme else ""
    rd = _Render(trigger, r)
    try:
        rd.html = r.mjml(head)
        if theme and "mj-body" in theme.attributes:
            rd.html = _body_attrs(rd.html, theme.attributes["mj-body"], theme)
    except MailwrightError as e:
        rd.error = e.diagnostic
    return rd


def _engine(rd: _Render, step: Callable[..., str], *args: Any) -> None:
    """An engine step of render.to_html (or all of it) on a render not stopped yet: its result is ``rd.html``."""
    if rd.error is None:
        try:
            rd.html = step(*args)
        except MailwrightError as e:
            rd.error = e.diagnostic


def _finish(project: Project, t: ir.Template, rd: _Render, dialects: dict[str, type[Dialect]],
            result: Result, keep_trees: bool = True) -> None:
    if rd.error is not None:
        result.diagnostics.append(rd.error)
        return
    r, page, trigger = rd.r, rd.html, rd.trigger
    try:
        subject = r.inline_string(t.subject)
        preheader = r.inline_string(t.preview) if t.preview else ""
        text = html_to_text(page, r.slots.prefix, r.slots.token, r.slots.url_token)
        trees = [parse_stream(s, r.slots) for s in (page, text, subject, preheader)]
    except MailwrightError as e:
        result.diagnostics.append(e.diagnostic)
        return
    for esp, cls in dialects.items():
        warnings = _Warnings()
        ctx = Context(project.esp_config(esp), trigger, warnings.add, t.name)
        d = cls(ctx)
        known = {"trigger": trigger, "esp": esp}
        errors: list[Diagnostic] = []  # every construct this ESP cannot write, not just the first
        html_out = d.finish(emit(trees[0], d, "html", known, errors))
        text_out = emit(trees[1], d, "text", known, errors)
        subj = " ".join(emit(trees[2], d, "text", known, errors).split())
        pre = " ".join(emit(trees[3], d, "text", known, errors).split())
        if not errors:
            try:
                check_compliance(d, t, html_out)
            except MailwrightError as e:
                errors.extend(e.diagnostics)
        if errors:
            result.diagnostics.extend(sorted(_unique(errors), key=lambda g: (g.pos.path, g.pos.line, g.pos.col)))
            continue
        result.diagnostics.extend(_unique(warnings))
        result.outputs.append(Output(esp, t.name, trigger, html_out, text_out, subj, pre,
                                     Rendered(*trees, r.slots) if keep_trees else None))


@dataclass
class Rendered:
    """One template rendered for one trigger: placeholder trees shared by every ESP."""

    page: list
    text: list
    subject: list
    preheader: list
    slots: Any


class _Warnings(list):
    def add(self, pos: Pos, message: str, rule: str | None = None) -> None:
        self.append(Diagnostic(pos, message, "warning", rule=rule))


def _body_attrs(mjml_src: str, attrs: dict[str, str], theme) -> str:
    # mjml-python ignores <mj-body> inside <mj-attributes>: put the theme's on the element.
    from html import escape

    def sub(v: str) -> str:
        return theme_tokens(v, theme)

    m = re.search(r"<mj-body([^>]*)>", mjml_src)
    if not m:
        return mjml_src
    existing = m.group(1)
    extra = "".join(f' {k}="{escape(sub(v), quote=True)}"' for k, v in attrs.items()
                    if not re.search(rf"\s{re.escape(k)}=", existing))
    return mjml_src[: m.end() - 1] + extra + mjml_src[m.end() - 1 :]


_TAIL = 4096  # the footer, where the compliance tokens stand: searched first (the page is ≈ 30 KB)


def check_compliance(d: Dialect, t: ir.Template, html_out: str) -> None:
    # a match from ``tail`` on is a match in the page (searched from a position, not a slice: ^ and
    # lookbehinds read the page as it is); only a page without one there is searched whole
    tail = max(0, len(html_out) - _TAIL)
    missing = [label for rx, label in d.COMPLIANCE
               if not ((p := re.compile(rx)).search(html_out, tail) or p.search(html_out))]
    if missing:
        raise MailwrightError(
            t.pos,
            f"the {d.label} output lacks {' and '.join(missing)}; end the template with the footer "
            f'component (<x-footer company="…"/>) or add the tokens in <mw-raw esp="{d.name}">',
        )
