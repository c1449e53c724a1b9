"""ActiveCampaign: ``%TAG%`` personalization tags and ``%IF …%`` conditional content.

Names are personalization tags (contact fields); emails cannot read event
properties, so each ``event.*`` name needs a field in
``[esp.activecampaign.fields]``. There are no output filters and no loops.
Conditional content: ``%IF $TAG == 'x'%`` … ``%ELSEIF …%`` … ``%ELSE%`` …
``%/IF%``; an expression may not contain '%' (it is written ``~PERCENT~``).
"""

from __future__ import annotations

import re

from mailwright.dialect import (
    EXACT,
    UNSUPPORTED,
    Atom,
    Dialect,
    Support,
    guarded,
    toml_key,
    write_formula,
)
from mailwright.errors import Pos
from mailwright.expr import Expr, ListLit, OutputExpr, Var

STANDARD = {"email": "EMAIL", "first_name": "FIRSTNAME", "last_name": "LASTNAME", "phone": "PHONE"}
NO_FILTERS = ("ActiveCampaign has no output filters: store the value already formatted in a custom field, "
              "or branch on `esp` (<mw-if when=\"esp == 'activecampaign'\">)")
NO_DATES = ("ActiveCampaign cannot format a date in an email: store the date already formatted in a custom field "
            "(from your integration, or [signals]), or branch on `esp` (<mw-if when=\"esp == 'activecampaign'\">)")
PERCENT = "~PERCENT~"  # '%' inside a %IF …% expression (which '%' would end)
NO_LOOPS = ("ActiveCampaign emails cannot loop over event data; wrap the loop in "
            "<mw-if when=\"esp == 'klaviyo'\"> with an <mw-else> alternative")


