"""HubSpot: HubL, HubSpot's Jinja-like language (jinjava).

Names: ``contact.firstname`` and the contact properties; emails cannot read
event properties, so each ``event.*`` name needs a contact property in
``[esp.hubspot.properties]``. Conditions on personalization tokens are only
evaluated in templates enabled for programmable email, so every document is
annotated with ``isEnabledForEmailV3Rendering: true`` (Marketing Hub
Professional or higher).
"""

from __future__ import annotations

import re

from mailwright.dialect import (
    APPROX,
    EXACT,
    UNSUPPORTED,
    Atom,
    Const,
    Dialect,
    Support,
    guarded,
    toml_key,
    write_formula,
)
from mailwright.errors import Pos
from mailwright.expr import Expr, ListLit, OutputExpr, Var, date_codes

STANDARD = {"email": "email", "first_name": "firstname", "last_name": "lastname", "phone": "phone"}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LOOP_WAY_OUT = ("HubSpot emails cannot loop over event data; wrap the loop in "
                "<mw-if when=\"esp == 'klaviyo'\"> with an <mw-else> alternative")


class HubSpotDialect(Dialect):
    name = "hubspot"
    label = "HubSpot"
    CAPABILITIES = {
        "output": Support(EXACT, "{{ contact.firstname }}"),
        "profile property": Support(EXACT, "contact.NAME"),
        "event property": Support(EXACT, "only through a contact property named in [esp.hubspot.properties]"),
        "condition": Support(EXACT, "{% if %} (programmable email)"),
        "comparison": Support(EXACT, "== != < <= > >= guarded by presence"),
        "in list": Support(EXACT, "x in [\"a\", \"b\"]"),
        "in string": Support(EXACT, "'in' on strings"),
        "is defined": Support(EXACT, "x is defined and x is not none and x != \"\""),
        "boolean literal": Support(EXACT, "true / false"),
        "loop": Support(UNSUPPORTED, LOOP_WAY_OUT),
        "loop limit": Support(UNSUPPORTED, LOOP_WAY_OUT),
        "filter default": Support(EXACT, "a conditional on presence"),
        "filter upper": Support(EXACT, "|upper"),
        "filter lower": Support(EXACT, "|lower"),
        "filter title": Support(APPROX, "HubL's |title splits words on other characters than Python's str.title "
                                        "(\"o'neil\" → \"O'neil\")"),
        "filter capitalize": Support(EXACT, "|capitalize"),
        "filter truncate": Support(EXACT, "a length test and |truncate(N-1, true, '…') (HubL does not count the end)"),
        "filter round": Support(EXACT, "|round(N) (half away from zero) formatted with N decimals"),
        "filter money": Support(EXACT, "|round(2) formatted with 2 decimals"),
        "filter date": Support(EXACT, "|strtodate('%Y-%m-%d')|datetimeformat('…', 'UTC', 'en') (jinjava's strftime "
                                      "codes), guarded by presence: the property holds the text YYYY-MM-DD"),
        "passthrough": Support(EXACT, "<mw-raw esp=\"hubspot\">"),
    }
    # '#}' too: HubSpot's HubL parser rejects a comment end outside a comment
    LITERAL = re.compile(r"\{[{%#]|#\}|\{\Z")
    COMPLIANCE = [
        (r"\{\{\s*unsubscribe_link(_all)?\s*\}\}", "the {{ unsubscribe_link }} token"),
        (r"\{\{\s*site_settings\.company_(street_address_1|address)\b", "the company address ({{ site_settings.company_street_address_1 }} …)"),
    ]

    def ref(self, v: Var) -> str:
        return self.remember(v, self._ref)

    def _ref(self, v: Var) -> str:
        if v.loop:
            raise self.unsupported("a loop variable", v.pos, LOOP_WAY_OUT)
        mapped = self.mapped("properties", v)
        if v.root == "profile":
            self.require("profile property", v.pos)
            if mapped:
                return _path("contact", mapped)
            if len(v.path) == 1 and v.path[0] in STANDARD:
                return f"contact.{STANDARD[v.path[0]]}"
            if len(v.path) != 1:
                raise self.unsupported(f"the nested name {v.portable}", v.pos,
                                       f'map it to a contact property: [esp.hubspot.properties] {toml_key(v.portable)} = "…"',
                                       mapping=("esp.hubspot.properties", v.portable, "_".join(v.path).lower()))
            return _path("contact", v.path[0])
        if v.root == "event":
            if not mapped:
                raise self.unsupported(
                    f"the event property {v.portable}", v.pos,
                    f'map it to a contact property in mailwright.toml: [esp.hubspot.properties] {toml_key(v.portable)} = "…"',
                    "HubSpot emails only see contact properties",
                    mapping=("esp.hubspot.properties", v.portable, "_".join(v.path).lower()),
                )
            return _path("contact", mapped)
        raise AssertionError(v)

    def write_output(self, o: OutputExpr, pos: Pos) -> tuple[str, str | None, str]:
        self.require("output", pos)
        ref = self.ref(o.var)
        split = self.split_default(o)
        filters = list(o.filters) if split is None else split[0] + split[1]
        value = self._value(ref, filters, pos)
        needs_guard = any(f.name in ("round", "money", "date") for f in filters)
        if split is None:
            if needs_guard:  # |float would print 0.00, datetimeformat today's date, for a missing value
                return f"{{% if {_present(ref)} %}}{value}{{% endif %}}", None, ""
            return value, None, ""
        self.filter("default", pos)
        fallback = self.default_text(OutputExpr(Var("x"), tuple(o.filters[len(split[0]):])))
        return f"{{% if {_present(ref)} %}}{value}{{% else %}}", fallback, "{% endif %}"

    def _value(self, ref: str, filters, pos: Pos) -> str:
        expr = ref
        for i, f in enumerate(filters):
            self.filter(f.name, pos)
            if f.name == "truncate":
                n = f.args[0]
                rest = filters[i + 1 :]
                long = self._value(f"{expr}|truncate({n - 1}, true, '…')", rest, pos)
                short = self._value(expr, rest, pos)
                return f"{{% if {expr}|length > {n} %}}{long}{{% else %}}{short}{{% endif %}}"
            if f.name == "date":
                fmt = "".join(_JINJAVA_DATE.get(p, p) for p in date_codes(f.args[0], pos))
                expr += f"|strtodate('%Y-%m-%d')|datetimeformat({_string(fmt)}, 'UTC', 'en')"
            elif f.name in ("round", "money"):
                n = 2 if f.name == "money" else (f.args[0] if f.args else 0)
                expr = f"'%.{n}f'|format({expr}|float|round({n}))"
            else:
                expr += {"upper": "|upper", "lower": "|lower", "title": "|title",
                         "capitalize": "|capitalize"}[f.name]
        return "{{ " + expr + " }}"

    def condition(self, e: Expr, pos: Pos) -> str:
        self.require("condition", pos)
        return write_formula(guarded(e), lambda a: self._atom(a, pos), " and ", " or ", "true", "false", top=False)

    def _atom(self, f: Atom, pos: Pos) -> str:
        if f.kind in ("present", "missing"):
            self.require("is defined", pos)
            p = _present(self.ref(f.a))
            return p if f.kind == "present" else f"not ({p})"
        self.require("in list" if isinstance(f.b, ListLit) else ("in string" if "in" in f.op else "comparison"), pos)
        text = f"{self._operand(f.a, pos)} {f.op} {self._operand(f.b, pos)}"
        return f"not ({text})" if f.kind == "ncmp" else text

    def _operand(self, x, pos: Pos) -> str:
        if isinstance(x, Var):
            return self.ref(x)
        if isinstance(x, ListLit):
            return "[" + ", ".join(self._operand(Const(v), pos) for v in x.values) + "]"
        if isinstance(x.value, bool):
            self.require("boolean literal", pos)
            return "true" if x.value else "false"
        if isinstance(x.value, str):
            if "%}" in x.value or "}}" in x.value:
                raise self.unsupported("a string containing '%}' or '}}' in a condition", pos,
                                       "compare against a value without those characters")
            return _string(x.value)
        return repr(x.value)

    def for_block(self, var: str, iterable: Var, limit: int | None, body: str, pos: Pos) -> str:
        self.require("loop", pos)
        raise AssertionError("unreachable")

    def literal(self, text: str, context: str) -> str:
        return _raw(text)

    def finish(self, html: str) -> str:
        label = self.ctx.template.replace("-->", "")
        head = ("<!--\n  templateType: email\n  isAvailableForNewContent: true\n"
                f"  isEnabledForEmailV3Rendering: true\n  label: {label}\n-->\n")
        return head + html


