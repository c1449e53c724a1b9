"""The dialect interface every connector implements, and the connector registry.

A dialect turns the intermediate form into one ESP's template syntax. It
declares what it supports in ``CAPABILITIES``; anything it cannot express
exactly goes through :meth:`Dialect.unsupported`, the one kind of error that
names the ESP, the construct, the place and the way out.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar

from .conditions import All, Any_, Atom, cnf, dnf, guarded, write_formula
from .entrypoints import entry_points
from .errors import MailwrightError, Pos, UnsupportedError, rule_id
from .expr import And, Cmp, Const, Defined, Expr, ListLit, Not, Or, OutputExpr, Var, render_output

ENTRY_POINT_GROUP = "mailwright.esps"

EXACT, APPROX, UNSUPPORTED = "exact", "approximated", "unsupported"


@dataclass(frozen=True)
class Support:
    level: str  # EXACT, APPROX or UNSUPPORTED
    note: str = ""


_UNSUPPORTED = Support(UNSUPPORTED)  # what the table says of a construct it does not list


def _typed(a: Any, b: Any) -> bool:
    """Whether two equal expressions hold constants of the same types (and so are written alike)."""
    t = type(a)
    if t is Const:
        return _same(a.value, b.value)
    if t is Cmp or t is And or t is Or:
        return _typed(a.left, b.left) and _typed(a.right, b.right)
    if t is Not:
        return _typed(a.expr, b.expr)
    if t is ListLit:
        return all(map(_same, a.values, b.values))
    if t is OutputExpr:
        return all(_same(x, y) for f, g in zip(a.filters, b.filters) for x, y in zip(f.args, g.args))
    return True  # Var, Defined: names are text


def _same(x: Any, y: Any) -> bool:
    return type(x) is type(y)  # equal already; literals are never negative (no -0.0)


# Results by value shared by the dialects of one class and one [esp.X] table: the templates of a
# compile. The table is compared by content with a copy taken when the entry was made, so another
# project's table, or one changed in place (watch, preview, tests), starts afresh.
_SHARED: dict[type, tuple[dict[str, Any], dict, dict, dict]] = {}
_SHARED_LIMIT = 5000  # results kept per class before starting afresh (a long watch session)


def _shared(cls: type, config: dict[str, Any]) -> tuple[dict, dict, dict]:
    entry = _SHARED.get(cls)
    if entry is None or entry[0] != config or len(entry[1]) + len(entry[2]) + len(entry[3]) > _SHARED_LIMIT:
        entry = _SHARED[cls] = (copy.deepcopy(config), {}, {}, {})
    return entry[1], entry[2], entry[3]


@dataclass
class Context:
    """Where an emission happens: the project's mappings and compile-time facts."""

    config: dict[str, Any]  # [esp.<name>] of mailwright.toml
    trigger: str | None
    warn: Any  # callable(pos, message, rule=None)
    template: str = ""


