"""A fake HubSpot API: CMS source code (coded email templates), marketing emails v3 and
Automation v4 flows; contacts, contact properties and custom behavioral events (hubspot_events.py).

HubSpot's OpenAPI documents are not licensed for reuse, so nothing of them is here: the
request checks below are written by hand from HubSpot's public reference (required
fields, types, enumerations of a few fields). Unknown top-level fields are refused with
HubSpot's "Unrecognized field" error. Lists answer ``{"results": [...], "paging":
{"next": {"after": ..., "link": ...}}}`` (no ``paging`` on the last page), at most
``page_size`` results whatever ``limit`` asks.

The template checks of ``validate`` (and of ``PUT .../content/``), for ``.html`` files:
the file starts with an annotation comment holding ``templateType: email``; it has
``{{ unsubscribe_link }}`` (or ``unsubscribe_link_all``); every ``{{``/``{%`` closes, and
``if``/``for``/``unless``/``macro``/``raw`` blocks close in order. Other files pass.
"""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import unquote

from .base import FakeServer, Recorded, Refused, Reply, first
from .hubspot_events import HubSpotEvents

ENVIRONMENTS = ("draft", "published")
DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
          "NOVEMBER", "DECEMBER")
BRANCH_TYPES = ("OR", "AND", "NOT_ALL", "NOT_ANY", "RESTRICTED", "UNIFIED_EVENTS", "ASSOCIATION")
SEND_EMAIL = "0-4"  # the actionTypeId of "send marketing email"; fields.content_id names the email


# ---------------------------------------------------------------- a small checker
class Obj:
    """An object's shape: field name -> shape; ``required`` names; ``closed`` refuses other names."""

    def __init__(self, fields: dict[str, Any], required: tuple[str, ...] = (), closed: bool = False):
        self.fields, self.required, self.closed = fields, required, closed


class Enum:
    def __init__(self, *values: str):
        self.values = values


class ListOf:
    def __init__(self, item: Any):
        self.item = item


Shape = Any  # str | bool | int | dict | list | Obj | Enum | ListOf | Callable


def check(value: Any, shape: Shape, path: str, out: list[dict]) -> None:
    """Append {"message", "in", "code"} for every way value breaks shape."""
    where = path or "body"

    def bad(message: str, code: str) -> None:
        out.append({"message": message, "in": where, "code": code})

    if isinstance(shape, Obj):
        if not isinstance(value, dict):
            return bad(f"{where} must be an object", "INVALID_TYPE")
        for name in shape.required:
            if value.get(name) is None:
                out.append({"message": f"{_join(path, name)} is required", "in": _join(path, name),
                            "code": "REQUIRED_FIELD"})
        for name, v in value.items():
            if name not in shape.fields:
                if shape.closed:
                    out.append({"message": f'Unrecognized field "{name}"', "in": _join(path, name),
                                "code": "UNRECOGNIZED_FIELD"})
                continue
            if v is not None:
                check(v, shape.fields[name], _join(path, name), out)
        return None
    if isinstance(shape, Enum):
        if value not in shape.values:
            return bad(f"{where} must be one of {', '.join(shape.values)} (got {value!r})", "INVALID_ENUM")
        return None
    if isinstance(shape, ListOf):
        if not isinstance(value, list):
            return bad(f"{where} must be an array", "INVALID_TYPE")
        for i, v in enumerate(value):
            check(v, shape.item, f"{where}[{i}]", out)
        return None
    if callable(shape) and not isinstance(shape, type):
        shape(value, where, out)
        return None
    kinds = {str: "a string", bool: "a boolean", int: "an integer", dict: "an object", list: "an array"}
    ok = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
    if not ok:
        bad(f"{where} must be {kinds.get(shape, shape)}", "INVALID_TYPE")
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _filter_branch(value: Any, where: str, out: list[dict]) -> None:
    """A filter branch: its type, operator and (recursively) its sub-branches and filters."""
    shape = Obj({"filterBranchType": Enum(*BRANCH_TYPES), "filterBranchOperator": str,
                 "filterBranches": ListOf(_filter_branch), "filters": ListOf(Obj({"filterType": str}, ("filterType",))),
                 "eventTypeId": str, "operator": str, "objectTypeId": str, "associationTypeId": int,
                 "associationCategory": str},
                ("filterBranchType", "filterBranchOperator", "filterBranches", "filters"))
    check(value, shape, where, out)
    if isinstance(value, dict) and value.get("filterBranchType") == "UNIFIED_EVENTS":
        for name in ("eventTypeId", "operator"):
            if not value.get(name):
                out.append({"message": f"{where}.{name} is required", "in": f"{where}.{name}",
                            "code": "REQUIRED_FIELD"})


