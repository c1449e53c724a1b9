"""One small HTTP transport that every connector's API client shares.

* timeouts on every request;
* retries with exponential backoff on 429, 5xx and connection errors, honouring
  ``Retry-After``;
* client-side pacing under the vendor's documented rate limits (a token bucket
  per limit group);
* a request that creates something is never blindly retried once it may have
  reached the server: :class:`LostResponse` tells the caller to look the object
  up by name first;
* the credential is redacted from every message, exception and log line.
"""

from __future__ import annotations

import json as jsonlib
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from .errors import Pos


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
    """A write may have been applied but its answer was lost (connection reset, timeout)."""


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


class Transport:
    """HTTP to one ESP: ``request()`` returns parsed JSON (or text) or raises RemoteError."""

    def __init__(self, base_url: str, headers: dict[str, str], secret: Secret, *, label: str,
                 limits: dict[str, Limit | tuple[Limit, ...]] | None = None, timeout: float = 30.0, retries: int = 5,
                 backoff: float = 0.5, max_retry_after: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, log: Callable[[str], None] | None = None,
                 rate_scale: float = 1.0):
        self.base = base_url.rstrip("/")
        self.secret = secret
        self.label = label
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep
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
                creates: bool = False, ok: tuple[int, ...] = ()) -> Any:
        """One API call. ``creates``: a lost answer raises LostResponse instead of retrying.
        ``ok``: extra statuses returned as ``None`` instead of raising (e.g. 404 on a lookup)."""
        url = path if path.startswith("http") else f"{self.base}{path}"
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
                                            headers=headers, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                if write and creates:
                    raise LostResponse(self.redact(f"{self.label}: no answer to {method} {path} ({type(e).__name__}); "
                                                   "it may have been applied")) from None
                if attempt >= self.retries:
                    raise RemoteError(self.redact(f"{self.label}: {method} {path} failed: {type(e).__name__}")) from None
                self._wait(attempt, None)
                attempt += 1
                continue
            status = resp.status_code
            if status in ok:
                return None
            if status == 429 or status >= 500:
                if attempt >= self.retries:
                    raise RemoteError(self._describe(method, path, resp), status, self._body(resp))
                self.log(f"{self.label}: {method} {path} answered {status}; retrying")
                self._wait(attempt, resp.headers.get("Retry-After"))
                attempt += 1
                continue
            if status in (401, 403):
                raise AuthError(self.redact(f"{self.label} refused the credential ({status}): check the API key and "
                                            "its scopes"), status)
            if status >= 400:
                raise RemoteError(self._describe(method, path, resp), status, self._body(resp))
            return self._body(resp)

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = None
        if retry_after:
            try:
                delay = min(float(retry_after), self.max_retry_after)
            except ValueError:
                delay = None
        if delay is None:
            delay = self.backoff * (2 ** attempt) * (0.5 + random.random() / 2)
        self.sleep(delay)

    @staticmethod
    def _body(resp: requests.Response) -> Any:
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def _describe(self, method: str, path: str, resp: requests.Response) -> str:
        body = self._body(resp)
        detail = jsonlib.dumps(body)[:400] if not isinstance(body, str) else body[:400]
        return self.redact(f"{self.label}: {method} {path} answered {resp.status_code}: {detail}")


def redact(text: str, secret: Secret) -> str:
    value = secret.reveal()
    return text.replace(value, "***") if value else text


def credential(env: dict[str, str], name: str, label: str) -> Secret:
    """The credential from the environment, or a clear input error before any request."""
    from .errors import MailwrightError

    value = env.get(name, "").strip()
    if not value:
        raise MailwrightError(Pos("mailwright", 0, 0), f"{label} needs a credential: set the environment variable {name}")
    return Secret(value)
