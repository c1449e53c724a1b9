"""``mailwright push``: bring one ESP account in line with the project.

Stateless: every remote object carries a deterministic name built from the
project's name and the template (and trigger) or flow, so a push finds its
objects again without a state file. Plan first (create / update / unchanged,
compared on content), then apply; continue past a failing item and report
every failure, so that a rerun finishes the job. Objects of one name under the
project's prefix that exist more than once are reported (``--dedupe`` removes the
extra copies, keeping the oldest). What push writes carries a fingerprint (drift.py): an object
edited in the ESP since is ``drifted`` and kept unless ``--force``; one without a fingerprint is
``unmanaged`` unless ``--adopt``; one under the prefix that the project no longer has is ``orphan``
(``--prune`` removes it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..compile import Result
from ..errors import MailwrightError, Pos
from ..project import Project
from ..transport import LostResponse, RemoteError, Shape, Transport
from .drift import DRIFTED, ORPHAN, UNMANAGED, Drift, short

CREATE, UPDATE, UNCHANGED, MANUAL = "create", "update", "unchanged", "manual"
DUPLICATE, REMOVE = "duplicate", "remove"  # several objects of one name; removing the extra copies
APPLIED = (CREATE, UPDATE, REMOVE)


@dataclass
class Change:
    """One item of the plan."""

    kind: str  # template, email, flow, metric, field, tag, event …
    name: str  # the name it has (or will have) in the ESP
    action: str  # create, update, unchanged, manual, duplicate, remove
    detail: str = ""
    apply: Callable[[], Any] | None = None
    recover: Callable[[], Any] | None = None  # after a lost answer: look it up by name; truthy if it exists
    needs: list[str] = field(default_factory=list)  # names of changes that must succeed first
    status: str = "planned"  # planned, done, failed, skipped
    error: str = ""
    diff: str = ""  # what was edited in the ESP (drifted, or overwritten with --force)
    drift: Drift | None = None  # both versions of an edited template (mailwright pull writes them)

    def to_json(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "action": self.action, "status": self.status}
        out.update((k, v) for k, v in (("detail", self.detail), ("error", self.error), ("diff", self.diff)) if v)
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
    dedupe: bool = False  # remove the extra copies of an object that exists more than once
    empty_account: bool = False  # no credential (dry-run only): plan against an account with nothing in it
    force: bool | frozenset[str] = False  # overwrite what was edited in the ESP: all, or these names
    adopt: bool = False  # take over objects of our names that carry no fingerprint
    prune: bool = False  # remove objects under the prefix that the project no longer has

    def name(self, *parts: str) -> str:
        """The deterministic remote name: ``<project>: <part> …``."""
        return f"{self.project.name}: " + " ".join(parts)

    def wants(self, what: str) -> bool:
        return self.only in (None, what)

    def forced(self, name: str) -> bool:
        """``--force`` covers this remote name (all, or NAME: the full name or its part after the prefix)."""
        if isinstance(self.force, bool):
            return self.force
        prefix = self.name("")
        short_name = name[len(prefix):] if name.startswith(prefix) else name
        return name in self.force or short_name in self.force or short_name.split(" [")[0] in self.force


class PushClient:
    """Base class of a connector's push client: ``plan()`` reads, changes write."""

    label = "ESP"
    credential_var = ""  # the environment variable holding the credential (without it, dry-run plans offline)

    def __init__(self, ctx: PushContext):
        self.ctx = ctx
        self.transport: Transport | EmptyAccount = EmptyAccount(self.label) if ctx.empty_account else self.connect()
        self._listings: dict[Any, list] | None = None

    def read_plan(self) -> list[Change]:
        """``plan()``, with each full listing of the account read once: the plan, its orphans and its
        duplicates ask for the same lists, and an ESP's rate limit is spent on each read. What runs
        later (the changes, a recovery after a lost answer, the duplicate check after them) reads the
        account afresh."""
        self._listings = {}
        try:
            return self.plan()
        finally:
            self._listings = None

    @property
    def planning(self) -> bool:
        """Inside ``read_plan()``: listings are read once and shared."""
        return self._listings is not None

    def listing(self, key: Any, fetch: Callable[[], list]) -> list:
        """``fetch()``'s list, read once per ``read_plan()`` under ``key`` (outside a plan: every time)."""
        if self._listings is None:
            return fetch()
        if key not in self._listings:
            self._listings[key] = fetch()
        return list(self._listings[key])

    def connect(self) -> Transport:
        raise NotImplementedError

    def plan(self) -> list[Change]:
        raise NotImplementedError

    def manual_steps(self) -> list[dict]:
        """What a person must still do by hand (ActiveCampaign's automations)."""
        return []

    def duplicates(self) -> list[Change]:
        """Read the account again: objects under the project's prefix that exist more than once."""
        return []


