"""The relay's HTTP side, a Starlette app: Segment's tracking API in, /healthz and /metrics out.

An event is answered 200 only after the store's commit holding it is durable. A refused request gets
a JSON reason and is counted; it never reaches the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .ingest import MAX_BATCH, MAX_EVENT, Refused, authorised, parse
from .logs import Log
from .metrics import Metrics
from .runner import Relay

BODY_SECONDS = 10.0  # a body still arriving after this is refused: a trickling sender holds no connection


async def _body(request: Request, limit: int, seconds: float = BODY_SECONDS) -> bytes:
    """The body, read no further than the limit and no longer than ``seconds`` (a sender cannot make the
    relay hold more, or hold it longer)."""
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > limit:
        raise Refused(f"the body is larger than {limit // 1024} KB", 400, "too_large")
    chunks, total = [], 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise Refused(f"the body is larger than {limit // 1024} KB", 400, "too_large")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(f"the body took longer than {seconds:g} s to arrive", 408, "too_slow") from None
    return b"".join(chunks)


def _decoded(raw: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent before its Content-Encoding (gzip, as Segment's API takes it), never past ``limit``
    however well it was compressed."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding != "gzip":
        raise Refused(f"Content-Encoding {encoding[:40]} is not accepted: send the JSON as it is, or gzip", 415,
                      "encoding")
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, limit + 1)
    except zlib.error:
        raise Refused("the body is not gzip, as its Content-Encoding says") from None
    if len(out) > limit:
        raise Refused(f"the body is larger than {limit // 1024} KB", 400, "too_large")
    if not d.eof:
        raise Refused("the gzip body is cut short")
    return out


def build_app(relay: Relay, write_keys: list[bytes], log: Log, metrics: Metrics,
              body_seconds: float = BODY_SECONDS) -> Starlette:
    store = relay.store

    async def not_a_route(request: Request, _exc: Any) -> Response:
        metrics.rejected.labels("not_found").inc()
        return JSONResponse({"success": False, "error": f"no such endpoint: {request.url.path}"}, status_code=404)

    async def ingest(request: Request) -> Response:
        kind = request.path_params.get("kind")
        if kind not in KINDS_PATH:
            return await not_a_route(request, None)
        kind = None if kind == "batch" else kind
        started = time.perf_counter()
        try:
            limit = MAX_BATCH if kind is None else MAX_EVENT
            raw = await _body(request, limit, body_seconds)
            raw = _decoded(raw, request.headers.get("content-encoding", ""), limit)
            if not write_keys:
                raise Refused("the relay has no write keys (MAILWRIGHT_WRITE_KEYS)", 401, "unauthorised")
            header = request.headers.get("authorization")
            body_key = None
            if header is None:
                with contextlib.suppress(ValueError, RecursionError):
                    doc = json.loads(raw)
                    body_key = doc.get("writeKey") if isinstance(doc, dict) else None
            if not authorised(header, body_key, write_keys):
                raise Refused("unknown write key", 401, "unauthorised")
            msgs = parse(raw, kind, time.time())
        except Refused as e:
            metrics.rejected.labels(e.kind).inc()
            log("request_refused", "warning", path=request.url.path, status=e.status, reason=e.reason[:200])
            return JSONResponse({"success": False, "error": e.reason}, status_code=e.status)
        except ClientDisconnect:
            metrics.rejected.labels("disconnected").inc()
            return Response(status_code=400)
        try:
            new = await store.append(msgs)
        except Exception as e:  # the store failed (Redis gone, disk full): not acknowledged, the sender retries
            metrics.rejected.labels("store_failed").inc()
            log("store_failed", "error", path=request.url.path, error=type(e).__name__, detail=str(e)[:300])
            return JSONResponse({"success": False, "error": f"the relay could not store the events "
                                 f"({type(e).__name__}); send them again"}, status_code=503)
        metrics.ingested.inc(new)
        metrics.duplicates.inc(len(msgs) - new)
        metrics.ingest_latency.observe(time.perf_counter() - started)
        return JSONResponse({"success": True})

    async def healthz(_request: Request) -> Response:
        ok = relay.healthy
        return JSONResponse({"ok": ok}, status_code=200 if ok else 503)

    async def render_metrics(_request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        relay.start()
        log("relay_started", esps=list(relay.deliveries))
        try:
            yield
        finally:
            relay.stop()
            log("relay_stopped")

    routes = [Route("/v1/{kind:str}", ingest, methods=["POST"]),
              Route("/healthz", healthz, methods=["GET"]),
              Route("/metrics", render_metrics, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan)

    app.add_exception_handler(404, not_a_route)
    return app


KINDS_PATH = ("track", "identify", "page", "batch")
