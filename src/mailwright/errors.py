"""Diagnostics: every error a designer can cause is ``PATH:LINE:COL: error: MESSAGE``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pos:
    """A place in a user's file (1-based line and column)."""

    path: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        if self.line == 0:  # not a place in a file (the environment, the command line)
            return self.path
        return f"{display_path(self.path)}:{self.line}:{self.col}"


def display_path(path: str) -> str:
    """Show a path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


@dataclass
class Diagnostic:
    pos: Pos
    message: str
    severity: str = "error"  # or "warning"
    notes: list[tuple[Pos, str]] = field(default_factory=list)
    rule: str | None = None
    # a missing mapping that would fix it: (TOML table, key, suggested value)
    mapping: tuple[str, str, str] | None = field(default=None, compare=False)

    def format(self) -> str:
        rule = f" [{self.rule}]" if self.rule else ""
        lines = [f"{self.pos}: {self.severity}: {self.message}{rule}"]
        lines += [f"{p}: note: {m}" for p, m in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "path": display_path(self.pos.path),
            "line": self.pos.line,
            "col": self.pos.col,
            "severity": self.severity,
            "message": self.message,
            "notes": [
                {"path": display_path(p.path), "line": p.line, "col": p.col, "message": m}
                for p, m in self.notes
            ],
            **({"rule": self.rule} if self.rule else {}),
        }


class MailwrightError(Exception):
    """An error in the user's input, carrying one or more diagnostics."""

    def __init__(self, pos: Pos, message: str, notes: list[tuple[Pos, str]] | None = None):
        super().__init__(f"{pos}: error: {message}")
        self.diagnostic = Diagnostic(pos, message, notes=list(notes or []))

    def with_note(self, pos: Pos, message: str) -> MailwrightError:
        self.diagnostic.notes.append((pos, message))
        return self

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return [self.diagnostic]


class MailwrightErrors(MailwrightError):
    """Several errors of one input, reported together (every error of a run in one pass)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        assert diagnostics
        first = diagnostics[0]
        super().__init__(first.pos, first.message, first.notes)
        self.diagnostic = first
        self._all = list(diagnostics)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self._all


class UnsupportedError(MailwrightError):
    """A construct that an ESP cannot express exactly.

    The one kind of error every dialect raises: it names the ESP, the construct,
    where it stands in the source and the way out.
    """

    def __init__(self, esp: str, construct: str, pos: Pos, way_out: str, detail: str = "",
                 rule: str | None = None, mapping: tuple[str, str, str] | None = None):
        self.esp, self.construct, self.way_out = esp, construct, way_out
        what = f"{esp} cannot express {construct}"
        if detail:
            what += f" ({detail})"
        super().__init__(pos, f"{what}; {way_out}")
        self.diagnostic.rule = rule or rule_id(esp, "unsupported")
        self.diagnostic.mapping = mapping


def rule_id(esp: str, construct: str) -> str:
    """A capability's rule id, as ``[compile] accept`` names it: ``activecampaign.quiet-hours``."""
    slug = lambda s: "-".join(re.findall(r"[a-z0-9]+", s.lower()))  # noqa: E731
    return f"{slug(esp).replace('-', '')}.{slug(construct)}"