CONNECTION = Obj({"edgeType": Enum("GOTO", "STANDARD"), "nextActionId": str}, ("edgeType", "nextActionId"), True)
ACTIONS: dict[str, Obj] = {
    "SINGLE_CONNECTION": Obj({"actionId": str, "type": str, "actionTypeId": str, "actionTypeVersion": int,
                              "fields": dict, "connection": CONNECTION},
                             ("actionId", "actionTypeId", "actionTypeVersion", "fields", "type")),
    "STATIC_BRANCH": Obj({"actionId": str, "type": str, "inputValue": dict, "defaultBranch": CONNECTION,
                          "defaultBranchName": str,
                          "staticBranches": ListOf(Obj({"branchValue": str, "connection": CONNECTION},
                                                       ("branchValue",)))},
                         ("actionId", "inputValue", "staticBranches", "type")),
    "LIST_BRANCH": Obj({"actionId": str, "type": str, "defaultBranch": CONNECTION, "defaultBranchName": str,
                        "listBranches": ListOf(Obj({"branchName": str, "connection": CONNECTION,
                                                    "filterBranch": _filter_branch}))},
                       ("actionId", "listBranches", "type")),
    "AB_TEST_BRANCH": Obj({"actionId": str, "type": str,
                           "testBranches": ListOf(Obj({"connection": CONNECTION, "percentage": int},
                                                      ("connection",)))},
                          ("actionId", "testBranches", "type")),
    "CUSTOM_CODE": Obj({"actionId": str, "type": str, "connection": CONNECTION, "inputFields": list,
                        "outputFields": list, "runtime": str, "secretNames": ListOf(str), "sourceCode": str},
                       ("actionId", "inputFields", "outputFields", "runtime", "secretNames", "sourceCode", "type")),
    "WEBHOOK": Obj({"actionId": str, "type": str, "connection": CONNECTION, "authSettings": dict,
                    "method": Enum("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"),
                    "queryParams": list, "webhookUrl": str},
                   ("actionId", "method", "queryParams", "type", "webhookUrl")),
}


def _action(value: Any, where: str, out: list[dict]) -> None:
    if not isinstance(value, dict):
        out.append({"message": f"{where} must be an object", "in": where, "code": "INVALID_TYPE"})
        return
    kind = value.get("type")
    if kind not in ACTIONS:
        out.append({"message": f"{where}.type must be one of {', '.join(ACTIONS)} (got {kind!r})",
                    "in": f"{where}.type", "code": "INVALID_ENUM"})
        return
    check(value, ACTIONS[kind], where, out)


ENROLLMENT: dict[str, Obj] = {
    "EVENT_BASED": Obj({"type": str, "shouldReEnroll": bool, "eventFilterBranches": ListOf(_filter_branch),
                        "listMembershipFilterBranches": ListOf(_filter_branch), "refinementCriteria": _filter_branch},
                       ("eventFilterBranches", "listMembershipFilterBranches", "shouldReEnroll", "type")),
    "LIST_BASED": Obj({"type": str, "shouldReEnroll": bool, "listFilterBranch": _filter_branch,
                       "reEnrollmentTriggersFilterBranches": ListOf(_filter_branch),
                       "unEnrollObjectsNotMeetingCriteria": bool},
                      ("listFilterBranch", "reEnrollmentTriggersFilterBranches", "shouldReEnroll", "type",
                       "unEnrollObjectsNotMeetingCriteria")),
    "MANUAL": Obj({"type": str, "shouldReEnroll": bool}, ("shouldReEnroll", "type")),
    "DATASET": Obj({"type": str, "shouldReEnroll": bool, "datasetId": int, "subviewId": str},
                   ("datasetId", "shouldReEnroll", "type")),
}


def _enrollment(value: Any, where: str, out: list[dict]) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ENROLLMENT:
        out.append({"message": f"{where}.type must be one of {', '.join(ENROLLMENT)} (got {kind!r})",
                    "in": f"{where}.type", "code": "INVALID_ENUM"})
        return
    check(value, ENROLLMENT[kind], where, out)


