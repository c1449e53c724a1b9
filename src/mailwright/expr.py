"""Send-time expressions: read with Jinja2's own parser, kept as a small IR.

The IR is what every dialect emits from and what the reference semantics
(:func:`evaluate`) interprets, so "the same email in every ESP" can be tested.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes

from .errors import MailwrightError, Pos

_env = jinja2.Environment()

ROOTS = ("profile", "event")
MONEY_WAY_OUT = (": it writes two decimals with '.' and no symbol, the same in every ESP; a price in the "
                 "recipient's currency and locale is not portable: send it already formatted (a profile or event "
                 "property, e.g. price_display) and output that")
FILTERS = {
    # name: (min args, max args)
    "default": (1, 1),
    "upper": (0, 0),
    "lower": (0, 0),
    "title": (0, 0),
    "capitalize": (0, 0),
    "truncate": (1, 1),
    "round": (0, 1),
    "money": (0, 0),
    "date": (1, 1),
}
# date("FORMAT"): the codes every ESP maps exactly (docs/language.md); the value is an ISO 8601 date
DATE_CODES = ("%Y", "%y", "%m", "%-m", "%d", "%-d", "%B", "%b", "%A", "%a", "%%")
_DATE_CODE = re.compile(r"%-?.?")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # English, as date() prints them (and jinjava's 'en')
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
CMP_OPS = {"eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=",
           "in": "in", "notin": "not in"}


# ---------------------------------------------------------------- IR

@dataclass(frozen=True, slots=True)
class Var:
    """A name: ``root`` is profile, event, a loop variable, trigger or esp."""

    root: str
    path: tuple[str, ...] = ()
    loop: bool = False  # root is a loop variable
    pos: Pos | None = field(default=None, compare=False)

    @property
    def portable(self) -> str:
        out = self.root
        for p in self.path:
            out += f".{p}" if p.isidentifier() else f'["{p}"]'
        return out


@dataclass(frozen=True, slots=True)
class Const:
    value: Any


@dataclass(frozen=True, slots=True)
class ListLit:
    values: tuple


@dataclass(frozen=True, slots=True)
class Cmp:
    op: str  # one of CMP_OPS values
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Not:
    expr: Expr


@dataclass(frozen=True, slots=True)
class Defined:
    var: Var


Expr = Var | Const | ListLit | Cmp | And | Or | Not | Defined


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    args: tuple = ()
    pos: Pos | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OutputExpr:
    var: Var
    filters: tuple[Filter, ...] = ()


# ---------------------------------------------------------------- parsing

@dataclass(slots=True)
class Scope:
    """What names an expression may use where it stands."""

    segments: dict[str, Any]  # name -> Segment (see project.py)
    loop_vars: tuple[str, ...] = ()
    expanding: tuple[str, ...] = ()  # segments being expanded (cycle check)

    def with_loop(self, name: str) -> Scope:
        return Scope(self.segments, self.loop_vars + (name,), self.expanding)


@functools.lru_cache(maxsize=4096)
def _parse(wrapped: str) -> nodes.Template:
    """Jinja2's parse, once per distinct text (the tree is only read, never changed)."""
    return _env.parse(wrapped)


_DJANGO_FILTER = re.compile(r"\|\s*([A-Za-z_]\w*)\s*:\s*(\"[^\"]*\"|'[^']*'|[^\s|}]+)")


def _syntax(src: str, pos: Pos, wrapped: str) -> nodes.Template:
    try:
        return _parse(wrapped)
    except jinja2.TemplateSyntaxError as e:
        m = _DJANGO_FILTER.search(src)
        if m:  # Klaviyo's (Django's) filter syntax, as designers type it from habit
            name, arg = m.group(1), m.group(2)
            raise MailwrightError(pos, f"'{m.group().lstrip('|').strip()}' is Django's filter syntax; "
                                       f"write {name}({arg}) here (filter arguments go in parentheses)") from None
        raise MailwrightError(pos, f"bad expression '{src}': {e.message}") from None
    except RecursionError:
        raise MailwrightError(pos, f"the expression '{src[:40]}…' nests too deeply") from None


def parse_condition(src: str, pos: Pos, scope: Scope) -> Expr:
    """A condition (mw-if when=, {% if %}, segments, flow conditions)."""
    if not src.strip():
        raise MailwrightError(pos, "empty condition")
    tree = _syntax(src, pos, "{{ (" + src + ") }}")
    node = _single_output(tree, src, pos)
    expr = _convert(node, src, pos, scope, condition=True)
    _require_boolean(expr, src, pos)
    return expr


