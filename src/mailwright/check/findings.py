"""What a check run found: findings without repeats, and the report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic


@dataclass
class Report:
    findings: list[Diagnostic] = field(default_factory=list)
    checked: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.findings)


class Findings(list):
    """Findings without repeats: the same place and message from several ESPs, triggers or templates is one,
    with the notes of each (a component shared by several templates: a note per use)."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[tuple, Diagnostic] = {}

    def append(self, d: Diagnostic) -> None:
        key = (d.pos, d.severity, d.message, d.rule)
        first = self._seen.get(key)
        if first is None:
            self._seen[key] = d
            super().append(d)
        else:
            for n in d.notes:
                if n not in first.notes:
                    first.notes.append(n)

    def extend(self, ds: Iterable[Diagnostic]) -> None:
        for d in ds:
            self.append(d)

    def sorted(self) -> list[Diagnostic]:
        for d in self:
            if len(d.notes) > 4:  # a component used by many templates: name a few
                more = len(d.notes) - 3
                d.notes[3:] = [(d.notes[3][0], f"and {more} more uses")]
        return sorted(self, key=lambda d: (d.pos.path, d.pos.line, d.pos.col, d.rule or "", d.message))
