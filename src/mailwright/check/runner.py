"""A check run: compile the project, then each enabled rule of the table over each template."""

from __future__ import annotations

from pathlib import Path

from .. import ir
from ..errors import Diagnostic, MailwrightError
from . import links
from .context import Context
from .findings import Findings, Report
from .registry import RULES
from .settings import load_settings, template_disables
from .source import Source


def run_check(project_path: str | Path, esps: list[str] | None = None, online: bool = False) -> list[Diagnostic]:
    """Every finding for the project at ``project_path`` (sorted by place)."""
    return check_project(Path(project_path), esps, online).findings


def check_project(project_path: Path, esps: list[str] | None = None, online: bool = False) -> Report:
    from ..compile import compile_project, parse_template
    from ..dialect import load_connectors
    from ..project import load_project

    report = Report()
    connectors = load_connectors()
    try:
        project = load_project(Path(project_path), list(connectors))
        settings = load_settings(project)
    except MailwrightError as e:
        report.findings = sorted(e.diagnostics, key=lambda d: (d.pos.path, d.pos.line, d.pos.col))
        return report
    result = compile_project(project, list(esps) if esps else None)
    out = Findings()
    out.extend(d for d in result.diagnostics if d.severity == "error")  # what does not compile cannot pass
    templates: dict[str, ir.Template] = {}
    for name in project.templates:
        try:
            templates[name] = parse_template(project, name)
        except MailwrightError:
            continue  # already among the compile errors
    counts = {"templates": len(templates), "outputs": 0, "variants": 0}
    labels = {name: c.label for name, c in connectors.items()}
    to_fetch: list[links.Link] = []
    for name, t in templates.items():
        src = Source(t, project)
        ctx = Context(src, project, [o for o in result.outputs if o.name == name], settings.clients, labels)
        off, mistakes = template_disables(src)
        out.extend(mistakes)
        counts["outputs"] += len(ctx.outputs)
        counts["variants"] += sum(len(people) for _, people in ctx.variants())
        for rule_id, rule in RULES.items():
            if settings.enabled(rule_id, name, off):
                out.extend(rule.check(ctx))
        if online and settings.enabled("links", name, off):
            to_fetch += links.collect(ctx)
    if to_fetch:
        out.extend(links.check_online(to_fetch))
    report.findings = out.sorted()
    report.checked = {
        **counts,
        "esps": list(esps or project.esps),
        "clients": settings.clients,
        "rules": [r for r in RULES if settings.enabled(r)],
        "online": online,
    }
    return report