def parse_output(src: str, pos: Pos, scope: Scope) -> OutputExpr:
    """The inside of ``{{ … }}``."""
    tree = _syntax(src, pos, "{{ " + src + " }}")
    node = _single_output(tree, src, pos)
    filters: list[Filter] = []
    while isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            known = ", ".join(FILTERS)
            raise MailwrightError(pos, f"unknown filter '{node.name}' in '{src}' (portable filters: {known})")
        lo, hi = FILTERS[node.name]
        if node.kwargs or node.dyn_args or node.dyn_kwargs or not lo <= len(node.args) <= hi:
            want = "no argument" if hi == 0 else f"{lo}" + ("" if lo == hi else f" to {hi}") + " argument(s)"
            why = MONEY_WAY_OUT if node.name == "money" and node.args else ""
            raise MailwrightError(pos, f"filter '{node.name}' takes {want}{why}")
        args = []
        for a in node.args:
            if not isinstance(a, nodes.Const):
                raise MailwrightError(pos, f"the argument of '{node.name}' must be a literal")
            args.append(a.value)
        if node.name in ("truncate", "round") and args and (not isinstance(args[0], int) or isinstance(args[0], bool) or args[0] < 0):
            raise MailwrightError(pos, f"'{node.name}' takes a whole number of characters/decimals")
        if node.name == "truncate" and args[0] < 1:
            raise MailwrightError(pos, "'truncate' needs a length of at least 1")
        if node.name == "date":
            date_codes(args[0], pos)
        filters.append(Filter(node.name, tuple(args), pos))
        node = node.node
    filters.reverse()
    if [f.name for f in filters].count("default") > 1:
        raise MailwrightError(pos, "'default' given twice")
    if any(f.name == "date" for f in filters[1:]):
        raise MailwrightError(pos, "'date' comes first, right after the name: it reads the name's ISO date "
                                   "(as event.delivery_date|date(\"%B %-d, %Y\"))")
    target = _convert(node, src, pos, scope, condition=False)
    if filters and filters[0].name == "date" and isinstance(target, (Const, ListLit)):
        raise MailwrightError(pos, "'date' formats a name's value (as event.delivery_date), not a literal: "
                                   "write the date itself as copy")
    if not isinstance(target, Var):
        raise MailwrightError(pos, f"'{{{{ {src} }}}}' must output a name such as profile.first_name")
    if target.root == "segment":
        raise MailwrightError(pos, "a segment is a condition; it cannot be output")
    return OutputExpr(target, tuple(filters))


def date_codes(fmt: Any, pos: Pos) -> list[str]:
    """``date``'s format split into literal text and codes (each code starts with '%'), or the error."""
    if not isinstance(fmt, str):
        raise MailwrightError(pos, "'date' takes a format string, as date(\"%B %-d, %Y\")")
    if re.search(r"[{}\\\r\n]", fmt):  # template delimiters, Django's date escape
        raise MailwrightError(pos, f"date({fmt!r}): '{{', '}}', backslashes and line breaks cannot stand in a "
                                   "date format")
    parts: list[str] = []
    i = 0
    for m in _DATE_CODE.finditer(fmt):
        if m.start() > i:
            parts.append(fmt[i : m.start()])
        code = m.group()
        if code in ("%", "%-"):
            raise MailwrightError(pos, f'a lone \'%\' in date("{fmt}"): write %% for a percent sign')
        if code not in DATE_CODES:
            raise MailwrightError(pos, f'unknown date format code \'{code}\' in date("{fmt}") (portable codes: '
                                       f"{' '.join(DATE_CODES)})")
        parts.append(code)
        i = m.end()
    if i < len(fmt):
        parts.append(fmt[i:])
    if not any(p in DATE_CODES and p != "%%" for p in parts):
        raise MailwrightError(pos, f'date("{fmt}") has no date code: use at least one of {" ".join(DATE_CODES[:-1])}')
    return parts


def literal_output(src: str) -> str | None:
    """``{{ "{{" }}``: a string literal written out as copy (language.md §5)."""
    if src[:1] not in ("'", '"'):  # only a quoted string can be one (saves a parse per tag)
        return None
    try:
        tree = _parse("{{ " + src + " }}")
    except (jinja2.TemplateSyntaxError, RecursionError):
        return None
    body = tree.body
    if len(body) == 1 and isinstance(body[0], nodes.Output) and len(body[0].nodes) == 1:
        n = body[0].nodes[0]
        if isinstance(n, nodes.Const) and isinstance(n.value, str):
            return n.value
    return None


