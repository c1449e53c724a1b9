"""What the three fake ESP servers share: a real HTTP server on 127.0.0.1, request
recording, fault injection, paging helpers and OpenAPI validation with openapi-core.

A fake answers like its vendor: it checks the credential, validates the request
(against the vendored spec, or hand-written checks for HubSpot), applies it to its
in-memory state and answers in the vendor's shape. Everything is controlled from
Python: ``fake.inject("429", method="POST", path_prefix="/api/templates")``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

SPECS = Path(__file__).with_name("specs")
FAULTS = ("429", "500", "slow", "reset-after-write", "apply-then-500", "hold")
AFTER_WRITE = ("reset-after-write", "apply-then-500")  # faults that apply the write first
READS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    headers: dict[str, str]
    body: bytes = b""
    status: int | None = None  # what the fake answered; None when it dropped the connection
    held: bool = False  # a "hold" fault keeps it, unanswered, until release()

    @property
    def is_write(self) -> bool:
        return self.method not in READS

    def header(self, name: str) -> str | None:
        """A request header, by case-insensitive name."""
        low = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == low), None)


@dataclass
class Reply:
    """An answer: JSON (any JSON-able value) or raw bytes."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class Refused(Exception):
    """Raised by a handler to answer an error reply at once."""

    def __init__(self, reply: Reply):
        super().__init__(reply.status)
        self.reply = reply


@dataclass
class Fault:
    kind: str
    method: str | None
    path_prefix: str | None
    times: int | None  # None: every matching request
    seconds: float

    def matches(self, req: Recorded) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.kind in AFTER_WRITE and not req.is_write:
            return False
        if self.method and self.method.upper() != req.method:
            return False
        return not self.path_prefix or req.path.startswith(self.path_prefix)


