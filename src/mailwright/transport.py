"""One small HTTP transport that every connector's API client shares.

* timeouts on every request;
* retries with exponential backoff on 429, 5xx and connection errors, honouring a
  bounded ``Retry-After``;
* client-side pacing under the vendor's documented rate limits (a token bucket
  per limit group);
* a request that creates something is never retried once it may have reached the
  server (a lost answer or a 5xx): :class:`LostResponse` tells the caller to look the
  object up by name first;
* redirects are never followed (a credential must not travel to another origin and
  a POST must not silently become a GET): a 3xx is reported;
* every answer is checked against the shape the caller expects before it is used;
* the credential is redacted from every message, exception and log line, before
  anything is shortened.
"""

from __future__ import annotations

import datetime
import email.utils
import json as jsonlib
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import requests

from .errors import MailwrightError, Pos


class Secret:
    """A credential: prints as ``***``, never as itself."""

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


class RemoteError(Exception):
    """The ESP refused or failed a request (after retries). Messages are redacted."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


class AuthError(RemoteError):
    """401/403: the credential is wrong or lacks a scope."""


class LostResponse(RemoteError):
    """A write may have been applied but its answer was lost (connection reset, timeout, 5xx).

    ``in_flight``: the request may still be running on the server (a timeout, a gateway
    timeout), so a lookup that finds nothing is not proof that nothing will appear."""

    def __init__(self, message: str, status: int | None = None, *, in_flight: bool):
        super().__init__(message, status)
        self.in_flight = in_flight


class BadAnswer(RemoteError):
    """The ESP answered, but not with what its API documents (a redirect, HTML, a wrong shape)."""


@dataclass
class Limit:
    """``rate`` requests per ``per`` seconds (burst ``burst``)."""

    rate: float
    per: float
    burst: int = 1


@dataclass
class _Bucket:
    limit: Limit
    clock: Callable[[], float] = time.monotonic
    tokens: float = 0.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        self.tokens = float(self.limit.burst)
        self.stamp = self.clock()

    def take(self, sleep: Callable[[float], None]) -> None:
        refill = self.limit.rate / self.limit.per
        while True:
            now = self.clock()
            self.tokens = min(self.limit.burst, self.tokens + (now - self.stamp) * refill)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            sleep((1 - self.tokens) / refill)



EMPTY = "empty"  # a shape: the answer carries no body worth reading (204, a validate endpoint)
Shape = Any  # type | tuple of types | dict (``"key?"`` optional) | [item shape] | EMPTY


def conforms(value: Any, shape: Shape, where: str = "") -> str | None:
    """Where ``value`` breaks ``shape`` (the first place), or None.

    A shape is a type (``str``; ``object`` takes anything), a tuple of types, a dict of
    key -> shape (a key ending in ``?`` may be absent), or a one-item list: a list of those.
    """
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where or 'the body'} is {_kind(value)}, not an object"
        for key, sub in shape.items():
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                return f"{where + '.' if where else ''}{name} is missing"
            problem = conforms(value[name], sub, f"{where + '.' if where else ''}{name}")
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where or 'the body'} is {_kind(value)}, not a list"
        for i, item in enumerate(value):
            problem = conforms(item, shape[0], f"{where}[{i}]")
            if problem:
                return problem
        return None
    types = shape if isinstance(shape, tuple) else (shape,)
    if any(t is object or (isinstance(value, t) and not (t in (int, float) and isinstance(value, bool)))
           for t in types):
        return None
    want = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
    return f"{where or 'the body'} is {_kind(value)}, not {want}"


_TYPE_NAMES = {str: "a string", int: "a number", float: "a number", dict: "an object", list: "a list",
               bool: "true or false", type(None): "null"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class Transport:
    """HTTP to one ESP: ``request()`` returns the parsed answer (checked against a shape) or raises RemoteError."""

    def __init__(self, base_url: str, headers: dict[str, str], secret: Secret, *, label: str,
                 limits: dict[str, Limit | tuple[Limit, ...]] | None = None, timeout: float = 30.0, retries: int = 5,
                 backoff: float = 0.5, max_retry_after: float = 300.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, log: Callable[[str], None] | None = None,
                 rate_scale: float = 1.0, base_var: str = "the base URL", now: Callable[[], float] = time.time):
        self.base = base_url.rstrip("/")
        self.secret = secret
        self.label = label
        self.base_var = base_var  # what the user sets to change base_url (named when the ESP redirects)
        self.session = requests.Session()
        self.session.trust_env = False  # no .netrc credentials, no proxy settings that could see the key
        self.session.headers.update(headers)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self.now = now
        self.log = log or (lambda _msg: None)
        # a group may have several documented limits (burst per second, steady per minute): all apply
        self.buckets = {k: [_Bucket(Limit(x.rate * rate_scale, x.per, x.burst), clock)
                            for x in (v if isinstance(v, tuple) else (v,))]
                        for k, v in (limits or {}).items()}
        self._lock = threading.Lock()
        self.count = {"read": 0, "write": 0}

    # -- redaction ------------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        return redact(text, self.secret)

    # -- requests ----------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                data: Any = None, files: Any = None, headers: dict | None = None, limit: str | None = None,
                creates: bool = False, ok: tuple[int, ...] = (), shape: Shape = dict) -> Any:
        """One API call; the answer must have ``shape`` (see :func:`conforms`; ``str``: any text).

        ``creates``: a lost answer or a 5xx raises LostResponse instead of retrying.
        ``ok``: extra statuses returned as ``None`` instead of raising (e.g. 404 on a lookup)."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base}{path}"
        if not url.startswith(self.base + "/") and url != self.base:
            # a "next page" link that points elsewhere: never send the credential there
            raise BadAnswer(self.redact(f"{self.label}: the ESP answered a link to another address "
                                        f"({_origin(url)}); not followed, check {self.base_var}"))
        call = f"{method} {path.split('?')[0] if path.startswith('/') else _path_of(path)}"
        write = method.upper() != "GET"
        attempt = 0
        while True:
            if limit and limit in self.buckets:
                with self._lock:
                    for bucket in self.buckets[limit]:
                        bucket.take(self.sleep)
            self.count["write" if write else "read"] += 1
            try:
                resp = self.session.request(method, url, params=params, json=json, data=data, files=files,
                                            headers=headers, timeout=self.timeout, allow_redirects=False)
                resp.content  # noqa: B018 - read the whole body here, where a cut-off body is a lost answer
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as e:
                timed_out = isinstance(e, requests.Timeout)
                if write and creates:
                    raise LostResponse(self.redact(f"{self.label}: no answer to {call} ({type(e).__name__}); "
                                                   "it may have been applied"), in_flight=timed_out) from None
                if attempt >= self.retries:
                    raise RemoteError(self.redact(f"{self.label}: {call} failed: {type(e).__name__}")) from None
                self._wait(attempt, None)
                attempt += 1
                continue
            except requests.RequestException as e:  # a bad URL or header: never echo it (it may hold the key)
                raise RemoteError(self.redact(f"{self.label}: {call} could not be sent ({type(e).__name__})")) from None
            status = resp.status_code
            if status in ok:
                return None
            if 300 <= status < 400:
                where = resp.headers.get("Location")
                target = f"a redirect to {_origin(where)}" if where else f"a redirect ({status}) without a Location"
                raise BadAnswer(self.redact(f"{self.label}: the ESP answered {call} with {target} ({status}); "
                                            f"not followed: check {self.base_var}"), status)
            if write and creates and status >= 500:
                # a gateway may fail after the vendor applied the write: look it up before any new attempt
                raise LostResponse(self._describe(call, resp) + "; it may have been applied", status,
                                   in_flight=status == 504)
            if status == 429 or status >= 500:
                if attempt >= self.retries:
                    raise RemoteError(self._describe(call, resp), status, self._text(resp))
                self.log(f"{self.label}: {call} answered {status}; retrying")
                self._wait(attempt, resp.headers.get("Retry-After"))
                attempt += 1
                continue
            if status in (401, 403):
                raise AuthError(self.redact(f"{self.label} refused the credential ({status}): check the API key and "
                                            "its scopes"), status)
            if status >= 400:
                raise RemoteError(self._describe(call, resp), status, self._text(resp))
            if status < 200:
                raise BadAnswer(self.redact(f"{self.label}: the ESP answered {call} with status {status}"), status)
            return self._parse(call, resp, shape)

    def _parse(self, call: str, resp: requests.Response, shape: Shape) -> Any:
        if shape == EMPTY:
            return None
        if shape is str:
            return resp.text
        if not resp.content:
            raise BadAnswer(f"{self.label}: the ESP answered {call} ({resp.status_code}) with an empty body, "
                            "where its API returns JSON: nothing was assumed done", resp.status_code)
        try:
            body = resp.json()
        except ValueError:
            ctype = resp.headers.get("Content-Type", "no content type").split(";")[0]
            raise BadAnswer(self.redact(f"{self.label}: the ESP answered {call} ({resp.status_code}) with {ctype} "
                                        f"that is not JSON: {_clip(self.redact(resp.text))}; check {self.base_var}"),
                            resp.status_code) from None
        problem = conforms(body, shape)
        if problem:
            raise BadAnswer(self.redact(f"{self.label}: the ESP answered {call} ({resp.status_code}) with an "
                                        f"unexpected shape: {problem}"), resp.status_code)
        return body

    def retry_after(self, value: str | None) -> float | None:
        """Seconds a ``Retry-After`` asks for, within 0..max_retry_after; None when it says nothing usable."""
        if not value:
            return None
        value = value.strip()
        try:
            delay = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
            if when is None:
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=datetime.UTC)
            delay = when.timestamp() - self.now()
        if math.isnan(delay):
            return None
        return min(max(delay, 0.0), self.max_retry_after)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.retry_after(retry_after)
        if delay is None:
            delay = self.backoff * (2 ** attempt) * (0.5 + random.random() / 2)
        self.sleep(delay)

    @staticmethod
    def _text(resp: requests.Response) -> str:
        return resp.text if resp.content else ""

    def _describe(self, call: str, resp: requests.Response) -> str:
        # redact the whole body first: a cut could leave the start of an echoed key
        return f"{self.label}: {call} answered {resp.status_code}: {_clip(self.redact(self._text(resp)))}"