TIME = Obj({"hour": int, "minute": int}, ("hour", "minute"))
FLOW_COMMON: dict[str, Any] = {
    "actions": ListOf(_action), "blockedDates": ListOf(Obj({"dayOfMonth": int, "month": Enum(*MONTHS), "year": int},
                                                            ("dayOfMonth", "month"))),
    "customProperties": dict, "enrollmentCriteria": _enrollment, "enrollmentSchedule": dict, "isEnabled": bool,
    "name": str, "description": str, "startActionId": str, "uuid": str, "nextAvailableActionId": str,
    "timeWindows": ListOf(Obj({"day": Enum(*DAYS), "startTime": TIME, "endTime": TIME}, ("day",))),
}
CONTACT_ONLY: dict[str, Any] = {"canEnrollFromSalesforce": bool, "eventAnchor": dict, "goalFilterBranch": _filter_branch,
                                "suppressionListIds": ListOf(int),
                                "unEnrollmentSetting": Obj({"type": Enum("ALL", "SELECTIVE"), "flowIds": ListOf(str)},
                                                           ("flowIds", "type"))}
CREATE_ONLY: dict[str, Any] = {"dataSources": list, "flowType": Enum("ACTION_SET", "UNKNOWN", "WORKFLOW"),
                               "objectTypeId": str}
FLOW_SHAPES = {
    ("create", "CONTACT_FLOW"): Obj({**FLOW_COMMON, **CONTACT_ONLY, **CREATE_ONLY, "type": str},
                                    ("actions", "blockedDates", "canEnrollFromSalesforce", "customProperties",
                                     "dataSources", "flowType", "isEnabled", "objectTypeId", "suppressionListIds",
                                     "timeWindows", "type"), True),
    ("create", "PLATFORM_FLOW"): Obj({**FLOW_COMMON, **CREATE_ONLY, "suppressionFilterBranch": _filter_branch,
                                      "type": str},
                                     ("actions", "blockedDates", "customProperties", "dataSources", "flowType",
                                      "isEnabled", "objectTypeId", "timeWindows", "type"), True),
    ("update", "CONTACT_FLOW"): Obj({**FLOW_COMMON, **CONTACT_ONLY, "revisionId": str, "type": str},
                                    ("actions", "blockedDates", "canEnrollFromSalesforce", "customProperties",
                                     "isEnabled", "revisionId", "suppressionListIds", "timeWindows", "type"), True),
    ("update", "PLATFORM_FLOW"): Obj({**FLOW_COMMON, "suppressionFilterBranch": _filter_branch, "revisionId": str,
                                      "type": str},
                                     ("actions", "blockedDates", "customProperties", "isEnabled", "revisionId",
                                      "timeWindows", "type"), True),
}

EMAIL_FIELDS: dict[str, Any] = {
    "activeDomain": str, "archived": bool, "businessUnitId": int, "campaign": str,
    "content": Obj({"flexAreas": dict, "plainTextVersion": str, "smartFields": dict, "styleSettings": dict,
                    "templatePath": str, "themeSettingsValues": dict, "widgetContainers": dict, "widgets": dict},
                   closed=True),
    "folderIdV2": int, "from": Obj({"customReplyTo": str, "fromName": str, "replyTo": str}, closed=True),
    "jitterSendTime": bool, "language": str, "name": str, "publishDate": str, "rssData": dict, "sendOnPublish": bool,
    "state": str, "subcategory": str, "subject": str,
    "subscriptionDetails": Obj({"officeLocationId": str, "preferencesGroupId": str, "subscriptionId": str,
                                "subscriptionName": str}, closed=True),
    "testing": dict, "to": dict, "webversion": dict,
}
EMAIL_CREATE = Obj({**EMAIL_FIELDS, "feedbackSurveyId": str}, ("name",), True)
EMAIL_UPDATE = Obj(EMAIL_FIELDS, (), True)


# ---------------------------------------------------------------- template checks
ANNOTATION = re.compile(r"\A\s*<!--(.*?)-->", re.S)
UNSUBSCRIBE = re.compile(r"\{\{\s*unsubscribe_link(_all)?\s*\}\}")
BLOCKS = {"if": "endif", "for": "endfor", "unless": "endunless", "macro": "endmacro", "raw": "endraw"}
MIDDLE = {"elif": "if", "else": ("if", "for", "unless"), "empty": "for"}


