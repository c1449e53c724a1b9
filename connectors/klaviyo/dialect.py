"""Klaviyo: a Django-based template language.

Names: ``person.first_name`` (custom properties through ``person|lookup:'…'``),
``event.…`` for the triggering event. Django's ``{% if %}`` has no parentheses,
so conditions are written in disjunctive normal form.
"""

from __future__ import annotations

import re

from mailwright.dialect import (
    APPROX,
    EXACT,
    All,
    Any_,
    Atom,
    Const,
    Dialect,
    Support,
    dnf,
    guarded,
)
from mailwright.errors import Pos
from mailwright.expr import Expr, ListLit, OutputExpr, Var, date_codes

STANDARD = {"email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone_number"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Django resolves ``event.items`` to dict.items() when the key is missing, and then
# loops over the event's own pairs: such names always go through |lookup.
_DICT_METHODS = frozenset(dir(dict)) | {"items", "keys", "values"}


class KlaviyoDialect(Dialect):
    name = "klaviyo"
    label = "Klaviyo"
    CAPABILITIES = {
        "output": Support(EXACT, "{{ person.first_name }}"),
        "profile property": Support(EXACT, "person.NAME, or person|lookup:'NAME'"),
        "event property": Support(EXACT, "event.NAME of the triggering event (flows only)"),
        "condition": Support(EXACT, "{% if %} in disjunctive normal form (Django has no parentheses)"),
        "comparison": Support(EXACT, "== != < <= > >= guarded by presence"),
        "in list": Support(EXACT, "expanded to == … or == …"),
        "in string": Support(EXACT, "Django 'in' on strings"),
        "is defined": Support(EXACT, "x is not None and x != \"\""),
        "boolean literal": Support(EXACT, "True / False"),
        "loop": Support(EXACT, "{% for item in event.items %}"),
        "loop limit": Support(EXACT, "|slice:\":N\""),
        "filter default": Support(EXACT, "a conditional: Django's default would also replace 0 and false"),
        "filter upper": Support(EXACT, "|upper"),
        "filter lower": Support(EXACT, "|lower"),
        "filter title": Support(APPROX, "Django's |title keeps letters after an apostrophe or digit lower-case "
                                        "(\"o'neil\" → \"O'neil\", Python gives \"O'Neil\")"),
        "filter capitalize": Support(EXACT, "|lower|capfirst"),
        "filter truncate": Support(EXACT, "|truncatechars:N"),
        "filter round": Support(EXACT, "|floatformat:N (half away from zero)"),
        "filter money": Support(EXACT, "|floatformat:2"),
        "filter date": Support(APPROX, "|format_date_string|date:'…' (Django's date codes), guarded by presence; "
                                       "Klaviyo's format_date_string is known from copies of its help article only, "
                                       "and how it reads a date without a time is not verified: send a test"),
        "passthrough": Support(EXACT, "<mw-raw esp=\"klaviyo\">"),
    }
    # '{{', '{%', '{#' are syntax; a '{' at the end of copy could join a following tag
    LITERAL = re.compile(r"\{[{%#]|\{\Z")
    COMPLIANCE = [(r"\{%\s*unsubscribe(_link)?\b", "the unsubscribe tag {% unsubscribe %} (or {% unsubscribe_link %} in an href)")]

    # ---------------------------------------------------------------- names
    def ref(self, v: Var) -> str:
        return self.remember(v, self._ref)

    def _ref(self, v: Var) -> str:
        if v.loop:
            self.require("loop", v.pos)
            return self._path(v.root, v.path)
        mapped = self.mapped("properties", v)
        if v.root == "profile":
            self.require("profile property", v.pos)
            if mapped:
                return self._path("person", (mapped,))
            if len(v.path) == 1 and v.path[0] in STANDARD:
                return f"person.{STANDARD[v.path[0]]}"
            return self._path("person", v.path)
        if v.root == "event":
            self.require("event property", v.pos)
            if mapped:
                return self._path("event", (mapped,))
            return self._path("event", v.path)
        raise AssertionError(v)

    @staticmethod
    def _path(root: str, path: tuple[str, ...]) -> str:
        out = root
        for p in path:
            if _IDENT.match(p) and p not in _DICT_METHODS and not out.count("|"):
                out += f".{p}"
            else:
                out += f"|lookup:{_string(p)}"
        return out

    # ---------------------------------------------------------------- output
    def write_output(self, o: OutputExpr, pos: Pos) -> tuple[str, str | None, str]:
        self.require("output", pos)
        ref = self.ref(o.var)
        split = self.split_default(o)
        if split is None:
            value = "{{ " + ref + self._filters(o.filters, pos) + " }}"
            if o.filters and o.filters[0].name == "date":  # what format_date_string does with nothing is unknown
                return f"{{% if {self._present(ref)} %}}{value}{{% endif %}}", None, ""
            return value, None, ""
        before, after = split
        self.filter("default", pos)
        value = "{{ " + ref + self._filters(before + after, pos) + " }}"
        fallback = self.default_text(OutputExpr(Var("x"), (o.filters[len(before)], *after)))
        return f"{{% if {self._present(ref)} %}}{value}{{% else %}}", fallback, "{% endif %}"

    def _filters(self, filters, pos: Pos) -> str:
        out = ""
        for f in filters:
            self.filter(f.name, pos)
            if f.name == "date":
                out += f"|format_date_string|date:{_string(_django_date(f.args[0], pos))}"
                continue
            out += {
                "upper": "|upper",
                "lower": "|lower",
                "title": "|title",
                "capitalize": "|lower|capfirst",
                "truncate": f"|truncatechars:{f.args[0] if f.args else 0}",
                "round": f"|floatformat:{f.args[0] if f.args else 0}",
                "money": "|floatformat:2",
            }[f.name]
        return out

    @staticmethod
    def _present(ref: str) -> str:
        return f'{ref} is not None and {ref} != ""'

    # ---------------------------------------------------------------- conditions
    def condition(self, e: Expr, pos: Pos) -> str:
        self.require("condition", pos)
        f = guarded(e, expand_in=True)
        if _conjunction(f):  # most conditions: one clause, without building the DNF
            atoms: list[Atom] = []
            _clause(f, atoms)
            return " and ".join(self._atom(a, pos) for a in atoms)
        clauses = dnf(_split_presence(f))
        if clauses is None:
            raise self.unsupported("this condition", pos, "split it into nested <mw-if> blocks or segments",
                                   "it needs more than 256 terms without parentheses")
        if not clauses:
            return "False"
        return " or ".join(" and ".join(self._atom(a, pos) for a in c) or "True" for c in clauses)

    def _atom(self, a: Atom, pos: Pos) -> str:
        test = _PRESENCE.get(a.kind)
        if test is not None:
            self.require("is defined", pos)
            return self.ref(a.a) + test
        op = a.op
        if op in ("in", "not in"):
            self.require("in string" if not isinstance(a.b, ListLit) else "in list", pos)
        else:
            self.require("comparison", pos)
        text = f"{self._operand(a.a, pos)} {op} {self._operand(a.b, pos)}"
        return f"not {text}" if a.kind == "ncmp" else text

    def _operand(self, x, pos: Pos) -> str:
        if isinstance(x, Var):
            return self.ref(x)
        if isinstance(x, Const):
            if isinstance(x.value, bool):
                self.require("boolean literal", pos)
                return "True" if x.value else "False"
            if isinstance(x.value, str):
                if "%}" in x.value or "}}" in x.value:
                    raise self.unsupported("a string containing '%}' or '}}' in a condition", pos,
                                           "compare against a value without those characters")
                if "\n" in x.value:  # Django's lexer finds a tag within one line
                    raise self.unsupported("a string containing a line break in a condition", pos,
                                           "compare against a value without line breaks")
                return _string(x.value)
            return repr(x.value)
        raise AssertionError(x)

    def for_block(self, var: str, iterable: Var, limit: int | None, body: str, pos: Pos) -> str:
        self.require("loop", pos)
        it = self.ref(iterable)
        if limit is not None:
            self.require("loop limit", pos)
            it += f'|slice:":{limit}"'
        return f"{{% for {var} in {it} %}}{body}{{% endfor %}}"

    def literal(self, text: str, context: str) -> str:
        return "{{ " + _string(text) + " }}"


# the presence atoms of _split_presence, written after the name
_PRESENCE = {"none": " is None", "notnone": " is not None", "empty": ' == ""', "notempty": ' != ""'}


def _conjunction(f) -> bool:
    """Whether ``f`` is atoms joined by 'and' only (and so ``dnf(_split_presence(f))`` one clause)."""
    if type(f) is All:
        for x in f.items:
            if not _conjunction(x):
                return False
        return True
    return type(f) is Atom and f.kind != "missing"


def _clause(f, out: list[Atom]) -> None:
    """The one clause of a :func:`_conjunction`, as the DNF has it: presence split, each atom once, in order."""
    if type(f) is All:
        for x in f.items:
            _clause(x, out)
        return
    for a in (Atom("notnone", f.a), Atom("notempty", f.a)) if f.kind == "present" else (f,):
        if a not in out:
            out.append(a)


def _split_presence(f):
    """Presence is two Django tests (not None, not ""): make each its own atom for the DNF."""
    if isinstance(f, Atom):
        if f.kind == "present":
            return All((Atom("notnone", f.a), Atom("notempty", f.a)))
        if f.kind == "missing":
            return Any_((Atom("none", f.a), Atom("empty", f.a)))
        return f
    if isinstance(f, (All, Any_)):
        return type(f)(tuple(_split_presence(x) for x in f.items))
    return f


# date()'s codes as Django's date format characters (docs.djangoproject.com "date" filter)
_DJANGO_DATE = {"%Y": "Y", "%y": "y", "%m": "m", "%-m": "n", "%d": "d", "%-d": "j", "%B": "F", "%b": "M",
                "%A": "l", "%a": "D", "%%": "%"}


def _django_date(fmt: str, pos: Pos) -> str:
    """A portable date format as Django's: codes mapped, every other letter escaped (the portable format has no backslash)."""
    out = ""
    for part in date_codes(fmt, pos):
        if part in _DJANGO_DATE:
            out += _DJANGO_DATE[part]
        else:
            out += re.sub(r"([A-Za-z])", r"\\\1", part)
    return out


def _string(s: str) -> str:
    """A Django string literal: Django reads back ``\\'`` and ``\\\\`` only (unescape_string_literal),
    so both are escaped, whatever else the text holds."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
