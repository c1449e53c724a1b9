"""Small evaluators of the flow conditions we emit, for testing their meaning.

Vendor semantics these evaluators assume (none is documented precisely enough to be sure; each is
the reading the translations were written against, recorded here so that a test can hold them to it):

Klaviyo (Flows API ``definition``; shapes from the vendored FlowDefinition schema):

* a filter's ``condition_groups`` are ANDed, the ``conditions`` inside one group ORed (an empty
  group is false);
* a ``profile-property`` condition reads ``property``: a standard attribute (``first_name``,
  ``email``, ``phone_number`` …) or ``properties['NAME']`` for a custom property; a
  ``metric-property`` condition reads ``field`` of the triggering event;
* ``existence``: ``is-set`` is true for a value other than absent, null or ``""``; ``not-set`` the
  opposite;
* every other filter (string, numeric, boolean) is false on a value that is not set, whatever the
  operator (``not-equals`` included); string comparisons are exact and case-sensitive; ``contains``
  is a substring test; a numeric filter on a value that is not a number is false;
* ``profile-metric`` and ``profile-sample`` conditions are not evaluated here (they raise).

HubSpot (Automation v4 ``filterBranch``):

* ``filterBranchType`` ``OR`` / ``AND``: the branch's ``filters`` and ``filterBranches`` together,
  ORed or ANDed (an empty OR is false, an empty AND true);
* a ``PROPERTY`` filter reads a contact property (or, in an enrolment event's branch, the event's
  property); HubSpot has no null: absent, null and ``""`` are all "no value";
* ``ALL_PROPERTY`` ``IS_KNOWN`` / ``IS_UNKNOWN`` test for a value;
* any other operation on a property with no value is ``includeObjectsWithNoValueSet``; on a value:
  ``STRING`` operators compare text exactly and case-sensitively (``CONTAINS`` is a substring test),
  ``NUMBER`` operators compare numbers (text that is no number fails them), ``BOOL`` compares
  booleans.
"""

from __future__ import annotations

import re
from typing import Any

_CUSTOM = re.compile(r"properties\['(.*)'\]\Z", re.S)


def _set(v: Any) -> bool:
    return v is not None and v != ""


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


# ---------------------------------------------------------------- Klaviyo

def klaviyo_filter(flt: dict, profile: dict, event: dict) -> bool:
    """A ``profile_filter`` / ``trigger_filter`` for one profile (``{"first_name": …, "properties": {…}}``)
    and the triggering event's properties."""
    return all(any(_klaviyo_condition(c, profile, event) for c in g["conditions"]) for g in flt["condition_groups"])


def _klaviyo_condition(c: dict, profile: dict, event: dict) -> bool:
    if c["type"] == "profile-property":
        m = _CUSTOM.match(c["property"])
        value = (profile.get("properties") or {}).get(m.group(1)) if m else profile.get(c["property"])
    elif c["type"] == "metric-property":
        value = event.get(c["field"])
    else:
        raise NotImplementedError(f"Klaviyo condition {c['type']}")
    return _klaviyo_test(c["filter"], value)


def _klaviyo_test(f: dict, value: Any) -> bool:
    kind, op, want = f["type"], f["operator"], f.get("value")
    if kind == "existence":
        return _set(value) if op == "is-set" else not _set(value)
    if not _set(value):
        return False
    if kind == "string":
        if not isinstance(value, str):
            return False
        return {"equals": lambda: value == want, "not-equals": lambda: value != want,
                "in": lambda: value in want, "not-in": lambda: value not in want,
                "contains": lambda: want in value, "not-contains": lambda: want not in value}[op]()
    if kind == "numeric":
        n = _number(value)
        if n is None:
            return False
        return {"equals": n == want, "not-equals": n != want, "less-than": n < want,
                "less-than-or-equal": n <= want, "greater-than": n > want,
                "greater-than-or-equal": n >= want}[op]
    if kind == "boolean":
        return isinstance(value, bool) and value == want
    raise NotImplementedError(f"Klaviyo filter {kind}")


def klaviyo_profile(recipient: dict, config: dict) -> tuple[dict, dict]:
    """A portable recipient as Klaviyo holds it: (profile, event properties)."""
    from mailwright_connectors.klaviyo.flows import WELL_KNOWN

    mapped = config.get("properties", {})
    profile: dict = {"properties": {}}
    for k, v in recipient.get("profile", {}).items():
        name = mapped.get(f"profile.{k}")
        if name and name in WELL_KNOWN.values():
            profile[name] = v
        elif name:
            profile["properties"][name] = v
        elif k in WELL_KNOWN:
            profile[WELL_KNOWN[k]] = v
        else:
            profile["properties"][k] = v
    event = {mapped.get(f"event.{k}", k): v for k, v in recipient.get("event", {}).items()}
    return profile, event


# ---------------------------------------------------------------- HubSpot

def hubspot_branch(branch: dict, props: dict) -> bool:
    """A ``filterBranch`` for one contact's (or one enrolment event's) properties."""
    results = [_hubspot_filter(f, props) for f in branch.get("filters", [])]
    results += [hubspot_branch(b, props) for b in branch.get("filterBranches", [])]
    kind = branch["filterBranchType"]
    if kind == "OR":
        return any(results)
    if kind == "AND":
        return all(results)
    raise NotImplementedError(f"HubSpot filter branch {kind}")


