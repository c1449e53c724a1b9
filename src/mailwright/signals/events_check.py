"""``mailwright events check FILE.jsonl``: recorded Segment events against the tracking plan.

Each track/page call is validated by ``jsonschema`` (draft 2020-12) against its
event's schema, and each error named as RudderStack names tracking-plan
violations. Bad lines are reported with their number and skipped; the run never
stops on them. For each template a flow sends, the share of recipients whose
event would have left a fallback to catch a missing property, and which.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from jsonschema import Draft202012Validator

from ..errors import Diagnostic, MailwrightError, Pos
from .contract import PAGE_PROPERTIES, Plan, carried, load_plan
from .engine import load_line
from .replay import TOO_LONG, iter_lines

KINDS = ("Unplanned-Event", "Required-Missing", "Datatype-Mismatch", "Additional-Properties")
EXAMPLES = 3  # the first examples kept per event
CAUGHT_BY = {"default": "default()", "is defined": "an is-defined guard", "condition": "a condition (false)"}


@dataclass
class EventStats:
    count: int = 0
    violations: Counter = field(default_factory=Counter)
    examples: list[dict] = field(default_factory=list)


@dataclass
class Fallbacks:
    trigger: str
    source: str | None  # the recorded event standing for the trigger (its after event for an emitted one)
    recipients: set[str] = field(default_factory=set)
    fallback: set[str] = field(default_factory=set)
    why: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Report:
    lines: int = 0
    events: dict[str, EventStats] = field(default_factory=dict)
    bad_lines: list[tuple[int, str, int]] = field(default_factory=list)  # (line, reason, column)
    fallbacks: dict[str, Fallbacks] = field(default_factory=dict)
    identities: set[str] = field(default_factory=set)

    @property
    def clean(self) -> bool:
        return not self.bad_lines and not any(s.violations for s in self.events.values())

    def to_json(self) -> dict:
        return {
            "events": {name: {"count": s.count, "violations": dict(sorted(s.violations.items())),
                              "examples": s.examples} for name, s in sorted(self.events.items())},
            "bad_lines": [{"line": n, "reason": r} for n, r, _ in self.bad_lines],
            "fallbacks": {t: {"trigger": f.trigger, "events": f.source, "recipients": len(f.recipients),
                              "fallback": len(f.fallback),
                              "why": {k: len(v) for k, v in sorted(f.why.items())}}
                          for t, f in sorted(self.fallbacks.items())},
        }


def _identity(msg: dict) -> str | None:
    for key in ("userId", "anonymousId"):
        v = msg.get(key)
        if isinstance(v, str | int) and not isinstance(v, bool) and str(v).strip():
            return f"{key}:{v}"
    return None


def _missing(v: Any) -> bool:
    return v is None or v == ""


def parse_line(text: str | bytes) -> tuple[str | None, dict, str | None, str | None, int]:
    """One line → (event name or None for identify, properties, identity, why it is bad or None, the
    column where it is bad)."""
    msg, why, col = load_line(text)
    if why is not None:
        return None, {}, None, f"not JSON ({why} at column {col})", col
    if not isinstance(msg, dict):
        return None, {}, None, "not a JSON object", 1
    kind = msg.get("type") or ("track" if "event" in msg else None)
    ident = _identity(msg)
    if kind not in ("track", "page", "identify", "screen"):
        return None, {}, None, f"no event name (type {kind!r}; expected track, page or identify)", 1
    if ident is None:
        return None, {}, None, "no identity (userId or anonymousId)", 1
    if kind == "identify":
        return None, {}, ident, None, 0
    props = msg.get("properties", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        return None, {}, None, "properties is not a JSON object", 1
    if kind == "page":
        page = (msg.get("context") or {}).get("page") if isinstance(msg.get("context"), dict) else None
        props = dict(props)
        for k in PAGE_PROPERTIES:  # a page call is page_visit with the page's own properties (signals.md §2)
            if k not in props and isinstance(page, dict) and k in page:
                props[k] = page[k]
        return "page_visit", props, ident, None, 0
    name = msg.get("event")
    if not isinstance(name, str) or not name.strip():
        return None, {}, None, "no event name", 1
    return name, props, ident, None, 0


def _where(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def classify(validator: Draft202012Validator, props: dict) -> list[tuple[str, str, str]]:
    """The plan's violations in ``props``: (kind, property, message), RudderStack's names."""
    found: list[tuple[str, str, str]] = []
    for e in validator.iter_errors(props):
        at = _where(e.absolute_path)
        if e.validator == "required":
            for name in e.validator_value:
                if isinstance(e.instance, dict) and name not in e.instance:
                    prop = f"{at}.{name}" if at else name
                    found.append(("Required-Missing", prop, f"{prop} is required and missing"))
        elif e.validator == "additionalProperties":
            planned = e.schema.get("properties", {})
            for name in e.instance:
                if name not in planned:
                    prop = f"{at}.{name}" if at else name
                    found.append(("Additional-Properties", prop, f"{prop} is not in the plan"))
        elif e.validator == "minLength" or (e.validator == "type" and e.instance is None):
            found.append(("Required-Missing", at, f"{at} is required and {'empty' if e.instance == '' else 'null'}"))
        else:
            found.append(("Datatype-Mismatch", at, f"{at}: {e.message}"))
    return sorted(set(found))


def check_stream(lines: Any, plan: Plan) -> Report:
    """Every line of a recorded stream against ``plan`` (``lines``: (number, bytes or str, or None for
    a line too long), as :func:`replay.iter_lines` gives them)."""
    report = Report()
    validators: dict[str, Draft202012Validator] = {}
    sent = plan.sent
    by_source: dict[str, list[tuple[str, Fallbacks, list]]] = {}
    per_template = Counter(t for t, _ in sent)
    for (template, trigger), reads in sorted(sent.items()):
        ep = plan.events.get(trigger)
        source = ep.after if ep is not None and ep.emitted else trigger
        key = template if per_template[template] == 1 else f"{template}--{trigger}"
        fb = report.fallbacks[key] = Fallbacks(trigger, source)
        if source is None:  # emitted with derived properties only: replay judges those
            continue
        can = carried(plan, trigger)  # None: a site event
        caught: dict[str, set[str]] = {}
        for r in reads:
            if r.fallback is not None and len(r.path) == 1 and r.path[0] not in plan.derived \
                    and (can is None or r.path[0] in can):
                caught.setdefault(r.path[0], set()).add(CAUGHT_BY.get(r.fallback, r.fallback))
        optional = [(p, f"event.{p} missing: caught by {', '.join(sorted(k))}") for p, k in sorted(caught.items())]
        by_source.setdefault(source, []).append((template, fb, optional))
    for n, raw in lines:
        report.lines = n
        if raw is None:
            report.bad_lines.append((n, TOO_LONG, 1))
            continue
        if not raw.strip():
            continue
        name, props, ident, bad, col = parse_line(raw)
        if bad:
            report.bad_lines.append((n, bad, col))
            continue
        report.identities.add(ident)
        if name is None:  # identify: links identities; not an event of the plan
            continue
        stats = report.events.setdefault(name, EventStats())
        stats.count += 1
        if name not in plan.events:
            found = [("Unplanned-Event", "", f"'{name}' is not in the tracking plan")]
        else:
            if name not in validators:
                validators[name] = Draft202012Validator(plan.schema(name))
            found = classify(validators[name], props)
        for kind, prop, message in found:
            stats.violations[kind] += 1
            if len(stats.examples) < EXAMPLES:
                stats.examples.append({"line": n, "kind": kind, "property": prop, "message": message})
        for _template, fb, optional in by_source.get(name, []):
            fb.recipients.add(ident)
            for prop, why in optional:
                if _missing(props.get(prop)):
                    fb.fallback.add(ident)
                    fb.why.setdefault(why, set()).add(ident)
    return report


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.0f}%" if b else "-"


def render(report: Report, file: str) -> str:
    out = [f"{file}: {report.lines} lines, {sum(s.count for s in report.events.values())} events, "
           f"{len(report.identities)} identities, {len(report.bad_lines)} bad lines"]
    if report.events:
        width = max(len(n) for n in report.events) + 2
        out += ["", f"{'event':<{width}}{'count':>8}  " + "  ".join(KINDS)]
        for name, s in sorted(report.events.items()):
            out.append(f"{name:<{width}}{s.count:>8}  " + "  ".join(f"{s.violations.get(k, 0):>{len(k)}}"
                                                                  for k in KINDS))
        for name, s in sorted(report.events.items()):
            for ex in s.examples:
                out.append(f"  {file}:{ex['line']}: {name}: {ex['kind']}: {ex['message']}")
    if report.fallbacks:
        out += ["", "fallbacks (recipients whose event left a property to a fallback):"]
        for t, f in sorted(report.fallbacks.items()):
            if f.source is None:
                out.append(f"  {t} (on {f.trigger}): derived properties only; see mailwright replay")
                continue
            via = f", from its {f.source} events" if f.source != f.trigger else ""
            n, k = len(f.recipients), len(f.fallback)
            line = f"  {t} (on {f.trigger}{via}): {k} of {n} recipients ({_pct(k, n)}) saw a fallback"
            why = sorted(f.why.items(), key=lambda kv: (-len(kv[1]), kv[0]))
            out.append(line + (": " + "; ".join(f"{w} ({len(ids)})" for w, ids in why) if why else ""))
    verdict = "clean" if report.clean else "violations" if not report.bad_lines else "violations or bad lines"
    out += ["", verdict]
    return "\n".join(out)


@click.group("events", context_settings={"help_option_names": ["-h", "--help"]})
def command() -> None:
    """Recorded events against the project's tracking plan."""