def parse_loop(src: str, pos: Pos, scope: Scope) -> tuple[str, Var]:
    """``item in event.items`` → (loop variable, iterable)."""
    tree = _syntax(src, pos, "{% for " + src + " %}{% endfor %}")
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.For):
        raise MailwrightError(pos, f"bad loop '{src}': expected 'NAME in LIST'")
    node = tree.body[0]
    if node.test is not None or node.recursive or node.else_:
        raise MailwrightError(pos, f"'{src}': loop filters and 'recursive' are not portable")
    if not isinstance(node.target, nodes.Name):
        raise MailwrightError(pos, f"'{src}': loop over one name, as 'item in event.items'")
    name = node.target.name
    if name in ROOTS + ("segment", "trigger", "esp") or name in scope.loop_vars:
        raise MailwrightError(pos, f"the loop variable '{name}' hides a name already in use")
    it = _convert(node.iter, src, pos, scope, condition=False)
    if not isinstance(it, Var) or it.root in ("trigger", "esp"):
        raise MailwrightError(pos, f"'{src}': a loop goes over a list such as event.items")
    return name, it


def _single_output(tree: nodes.Template, src: str, pos: Pos) -> nodes.Node:
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        raise MailwrightError(pos, f"bad expression '{src}'")
    return body[0].nodes[0]


_NOT_PORTABLE = {
    nodes.Add: "arithmetic", nodes.Sub: "arithmetic", nodes.Mul: "arithmetic",
    nodes.Div: "arithmetic", nodes.FloorDiv: "arithmetic", nodes.Mod: "arithmetic",
    nodes.Pow: "arithmetic", nodes.Neg: "arithmetic", nodes.Pos: "arithmetic",
    nodes.Concat: "string concatenation (~)", nodes.Call: "function calls",
    nodes.CondExpr: "inline if-expressions", nodes.Slice: "slices",
    nodes.Dict: "dict literals", nodes.Tuple: "tuples",
}


def _convert(node: nodes.Node, src: str, pos: Pos, scope: Scope, *, condition: bool) -> Expr:
    conv = lambda n: _convert(n, src, pos, scope, condition=condition)  # noqa: E731
    if isinstance(node, nodes.Const):
        if node.value is None or not isinstance(node.value, (str, int, float, bool)):
            raise MailwrightError(pos, f"'{src}': literal {node.value!r} is not portable")
        return Const(node.value)
    if isinstance(node, nodes.List):
        vals = []
        for item in node.items:
            if not isinstance(item, nodes.Const) or item.value is None:
                raise MailwrightError(pos, f"'{src}': a list holds literals only")
            vals.append(item.value)
        if not vals:
            raise MailwrightError(pos, f"'{src}': an empty list")
        return ListLit(tuple(vals))
    if isinstance(node, nodes.Name):
        return _name(node.name, (), src, pos, scope)
    if isinstance(node, (nodes.Getattr, nodes.Getitem)):
        path: list[str] = []
        cur = node
        while isinstance(cur, (nodes.Getattr, nodes.Getitem)):
            if isinstance(cur, nodes.Getattr):
                path.append(cur.attr)
            else:
                if not isinstance(cur.arg, nodes.Const) or not isinstance(cur.arg.value, str):
                    raise MailwrightError(pos, f"'{src}': use a quoted property name in [...]")
                path.append(cur.arg.value)
            cur = cur.node
        if not isinstance(cur, nodes.Name):
            raise MailwrightError(pos, f"'{src}': attribute access on literals is not portable")
        return _name(cur.name, tuple(reversed(path)), src, pos, scope)
    if isinstance(node, nodes.Compare):
        if len(node.ops) != 1:
            raise MailwrightError(pos, f"'{src}': chained comparisons are not portable; join them with 'and'")
        op = node.ops[0]
        left, right = conv(node.expr), conv(op.expr)
        for side in (left, right):
            if isinstance(side, Var) and side.root == "segment":
                raise MailwrightError(pos, f"'{src}': a segment is a condition, not a value")
        if op.op in ("in", "notin"):
            if not isinstance(right, (ListLit, Var, Const)) or (isinstance(right, Const) and not isinstance(right.value, str)):
                raise MailwrightError(pos, f"'{src}': 'in' needs a list or a string on its right")
        elif isinstance(right, ListLit) or isinstance(left, ListLit):
            raise MailwrightError(pos, f"'{src}': a list can only stand right of 'in'")
        return Cmp(CMP_OPS[op.op], left, right)
    if isinstance(node, nodes.And):
        return And(_cond(conv(node.left), src, pos), _cond(conv(node.right), src, pos))
    if isinstance(node, nodes.Or):
        return Or(_cond(conv(node.left), src, pos), _cond(conv(node.right), src, pos))
    if isinstance(node, nodes.Not):
        return Not(_cond(conv(node.node), src, pos))
    if isinstance(node, nodes.Test):
        if node.name != "defined" or node.args or node.kwargs:
            raise MailwrightError(pos, f"'{src}': only the tests 'is defined' / 'is not defined' are portable")
        target = conv(node.node)
        if not isinstance(target, Var) or target.root == "segment":
            raise MailwrightError(pos, f"'{src}': 'is defined' applies to a name")
        return Defined(target)
    if isinstance(node, nodes.Filter):
        raise MailwrightError(pos, f"'{src}': filters may only be used in {{{{ output }}}}, not in conditions")
    what = _NOT_PORTABLE.get(type(node), type(node).__name__)
    raise MailwrightError(pos, f"'{src}': {what} not portable")