# date()'s codes as jinjava's StrftimeFormatter reads them: its %e is the day without padding
_JINJAVA_DATE = {"%-d": "%e"}


def _raw(text: str) -> str:
    """Copy as HubL shows it: each '{' that would open a tag, and each '#' that would
    close a comment, in its own ``{% raw %}…{% endraw %}`` (jinjava: "process all inner
    expressions as plain text"); the rest as it is.

    One character per block: a block never holds ``{% endraw %}``, and no ``{{``, ``{#``
    or ``#}`` is left for a tool that finds delimiters by pattern (HubSpot's HubL
    formatter does, raw blocks included).
    """
    return _DELIMITER_CHAR.sub(lambda m: f"{{% raw %}}{m.group()}{{% endraw %}}", text)


# '{' before '{', '%', '#' or at the end (a tag may follow); '#' before '}' or at the end
_DELIMITER_CHAR = re.compile(r"\{(?=[{%#]|\Z)|#(?=\}|\Z)")


def _present(ref: str) -> str:
    return f'({ref} is defined and {ref} is not none and {ref} != "")'


def _path(root: str, prop: str) -> str:
    return f"{root}.{prop}" if _IDENT.match(prop) else f"{root}[{_string(prop)}]"


def _string(s: str) -> str:
    """A HubL string literal. jinjava reads the escapes ``\\\\ \\' \\" \\n \\t \\b \\f \\r`` and
    refuses any other (ExtendedScanner.nextString); Jinja2 reads those alike. A CR is escaped too:
    Jinja2 would read a bare one as LF."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\r", "\\r") + "'"
