"""``mailwright push``: bring one ESP account in line with the project.

Stateless: every remote object carries a deterministic name built from the
project's name and the template (and trigger) or flow, so a push finds its
objects again without a state file. Plan first (create / update / unchanged,
compared on content), then apply; continue past a failing item and report
every failure, so that a rerun finishes the job.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .compile import Result
from .errors import MailwrightError
from .project import Project
from .transport import LostResponse, RemoteError, Transport

CREATE, UPDATE, UNCHANGED, MANUAL = "create", "update", "unchanged", "manual"


@dataclass
class Change:
    """One item of the plan."""

    kind: str  # template, email, flow, metric, field, tag, event …
    name: str  # the name it has (or will have) in the ESP
    action: str  # create, update, unchanged, manual
    detail: str = ""
    apply: Callable[[], Any] | None = None
    recover: Callable[[], Any] | None = None  # after a lost answer: look it up by name; truthy if it exists
    needs: list[str] = field(default_factory=list)  # names of changes that must succeed first
    status: str = "planned"  # planned, done, failed, skipped
    error: str = ""

    def to_json(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "action": self.action, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class PushContext:
    """What a connector's push client gets."""

    project: Project
    esp: str
    config: dict[str, Any]  # [esp.<name>]
    result: Result  # the compile, for this ESP only
    env: dict[str, str]
    live: bool = False
    only: str | None = None  # 'templates' or 'flows'
    log: Callable[[str], None] = lambda _m: None
    transport_options: dict = field(default_factory=dict)

    def name(self, *parts: str) -> str:
        """The deterministic remote name: ``<project>: <part> …``."""
        return f"{self.project.name}: " + " ".join(parts)

    def wants(self, what: str) -> bool:
        return self.only in (None, what)


class PushClient:
    """Base class of a connector's push client: ``plan()`` reads, changes write."""

    label = "ESP"

    def __init__(self, ctx: PushContext):
        self.ctx = ctx
        self.transport: Transport = self.connect()

    def connect(self) -> Transport:
        raise NotImplementedError

    def plan(self) -> list[Change]:
        raise NotImplementedError

    def manual_steps(self) -> list[dict]:
        """What a person must still do by hand (ActiveCampaign's automations)."""
        return []


@dataclass
class Report:
    esp: str
    changes: list[Change]
    manual: list[dict]
    dry_run: bool
    reads: int = 0
    writes: int = 0

    @property
    def failed(self) -> list[Change]:
        return [c for c in self.changes if c.status in ("failed", "skipped")]

    def to_json(self) -> dict:
        return {"esp": self.esp, "dry_run": self.dry_run, "ok": not self.failed,
                "changes": [c.to_json() for c in self.changes], "manual_steps": self.manual,
                "requests": {"reads": self.reads, "writes": self.writes}}


def apply_changes(changes: list[Change], progress: Callable[[str], None]) -> None:
    """Apply every create/update in order; a failure never stops the others."""
    todo = [c for c in changes if c.action in (CREATE, UPDATE) and c.status == "planned"]
    failed: set[str] = {c.name for c in changes if c.status == "failed"}  # e.g. a metric that is missing
    for i, c in enumerate(todo, 1):
        head = f"[{i}/{len(todo)}] {c.action} {c.kind} {c.name}"
        blocked = [n for n in c.needs if n in failed]
        if blocked:
            c.status, c.error = "skipped", f"needs {', '.join(blocked)}, which failed"
            failed.add(c.name)
            progress(f"{head}: skipped ({c.error})")
            continue
        try:
            try:
                c.apply()
            except LostResponse:
                # The write may have landed, or may still land (a slow server): look it up, and if it
                # is not there yet, do not send it again in this run: a rerun finds it or creates it,
                # and nothing ever exists twice.
                if c.recover is not None and c.recover():
                    progress(f"{head}: the answer was lost, but it is there")
                else:
                    raise RemoteError(f"no answer to the {c.action} of {c.name}; not sent again in this run, "
                                      "so that it cannot exist twice: run push again") from None
            c.status = "done"
            progress(f"{head}: done")
        except (RemoteError, MailwrightError) as e:
            c.status, c.error = "failed", str(e)
            failed.add(c.name)
            progress(f"{head}: FAILED: {e}")
        except Exception as e:  # a bug of ours: report it, and still do the rest
            c.status, c.error = "failed", f"internal error: {type(e).__name__}: {e}"
            failed.add(c.name)
            progress(f"{head}: FAILED: {c.error}")


def table(changes: list[Change]) -> str:
    """The plan as a table a person can read."""
    rows = [("ACTION", "KIND", "NAME", "DETAIL")] + [
        (c.action, c.kind, c.name, c.detail) for c in changes]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = []
    for r in rows:
        out.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + ("  " + r[3] if r[3] else ""))
    counts = {a: sum(c.action == a for c in changes) for a in (CREATE, UPDATE, UNCHANGED, MANUAL)}
    out.append("")
    out.append(", ".join(f"{n} to {a}" if a != UNCHANGED else f"{n} unchanged" for a, n in counts.items()
                         if n and a != MANUAL) + (f", {counts[MANUAL]} to do by hand" if counts[MANUAL] else ""))
    return "\n".join(out)


def environment() -> dict[str, str]:
    return dict(os.environ)


def no_changes(changes: list[Change]) -> bool:
    return not any(c.action in (CREATE, UPDATE) for c in changes)