class Dialect:
    """Base class: one subclass per ESP, in that ESP's connector package.

    What :meth:`condition`, :meth:`write_output` and a name's writer (:meth:`remember`) return
    must depend on the node's value and ``ctx.config`` only: it is reused for equal nodes in every
    template of a compile (warnings and errors still stand at each place)."""

    name: ClassVar[str]
    label: ClassVar[str]
    CAPABILITIES: ClassVar[dict[str, Support]] = {}
    # copy matching this pattern would be syntax in the dialect: escaped as literal
    LITERAL: ClassVar[re.Pattern]
    # required compliance tokens: (regex, what it is)
    COMPLIANCE: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, ctx: Context):
        self.ctx = ctx
        # Memos (see _once). What is written depends on the node's value and ctx.config only,
        # never on a position: only what require() says about it does. So a result serves
        # another position only if writing it warned nothing, and an error is never kept. By
        # identity for this template; by value for every template of this class and config.
        by_condition, by_output, names = _shared(type(self), ctx.config)
        self._conditions: tuple[dict, dict] = ({}, by_condition)
        self._outputs: tuple[dict, dict] = ({}, by_output)
        self._names: dict[Var, str] = names  # see remember()
        self._approximated = 0  # warnings require() gave so far
        # what require() lets through without a look at the table (most calls)
        self._exact = frozenset(k for k, s in self.CAPABILITIES.items() if s.level == EXACT)

    def _once(self, memo: tuple[dict, dict], node: Any, pos: Pos, write: Callable[[Any, Pos], Any]) -> Any:
        """``write(node, pos)``, once per node: by identity first (the page and the text part hold the
        same nodes, no hashing), then by value (an equal expression elsewhere in this template or another
        of the compile; equal dataclasses may hold constants of other types, Const(1) == Const(True),
        hence _typed)."""
        by_id, by_value = memo
        hit = by_id.get(id(node))
        if hit is not None and hit[0] is node and (hit[1] is pos or not hit[2]):
            return hit[3]
        same = by_value.get(node)
        if same is not None and _typed(node, same[0]):
            result, warned = same[1], False
        else:
            approximated = self._approximated
            result = write(node, pos)
            warned = approximated != self._approximated
            if not warned:
                by_value[node] = (node, result)
        by_id[id(node)] = (node, pos, warned, result)  # the entry keeps the node alive: its id stays its own
        return result

    def condition_text(self, e: Expr, pos: Pos) -> str:
        """:meth:`condition`, once per condition (the page and the text part share them)."""
        return self._once(self._conditions, e, pos, self.condition)

    def remember(self, v: Var, write: Callable[[Var], str]) -> str:
        """``write(v)`` once per name (by value: a Var's fields are text, so equal names are written
        alike), kept only if writing it warned nothing (see ``__init__``)."""
        text = self._names.get(v)
        if text is None:
            approximated = self._approximated
            text = write(v)
            if approximated == self._approximated:
                self._names[v] = text
        return text

    # -- capability table --------------------------------------------------------
    def unsupported(self, construct: str, pos: Pos | None, way_out: str, detail: str = "",
                    mapping: tuple[str, str, str] | None = None) -> UnsupportedError:
        """``mapping``: (table, key, suggested value) of the mailwright.toml line that fixes it."""
        return UnsupportedError(self.label, construct, pos or Pos("?"), way_out, detail, mapping=mapping)

    def require(self, construct: str, pos: Pos | None, way_out: str = "") -> None:
        """Raise if the table says ``construct`` cannot be expressed; warn if approximated."""
        if construct in self._exact:
            return
        s = self.CAPABILITIES.get(construct, _UNSUPPORTED)
        if s.level == UNSUPPORTED:
            raise UnsupportedError(self.label, construct, pos or Pos("?"),
                                   way_out or s.note or "branch on `esp` for another ESP",
                                   rule=rule_id(self.name, construct))
        if s.level == APPROX:
            self._approximated += 1
        if s.level == APPROX and pos is not None:
            self.ctx.warn(pos, f"{self.label}: {construct} is approximated: {s.note}", rule_id(self.name, construct))

    # -- what every dialect emits ------------------------------------------------
    def output(self, o: OutputExpr, pos: Pos, context: str) -> str:
        """``{{ … }}``; ``context`` is 'html' or 'text' (see :meth:`literal`).

        :meth:`write_output` once per placeholder (the page and the text part share it);
        only a default's fallback copy is written per context."""
        head, fallback, tail = self._once(self._outputs, o, pos, self.write_output)
        if fallback is None:
            return head
        return head + self.copy(fallback, context) + tail

    def write_output(self, o: OutputExpr, pos: Pos) -> tuple[str, str | None, str]:
        """``(head, fallback, tail)``: the output is ``head`` alone when ``fallback`` is None, else
        ``head``, the fallback text (see :meth:`default_text`) written as copy, then ``tail``."""
        raise NotImplementedError

    def condition(self, e: Expr, pos: Pos) -> str:
        raise NotImplementedError

    # how a conditional is written: if, elif, else, end ('{}' takes the condition)
    IF_SYNTAX: ClassVar[tuple[str, str, str, str]] = ("{% if {} %}", "{% elif {} %}", "{% else %}", "{% endif %}")

    def if_block(self, branches: list[tuple[Expr | None, str]], pos: Pos) -> str:
        if_, elif_, else_, end = self.IF_SYNTAX
        out = ""
        for i, (cond, body) in enumerate(branches):
            if cond is None:
                out += else_ + body
            else:
                out += (elif_ if i else if_).replace("{}", self.condition_text(cond, pos), 1) + body
        return out + end

    def for_block(self, var: str, iterable: Var, limit: int | None, body: str, pos: Pos) -> str:
        raise NotImplementedError

    def literal(self, text: str, context: str) -> str:
        """Copy that would be syntax here, written so the recipient sees ``text``.

        ``context`` is 'html' (element content or attribute), 'text' (subject,
        plain-text part) or 'url' (a link's URL in the plain-text part).
        """
        raise NotImplementedError

    def finish(self, html: str) -> str:
        """Last touches on the complete HTML document (annotations and the like)."""
        return html

    # -- helpers -------------------------------------------------------------------
    def mapped(self, section: str, var: Var) -> str | None:
        return self.ctx.config.get(section, {}).get(var.portable)

    def filter(self, name: str, pos: Pos | None) -> None:
        self.require(f"filter {name}", pos)

    @staticmethod
    def default_text(o: OutputExpr) -> str:
        """The text of ``default(x)`` with the filters after it applied (see :meth:`copy`)."""
        return render_output(o, {})

    def copy(self, text: str, context: str) -> str:
        """``text`` written as copy: escaped in HTML, syntax written as :meth:`literal`."""
        if context == "html":
            text = escape(text, quote=True)
        return self.LITERAL.sub(lambda m: self.literal(m.group(), context), text)

    @staticmethod
    def split_default(o: OutputExpr) -> tuple[list, list] | None:
        """Filters before and after ``default``, or None without one."""
        names = [f.name for f in o.filters]
        if "default" not in names:
            return None
        i = names.index("default")
        return list(o.filters[:i]), list(o.filters[i + 1 :])


