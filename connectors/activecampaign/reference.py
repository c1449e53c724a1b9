"""ActiveCampaign's reference renderer: a small evaluator of ``%TAG%`` personalization tags and ``%IF …%``
conditional content (PHP-like comparisons, fields hold text, missing is '')."""

from __future__ import annotations

import re
from typing import Any

from mailwright.reference import sender

STANDARD = {"first_name": "FIRSTNAME", "last_name": "LASTNAME", "email": "EMAIL", "phone": "PHONE"}

_AC_TOKEN = re.compile(r"%(IF|ELSEIF)\s(.*?)%|%ELSE%|%/IF%|%([A-Z0-9_-]+)%", re.S)


def ac_fields(recipient: dict, config: dict | None = None) -> dict[str, str]:
    cfg = (config or {}).get("fields", {})
    profile = recipient.get("profile", {})
    event = recipient.get("event", {})
    fields: dict[str, str] = {}
    for k, v in profile.items():
        fields[STANDARD.get(k, k.upper())] = "" if v is None else _ac_text(v)
    for portable, tag in cfg.items():
        root, _, prop = portable.partition(".")
        source = profile if root == "profile" else event
        if prop in source:
            # the dialect writes a mapped '%TAG%' as TAG, upper case
            fields[tag.strip("%").upper()] = "" if source[prop] is None else _ac_text(source[prop])
    name, address = sender(config)
    fields.update(UNSUBSCRIBELINK="https://ac.example/unsub", **{"SENDER-INFO": f"{name}, {address}"})
    return fields


def _ac_text(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else ""
    return str(v)


def render(src: str, recipient: dict, config: dict | None = None) -> str:
    fields = ac_fields(recipient, config)
    out: list[str] = []
    # stack of (this branch shows, some branch already shown, parent shows)
    stack: list[list[bool]] = []
    showing = True
    pos = 0
    for m in _AC_TOKEN.finditer(src):
        if showing:
            out.append(src[pos : m.start()])
        pos = m.end()
        tok = m.group(0)
        if m.group(1) == "IF":
            val = showing and _ac_eval(m.group(2), fields)
            stack.append([val, val, showing])
            showing = val
        elif m.group(1) == "ELSEIF":
            top = stack[-1]
            val = top[2] and not top[1] and _ac_eval(m.group(2), fields)
            top[0], top[1] = val, top[1] or val
            showing = val
        elif tok == "%ELSE%":
            top = stack[-1]
            val = top[2] and not top[1]
            top[0], top[1] = val, True
            showing = val
        elif tok == "%/IF%":
            showing = stack.pop()[2]
        elif showing:
            out.append(fields.get(m.group(3), ""))
    if stack:
        raise ValueError("unclosed %IF%")
    out.append(src[pos:])
    return "".join(out)


_EXPR_TOKEN = re.compile(r"\s*(?:(\$[A-Z0-9_]+)|'((?:[^'\\]|\\.)*)'|(-?\d+(?:\.\d+)?)|(==|!=|<=|>=|&&|\|\||[<>!(),])|(in_string))")


def _ac_eval(expr: str, fields: dict[str, str]) -> bool:
    toks: list[tuple[str, Any]] = []
    i = 0
    expr = expr.strip()
    while i < len(expr):
        m = _EXPR_TOKEN.match(expr, i)
        if not m or m.end() == i:
            raise ValueError(f"bad %IF% expression at {expr[i:]!r}")
        i = m.end()
        if m.group(1):
            toks.append(("val", fields.get(m.group(1)[1:], "")))
        elif m.group(2) is not None:
            toks.append(("val", re.sub(r"\\(.)", r"\1", m.group(2)).replace("~PERCENT~", "%")))
        elif m.group(3):
            toks.append(("val", m.group(3)))
        elif m.group(4):
            toks.append(("op", m.group(4)))
        else:
            toks.append(("fn", "in_string"))
    p = _Parser(toks)
    v = p.or_()
    if p.i != len(toks):
        raise ValueError(f"trailing tokens in {expr!r}")
    return bool(v)


class _Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self, v=None):
        tok = self.peek()
        if v is not None and tok[1] != v:
            raise ValueError(f"expected {v}, got {tok}")
        self.i += 1
        return tok

    def or_(self):
        v = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            r = self.and_()
            v = v or r
        return v

    def and_(self):
        v = self.not_()
        while self.peek() == ("op", "&&"):
            self.take()
            r = self.not_()
            v = v and r
        return v

    def not_(self):
        if self.peek() == ("op", "!"):
            self.take()
            return not self.not_()
        return self.cmp()

    def cmp(self):
        left = self.atom()
        kind, op = self.peek()
        if kind == "op" and op in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.atom()
            return _php_cmp(op, left, right)
        return left

    def atom(self):
        kind, v = self.take()
        if kind == "val":
            return v
        if kind == "fn":
            self.take("(")
            a = self.atom()
            self.take(",")
            b = self.atom()
            self.take(")")
            return str(a) in str(b)
        if v == "(":
            r = self.or_()
            self.take(")")
            return r
        raise ValueError(f"unexpected {v}")


def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def _php_cmp(op: str, a, b) -> bool:
    # PHP 8 loose comparison: numeric strings compare as numbers, else as strings
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        a, b = na, nb
    else:
        a, b = str(a), str(b)
    return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
