"""``mailwright replay FILE.jsonl``: a recorded Segment stream through the signals engine, then each
profile's journey through the project's flows: which emails, when, and which variant of each.

The stream is sorted by timestamp (stable: equal times keep the file's order); timers fire up to the
last event's time, or ``--at`` when later. Flows are applied as flows.md defines them: the trigger's
``where`` on the event, ``audience`` on the profile at entry, one run at a time, ``reentry`` after
that long (never without it), ``exit_on`` events after entry stop the run, ``max_emails`` per ``per``
skips a send, quiet hours hold it to the window's end, ``wait until`` moves to the next time of day.
Times of day are UTC here (the recipient's time zone is the ESP's to know). A split arm is chosen
by a hash of the profile and the flow, so a replay gives the same arm every time.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ..batch import batch_gc
from ..errors import Diagnostic, MailwrightError, Pos
from ..expr import Scope, evaluate, expand_segment, fold
from ..flows import Branch, Flow, Send, Split, Wait
from .engine import DEDUP_SECONDS, Engine, from_segment, link, load_line
from .timefmt import iso, parse_time

MAX_LINE = 32 * 1024  # Segment's limit for one event
TOO_LONG = f"longer than {MAX_LINE // 1024} KB"  # the reason for a line iter_lines gives as None
DAY = 86400


# ---------------------------------------------------------------- reading

@dataclass
class BadLine:
    line: int
    reason: str
    col: int = 1


def iter_lines(f: Any) -> Any:
    """(number, line) for each line of a binary file; None for a line over MAX_LINE, never read whole."""
    n = 0
    while True:
        raw = f.readline(MAX_LINE + 3)  # the longest line allowed, and its CRLF
        if not raw:
            return
        n += 1
        if len(raw) == MAX_LINE + 3 and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(1 << 20)
            yield n, None
            continue
        yield n, (raw if len(raw.rstrip(b"\r\n")) <= MAX_LINE else None)


def read_events(path: Path, progress: Any = None) -> tuple[list[dict], list[BadLine]]:
    """Every usable event of a JSONL file (with its line number), and every line that is not one.

    A messageId seen within 7 days before is dropped, as the relay drops it (signals.md §3): a
    recording of Segment's retries replays as what was delivered, in any order of its lines.
    """
    events: list[dict] = []
    bad: list[BadLine] = []
    try:
        f = open(path, "rb")  # noqa: SIM115 - read line by line, not whole
    except OSError as e:
        raise MailwrightError(Pos(str(path), 0), f"cannot read this event file: {e.strerror}") from None
    with f:
        try:
            if not os.path.isfile(path):
                raise MailwrightError(Pos(str(path), 0), "cannot read this event file: not a regular file")
            for n, raw in iter_lines(f):
                if progress is not None and n % 10000 == 0:
                    progress(f.tell())
                if raw is None:
                    bad.append(BadLine(n, TOO_LONG))
                    continue
                if not raw.strip():
                    continue
                msg, why, col = load_line(raw)
                if why is not None:
                    bad.append(BadLine(n, f"not JSON ({why})", col))
                    continue
                ev, why = from_segment(msg)
                if ev is None:
                    bad.append(BadLine(n, why or "not an event"))
                    continue
                ev["line"] = n
                events.append(ev)
        except OSError as e:
            raise MailwrightError(Pos(str(path), 0), f"cannot read this event file: {e.strerror}") from None
    events.sort(key=lambda e: e["time"])
    kept: dict[str, float] = {}  # messageId -> time of the copy kept
    once = []
    for ev in events:
        mid = ev.get("id")
        if mid is not None:
            if mid in kept and ev["time"] - kept[mid] < DEDUP_SECONDS:
                continue
            kept[mid] = ev["time"]
        once.append(ev)
    return once, bad


# ---------------------------------------------------------------- the stream through the engine

@dataclass
class Profile:
    key: str
    state: dict
    aliases: set[str] = field(default_factory=set)
    timeline: list[dict] = field(default_factory=list)
    traits: list[tuple[float, dict]] = field(default_factory=list)  # (since, traits) as they changed

    @property
    def id(self) -> str:
        users = sorted(a for a in self.aliases if a.startswith("user:"))
        anons = sorted(a for a in self.aliases if a.startswith("anon:"))
        return (users or anons or sorted(self.aliases) or [self.key])[0].split(":", 1)[1]

    def traits_at(self, t: float) -> dict:
        i = bisect.bisect_right([s for s, _ in self.traits], t)
        return self.traits[i - 1][1] if i else {}


class Replay:
    """Profiles and their timelines, event by event (also what the tests and the benchmark drive)."""

    def __init__(self, engine: Engine, keep_timeline: bool = True):
        self.engine = engine
        self.index: dict[str, str] = {}
        self.profiles: dict[str, Profile] = {}
        self.keep = keep_timeline
        self.end: float | None = None

    def _fired(self, p: Profile, fired: list) -> None:
        if self.keep:
            for f in fired:
                p.timeline.append({"time": f.time, "event": f.event, "properties": f.properties,
                                   "triggers": [f.event]})

    def feed(self, ev: dict) -> None:
        t = ev["time"]
        self.end = t if self.end is None else max(self.end, t)
        key, others = link(self.index, ev["ids"])
        p = self.profiles.get(key)
        if p is None:
            p = self.profiles[key] = Profile(key, self.engine.new_state())
        for o in others:
            q = self.profiles.pop(o)
            self._fired(q, self.engine.advance(q.state, t))
            self._fired(p, self.engine.advance(p.state, t))
            p.state = self.engine.merge(p.state, q.state)
            p.aliases |= q.aliases
            if self.keep:
                p.timeline = sorted(p.timeline + q.timeline, key=lambda e: e["time"])
                p.traits = sorted(p.traits + q.traits, key=lambda x: x[0])
        p.aliases.update(f"{k}:{v}" for k, v in ev["ids"].items() if k != "email")
        before = dict(p.state["traits"])
        p.state, out, fired = self.engine.step(p.state, ev)
        self._fired(p, fired)
        if self.keep:
            if p.state["traits"] != before or not p.traits:
                p.traits.append((t, dict(p.state["traits"])))
            if out is not None:
                out["triggers"] = []
                p.timeline.append(out)

    def finish(self, at: float | None = None) -> None:
        """Fire every timer due by the last event's time, or ``at`` when later."""
        end = max(x for x in (self.end, at) if x is not None) if (self.end or at) else None
        self.end = end
        if end is None:
            return
        for p in self.profiles.values():
            self._fired(p, self.engine.advance(p.state, end))