__all__ = [
    "And", "Cmp", "Const", "Defined", "Dialect", "ListLit", "Not", "Or", "Support",
    "EXACT", "APPROX", "UNSUPPORTED", "Context", "load_connectors",
    "Atom", "All", "Any_", "guarded", "write_formula", "dnf", "cnf",
]


@dataclass
class FlowContext:
    """What a flow translation sees: mappings, the compiled templates, a warning channel."""

    project: str
    esp: str
    config: dict[str, Any]  # [esp.<name>] of mailwright.toml
    templates: dict[tuple[str, str | None], Any]  # (template, trigger) -> compile.Output for this ESP
    warn: Any  # callable(pos, message, rule=None)
    label: str = ""

    def event(self, portable: str, pos: Pos, defaults: dict[str, str], section: str = "events") -> str:
        """The ESP's name for a portable event, from ``[esp.X.events]`` or the ESP's default."""
        mapped = self.config.get(section, {}).get(portable) or defaults.get(portable)
        if not mapped:
            import difflib

            known = sorted({*self.config.get(section, {}), *defaults} - {portable})
            close = difflib.get_close_matches(portable, known, n=1, cutoff=0.8)
            if close:  # a typo, not something the ESP lacks
                raise MailwrightError(pos, f"unknown event '{portable}': did you mean {close[0]}?")
            raise UnsupportedError(self.label, f"the event '{portable}'", pos,
                                   f'map it in mailwright.toml: [esp.{self.esp}.{section}] {toml_key(portable)} = "…"',
                                   "it has no mapping for this ESP",
                                   mapping=(f"esp.{self.esp}.{section}", portable, "…"))
        return mapped


def toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when TOML allows it, else a quoted string (spaces, dots, brackets)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name, ensure_ascii=False)


class FlowTranslator:
    """Base class: turns a :class:`mailwright.flows.Flow` into one ESP's definition."""

    name: ClassVar[str]
    label: ClassVar[str]
    # flow construct -> Support (see docs/flows.md)
    CAPABILITIES: ClassVar[dict[str, Support]] = {}

    def __init__(self, ctx: FlowContext):
        self.ctx = ctx

    def require(self, construct: str, pos: Pos | None, way_out: str = "") -> Support:
        s = self.CAPABILITIES.get(construct, Support(UNSUPPORTED))
        if s.level == UNSUPPORTED:
            raise UnsupportedError(self.label, construct, pos or Pos("?"), way_out or s.note,
                                   rule=rule_id(self.name, construct))
        if s.level == APPROX:
            self.ctx.warn(pos, f"{self.label}: {construct} is approximated: {s.note}", rule_id(self.name, construct))
        return s

    def translate(self, flow: Any) -> dict[str, str]:
        """Files to write under ``<esp>/flows/``: suffix ('.json', '.md') -> content."""
        raise NotImplementedError


class Deferred:
    """A connector part imported at its first use: ``Deferred("pkg.client", "Push")`` stands for that
    class (called, or its attributes read). A compile never imports the API clients (and requests),
    the relay's deliveries or, without flows, the flow translations."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        self._target: Any = None

    def resolve(self) -> Any:
        if self._target is None:
            import importlib

            self._target = getattr(importlib.import_module(self.module), self.name)
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr in ("module", "name", "_target"):  # copy, pickle, repr probes
            raise AttributeError(attr)
        return getattr(self.resolve(), attr)

    def __repr__(self) -> str:
        return f"Deferred({self.module}.{self.name})"


@dataclass(frozen=True)
class Connector:
    """What a connector package registers under the ``mailwright.esps`` entry point."""

    name: str
    label: str
    dialect: type[Dialect]
    flows: type[FlowTranslator] | None = None  # flow translation (see mailwright.flows)
    client: Any = None  # API client factory (see push)
    # the keys its [esp.NAME] table in mailwright.toml may hold: key -> kind (mailwright.project's
    # TEXT, TEXTS, MAPPING); a key not listed is reported as a typo
    config: dict[str, str] = field(default_factory=dict)
    # reference renderer: (source, recipient, config) -> text, a real engine of the ESP's language
    # (preview, tests; see mailwright.reference); flow diagram: (Flow, translated files) -> flowviz.Graph
    reference: Any = None
    diagram: Any = None
    events: Any = None  # the relay's delivery: a class taking a DeliveryContext (mailwright.signals.relay.model)


_cache: dict[str, Connector] | None = None


def load_connectors() -> dict[str, Connector]:
    """Every installed connector, by ESP name (found through entry points)."""
    global _cache
    if _cache is None:
        found: dict[str, Connector] = {}
        claimed: dict[str, str] = {}  # ESP name -> the distribution whose connector has it
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            conn = ep.load()  # a package that does not load: BrokenEntryPoint, naming it
            if not isinstance(conn, Connector):
                raise ep.broken("is not a mailwright Connector")
            if conn.name in found and found[conn.name] is not conn:
                raise ep.broken(f"claims the ESP '{conn.name}', which {claimed[conn.name] or 'another package'} "
                                "has already: uninstall one of them")
            found[conn.name], claimed[conn.name] = conn, ep.dist
        _cache = dict(sorted(found.items()))
    return _cache