def template_problems(path: str, text: str) -> list[dict]:
    """What HubSpot's validator (as this fake models it) says of a coded email template."""
    if not path.endswith(".html"):
        return []
    out = []

    def err(message: str, line: int | None = None, category: str = "TEMPLATE") -> None:
        e: dict[str, Any] = {"message": message, "category": category}
        if line is not None:
            e["context"] = {"line": [str(line)]}
        out.append(e)

    m = ANNOTATION.match(text)
    keys = dict(re.findall(r"^\s*([A-Za-z]+)\s*:\s*(.*?)\s*$", m.group(1), re.M)) if m else {}
    if keys.get("templateType") != "email":
        err("An email template needs an annotation comment at the top with templateType: email", 1, "ANNOTATION")
    if not UNSUBSCRIBE.search(text):
        err("An email template must include {{ unsubscribe_link }} (or {{ unsubscribe_link_all }})", None,
            "MISSING_REQUIRED_TOKEN")
    stack: list[tuple[str, int]] = []
    pos = 0
    for tag in re.finditer(r"\{(?=[{%#])", text):
        if tag.start() < pos:
            continue
        if stack and stack[-1][0] == "raw" and not re.match(r"\{%-?\s*endraw\b", text[tag.start():]):
            continue  # inside raw, jinjava's scanner looks for {% endraw %} only
        opener = text[tag.start():tag.start() + 2]
        line = text.count("\n", 0, tag.start()) + 1
        close = {"{{": "}}", "{%": "%}", "{#": "#}"}[opener]
        end = text.find(close, tag.start() + 2)
        if end < 0:
            err(f"{opener} opened on line {line} is never closed", line, "SYNTAX")
            break
        pos = end + 2
        if opener != "{%":
            continue
        words = text[tag.start() + 2:end].strip("-+ \t\r\n").split()
        word = words[0] if words else ""
        if word in BLOCKS:
            stack.append((word, line))
        elif word in MIDDLE:
            allowed = MIDDLE[word]
            if not stack or stack[-1][0] not in (allowed if isinstance(allowed, tuple) else (allowed,)):
                err(f"{{% {word} %}} on line {line} is outside its block", line, "SYNTAX")
        elif word.startswith("end") and word[3:] in BLOCKS:
            if not stack or stack[-1][0] != word[3:]:
                err(f"{{% {word} %}} on line {line} closes no open {word[3:]} block", line, "SYNTAX")
            else:
                stack.pop()
    for word, line in stack:
        err(f"{{% {word} %}} opened on line {line} is never closed", line, "SYNTAX")
    return out