# ---------------------------------------------------------------- flows and emails

@dataclass
class Email:
    flow: str
    template: str
    at: float
    variant: dict
    pending: bool  # due after the replay's end: an exit event may still come


class Journeys:
    """The project's flows applied to a profile's timeline; the variant of each email it would get."""

    def __init__(self, project: Any, flows: list[Flow], outputs: dict, esp: str | None):
        self.project, self.flows, self.outputs, self.esp = project, flows, outputs, esp
        scope = Scope(project.segments)
        self.segments = {n: expand_segment(n, s.pos, scope) for n, s in project.segments.items()}

    def emails(self, p: Profile, end: float) -> list[Email]:
        out: list[Email] = []
        timeline = sorted(p.timeline, key=lambda e: e["time"])
        for flow in self.flows:
            out += self._flow(flow, p, timeline, end)
        return sorted(out, key=lambda e: (e.at, e.flow, e.template))

    def _flow(self, flow: Flow, p: Profile, timeline: list[dict], end: float) -> list[Email]:
        sends: list[Email] = []
        busy_until, last_entry = -1.0, None
        exits = [e["time"] for e in timeline if e["event"] in {x for x, _ in flow.exit_on}]
        for e in timeline:
            t = e["time"]
            if e["event"] != flow.event or t < busy_until:
                continue
            if last_entry is not None and (flow.reentry is None or t - last_entry < flow.reentry.seconds):
                continue
            data = {"event": e["properties"], "profile": p.traits_at(t)}
            known = {"trigger": flow.event, "esp": self.esp}
            if flow.where is not None and not evaluate(fold(flow.where, known), data):
                continue
            if flow.audience is not None and not evaluate(fold(flow.audience, known), data):
                continue
            last_entry = t
            stop = next((x for x in exits if x > t), None)
            run: list[Email] = []
            busy_until = self._steps(flow, flow.steps, t, e["properties"], p, stop, sends + run, run, end)
            sends += run
        return sends

    def _steps(self, flow: Flow, steps: list, t: float, event: dict, p: Profile, stop: float | None,
               earlier: list[Email], run: list[Email], end: float) -> float:
        for i, s in enumerate(steps):
            rest = steps[i + 1:]  # after a branch or a split, each arm goes on with the steps that follow
            if stop is not None and t >= stop:
                return t
            if isinstance(s, Wait):
                t += s.duration.seconds
                if s.until:
                    t = _next_time_of_day(t, s.until)
            elif isinstance(s, Send):
                if flow.limits and flow.limits.quiet_hours:
                    t = _after_quiet(t, *flow.limits.quiet_hours)
                if stop is not None and t >= stop:
                    return t
                lim = flow.limits
                if lim and lim.max_emails and lim.per:
                    recent = [x for x in earlier + run if x.flow == flow.name and t - lim.per.seconds < x.at <= t]
                    if len(recent) >= lim.max_emails:
                        continue
                data = {"event": event, "profile": p.traits_at(t)}
                run.append(Email(flow.name, s.template, t, self.variant(s.template, flow.event, data), t > end))
            elif isinstance(s, Branch):
                data = {"event": event, "profile": p.traits_at(t)}
                c = fold(s.when, {"trigger": flow.event, "esp": self.esp})
                arm = s.then if evaluate(c, data) else s.else_
                return self._steps(flow, arm + rest, t, event, p, stop, earlier, run, end)
            elif isinstance(s, Split):
                h = int(hashlib.sha256(f"{p.id}\0{flow.id}".encode()).hexdigest()[:8], 16) % 100
                acc = 0
                for a in s.arms:
                    acc += a.percent
                    if h < acc:
                        return self._steps(flow, a.steps + rest, t, event, p, stop, earlier, run, end)
        return t

    def variant(self, template: str, trigger: str, data: dict) -> dict:
        """What the preview would show this recipient: its segments, subject and branches taken."""
        from ..semantics import interpret
        from ..variants import reaches, targets

        known = {"trigger": trigger, "esp": self.esp}
        segs = sorted(n for n, e in self.segments.items() if evaluate(fold(e, known), data))
        out: dict[str, Any] = {"esp": self.esp, "segments": segs}
        o = self.outputs.get((template, trigger))
        if o is not None:
            r = o.rendered
            out["subject"] = " ".join(interpret(r.subject, data, self.esp, trigger, "text").split())
            out["branches"] = [t.label for t in targets(r.page, known) + targets(r.subject, known, "subject/")
                               if not t.loops and reaches(t, data)]
        return out


