"""HubSpot's reference renderer: HubL is Jinja-like, so Jinja2 renders it, with HubL's documented
``truncate`` (``end`` not counted in the length; no leeway) and ``round`` (half away from zero) in place of
Jinja2's, as jinjava implements them."""

from __future__ import annotations

import calendar
import datetime
import decimal
import re
import zoneinfo
from functools import lru_cache

import jinja2

from mailwright.expr import MONTHS, WEEKDAYS
from mailwright.reference import PREVIEW_NOW, sender

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


def _strtodate(value, fmt):
    """jinjava's ``strtodate`` for the one format mailwright writes: ``yyyy-MM-dd`` read by java.time (fixed
    widths; the SMART resolver moves a day past the month's end back to its last day) as midnight UTC; nothing
    stays nothing; text that does not match fails the render, as jinjava's does."""
    if value is None or isinstance(value, jinja2.Undefined):
        return None
    if fmt != "%Y-%m-%d":
        raise ValueError(f"strtodate: only '%Y-%m-%d' is rendered here, not {fmt!r}")
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value) if isinstance(value, str) else None
    if not m or not 1 <= int(m[2]) <= 12 or not 1 <= int(m[3]) <= 31 or int(m[1]) == 0:
        raise ValueError(f"strtodate could not match {value!r} with {fmt!r}")
    year, month = int(m[1]), int(m[2])
    day = min(int(m[3]), calendar.monthrange(year, month)[1])
    return datetime.datetime(year, month, day, tzinfo=datetime.UTC)




def _datetimeformat(value, fmt="%H:%M / %d-%m-%Y", timezone="UTC", language="en"):
    """jinjava's ``datetimeformat`` for English and the codes mailwright writes (StrftimeFormatter: %e is the
    day without padding, '-' strips a leading zero); nothing is now, as in jinjava; another code fails."""
    if language != "en":
        raise ValueError(f"datetimeformat: only English is rendered here, not {language!r}")
    d = PREVIEW_NOW.replace(tzinfo=datetime.UTC) if value is None else value
    d = d.astimezone(zoneinfo.ZoneInfo(timezone))
    codes = {"Y": f"{d.year:04d}", "y": f"{d.year % 100:02d}", "m": f"{d.month:02d}", "d": f"{d.day:02d}",
             "e": str(d.day), "B": MONTHS[d.month - 1], "b": MONTHS[d.month - 1][:3],
             "A": WEEKDAYS[d.weekday()], "a": WEEKDAYS[d.weekday()][:3], "H": f"{d.hour:02d}", "M": f"{d.minute:02d}",
             "%": "%"}
    out, i = [], 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%" or i + 1 == len(fmt):
            out.append(c)
            i += 1
            continue
        strip = fmt[i + 1] == "-"
        i += 2 if strip else 1
        code = codes[fmt[i]]
        out.append(code.lstrip("0") or "0" if strip else code)
        i += 1
    return "".join(out)


_jinja = jinja2.Environment(autoescape=True, undefined=jinja2.Undefined)
_jinja.filters.update(truncate=_truncate, round=_round, float=_float, strtodate=_strtodate,
                      datetimeformat=_datetimeformat)


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