class ActiveCampaignDialect(Dialect):
    name = "activecampaign"
    label = "ActiveCampaign"
    CAPABILITIES = {
        "output": Support(EXACT, "%TAG%"),
        "profile property": Support(EXACT, "%NAME% (the field's personalization tag)"),
        "event property": Support(EXACT, "only through a field named in [esp.activecampaign.fields]"),
        "condition": Support(EXACT, "%IF …% conditional content"),
        "comparison": Support(EXACT, "== != < <= > >= guarded by $TAG != ''"),
        "in list": Support(EXACT, "expanded to ($TAG == 'a' || $TAG == 'b')"),
        "in string": Support(EXACT, "in_string('needle', $TAG)"),
        "is defined": Support(EXACT, "$TAG != ''"),
        "boolean literal": Support(UNSUPPORTED, "fields hold text: compare with the stored text, such as 'Yes'"),
        "loop": Support(UNSUPPORTED, NO_LOOPS),
        "loop limit": Support(UNSUPPORTED, NO_LOOPS),
        "filter default": Support(EXACT, "%IF $TAG != ''%%TAG%%ELSE%…%/IF%"),
        "filter upper": Support(UNSUPPORTED, NO_FILTERS),
        "filter lower": Support(UNSUPPORTED, NO_FILTERS),
        "filter title": Support(UNSUPPORTED, NO_FILTERS),
        "filter capitalize": Support(UNSUPPORTED, NO_FILTERS),
        "filter truncate": Support(UNSUPPORTED, NO_FILTERS),
        "filter round": Support(UNSUPPORTED, NO_FILTERS),
        "filter money": Support(UNSUPPORTED, NO_FILTERS),
        "filter date": Support(UNSUPPORTED, NO_DATES),
        "passthrough": Support(EXACT, "<mw-raw esp=\"activecampaign\">"),
    }
    # '%' before a tag character starts a tag or a conditional; a '%' ending copy
    # could join a following tag.
    LITERAL = re.compile(r"%(?=[A-Za-z0-9_/-])|%\Z")
    IF_SYNTAX = ("%IF {}%", "%ELSEIF {}%", "%ELSE%", "%/IF%")
    COMPLIANCE = [
        (r"%UNSUBSCRIBELINK%", "the %UNSUBSCRIBELINK% tag"),
        (r"%SENDER-INFO(-[A-Z]+)?%", "the %SENDER-INFO% tag (or a variant such as %SENDER-INFO-SINGLELINE%)"),
    ]

    def tag(self, v: Var) -> str:
        return self.remember(v, self._tag)

    def _tag(self, v: Var) -> str:
        if v.loop:
            raise self.unsupported("a loop variable", v.pos, NO_LOOPS)
        mapped = self.mapped("fields", v)
        if mapped:
            return mapped.strip("%").upper()
        if v.root == "profile":
            self.require("profile property", v.pos)
            if len(v.path) == 1 and v.path[0] in STANDARD:
                return STANDARD[v.path[0]]
            name = "_".join(v.path)
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise self.unsupported(f"the name {v.portable}", v.pos,
                                       f'map it to a field: [esp.activecampaign.fields] {toml_key(v.portable)} = "TAG"',
                                       mapping=("esp.activecampaign.fields", v.portable, _tag_name(v)))
            return name.upper()
        if v.root == "event":
            raise self.unsupported(
                f"the event property {v.portable}", v.pos,
                f'map it to a custom field in mailwright.toml: [esp.activecampaign.fields] {toml_key(v.portable)} = "TAG"',
                "ActiveCampaign emails only see contact fields",
                mapping=("esp.activecampaign.fields", v.portable, _tag_name(v)),
            )
        raise AssertionError(v)

    def var(self, v: Var) -> str:
        return "$" + self.tag(v).replace("-", "_")

    def write_output(self, o: OutputExpr, pos: Pos) -> tuple[str, str | None, str]:
        self.require("output", pos)
        tag = self.tag(o.var)
        split = self.split_default(o)
        filters = list(o.filters) if split is None else split[0] + split[1]
        for f in filters:
            self.filter(f.name, pos)
        if split is None:
            return f"%{tag}%", None, ""
        self.filter("default", pos)
        fallback = self.default_text(OutputExpr(Var("x"), tuple(o.filters[len(split[0]):])))
        return f"%IF {self.var(o.var)} != ''%%{tag}%%ELSE%", fallback, "%/IF%"

    def condition(self, e: Expr, pos: Pos) -> str:
        self.require("condition", pos)
        return write_formula(guarded(e, expand_in=True), lambda a: self._atom(a, pos), " && ", " || ",
                             "1 == 1", "1 == 0")

    def _atom(self, f: Atom, pos: Pos) -> str:
        if f.kind in ("present", "missing"):
            self.require("is defined", pos)
            return f"{self.var(f.a)} {'!=' if f.kind == 'present' else '=='} ''"
        if f.op in ("in", "not in"):
            self.require("in string", pos)
            if isinstance(f.a, Var) and isinstance(f.b, Var):
                raise self.unsupported("'in' between two fields", pos, "compare with literal text instead")
            text = f"in_string({self._operand(f.a, pos)}, {self._operand(f.b, pos)})"
            neg = (f.op == "not in") != (f.kind == "ncmp")
            return f"!{text}" if neg else text
        self.require("comparison", pos)
        text = f"{self._operand(f.a, pos)} {f.op} {self._operand(f.b, pos)}"
        return f"!({text})" if f.kind == "ncmp" else text

    def _operand(self, x, pos: Pos) -> str:
        if isinstance(x, Var):
            return self.var(x)
        if isinstance(x, ListLit):
            raise AssertionError("lists are expanded")
        if isinstance(x.value, bool):
            self.require("boolean literal", pos)
        if isinstance(x.value, str):
            s = x.value.replace("%", PERCENT)
            if s.replace(PERCENT, "%") != x.value:  # '~PERCENT~' in the text itself would read as '%'
                raise self.unsupported(f"the text '{PERCENT}' in a condition", pos,
                                       "compare against a value without it",
                                       f"ActiveCampaign writes '%' as {PERCENT} inside %IF%")
            return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return repr(x.value)

    def for_block(self, var: str, iterable: Var, limit: int | None, body: str, pos: Pos) -> str:
        self.require("loop", pos)
        raise AssertionError("unreachable")

    def literal(self, text: str, context: str) -> str:
        if context == "html":
            return text.replace("%", "&#37;")
        if context == "url":
            # a URL in the plain-text part: percent-escapes stay, a bare '%' is written as
            # the URL's own escape (%25), so the link still works and is no tag
            return re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", text)
        # Plain text has no escape in ActiveCampaign: a word joiner (U+2060, invisible)
        # after '%' keeps the tag parser from seeing a tag.
        return text.replace("%", "%\u2060")


def _tag_name(v: Var) -> str:
    """A suggested personalization tag for an unmapped name: its path, upper case."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", "_".join(v.path)).strip("_").upper() or "FIELD"
