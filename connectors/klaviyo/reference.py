"""Klaviyo's reference renderer: Klaviyo's language is Django-based, so Django's own engine renders it,
with ``lookup`` and Klaviyo's own tags registered.

Klaviyo's tags (developers.klaviyo.com "django_message_design", help.klaviyo.com "message personalization
reference"): links as plausible preview URLs, dates from the preview clock so that previews and tests are
stable. Django is an optional dependency: ``pip install 'mailwright[preview]'``.
"""

from __future__ import annotations

import datetime
import decimal
import re
from functools import lru_cache

import django
from django.conf import settings

from mailwright.reference import PREVIEW_NOW, drop_nulls, sender

if not settings.configured:
    settings.configure(TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates"}], USE_I18N=False)
    django.setup()

from django import template as djt  # noqa: E402
from django.template import Context as DjContext  # noqa: E402
from django.template import Engine  # noqa: E402
from django.utils.html import format_html  # noqa: E402

register = djt.Library()

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
LINKS = {"unsubscribe": ("https://klaviyo.example/unsub", "Unsubscribe"),
         "web_view": ("https://klaviyo.example/web-view", "View in Your Browser"),
         "manage_preferences": ("https://klaviyo.example/manage-preferences", "Manage Preferences")}
STANDARD = {"phone": "phone_number"}  # portable profile names Klaviyo spells otherwise
def _organization(config: dict | None) -> dict:
    """Klaviyo's ``organization`` (the account's sender details), from the project's [brand]."""
    name, address = sender(config)
    url = ((config or {}).get("brand") or {}).get("website") or ""
    return {"name": name, "full_address": address, "url": url if isinstance(url, str) else "",
            "street_address": address}


@register.filter
def lookup(obj, key):
    """A missing property prints nothing in Klaviyo (Django would print None's 'None'); the presence test
    the dialect writes (``is not None and != ""``) reads "" as missing too."""
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return ""


@register.filter
def format_date_string(value):
    """Klaviyo's: an ISO 8601 date or datetime text as a date Django's ``date`` filter formats
    (``2016-02-11T16:46:08-05:00`` → February 11, 2016, the offset kept); anything else as nothing."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value
    try:
        return datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return ""


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


_engine = Engine(libraries={"klaviyo": __name__}, builtins=[__name__], autoescape=True)


@lru_cache(maxsize=256)
def _template(src: str):
    return _engine.from_string(src)


def render(src: str, recipient: dict, config: dict | None = None) -> str:
    """``src`` as Klaviyo shows it to ``recipient``, with ``[esp.klaviyo.properties]`` mapping names."""
    cfg = (config or {}).get("properties", {})
    profile = dict(drop_nulls(recipient.get("profile", {})))
    event = dict(drop_nulls(recipient.get("event", {})))
    person = {STANDARD.get(k, k): v for k, v in profile.items()}
    for portable, name in cfg.items():
        root, _, prop = portable.partition(".")
        source = profile if root == "profile" else event
        if prop in source:
            (person if root == "profile" else event)[name] = source[prop]
    ctx = {"person": person, "event": event, "organization": _organization(config),
           # Klaviyo's shorthands for three profile properties
           **{k: person[k] for k in ("first_name", "last_name", "email") if k in person}}
    return _template(src).render(DjContext(ctx))
