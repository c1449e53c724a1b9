"""Reference renderers for compiled output, used by the preview and the tests.

* Klaviyo's language is Django-based: Django's own template engine renders it,
  with ``lookup`` and the Klaviyo tags we emit registered.
* HubL is Jinja-like: Jinja2 renders it, with HubL's documented ``truncate``
  (``end`` not counted in the length; no leeway) and ``round`` (half away from
  zero) in place of Jinja2's, as jinjava implements them.
* ActiveCampaign: a small evaluator of ``%TAG%`` and ``%IF …%`` conditional
  content (PHP-like comparisons, fields hold text, missing is '').

Each takes a recipient in portable form (``{"profile": …, "event": …}``) and
maps it into that ESP's data model using the project's mappings.
"""

from __future__ import annotations

import datetime
import decimal
import re
from functools import lru_cache
from typing import Any

import django  # an optional dependency: pip install 'mailwright[preview]'
import jinja2
from bs4 import BeautifulSoup, Comment
from django.conf import settings

if not settings.configured:
    settings.configure(TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}], USE_I18N=False)
    django.setup()

from django import template as djt  # noqa: E402
from django.template import Context as DjContext  # noqa: E402
from django.template import Engine  # noqa: E402
from django.utils.html import format_html  # noqa: E402

register = djt.Library()

# Klaviyo's own tags (developers.klaviyo.com "django_message_design", help.klaviyo.com "message personalization
# reference"): links as plausible preview URLs, dates from a fixed clock so that previews and tests are stable.
PREVIEW_NOW = datetime.datetime(2025, 3, 7, 9, 30)  # a Friday: day 7, month 3
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
LINKS = {"unsubscribe": ("https://klaviyo.example/unsub", "Unsubscribe"),
         "web_view": ("https://klaviyo.example/web-view", "View in Your Browser"),
         "manage_preferences": ("https://klaviyo.example/manage-preferences", "Manage Preferences")}


@register.filter
def lookup(obj, key):
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return None


def _link_tags(name: str, url: str, default: str) -> None:
    def link(text=default):
        return format_html('<a href="{}">{}</a>', url, text)

    def link_url():
        return url

    register.simple_tag(link, name=name)
    register.simple_tag(link_url, name=f"{name}_link")


for _name, (_url, _text) in LINKS.items():
    _link_tags(_name, _url, _text)


@register.simple_tag
def current_day() -> str:
    return str(PREVIEW_NOW.day)


@register.simple_tag
def current_weekday() -> str:
    return PREVIEW_NOW.strftime("%A")


@register.simple_tag
def current_month() -> str:
    return str(PREVIEW_NOW.month)


@register.simple_tag
def current_month_name() -> str:
    return PREVIEW_NOW.strftime("%B")


@register.simple_tag
def current_year() -> str:
    return str(PREVIEW_NOW.year)


@register.simple_tag
def today(fmt="%Y-%m-%d") -> str:
    """``{% today "%Y-%m-%d" as today %}`` (Django's simple_tag does the ``as``)."""
    return PREVIEW_NOW.strftime(str(fmt))