class EmptyAccount:
    """Stands in for the transport when there is no credential (``push --dry-run`` only): an account with
    nothing in it. A read gets the empty answer of the shape the connector expects (a lookup that may
    answer 404 gets "absent"), so every plan is "create"; a write is refused, as it is never planned."""

    def __init__(self, label: str):
        self.label = label
        self.count = {"read": 0, "write": 0}

    def request(self, method: str, path: str, *, ok: tuple[int, ...] = (), shape: Shape = dict, **_kw: Any) -> Any:
        if method.upper() != "GET":
            raise RuntimeError(f"{self.label}: {method} {path} without a credential (only a dry run plans offline)")
        return None if 404 in ok else empty_answer(shape)


def empty_answer(shape: Shape) -> Any:
    """The emptiest value that has ``shape`` (see transport.conforms): no items, no optional keys."""
    if isinstance(shape, dict):
        return {k: empty_answer(v) for k, v in shape.items() if not k.endswith("?")}
    if isinstance(shape, list):
        return []
    first = shape[0] if isinstance(shape, tuple) else shape
    return {} if first is object else first()


def offline_note(client: PushClient) -> str:
    return f"no {client.credential_var}: planned against an empty account"


def duplicates(ctx: PushContext, kind: str, objects: list[tuple[Any, str, Any]],
               remove: Callable[[str], Any], needs: list[str] | None = None) -> list[Change]:
    """One change per name under the project's prefix that several ``objects`` (name, id, age) hold.

    The oldest copy is kept (the one push finds and updates, the one flows point at); with
    ``ctx.dedupe`` the others are removed, else they are reported. Nothing outside the prefix."""
    prefix = ctx.name("")
    groups: dict[str, list[tuple[Any, str]]] = {}
    for name, oid, age in objects:
        if isinstance(name, str) and name.startswith(prefix):
            groups.setdefault(name, []).append((age, str(oid)))
    out = []
    for name, copies in sorted(groups.items()):
        if len(copies) < 2:
            continue
        keep, *extra = [oid for _, oid in sorted(copies, key=lambda c: (c[0], _numeric(c[1])))]
        ids = ", ".join(extra)
        if ctx.dedupe:
            out.append(Change(kind, name, REMOVE, f"{len(extra)} extra copy(ies): id {ids} (keeping id {keep})",
                              apply=lambda extra=extra: [remove(i) for i in extra], needs=list(needs or [])))
        else:
            out.append(Change(kind, name, DUPLICATE, f"{len(copies)} copies: id {keep} is kept, id {ids} "
                                                     "would be removed by push --dedupe"))
    return out


def _numeric(oid: str) -> tuple[int, str]:
    return (int(oid), "") if oid.isdigit() else (0, oid)


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

    @property
    def duplicates(self) -> list[Change]:
        return [c for c in self.changes if c.action == DUPLICATE]

    @property
    def kept(self) -> list[Change]:
        """What push did not overwrite: edited in the ESP, or without a fingerprint."""
        return [c for c in self.changes if c.action in (DRIFTED, UNMANAGED)]

    @property
    def orphans(self) -> list[Change]:
        return [c for c in self.changes if c.action == ORPHAN]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.duplicates and not self.kept

    empty_account: bool = False

    def to_json(self) -> dict:
        return {"esp": self.esp, "dry_run": self.dry_run, "empty_account": self.empty_account, "ok": self.ok,
                "changes": [c.to_json() for c in self.changes], "manual_steps": self.manual,
                "requests": {"reads": self.reads, "writes": self.writes}}


def apply_changes(changes: list[Change], progress: Callable[[str], None]) -> None:
    """Apply every create/update/remove in order; a failure never stops the others, and what
    needs a failed item is skipped."""
    todo = [c for c in changes if c.action in APPLIED and c.status == "planned"]
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
            _apply(c, head, progress)
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