def _cond(e: Expr, src: str, pos: Pos) -> Expr:
    _require_boolean(e, src, pos)
    return e


def _require_boolean(e: Expr, src: str, pos: Pos) -> None:
    if isinstance(e, Var) and e.root == "segment":
        return
    if isinstance(e, (Var, ListLit)) or (isinstance(e, Const) and not isinstance(e.value, bool)):
        shown = e.portable if isinstance(e, Var) else src
        raise MailwrightError(
            pos, f"'{shown}' is a value, not a condition; compare it (== …) or test it ('is defined')"
        )


def _name(root: str, path: tuple[str, ...], src: str, pos: Pos, scope: Scope) -> Expr:
    if root in ("true", "True"):
        return Const(True)
    if root in ("false", "False"):
        return Const(False)
    if root in scope.loop_vars:
        return Var(root, path, loop=True, pos=pos)
    if root in ROOTS:
        if not path:
            raise MailwrightError(pos, f"'{src}': use a property, as {root}.first_name")
        return Var(root, path, pos=pos)
    if root in ("trigger", "esp"):
        if path:
            raise MailwrightError(pos, f"'{src}': '{root}' is a string, it has no properties")
        return Var(root, (), pos=pos)
    if root == "segment":
        if len(path) != 1:
            raise MailwrightError(pos, f"'{src}': name a segment, as segment.high_intent")
        return expand_segment(path[0], pos, scope)
    hint = _habit(root, path, scope)
    raise MailwrightError(
        pos, f"unknown name '{root}' in '{src}'{hint} (names: profile.*, event.*, segment.*, trigger, esp, "
             "loop variables)"
    )


# names that ESPs' own template languages use for what this language calls profile.*
_ESP_HABITS = {"person": ("profile", "Klaviyo's"), "contact": ("profile", "HubSpot's"),
               "customer": ("profile", None), "user": ("profile", None), "subscriber": ("profile", None)}
# Klaviyo lets a template name a profile property alone ({{ first_name }})
_BARE_PROFILE = {"first_name", "last_name", "email", "phone_number", "city", "country", "organization"}


def _habit(root: str, path: tuple[str, ...], scope: Scope) -> str:
    """A did-you-mean for an unknown name: ESP habits first, then typos."""
    import difflib

    rest = "".join(f".{p}" for p in path)
    if root in _ESP_HABITS:
        new, whose = _ESP_HABITS[root]
        why = f" ({whose} {root} is {new} here)" if whose else ""
        return f": did you mean {new}{rest}?{why}"
    if root in _BARE_PROFILE and not path:
        return f": did you mean profile.{root}?"
    names = [*ROOTS, "segment", "trigger", "esp", *scope.loop_vars]
    close = difflib.get_close_matches(root, names, n=1, cutoff=0.6)
    return f": did you mean {close[0]}{rest}?" if close else ""