@register.simple_tag
def currency_format(value) -> str:
    """Klaviyo formats numbers only ("$40" stays as written; ``|default:"0"`` gives $0.00); in US dollars here."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = decimal.Decimal(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
        return "" if value is None else str(value)
    d = decimal.Decimal(str(value))
    if not d.is_finite() or d.adjusted() > 100:
        return str(value)
    with decimal.localcontext(decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP)):
        d = d.quantize(decimal.Decimal("0.01"))
    return f"{'-' if d < 0 else ''}${abs(d):,.2f}"


_django = Engine(libraries={"klaviyo": "mailwright.reference"}, builtins=["mailwright.reference"], autoescape=True)

@lru_cache(maxsize=256)
def _django_template(src: str):
    return _django.from_string(src)


@lru_cache(maxsize=256)
def _jinja_template(src: str):
    return _jinja.from_string(src)


KLAVIYO_STD = {"phone": "phone_number"}
ORGANIZATION = {"name": "Fernhill Supply Co.", "full_address": "1 Market St, Springfield",
                "url": "https://fernhill.example", "street_address": "1 Market St", "city": "Springfield",
                "region": "IL", "zip_code": "62701"}
HUBSPOT_STD = {"first_name": "firstname", "last_name": "lastname"}
AC_STD = {"first_name": "FIRSTNAME", "last_name": "LASTNAME", "email": "EMAIL", "phone": "PHONE"}


def _drop_nulls(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_nulls(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_nulls(x) for x in d]
    return d


# ---------------------------------------------------------------- Klaviyo (Django)

def render_klaviyo(src: str, recipient: dict, config: dict | None = None) -> str:
    cfg = (config or {}).get("properties", {})
    profile = dict(_drop_nulls(recipient.get("profile", {})))
    event = dict(_drop_nulls(recipient.get("event", {})))
    person = {KLAVIYO_STD.get(k, k): v for k, v in profile.items()}
    for portable, name in cfg.items():
        root, _, prop = portable.partition(".")
        source = profile if root == "profile" else event
        if prop in source:
            (person if root == "profile" else event)[name] = source[prop]
    ctx = {"person": person, "event": event, "organization": ORGANIZATION,
           # Klaviyo's shorthands for three profile properties
           **{k: person[k] for k in ("first_name", "last_name", "email") if k in person}}
    return _django_template(src).render(DjContext(ctx))


# ---------------------------------------------------------------- HubSpot (Jinja2 with HubL filters)

def _hubl_truncate(s, length=255, killwords=False, end="..."):
    s = str(s)
    if len(s) <= length:
        return s
    if killwords:
        return s[:length] + end
    cut = s[:length].rsplit(" ", 1)[0]
    return cut + end


def _hubl_round(v, precision=0, method="common"):
    d = decimal.Decimal(str(v))
    mode = {"common": decimal.ROUND_HALF_UP, "ceil": decimal.ROUND_CEILING, "floor": decimal.ROUND_FLOOR}[method]
    return float(d.quantize(decimal.Decimal(1).scaleb(-precision), rounding=mode))


def _hubl_float(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


_jinja = jinja2.Environment(autoescape=True, undefined=jinja2.Undefined)
_jinja.filters.update(truncate=_hubl_truncate, round=_hubl_round, float=_hubl_float)


def render_hubspot(src: str, recipient: dict, config: dict | None = None) -> str:
    cfg = (config or {}).get("properties", {})
    profile = {k: v for k, v in recipient.get("profile", {}).items()}
    event = recipient.get("event", {})
    # HubSpot has no null and no absent-vs-empty: an unset property is ''
    contact = {HUBSPOT_STD.get(k, k): ("" if v is None else v) for k, v in profile.items()}
    for portable, name in cfg.items():
        root, _, prop = portable.partition(".")
        source = profile if root == "profile" else event
        if prop in source:
            contact[name] = "" if source[prop] is None else source[prop]
    ctx = {"contact": contact, "unsubscribe_link": "https://hubspot.example/unsub",
           "site_settings": {"company_name": "Fernhill Supply Co.", "company_street_address_1": "1 Market St",
                             "company_city": "Springfield", "company_state": "IL", "company_zip": "62701",
                             "company_country": "US"}}
    return _jinja_template(src).render(ctx)


# ---------------------------------------------------------------- ActiveCampaign (%IF% evaluator)

_AC_TOKEN = re.compile(r"%(IF|ELSEIF)\s(.*?)%|%ELSE%|%/IF%|%([A-Z0-9_-]+)%", re.S)


def ac_fields(recipient: dict, config: dict | None = None) -> dict[str, str]:
    cfg = (config or {}).get("fields", {})
    profile = recipient.get("profile", {})
    event = recipient.get("event", {})
    fields: dict[str, str] = {}
    for k, v in profile.items():
        fields[AC_STD.get(k, k.upper())] = "" if v is None else _ac_text(v)
    for portable, tag in cfg.items():
        root, _, prop = portable.partition(".")
        source = profile if root == "profile" else event
        if prop in source:
            fields[tag] = "" if source[prop] is None else _ac_text(source[prop])
    fields.update(UNSUBSCRIBELINK="https://ac.example/unsub", **{"SENDER-INFO": "Fernhill Supply Co., 1 Market St"})
    return fields


def _ac_text(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else ""
    return str(v)


def render_activecampaign(src: str, recipient: dict, config: dict | None = None) -> str:
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


RENDERERS = {"klaviyo": render_klaviyo, "hubspot": render_hubspot, "activecampaign": render_activecampaign}


def visible_text(html: str) -> str:
    """What a recipient reads: body text, hidden preheader and head left out."""
    soup = BeautifulSoup(html, "html.parser")
    for t in soup(["head", "style", "script", "title"]):
        t.decompose()
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    for t in soup.find_all(style=re.compile(r"display:\s*none")):
        t.decompose()
    return " ".join(soup.get_text(" ").split())
