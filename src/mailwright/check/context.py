"""What a rule is given: one template, its compiled outputs, and what several rules share (computed once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from .. import ir
from .attributes import Attributes
from .source import Source

if TYPE_CHECKING:
    from ..compile import Output
    from ..project import Project

T = TypeVar("T")


@dataclass
class Context:
    src: Source
    project: Project
    outputs: list[Output]  # this template's, one per trigger and ESP
    clients: list[str]  # caniemail family.platform keys
    esp_labels: dict[str, str]  # ESP name -> the name people know it by
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def t(self) -> ir.Template:
        return self.src.t

    @cached_property
    def attributes(self) -> Attributes:
        return Attributes(self.src, self.project)

    def memo(self, key: str, make: Callable[[], T]) -> T:
        """``make()`` once per template, shared by the rules that need it."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def variants(self) -> list[tuple[Output, list[dict]]]:
        """Each rendered output with its variants: the sample recipients that reach every branch."""
        from ..variants import derive

        def make() -> list[tuple[Output, list[dict]]]:
            out = []
            for o in self.outputs:
                r = o.rendered
                if r is None:
                    continue
                people, _ = derive([r.page, r.text, r.subject, r.preheader], {"trigger": o.trigger, "esp": o.esp})
                out.append((o, people or [{"profile": {}, "event": {}}]))
            return out

        return self.memo("variants", make)