def expand_segment(name: str, pos: Pos, scope: Scope) -> Expr:
    seg = scope.segments.get(name)
    if seg is None:
        known = ", ".join(sorted(scope.segments)) or "none defined"
        raise MailwrightError(pos, f"unknown segment '{name}' (segments: {known})")
    if name in scope.expanding:
        chain = " -> ".join(scope.expanding[scope.expanding.index(name):] + (name,))
        raise MailwrightError(seg.pos, f"segment cycle: {chain}")
    inner = Scope(scope.segments, (), scope.expanding + (name,))
    return parse_condition(seg.source, seg.pos, inner)


def relocated(e: Any, old: Pos, new: Pos) -> Any:
    """A parse result (an expression, an :class:`OutputExpr` or a loop header) as read at ``new``
    instead of ``old``: each place that is ``old`` becomes ``new``; a segment's own places stay.
    The result is ``e`` itself when nothing in it is at ``old``."""
    t = type(e)
    if t is Var:
        return Var(e.root, e.path, e.loop, new) if e.pos is old else e
    if t is OutputExpr:
        var = relocated(e.var, old, new)
        filters = tuple(Filter(f.name, f.args, new) if f.pos is old else f for f in e.filters)
        same = var is e.var and all(a is b for a, b in zip(filters, e.filters))
        return e if same else OutputExpr(var, filters)
    if t is Cmp:
        left, right = relocated(e.left, old, new), relocated(e.right, old, new)
        return e if left is e.left and right is e.right else Cmp(e.op, left, right)
    if t is And or t is Or:
        left, right = relocated(e.left, old, new), relocated(e.right, old, new)
        return e if left is e.left and right is e.right else t(left, right)
    if t is Not:
        inner = relocated(e.expr, old, new)
        return e if inner is e.expr else Not(inner)
    if t is Defined:
        var = relocated(e.var, old, new)
        return e if var is e.var else Defined(var)
    if t is tuple:  # parse_loop's (name, iterable)
        it = relocated(e[1], old, new)
        return e if it is e[1] else (e[0], it)
    return e  # Const, ListLit: no place


# ---------------------------------------------------------------- folding

_TRUE, _FALSE = Const(True), Const(False)


def fold(e: Expr, known: dict[str, Any]) -> Expr:
    """Fold what is known at compile time (``trigger``, ``esp``) into constants.

    ``known`` maps 'trigger'/'esp' to a string, or None for undefined.
    The result is a ``Const(bool)`` when the whole condition is decided.
    """
    t = type(e)  # exact types: the IR classes are final, and this runs for every branch of every email
    if t is And:
        a, b = fold(e.left, known), fold(e.right, known)
        if a == _FALSE or b == _FALSE:
            return _FALSE
        if a == _TRUE:
            return b
        if b == _TRUE:
            return a
        return And(a, b)
    if t is Or:
        a, b = fold(e.left, known), fold(e.right, known)
        if a == _TRUE or b == _TRUE:
            return _TRUE
        if a == _FALSE:
            return b
        if b == _FALSE:
            return a
        return Or(a, b)
    if t is Not:
        a = fold(e.expr, known)
        if isinstance(a, Const):
            return Const(not a.value)
        return Not(a)
    if t is Defined and e.var.root in known:
        return Const(_present(known[e.var.root]))
    if t is Cmp and _static(e.left, known) and _static(e.right, known):
        return Const(_compare(e.op, _static_value(e.left, known), _static_value(e.right, known)))
    return e


def _static(e: Expr, known: dict) -> bool:
    return isinstance(e, (Const, ListLit)) or (isinstance(e, Var) and e.root in known)


def _static_value(e: Expr, known: dict) -> Any:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, ListLit):
        return list(e.values)
    return known[e.root]


def uses(e: Expr) -> list[Var]:
    """Every name an expression reads."""
    if isinstance(e, Var):
        return [e]
    if isinstance(e, Defined):
        return [e.var]
    if isinstance(e, Cmp):
        return uses(e.left) + uses(e.right)
    if isinstance(e, (And, Or)):
        return uses(e.left) + uses(e.right)
    if isinstance(e, Not):
        return uses(e.expr)
    return []


# ---------------------------------------------------------------- meaning (language.md §3, §7)

MISSING = object()


def _present(v: Any) -> bool:
    return v is not MISSING and v is not None and v != ""


def lookup(var: Var, data: dict[str, Any]) -> Any:
    """Resolve a name in recipient data (``profile``, ``event``, loop vars)."""
    cur = data.get(var.root, MISSING)
    for p in var.path:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            return MISSING
    return cur