def _apply(c: Change, head: str, progress: Callable[[str], None]) -> None:
    """Apply c; after a lost answer, look it up by name before anything is sent again."""
    for attempt in (1, 2):
        try:
            c.apply()
            return
        except LostResponse as lost:
            if c.recover is not None and c.recover():
                progress(f"{head}: the answer was lost, but it is there")
                return
            if lost.in_flight or c.recover is None or attempt == 2:
                # it may still land (a slow server): a second copy would be a duplicate; a rerun
                # finds it, or creates it, and the duplicate check reports what slipped through
                raise RemoteError(f"no answer to the {c.action} of {c.name} ({lost}); not sent again in this "
                                  "run, so that it cannot exist twice: run push again") from None
            progress(f"{head}: the answer was lost and it is not there: sending it again")


def diffs(changes: list[Change], full: bool = False) -> str:
    """What was edited in the ESP, per object (``full``: every line, else the first few)."""
    out = []
    for c in changes:
        if c.diff:
            out += [f"{c.action} {c.kind} {c.name}:", c.diff if full else short(c.diff), ""]
    return "\n".join(out)


def table(changes: list[Change]) -> str:
    """The plan as a table a person can read."""
    rows = [("ACTION", "KIND", "NAME", "DETAIL")] + [
        (c.action, c.kind, c.name, c.detail) for c in changes]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = []
    for r in rows:
        out.append("  ".join(r[i].ljust(widths[i]) for i in range(3)) + ("  " + r[3] if r[3] else ""))
    out.append("")
    out.append(counts(changes))
    return "\n".join(out)


def counts(changes: list[Change]) -> str:
    """``2 to create, 1 to update, 1 unchanged``."""
    n = {a: sum(c.action == a for c in changes)
         for a in (CREATE, UPDATE, REMOVE, UNCHANGED, DRIFTED, UNMANAGED, ORPHAN, DUPLICATE, MANUAL)}
    words = {UNCHANGED: "{} unchanged", DUPLICATE: "{} duplicated (push --dedupe removes the extra copies)",
             MANUAL: "{} to do by hand", DRIFTED: "{} edited in the ESP (kept; push --force overwrites)",
             UNMANAGED: "{} without a fingerprint (kept; push --adopt takes over)",
             ORPHAN: "{} orphaned (push --prune removes)"}
    return ", ".join(words.get(a, "{} to " + a).format(k) for a, k in n.items() if k) or "nothing to push"


def outcome(report: Report, label: str, note: str = "", declined: bool = False) -> str:
    """One line of the summary of a push to several ESPs (``note``: why the plan is against an empty account)."""
    if report.dry_run:
        return f"{label}: {counts(report.changes)}" + (f" ({note})" if note else "")
    if declined:
        return f"{label}: nothing applied"
    if report.failed:
        return f"{label}: {len(report.failed)} item(s) failed; run push again to finish"
    if report.duplicates:
        return f"{label}: {len(report.duplicates)} object(s) exist more than once (push --dedupe)"
    if report.kept:
        return f"{label}: {len(report.kept)} object(s) edited in {label} or without a fingerprint were kept"
    return f"{label}: in line with the project"


def environment() -> dict[str, str]:
    return dict(os.environ)


def new_duplicates(client: PushClient, changes: list[Change]) -> list[Change]:
    """After the writes: the account read again for duplicates the plan did not know of (none are looked
    for when nothing was created, nor when the answer to a create was not lost)."""
    if not any(c.action == CREATE and c.status != "skipped" for c in changes):
        return []
    known = {(c.kind, c.name) for c in changes if c.action in (DUPLICATE, REMOVE)}
    return [c for c in client.duplicates() if (c.kind, c.name) not in known]


def transport_options(env: dict[str, str]) -> dict[str, float]:
    """Transport settings from the environment (for slow links and local test servers)."""
    out = {}
    for var, key in (("MAILWRIGHT_RETRY_BACKOFF", "backoff"),  # seconds before the first retry; default 0.5
                     ("MAILWRIGHT_TIMEOUT", "timeout"),  # seconds to wait for an answer; default 30
                     ("MAILWRIGHT_RATE_SCALE", "rate_scale")):  # multiplies the documented rate limits
        if env.get(var, "").strip():
            try:
                value = float(env[var])
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0 or (value == 0 and key != "backoff"):
                raise MailwrightError(Pos(var, 0, 0), f"the environment variable {var} must be a "
                                                      f"{'non-negative' if key == 'backoff' else 'positive'} number")
            out[key] = value
    return out


def no_changes(changes: list[Change]) -> bool:
    return not any(c.action in APPLIED and c.status == "planned" for c in changes)