@command.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead of text.")
def check(file: Path, project: Path, as_json: bool) -> None:
    """Validate FILE.jsonl (Segment track/identify/page calls, one JSON per
    line) against the tracking plan of PROJECT (default: the current folder).

    \b
    Per event: the count and the violations in RudderStack's terms
    (Unplanned-Event, Required-Missing, Datatype-Mismatch,
    Additional-Properties) with the first examples; lines that are not JSON,
    have no event name or no identity (userId or anonymousId) are reported
    with their number and skipped. Per template a flow sends: the share of
    recipients who would have seen a fallback, and why.
    \b
    Exit status: 0 clean, 1 any violation or bad line (or an error in the
    project), 2 a usage error.
    \b
    Examples:
      mailwright events check examples/shop/events/sample.jsonl examples/shop
      mailwright events check events.jsonl --json | jq '.events'
    """
    from ..dialect import load_connectors
    from ..project import load_project

    try:
        plan = load_plan(load_project(project, list(load_connectors())))
    except MailwrightError as e:
        if as_json:
            click.echo(json.dumps({"ok": False, "diagnostics": [d.to_json() for d in e.diagnostics]}, indent=2))
        else:
            for d in e.diagnostics:
                click.echo(d.format(), err=True)
        sys.exit(1)
    try:
        with open(file, "rb") as fh:
            report = check_stream(iter_lines(fh), plan)
    except OSError as e:
        raise click.UsageError(f"cannot read {file}: {e.strerror or e}") from None
    for n, why, col in report.bad_lines:
        click.echo(Diagnostic(Pos(str(file), n, col), f"{why}; line skipped").format(), err=True)
    if as_json:
        click.echo(json.dumps({"ok": report.clean, **report.to_json()}, indent=2, ensure_ascii=False))
    else:
        click.echo(render(report, str(file)))
    sys.exit(0 if report.clean else 1)