def _compare(op: str, a: Any, b: Any) -> bool:
    if not _present(a) or not _present(b):
        return False
    try:
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        if op in ("in", "not in"):
            if isinstance(b, str):
                member = isinstance(a, str) and a in b
            elif isinstance(b, (list, tuple)):
                member = a in b
            else:
                return False
            return member if op == "in" else not member
    except TypeError:
        return False
    raise AssertionError(op)


def evaluate(e: Expr, data: dict[str, Any]) -> bool:
    """The reference meaning of a condition for one recipient."""
    if isinstance(e, Const):
        return bool(e.value)
    if isinstance(e, And):
        return evaluate(e.left, data) and evaluate(e.right, data)
    if isinstance(e, Or):
        return evaluate(e.left, data) or evaluate(e.right, data)
    if isinstance(e, Not):
        return not evaluate(e.expr, data)
    if isinstance(e, Defined):
        return _present(lookup(e.var, data))
    if isinstance(e, Cmp):
        return _compare(e.op, value(e.left, data), value(e.right, data))
    raise AssertionError(f"not a condition: {e!r}")


def value(e: Expr, data: dict[str, Any]) -> Any:
    if isinstance(e, Var):
        return lookup(e, data)
    if isinstance(e, Const):
        return e.value
    if isinstance(e, ListLit):
        return list(e.values)
    raise AssertionError(e)


def to_text(v: Any) -> str:
    """How a present value prints."""
    if v is True:
        return "True"
    if v is False:
        return "False"
    return str(v)


def round_half_away(v: Any, n: int) -> str:
    d = decimal.Decimal(str(v))
    q = decimal.Decimal(1).scaleb(-n)
    return str(d.quantize(q, rounding=decimal.ROUND_HALF_UP))


def apply_filter(f: Filter, v: Any) -> Any:
    """One portable filter on a present value (missing handled by the caller)."""
    s = to_text(v)
    if f.name == "upper":
        return s.upper()
    if f.name == "lower":
        return s.lower()
    if f.name == "title":
        return s.title()
    if f.name == "capitalize":
        return s.capitalize()
    if f.name == "truncate":
        n = f.args[0]
        return s if len(s) <= n else s[: n - 1] + "…"
    if f.name == "date":
        return format_date(v, f.args[0])
    if f.name in ("round", "money"):
        n = 2 if f.name == "money" else (f.args[0] if f.args else 0)
        try:
            return round_half_away(v, n)
        except (decimal.InvalidOperation, ValueError):
            return ""
    raise AssertionError(f.name)


def format_date(v: Any, fmt: str) -> str:
    """``date(fmt)`` of a value: an ISO 8601 date (``YYYY-MM-DD``) in English names; anything else prints nothing."""
    if not isinstance(v, str) or not _ISO_DATE.match(v):
        return ""
    try:
        d = datetime.date.fromisoformat(v)
    except ValueError:
        return ""
    codes = {"%Y": f"{d.year:04d}", "%y": f"{d.year % 100:02d}", "%m": f"{d.month:02d}", "%-m": str(d.month),
             "%d": f"{d.day:02d}", "%-d": str(d.day), "%B": MONTHS[d.month - 1], "%b": MONTHS[d.month - 1][:3],
             "%A": WEEKDAYS[d.weekday()], "%a": WEEKDAYS[d.weekday()][:3], "%%": "%"}
    return "".join(codes.get(p, p) for p in date_codes(fmt, Pos("?")))


def render_output(o: OutputExpr, data: dict[str, Any]) -> str:
    """The reference text of ``{{ … }}`` for one recipient."""
    v = lookup(o.var, data)
    present = _present(v)
    for f in o.filters:
        if f.name == "default":
            if not present:
                v, present = f.args[0], True
            continue
        if present:
            v = apply_filter(f, v)
            present = True
    return to_text(v) if present else ""


def live_branches(branches, known: dict[str, Any]) -> list:
    """The branches of an if that can still show, given what compile time knows
    (``trigger``, ``esp``): ``(condition, body)`` pairs, with ``None`` for a branch
    that certainly shows (the last one then). ``branches``: (condition or None, body)."""
    live = []
    for cond, body in branches:
        c = _TRUE if cond is None else fold(cond, known)
        if c == _FALSE:
            continue
        if c == _TRUE:
            live.append((None, body))
            break
        live.append((c, body))
    return live