def _hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def _next_time_of_day(t: float, hhmm: str) -> float:
    day = t - t % DAY
    at = day + _hm(hhmm)
    return at if at >= t else at + DAY


def _after_quiet(t: float, start: str, stop: str) -> float:
    """``t``, or the end of the quiet hours it falls in (UTC)."""
    s, e, x = _hm(start), _hm(stop), t % DAY
    quiet = (s <= x < e) if s < e else (x >= s or x < e)
    if not quiet:
        return t
    return _next_time_of_day(t, stop)


# ---------------------------------------------------------------- the command

def replay_file(path: Path, project: Any, at: float | None = None, progress: Any = None
                ) -> tuple[list[dict], list[BadLine]]:
    """The report of ``mailwright replay`` as data (the ``--json`` shape's profiles), and the bad lines."""
    from ..compile import compile_project
    from ..errors import MailwrightErrors
    from ..flows import load_flows
    from .config import load_signals

    signals = load_signals(project)
    flows, errors = load_flows(project.root, set(project.templates), project.segments)
    if errors:
        raise errors[0] if len(errors) == 1 else MailwrightErrors([e.diagnostic for e in errors])
    esp = project.esps[0] if project.esps else None
    outputs: dict = {}
    if flows and esp:
        result = compile_project(project, [esp])
        outputs = {(o.name, o.trigger): o for o in result.outputs}
    events, bad = read_events(path, progress)
    rp = Replay(Engine(signals))
    with batch_gc():
        for ev in events:
            rp.feed(ev)
        rp.finish(at)
    journeys = Journeys(project, flows, outputs, esp)
    report = []
    for p in sorted(rp.profiles.values(), key=lambda p: p.id):
        emails = journeys.emails(p, rp.end or 0)
        report.append({
            "id": p.id,
            "aliases": sorted(a.split(":", 1)[1] for a in p.aliases if a.split(":", 1)[1] != p.id),
            "timeline": [{"time": iso(e["time"]), "event": e["event"], "properties": e["properties"],
                          "triggers": e["triggers"]} for e in sorted(p.timeline, key=lambda e: e["time"])],
            "emails": [{"flow": m.flow, "template": m.template, "at": iso(m.at), "variant": m.variant,
                        **({"pending": True} if m.pending else {})} for m in emails],
        })
    return report, bad