class Clock:
    """A deterministic clock: every tick is one second after the last, from 2026-01-01 UTC."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def iso(self) -> str:
        return self.tick().isoformat()


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The offset in a cursor made by encode_cursor, or None for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    m = re.fullmatch(r"offset:(\d+)", text)
    return int(m.group(1)) if m else None


def first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # clients that open many connections at once are not made to wait for SYN retries
    fake: FakeServer

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001 - socketserver's signature
        """A client that gave up (its timeout) is expected here: say nothing; anything else is a bug."""
        import sys

        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


class FakeServer:
    """Base of the fakes: subclasses implement authorize(), dispatch() and the vendor's error shapes."""

    vendor = "fake"
    NAMED: dict[str, str] = {}  # collection -> the field that names its objects (by_name, duplicates)

    def __init__(self, key: str, *, page_size: int = 2, retry_after: float = 1, slow_seconds: float = 0.5,
                 check_responses: bool = False):
        self.key = key
        self.page_size = page_size
        self.retry_after = retry_after
        self.slow_seconds = slow_seconds
        self.check_responses = check_responses
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.response_errors: list[str] = []  # filled when check_responses is on and an answer breaks the spec
        self.clock = Clock()
        self.released = threading.Event()  # what a "hold" fault waits for (see release())
        self.lock = threading.RLock()
        self._counters: dict[str, int] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        """Listen on 127.0.0.1 at a port the OS picks; ``self.url`` is then set."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.vendor}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and release the port."""
        if self._server is None:
            return
        self.released.set()  # no handler thread stays held
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ control from tests
    def inject(self, kind: str, method: str | None = None, path_prefix: str | None = None, times: int | None = 1,
               *, seconds: float | None = None) -> None:
        """Make the next ``times`` matching requests fail (``times=None``: all of them).

        kinds: ``"429"`` (Retry-After: ``seconds``, default ``self.retry_after``), ``"500"``,
        ``"slow"`` (sleep ``seconds``, default ``self.slow_seconds``, then answer normally),
        ``"reset-after-write"`` (apply a write, then drop the connection without answering),
        ``"apply-then-500"`` (apply a write, then answer 500, as a gateway that fails after the vendor
        wrote), ``"hold"`` (keep the request until ``release()``, then apply and answer it: a write
        that lands late, after its client is gone).
        ``path_prefix`` is compared with the path as sent, without the query.
        """
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(FAULTS)}")
        if seconds is None:
            seconds = self.retry_after if kind == "429" else self.slow_seconds
        with self.lock:
            self.faults.append(Fault(kind, method, path_prefix, times, seconds))

    def release(self) -> None:
        """Let every held request (and any later one) go on."""
        self.released.set()

    def held(self) -> list[Recorded]:
        """The requests a "hold" fault is keeping (not answered yet)."""
        with self.lock:
            return [r for r in self.requests if r.held]

    def clear_faults(self) -> None:
        """Forget every fault not used up yet."""
        with self.lock:
            self.faults.clear()

    def clear_requests(self) -> None:
        """Forget the recorded requests (say, after a test's setup)."""
        with self.lock:
            self.requests.clear()

    def writes(self) -> list[Recorded]:
        """Every recorded request that was not a read (GET/HEAD/OPTIONS)."""
        with self.lock:
            return [r for r in self.requests if r.is_write]

    def next_id(self, kind: str, start: int = 1) -> int:
        """The next number of a counter (the first is ``start``)."""
        with self.lock:
            n = self._counters.get(kind, start - 1) + 1
            self._counters[kind] = n
            return n

    def _collection(self, name: str) -> list[dict]:
        """The objects of a collection, each with its ``id``."""
        items = getattr(self, name)
        if isinstance(items, dict):
            return [{"id": k, **v} if "id" not in v else v for k, v in items.items()]
        return list(items)

    def by_name(self, collection: str, name: str) -> list[dict]:
        """Copies of every object of a collection with that name (more than one is a duplicate)."""
        key = self.NAMED[collection]
        with self.lock:
            return [copy.deepcopy(o) for o in self._collection(collection) if o.get(key) == name]

    def duplicates(self) -> dict[str, list[str]]:
        """Per collection, the names that more than one object has (empty when there are none)."""
        out: dict[str, list[str]] = {}
        with self.lock:
            for coll, key in self.NAMED.items():
                names = [o.get(key) for o in self._collection(coll)]
                dup = sorted({n for n in names if names.count(n) > 1})
                if dup:
                    out[coll] = dup
        return out

    @property
    def state(self) -> dict[str, Any]:
        """A deep copy of the fake's state (subclasses say what is in it)."""
        with self.lock:
            return copy.deepcopy(self._state())

    def _state(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------ to override
    def authorize(self, req: Recorded) -> Reply | None:
        """None if the request carries the right credential, else the 401 to answer."""
        raise NotImplementedError

    def dispatch(self, req: Recorded) -> Reply:
        """Validate and apply the request; answer it."""
        raise NotImplementedError

    def error(self, status: int, detail: str, *, pointer: str | None = None, code: str | None = None) -> Reply:
        """An error in the vendor's shape."""
        raise NotImplementedError

    def fault_reply(self, kind: str, seconds: float) -> Reply:
        """What a 429 or 500 fault answers."""
        if kind == "429":
            reply = self.error(429, f"Too many requests. Try again in {seconds:g} seconds.", code="throttled")
            reply.headers["Retry-After"] = f"{seconds:g}"
            return reply
        return self.error(500, "An internal error occurred.", code="error")

    def check_response(self, req: Recorded, reply: Reply) -> list[str]:
        """Where the reply breaks the vendor's spec (only asked when check_responses is on)."""
        return []

    # ------------------------------------------------------------ paging helpers
    def page(self, items: list, offset: int, limit: int | None) -> tuple[list, int | None]:
        """One page of items from offset and the next page's offset (None on the last page).

        A page holds at most ``self.page_size`` items whatever the client asks for."""
        size = self.page_size if not limit or limit <= 0 else min(limit, self.page_size)
        chunk = items[offset:offset + size]
        nxt = offset + size
        return chunk, (nxt if nxt < len(items) else None)

    def link(self, req: Recorded, **replace: str | None) -> str:
        """The absolute URL of req with some query parameters replaced (None drops one)."""
        pairs = [(k, v) for k, vs in req.query.items() if k not in replace for v in vs]
        pairs += [(k, v) for k, v in replace.items() if v is not None]
        qs = urlencode(pairs)
        return f"{self.url}{req.path}" + (f"?{qs}" if qs else "")

    # ------------------------------------------------------------ serving
    def _read_body(self, h: _Handler) -> bytes:
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _serve(self, h: _Handler) -> None:
        body = self._read_body(h)
        parts = urlsplit(h.path)
        query: dict[str, list[str]] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            query.setdefault(k, []).append(v)
        parsed: Any = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        req = Recorded(h.command, parts.path, query, parsed, dict(h.headers.items()), body)
        with self.lock:
            self.requests.append(req)
            fault = next((f for f in self.faults if f.matches(req)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "hold":
            req.held = True
            self.released.wait(60)
            req.held = False
        if fault is not None and fault.kind in ("429", "500"):
            with self.lock:
                reply = self.fault_reply(fault.kind, fault.seconds)
        else:
            reply = self._answer(req)
        if fault is not None and fault.kind == "apply-then-500":
            with self.lock:
                reply = self.fault_reply("500", fault.seconds)
        if fault is not None and fault.kind == "reset-after-write":
            req.status = None
            self._drop(h)
            return
        req.status = reply.status
        if self.check_responses and reply.status < 500:
            problems = self.check_response(req, reply)
            if problems:
                with self.lock:
                    self.response_errors += [f"{req.method} {req.path} -> {reply.status}: {p}" for p in problems]
        self._send(h, reply)

    def _answer(self, req: Recorded) -> Reply:
        with self.lock:
            try:
                denied = self.authorize(req)
                if denied is not None:
                    return denied
                return self.dispatch(req)
            except Refused as r:
                return r.reply

    @staticmethod
    def _send(h: _Handler, reply: Reply) -> None:
        data = reply.payload()
        h.send_response(reply.status)
        if data or reply.status not in (204, 304):
            h.send_header("Content-Type", reply.content_type)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    @staticmethod
    def _drop(h: _Handler) -> None:
        """Close the connection at once (RST, no response), so the client sees a connection error."""
        h.close_connection = True
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        h.connection.close()


# ---------------------------------------------------------------- OpenAPI validation
@dataclass
class _OpenAPIRequest:
    """A request as openapi-core reads it."""

    host_url: str
    path: str
    method: str
    parameters: Any
    content_type: str
    body: bytes | None


@dataclass
class _OpenAPIResponse:
    status_code: int
    content_type: str
    headers: Any
    data: bytes | None


@dataclass
class Problem:
    """One way a request breaks the spec."""

    detail: str
    pointer: str | None = None    # JSON pointer into the body
    parameter: str | None = None  # or the parameter's name
    kind: str = "invalid"         # "path", "method", "parameter", "body"


class SpecValidator:
    """Validates requests (and, for self-checks, responses) against a vendored OpenAPI document."""

    _cache: dict[str, Any] = {}

    def __init__(self, filename: str, host_url: str, *, content_types: dict[str, str] | None = None):
        self.filename = filename
        self.host_url = host_url
        self.content_types = content_types or {}  # alias -> the media type the spec names

    @property
    def api(self) -> Any:
        if self.filename not in self._cache:
            from openapi_core import Config, OpenAPI

            spec = json.loads((SPECS / self.filename).read_text())
            self._cache[self.filename] = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
        return self._cache[self.filename]

    def _request(self, req: Recorded, path: str | None = None) -> _OpenAPIRequest:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        ctype = (req.header("Content-Type") or "").lower()
        base = ctype.split(";")[0].strip()
        if base in self.content_types:
            ctype = self.content_types[base] + ctype[len(base):]
        params = RequestParameters(query=ImmutableMultiDict([(k, v) for k, vs in req.query.items() for v in vs]),
                                   header=Headers(list(req.headers.items())))
        return _OpenAPIRequest(self.host_url, path or req.path, req.method.lower(), params, ctype,
                               req.body if req.body else None)

    def problems(self, req: Recorded, path: str | None = None) -> list[Problem]:
        """Every way req breaks the spec (empty when it is valid); path overrides req.path."""
        from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound

        out: list[Problem] = []
        for err in self.api.iter_request_errors(self._request(req, path)):
            if isinstance(err, (PathNotFound, ServerNotFound)):
                out.append(Problem(f"{req.path} is not a path of this API", kind="path"))
            elif isinstance(err, OperationNotFound):
                out.append(Problem(f"{req.method} is not allowed on {req.path}", kind="method"))
            else:
                out += _explain(err)
        return out

    def response_problems(self, req: Recorded, reply: Reply, path: str | None = None) -> list[str]:
        from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
        from openapi_core.templating.responses.exceptions import ResponseNotFound
        from werkzeug.datastructures import Headers

        resp = _OpenAPIResponse(reply.status, reply.content_type, Headers(list(reply.headers.items())),
                                reply.payload())
        out = []
        for err in self.api.iter_response_errors(self._request(req, path), resp):
            # no operation, or a status the spec does not document for it: nothing to check against
            if not isinstance(err, (PathNotFound, ServerNotFound, OperationNotFound, ResponseNotFound)):
                out += [p.detail for p in _explain(err)]
        return out


def _short(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[:n] + "…"


def _schema_problems(errors: Any, prefix: str = "") -> list[Problem]:
    from jsonschema.exceptions import best_match

    out = []
    for e in errors:
        path = [str(p) for p in e.absolute_path]
        if e.validator == "required":
            m = re.match(r"'(.+)' is a required property", e.message)
            if m:
                path.append(m.group(1))
            message = e.message
        elif e.validator in ("oneOf", "anyOf") and e.context:
            inner = best_match(e.context)
            message = f"matches none of the allowed schemas (closest: {_short(inner.message, 200)})"
        else:
            message = _short(e.message)
        pointer = prefix + ("/" + "/".join(path) if path else "")
        out.append(Problem(f"{pointer or '/'}: {message}", pointer=pointer or "/", kind="body"))
    return out


def _explain(err: Exception) -> list[Problem]:
    """openapi-core's errors as Problems, with JSON pointers where it knows them."""
    cause = err.__cause__
    name = getattr(err, "name", None)
    if name is not None and getattr(err, "location", None):  # a parameter
        detail = str(err)
        if cause is not None and getattr(cause, "schema_errors", None):
            detail = f"{name}: " + "; ".join(_short(e.message, 200) for e in cause.schema_errors)
        elif cause is not None:
            detail = f"{name}: {_short(str(cause), 200)}"
        return [Problem(detail, parameter=name, kind="parameter")]
    if cause is not None and getattr(cause, "schema_errors", None):
        return _schema_problems(cause.schema_errors)
    text = str(err) if cause is None or str(cause) in str(err) else f"{err}: {cause}"
    return [Problem(_short(text), kind="body")]