def _hubspot_filter(f: dict, props: dict) -> bool:
    if f["filterType"] != "PROPERTY":
        raise NotImplementedError(f"HubSpot filter {f['filterType']}")
    op = f["operation"]
    value = props.get(f["property"])
    kind, name = op["operationType"], op["operator"]
    if kind == "ALL_PROPERTY":
        return {"IS_KNOWN": _set(value), "IS_UNKNOWN": not _set(value)}[name]
    if not _set(value):
        return bool(op["includeObjectsWithNoValueSet"])
    want = op["value"]
    if kind == "STRING":
        text = str(value)
        return {"IS_EQUAL_TO": text == want, "IS_NOT_EQUAL_TO": text != want,
                "CONTAINS": want in text, "DOES_NOT_CONTAIN": want not in text}[name]
    if kind == "NUMBER":
        n = _number(value)
        if n is None:
            return False
        return {"IS_EQUAL_TO": n == want, "IS_NOT_EQUAL_TO": n != want, "IS_LESS_THAN": n < want,
                "IS_LESS_THAN_OR_EQUAL_TO": n <= want, "IS_GREATER_THAN": n > want,
                "IS_GREATER_THAN_OR_EQUAL_TO": n >= want}[name]
    if kind == "BOOL":
        return isinstance(value, bool) and {"IS_EQUAL_TO": value == want, "IS_NOT_EQUAL_TO": value != want}[name]
    raise NotImplementedError(f"HubSpot operation {kind}")


def hubspot_contact(recipient: dict, config: dict) -> dict:
    """A portable recipient's contact properties (event names through ``[esp.hubspot.properties]``)."""
    from mailwright_connectors.hubspot.dialect import STANDARD

    mapped = config.get("properties", {})
    contact = {}
    for root in ("profile", "event"):
        for k, v in recipient.get(root, {}).items():
            name = mapped.get(f"{root}.{k}") or (STANDARD.get(k, k) if root == "profile" else None)
            if name:
                contact[name] = v
    return contact


# ---------------------------------------------------------------- ActiveCampaign

# ActiveCampaign (the recipe's If/Else conditions, in the builder's words): "field NAME is 'text'",
# "… is less than 5", "… contains 'x'", "… is blank"; joined by AND / OR with parentheses, or
# "always" / "never". A field with no value (absent, null, "") is blank and fails every comparison;
# "is" / "is not" compare text exactly, or numbers as numbers; the ordering operators compare numbers
# (text that is no number fails them); "contains" is a substring test.
_AC_OPS = ("is greater than or equal to", "is less than or equal to", "is greater than", "is less than",
           "does not contain", "contains", "is not blank", "is blank", "is not", "is")
_AC_ATOM = re.compile(r"field (\S+) (" + "|".join(_AC_OPS) + r")(?: ('(.*?)'|-?[\d.]+))?(?=\)| AND | OR |\Z)", re.S)


def activecampaign_condition(text: str, fields: dict) -> bool:
    """An If/Else condition of the recipe for one contact's fields (by ActiveCampaign's names)."""
    value, rest = _ac_or(text, fields)
    if rest:
        raise ValueError(f"cannot read {rest!r} in {text!r}")
    return value


def _ac_or(s: str, fields: dict) -> tuple[bool, str]:
    return _ac_joined(s, fields, " OR ", _ac_and, any)


def _ac_and(s: str, fields: dict) -> tuple[bool, str]:
    return _ac_joined(s, fields, " AND ", _ac_term, all)


def _ac_joined(s: str, fields: dict, word: str, operand, combine) -> tuple[bool, str]:
    """Operands joined by ``word``, each read by ``operand``, then combined (any / all)."""
    value, s = operand(s, fields)
    values = [value]
    while s.startswith(word):
        value, s = operand(s[len(word):], fields)
        values.append(value)
    return combine(values), s


def _ac_term(s: str, fields: dict) -> tuple[bool, str]:
    if s.startswith("("):
        value, s = _ac_or(s[1:], fields)
        if not s.startswith(")"):
            raise ValueError(f"no closing parenthesis before {s!r}")
        return value, s[1:]
    for word, value in (("always", True), ("never", False)):
        if s.startswith(word):
            return value, s[len(word):]
    m = _AC_ATOM.match(s)
    if not m:
        raise ValueError(f"cannot read a condition at {s!r}")
    name, op, literal, quoted = m.groups()
    want: Any = quoted if quoted is not None else (float(literal) if literal else None)
    return _ac_test(op, fields.get(name), want), s[m.end():]


def _ac_test(op: str, value: Any, want: Any) -> bool:
    if op in ("is blank", "is not blank"):
        return _set(value) == (op == "is not blank")
    if not _set(value):
        return False
    if op in ("contains", "does not contain"):
        return isinstance(value, str) and (want in value) == (op == "contains")
    if isinstance(want, str):
        equal = isinstance(value, str) and value == want
    else:
        n = _number(value)
        if n is None:
            return False
        equal = n == want
        if op not in ("is", "is not"):
            return {"is less than": n < want, "is less than or equal to": n <= want, "is greater than": n > want,
                    "is greater than or equal to": n >= want}[op]
    if op in ("is", "is not"):
        return equal == (op == "is")
    return False  # an ordering against text


def activecampaign_fields(recipient: dict, config: dict) -> dict:
    """A portable recipient's contact fields, by the names the recipe writes."""
    from mailwright_connectors.activecampaign.dialect import STANDARD

    mapped = config.get("fields", {})
    fields = {}
    for root in ("profile", "event"):
        for k, v in recipient.get(root, {}).items():
            tag = mapped.get(f"{root}.{k}")
            if tag:
                fields[tag.strip("%").upper()] = v
            elif root == "profile":
                fields[STANDARD.get(k, k.upper())] = v
    return fields