def _table(profiles: list[dict], signals: list[str]) -> str:
    lines: list[str] = []
    for p in profiles:
        also = f"  (also {', '.join(p['aliases'])})" if p["aliases"] else ""
        lines.append(f"profile {p['id']}{also}")
        for e in p["timeline"]:
            pr = e["properties"]
            shown = " ".join(f"{k}={pr[k]}" for k in signals if k in pr)
            score = f"score {pr['intent_score']:g} {pr['intent_tier']}" if "intent_score" in pr else ""
            mark = "  -> " if e["triggers"] else "     "
            lines.append(f"{mark}{e['time']}  {e['event']:<20} {score:<18} {shown}".rstrip())
        for m in p["emails"]:
            v = m["variant"]
            segs = ",".join(v.get("segments", [])) or "-"
            when = " (pending)" if m.get("pending") else ""
            lines.append(f"  email {m['at']}{when}  {m['template']} via {m['flow']}  segments: {segs}"
                         + (f"  subject: {v['subject']}" if v.get("subject") else ""))
        lines.append("")
    return "\n".join(lines)


@click.command("replay", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("project", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the profiles as JSON.")
@click.option("--at", "at", default=None, metavar="TIME",
              help="Run the timers up to this ISO 8601 time (default: the last event's).")
def command(file: Path, project: Path, as_json: bool, at: str | None) -> None:
    """Run the project's [signals], [scoring] and [triggers] over FILE.jsonl (Segment track, page and
    identify calls, one per line), then its flows: per profile, the derived properties and score over
    time, the triggers it fired, the emails it would get, when, and which variant of each.

    \b
    Examples:
      mailwright replay examples/shop/events/sample.jsonl examples/shop
      mailwright replay events.jsonl --json --at 2024-05-03T00:00:00Z
    """
    from ..dialect import load_connectors
    from ..project import load_project
    from .config import load_signals

    at_time = None
    if at is not None:
        at_time = parse_time(at)
        if at_time is None:
            raise click.BadParameter(f"'{at}' is not an ISO 8601 time such as 2024-05-03T00:00:00Z",
                                     param_hint="--at")
    size = file.stat().st_size if file.is_file() else 0
    progress = None
    if size > 8 * 1024 * 1024:
        def progress(done: int) -> None:
            click.echo(f"\rreplay: {done * 100 // size}% read", err=True, nl=False)
    try:
        proj = load_project(project, list(load_connectors()))
        profiles, bad = replay_file(file, proj, at_time, progress)
        names = list(load_signals(proj).derived)
    except MailwrightError as e:
        for d in e.diagnostics:
            click.echo(d.format(), err=True)
        sys.exit(1)
    if progress is not None:
        click.echo("", err=True)
    for b in bad:
        click.echo(Diagnostic(Pos(str(file), b.line, b.col), f"{b.reason}; line skipped").format(), err=True)
    if as_json:
        click.echo(json.dumps({"profiles": profiles,
                               "bad_lines": [{"line": b.line, "reason": b.reason} for b in bad]}, indent=1))
    else:
        click.echo(_table(profiles, names))
        n_emails = sum(len(p["emails"]) for p in profiles)
        click.echo(f"{len(profiles)} profile(s), {n_emails} email(s)"
                   + (f", {len(bad)} bad line(s) skipped" if bad else ""), err=True)
    if bad:  # the report stands for the good lines; the file still has input errors
        sys.exit(1)
