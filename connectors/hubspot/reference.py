"""HubSpot's reference renderer: HubL is Jinja-like, so Jinja2 renders it, with HubL's documented
``truncate`` (``end`` not counted in the length; no leeway) and ``round`` (half away from zero) in place of
Jinja2's, as jinjava implements them."""

from __future__ import annotations

import decimal
from functools import lru_cache

import jinja2

from mailwright.reference import sender

STANDARD = {"first_name": "firstname", "last_name": "lastname"}  # portable names HubSpot spells otherwise
def _site_settings(config: dict | None) -> dict:
    """HubSpot's ``site_settings`` (the account's company details), from the project's [brand]; the
    address, one line in [brand], stands in the first address line."""
    name, address = sender(config)
    return {"company_name": name, "company_street_address_1": address, "company_city": "", "company_state": "",
            "company_zip": "", "company_country": ""}


def _truncate(s, length=255, killwords=False, end="..."):
    s = str(s)
    if len(s) <= length:
        return s
    if killwords:
        return s[:length] + end
    cut = s[:length].rsplit(" ", 1)[0]
    return cut + end


def _round(v, precision=0, method="common"):
    d = decimal.Decimal(str(v))
    mode = {"common": decimal.ROUND_HALF_UP, "ceil": decimal.ROUND_CEILING, "floor": decimal.ROUND_FLOOR}[method]
    return float(d.quantize(decimal.Decimal(1).scaleb(-precision), rounding=mode))


def _float(v, default=0.0):
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


_jinja = jinja2.Environment(autoescape=True, undefined=jinja2.Undefined)
_jinja.filters.update(truncate=_truncate, round=_round, float=_float)


@lru_cache(maxsize=256)
def _template(src: str):
    return _jinja.from_string(src)


def render(src: str, recipient: dict, config: dict | None = None) -> str:
    """``src`` as HubSpot shows it to ``recipient``, with ``[esp.hubspot.properties]`` mapping names."""
    cfg = (config or {}).get("properties", {})
    profile = dict(recipient.get("profile", {}))
    event = recipient.get("event", {})
    # HubSpot has no null and no absent-vs-empty: an unset property is ''
    contact = {STANDARD.get(k, k): ("" if v is None else v) for k, v in profile.items()}
    for portable, name in cfg.items():
        root, _, prop = portable.partition(".")
        source = profile if root == "profile" else event
        if prop in source:
            contact[name] = "" if source[prop] is None else source[prop]
    ctx = {"contact": contact, "unsubscribe_link": "https://hubspot.example/unsub", "site_settings": _site_settings(config)}
    return _template(src).render(ctx)