class HubSpotFake(HubSpotEvents, FakeServer):
    """Fake ``https://api.hubapi.com``; the key is the private app token (``Authorization: Bearer <key>``).

    State: ``files`` ((environment, path) -> ``{"content": bytes, ...}``), ``emails`` and
    ``flows`` (id -> object as the API returns it). ``require_templates`` (default on)
    makes an email's ``content.templatePath`` name an uploaded file (either environment);
    ``require_automated_emails`` (default on) makes a flow's send-email action (actionTypeId
    ``0-4``) name an automated email (created with a ``state`` starting ``AUTOMATED``).
    An email's ``type`` follows its ``state``: ``AUTOMATED_EMAIL`` or ``BATCH_EMAIL``.
    """

    vendor = "hubspot"
    NAMED = {"emails": "name", "flows": "name"}

    def __init__(self, key: str, *, require_templates: bool = True, require_automated_emails: bool = True,
                 portal_id: int = 1234567, behavioral_events: bool = True, **options: Any):
        super().__init__(key, **options)
        self.require_templates = require_templates
        self.require_automated_emails = require_automated_emails
        self.files: dict[tuple[str, str], dict] = {}
        self.emails: dict[str, dict] = {}
        self.flows: dict[str, dict] = {}
        # contacts, their properties, event definitions and occurrences (hubspot_events.py)
        self._init_events(portal_id, behavioral_events)

    # ------------------------------------------------------------ test helpers
    def _state(self) -> dict[str, Any]:
        return {"files": {f"{env}/{p}": {**f, "content": f["content"].decode("utf-8", "replace")}
                          for (env, p), f in self.files.items()},
                "emails": self.emails, "flows": self.flows}

    def file(self, path: str, environment: str = "published") -> str | None:
        """An uploaded file's text, or None."""
        with self.lock:
            f = self.files.get((environment, path))
            return None if f is None else f["content"].decode("utf-8", "replace")

    def put_file(self, path: str, content: str, environment: str = "published") -> None:
        """A file that is already in the account's design manager."""
        with self.lock:
            self._store_file(environment, path, content.encode())

    def ui_edit_file(self, path: str, edit: Callable[[str], str], environment: str = "published") -> None:
        """A person edits a coded template in the design manager and publishes it: the source is kept as
        typed, comments included (HubSpot reads its own annotation from a comment at the top of the file)."""
        with self.lock:
            self._store_file(environment, path, edit(self.file(path, environment) or "").encode())

    def ui_edit_flow(self, name: str, edit: Callable[[dict], None]) -> None:
        """A person changes a workflow in HubSpot's editor: ``edit`` changes it in place; a new revision."""
        with self.lock:
            (flow,) = [f for f in self.flows.values() if f.get("name") == name]
            edit(flow)
            flow["revisionId"] = str(int(flow["revisionId"]) + 1)
            flow["updatedAt"] = self.clock.iso()

    # ------------------------------------------------------------ errors
    def error(self, status: int, detail: str, *, pointer: str | None = None, code: str | None = None,
              errors: list[dict] | None = None) -> Reply:
        categories = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 404: "OBJECT_NOT_FOUND",
                      405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 429: "RATE_LIMITS", 500: "INTERNAL_ERROR"}
        body: dict[str, Any] = {"status": "error", "message": detail,
                                "correlationId": str(uuid.UUID(int=self.next_id("error"))),
                                "category": code or categories.get(status, "ERROR")}
        if errors:
            body["errors"] = errors
        return Reply(status, body)

    def fault_reply(self, kind: str, seconds: float) -> Reply:
        if kind == "429":
            reply = self.error(429, "You have reached your ten_secondly_rolling limit.", code="RATE_LIMITS")
            reply.body.update({"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})
            reply.headers["Retry-After"] = f"{seconds:g}"
            return reply
        return self.error(500, "internal error", code="INTERNAL_ERROR")

    def invalid(self, errors: list[dict], message: str = "Invalid input") -> Refused:
        detail = message + ": " + "; ".join(e["message"] for e in errors[:5])
        return Refused(self.error(400, detail, errors=errors))

    # ------------------------------------------------------------ request flow
    def authorize(self, req: Recorded) -> Reply | None:
        auth = req.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.key:
            msg = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                   "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
                   if not auth else "The OAuth token used to make this call expired or is invalid.")
            return self.error(401, msg)
        return None

    def dispatch(self, req: Recorded) -> Reply:
        routes: list[tuple[str, str, Callable[..., Reply]]] = [
            ("POST", r"/cms/v3/source-code/([^/]+)/validate/(.+)", self.validate_file),
            ("PUT", r"/cms/v3/source-code/([^/]+)/content/(.+)", self.put_content),
            ("GET", r"/cms/v3/source-code/([^/]+)/content/(.+)", self.get_content),
            ("DELETE", r"/cms/v3/source-code/([^/]+)/content/(.+)", self.delete_content),
            ("GET", r"/cms/v3/source-code/([^/]+)/metadata/(.+)", self.get_metadata),
            ("GET", r"/marketing/v3/emails", self.list_emails),
            ("POST", r"/marketing/v3/emails", self.create_email),
            ("GET", r"/marketing/v3/emails/([^/]+)", self.get_email),
            ("PATCH", r"/marketing/v3/emails/([^/]+)", self.update_email),
            ("DELETE", r"/marketing/v3/emails/([^/]+)", self.delete_email),
            ("GET", r"/automation/v4/flows", self.list_flows),
            ("POST", r"/automation/v4/flows", self.create_flow),
            ("GET", r"/automation/v4/flows/([^/]+)", self.get_flow),
            ("PUT", r"/automation/v4/flows/([^/]+)", self.update_flow),
            ("DELETE", r"/automation/v4/flows/([^/]+)", self.delete_flow),
            *self.event_routes(),
        ]
        known = False
        for method, pattern, fn in routes:
            m = re.fullmatch(pattern, req.path)
            if m:
                known = True
                if method == req.method:
                    return fn(req, *m.groups())
        if known:
            return self.error(405, f"{req.method} is not allowed on {req.path}")
        return self.error(404, f"{req.path} is not an endpoint this fake serves")

    def _json(self, req: Recorded) -> Any:
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise Refused(self.error(415, f"Content-Type must be application/json, not {ctype or 'none'}",
                                     code="UNSUPPORTED_MEDIA_TYPE"))
        if req.json is None:
            raise Refused(self.error(400, "Invalid input JSON: the body is not JSON"))
        return req.json

    def _query(self, req: Recorded, ints: tuple[str, ...] = (), bools: tuple[str, ...] = ()) -> None:
        errors = []
        for name in ints:
            v = first(req.query, name)
            if v is not None and not re.fullmatch(r"-?\d+", v):
                errors.append({"message": f"{name} must be an integer", "in": name, "code": "INVALID_TYPE"})
        for name in bools:
            v = first(req.query, name)
            if v is not None and v.lower() not in ("true", "false"):
                errors.append({"message": f"{name} must be true or false", "in": name, "code": "INVALID_TYPE"})
        if errors:
            raise self.invalid(errors, "Invalid query parameter")

    def _page(self, req: Recorded, items: list[dict]) -> dict:
        self._query(req, ints=("limit",))
        after = first(req.query, "after")
        offset = 0
        if after:
            if not after.isdigit():
                raise self.invalid([{"message": f"after {after!r} is not a cursor this API gave", "in": "after",
                                     "code": "INVALID_CURSOR"}])
            offset = int(after)
        limit = first(req.query, "limit")
        chunk, nxt = self.page(items, offset, int(limit) if limit else None)
        body: dict[str, Any] = {"results": copy.deepcopy(chunk)}
        if nxt is not None:
            body["paging"] = {"next": {"after": str(nxt), "link": self.link(req, after=str(nxt))}}
        return body

    # ------------------------------------------------------------ source code
    def _file_part(self, req: Recorded) -> bytes:
        ctype = req.header("Content-Type") or ""
        if not ctype.lower().startswith("multipart/form-data"):
            raise Refused(self.error(415, "Content-Type must be multipart/form-data with a file part",
                                     code="UNSUPPORTED_MEDIA_TYPE"))
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body)
        for part in msg.iter_parts() if msg.is_multipart() else []:
            if part.get_param("name", header="content-disposition") == "file":
                return part.get_payload(decode=True) or b""
        raise self.invalid([{"message": "the multipart body has no part named file", "in": "file",
                             "code": "REQUIRED_FIELD"}])

    def _env_path(self, environment: str, path: str) -> tuple[str, str]:
        if environment not in ENVIRONMENTS:
            raise self.invalid([{"message": f"environment must be draft or published (got {environment!r})",
                                 "in": "environment", "code": "INVALID_ENUM"}])
        return environment, unquote(path)

    def _check_template(self, path: str, content: bytes) -> None:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise self.invalid([{"message": "the file is not UTF-8 text", "in": "file", "code": "INVALID_FILE"}],
                               "Template validation failed") from None
        problems = template_problems(path, text)
        if problems:
            raise self.invalid(problems, "Template validation failed")

    def validate_file(self, req: Recorded, environment: str, path: str) -> Reply:
        env, p = self._env_path(environment, path)
        self._check_template(p, self._file_part(req))
        return Reply(200, None)

    def put_content(self, req: Recorded, environment: str, path: str) -> Reply:
        env, p = self._env_path(environment, path)
        content = self._file_part(req)
        self._check_template(p, content)
        return Reply(200, self._metadata(p, self._store_file(env, p, content)))

    def _store_file(self, env: str, path: str, content: bytes) -> dict:
        now = int(self.clock.tick().timestamp() * 1000)
        f = self.files.setdefault((env, path), {"createdAt": now})
        f.update(content=content, updatedAt=now, hash=hashlib.sha256(content).hexdigest())
        return f

    @staticmethod
    def _metadata(path: str, f: dict) -> dict:
        return {"id": path, "name": path.rsplit("/", 1)[-1], "folder": False, "createdAt": f["createdAt"],
                "updatedAt": f["updatedAt"], "hash": f["hash"]}

    def get_content(self, req: Recorded, environment: str, path: str) -> Reply:
        env, p = self._env_path(environment, path)
        f = self.files.get((env, p))
        if f is None:
            return self.error(404, f"No file found at {env}/{p}")
        ctype = {"html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
                 "js": "application/javascript", "json": "application/json"}.get(p.rsplit(".", 1)[-1],
                                                                                  "application/octet-stream")
        return Reply(200, f["content"], content_type=ctype)

    def delete_content(self, req: Recorded, environment: str, path: str) -> Reply:
        env, p = self._env_path(environment, path)
        if self.files.pop((env, p), None) is None:
            return self.error(404, f"No file found at {env}/{p}")
        return Reply(204, None)

    def get_metadata(self, req: Recorded, environment: str, path: str) -> Reply:
        """A file's metadata, or a folder's with ``children`` (the names right under it)."""
        env, p = self._env_path(environment, path.rstrip("/"))
        if (env, p) in self.files:
            return Reply(200, self._metadata(p, self.files[(env, p)]))
        under = sorted({k[len(p) + 1:].split("/")[0] for e, k in self.files if e == env and k.startswith(p + "/")})
        if not under:
            return self.error(404, f"No file or folder found at {env}/{p}")
        return Reply(200, {"id": p, "name": p.rsplit("/", 1)[-1], "folder": True, "children": under,
                           "createdAt": 0, "updatedAt": 0})

    # ------------------------------------------------------------ marketing emails
    def list_emails(self, req: Recorded) -> Reply:
        self._query(req, bools=("archived", "includeStats", "isPublished"))
        archived = (first(req.query, "archived") or "false").lower() == "true"
        items = [e for e in self.emails.values() if e["archived"] == archived]
        body = self._page(req, items)
        return Reply(200, {"total": len(items), **body})

    def get_email(self, req: Recorded, eid: str) -> Reply:
        if eid not in self.emails:
            return self.error(404, f"No email with id {eid}")
        return Reply(200, copy.deepcopy(self.emails[eid]))

    def create_email(self, req: Recorded) -> Reply:
        body = self._json(req)
        errors: list[dict] = []
        check(body, EMAIL_CREATE, "", errors)
        if errors:
            raise self.invalid(errors)
        self._check_template_path(body)
        eid = str(self.next_id("email", 180000000001))
        now = self.clock.iso()
        email = {"id": eid, "name": body["name"], "subject": "", "state": "DRAFT", "isAb": False, "isPublished": False,
                 "isTransactional": False, "archived": False, "language": "en", "content": {}, "from": {}, "to": {},
                 "subscriptionDetails": {}, "webversion": {}, "createdAt": now, "updatedAt": now}
        _merge(email, copy.deepcopy(body))
        email["type"] = "AUTOMATED_EMAIL" if email["state"].startswith("AUTOMATED") else "BATCH_EMAIL"
        email["subcategory"] = body.get("subcategory") or ("automated" if email["type"] == "AUTOMATED_EMAIL"
                                                           else "batch")
        self.emails[eid] = email
        return Reply(201, copy.deepcopy(email), headers={"Location": f"{self.url}/marketing/v3/emails/{eid}"})

    def update_email(self, req: Recorded, eid: str) -> Reply:
        body = self._json(req)
        if eid not in self.emails:
            return self.error(404, f"No email with id {eid}")
        errors: list[dict] = []
        check(body, EMAIL_UPDATE, "", errors)
        if errors:
            raise self.invalid(errors)
        self._check_template_path(body)
        email = self.emails[eid]
        _merge(email, copy.deepcopy(body))  # objects merge field by field, like HubSpot's PATCH
        email["updatedAt"] = self.clock.iso()
        return Reply(200, copy.deepcopy(email))

    def delete_email(self, req: Recorded, eid: str) -> Reply:
        if eid not in self.emails:
            return self.error(404, f"No email with id {eid}")
        used = [f["id"] for f in self.flows.values() for a in f.get("actions", [])
                if a.get("actionTypeId") == SEND_EMAIL and str((a.get("fields") or {}).get("content_id")) == eid]
        if used:  # a conservative model (HubSpot's reference does not say): never leave a flow pointing nowhere
            return self.error(409, f"email {eid} is used by workflow {used[0]}")
        del self.emails[eid]
        return Reply(204, None)

    def _check_template_path(self, body: dict) -> None:
        path = (body.get("content") or {}).get("templatePath")
        if path and self.require_templates and not any((env, path) in self.files for env in ENVIRONMENTS):
            raise self.invalid([{"message": f"content.templatePath {path!r} names no file in the design manager",
                                 "in": "content.templatePath", "code": "TEMPLATE_NOT_FOUND"}])

    # ------------------------------------------------------------ flows
    def list_flows(self, req: Recorded) -> Reply:
        keys = ("id", "name", "isEnabled", "flowType", "objectTypeId", "revisionId", "createdAt", "updatedAt", "uuid")
        listing = [{k: f[k] for k in keys if k in f} for f in self.flows.values()]
        return Reply(200, self._page(req, listing))

    def get_flow(self, req: Recorded, fid: str) -> Reply:
        if fid not in self.flows:
            return self.error(404, f"No flow with id {fid}")
        return Reply(200, copy.deepcopy(self.flows[fid]))

    def _check_flow(self, body: Any, mode: str) -> None:
        kind = body.get("type") if isinstance(body, dict) else None
        if (mode, kind) not in FLOW_SHAPES:
            raise self.invalid([{"message": f"type must be CONTACT_FLOW or PLATFORM_FLOW (got {kind!r})", "in": "type",
                                 "code": "INVALID_ENUM"}])
        errors: list[dict] = []
        check(body, FLOW_SHAPES[(mode, kind)], "", errors)
        if errors:
            raise self.invalid(errors)
        ids = [a["actionId"] for a in body["actions"]]
        for i, aid in enumerate(ids):
            if not aid.isdigit():
                errors.append({"message": f"actions[{i}].actionId must be a number as a string (got {aid!r})",
                               "in": f"actions[{i}].actionId", "code": "INVALID_ACTION_ID"})
            elif ids.count(aid) > 1:
                errors.append({"message": f"actionId {aid} is used twice", "in": f"actions[{i}].actionId",
                               "code": "DUPLICATE_ACTION_ID"})
        for i, action in enumerate(body["actions"]):
            for target in _next_ids(action):
                if target not in ids:
                    errors.append({"message": f"actions[{i}] connects to action {target}, which does not exist",
                                   "in": f"actions[{i}]", "code": "INVALID_CONNECTION"})
            if action.get("type") == "SINGLE_CONNECTION" and action.get("actionTypeId") == SEND_EMAIL:
                cid = str((action.get("fields") or {}).get("content_id", ""))
                email = self.emails.get(cid)
                if email is None:
                    errors.append({"message": f"actions[{i}].fields.content_id {cid!r} is no marketing email",
                                   "in": f"actions[{i}].fields.content_id", "code": "INVALID_EMAIL"})
                elif self.require_automated_emails and email["type"] != "AUTOMATED_EMAIL":
                    errors.append({"message": f"email {cid} is not an automated email (state {email['state']}): a "
                                              "workflow sends automated emails only",
                                   "in": f"actions[{i}].fields.content_id", "code": "INVALID_EMAIL"})
        start = body.get("startActionId")
        if start is not None and start not in ids:
            errors.append({"message": f"startActionId {start} names no action", "in": "startActionId",
                           "code": "INVALID_CONNECTION"})
        nxt = body.get("nextAvailableActionId")
        numeric = [int(a) for a in ids if a.isdigit()]
        if nxt is not None and (not nxt.isdigit() or int(nxt) <= max(numeric, default=0)):
            errors.append({"message": "nextAvailableActionId must be above every actionId", "in": "nextAvailableActionId",
                           "code": "INVALID_ACTION_ID"})
        if errors:
            raise self.invalid(errors)

    def create_flow(self, req: Recorded) -> Reply:
        body = self._json(req)
        self._check_flow(body, "create")
        fid = str(self.next_id("flow", 585000001))
        now = self.clock.iso()
        flow = {"id": fid, **copy.deepcopy(body), "revisionId": "1", "createdAt": now, "updatedAt": now,
                "crmObjectCreationStatus": "COMPLETE"}
        flow["nextAvailableActionId"] = body.get("nextAvailableActionId") or _next_action_id(body["actions"])
        self.flows[fid] = flow
        return Reply(201, copy.deepcopy(flow), headers={"Location": f"{self.url}/automation/v4/flows/{fid}"})

    def update_flow(self, req: Recorded, fid: str) -> Reply:
        body = self._json(req)
        if fid not in self.flows:
            return self.error(404, f"No flow with id {fid}")
        self._check_flow(body, "update")
        flow = self.flows[fid]
        if body["type"] != flow["type"]:
            raise self.invalid([{"message": f"a {flow['type']} cannot become a {body['type']}", "in": "type",
                                 "code": "INVALID_TYPE_CHANGE"}])
        if body["revisionId"] != flow["revisionId"]:
            return self.error(409, f"revisionId {body['revisionId']} is not the flow's current revision "
                                   f"({flow['revisionId']}): read the flow again and retry")
        kept = {k: flow[k] for k in ("id", "type", "flowType", "objectTypeId", "dataSources", "createdAt", "uuid",
                                     "crmObjectCreationStatus") if k in flow}
        new = {**kept, **copy.deepcopy(body), **{k: v for k, v in kept.items() if k != "uuid"}}
        new["revisionId"] = str(int(flow["revisionId"]) + 1)
        new["updatedAt"] = self.clock.iso()
        new["nextAvailableActionId"] = body.get("nextAvailableActionId") or max(
            _next_action_id(body["actions"]), flow["nextAvailableActionId"], key=int)
        self.flows[fid] = new
        return Reply(200, copy.deepcopy(new))


    def delete_flow(self, req: Recorded, fid: str) -> Reply:
        if fid not in self.flows:
            return self.error(404, f"No flow with id {fid}")
        del self.flows[fid]
        return Reply(204, None)


def _merge(into: dict, patch: dict) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _next_ids(action: dict) -> list[str]:
    out = []

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            if "nextActionId" in o and isinstance(o["nextActionId"], str):
                out.append(o["nextActionId"])
            for k, v in o.items():
                if k != "filterBranch":
                    walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk({k: v for k, v in action.items() if k != "fields"})
    return out


def _next_action_id(actions: list[dict]) -> str:
    return str(max((int(a["actionId"]) for a in actions if str(a.get("actionId", "")).isdigit()), default=0) + 1)