def _clip(text: str, n: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if _port(parts) else ''}" \
        if parts.scheme else "a relative address"


def _port(parts: Any) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _path_of(url: str) -> str:
    return urlsplit(url).path


def redact(text: str, secret: Secret) -> str:
    """``text`` without the secret, in any of the forms it travels in (as is, URL- or JSON-escaped)."""
    value = secret.reveal()
    if not value:
        return text
    forms = {value, quote(value, safe=""), quote_plus(value), jsonlib.dumps(value)[1:-1]}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text


def credential(env: dict[str, str], name: str, label: str) -> Secret:
    """The credential from the environment, checked before any request; never shown, even in an error."""
    value = env.get(name, "").strip()
    if not value:
        raise MailwrightError(Pos(name, 0, 0), f"{label} needs a credential: set the environment variable {name}")
    bad = next((i for i, c in enumerate(value) if not (" " <= c <= "~")), None)
    if bad is not None:
        what = "a control character (such as a line break)" if ord(value[bad]) < 32 or value[bad] == "\x7f" \
            else "a character outside printable ASCII"
        raise MailwrightError(Pos(name, 0, 0), f"the environment variable {name} holds {what} at position "
                                               f"{bad + 1}: set it to the {label} credential alone")
    return Secret(value)


def base_url(env: dict[str, str], name: str, default: str | None, example: str) -> str:
    """An ESP's endpoint from the environment (or ``default``), checked before any request."""
    value = env.get(name, "").strip() or default
    if not value:
        raise MailwrightError(Pos(name, 0, 0), f"set the environment variable {name} (e.g. {example})")
    problem = None
    if any(not (" " < c <= "~") for c in value):
        problem = "holds a space, a control character or a character outside ASCII"
    else:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            problem = "has no http:// or https:// scheme"
        elif not parts.hostname:
            problem = "has no host"
        elif parts.username is not None or parts.password is not None:
            problem = "holds a user name or password (credentials go in their own variable)"
        elif parts.query or parts.fragment:
            problem = "has a query or a fragment"
        else:
            try:
                port = parts.port
            except ValueError:
                port = -1
            if port is not None and not 1 <= port <= 65535:
                problem = "has a port outside 1-65535"
    if problem:
        raise MailwrightError(Pos(name, 0, 0), f"the environment variable {name} {problem}: set it to a URL such "
                                               f"as {example}")
    return value.rstrip("/")
