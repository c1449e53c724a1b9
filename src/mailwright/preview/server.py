"""The preview's HTTP server on 127.0.0.1, and the watcher that recompiles what changed on disk."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from .model import Preview, internal
from .pages import BadRequest, NotFound, flows_page, index_page, render_page, template_page


class _Handler(BaseHTTPRequestHandler):
    preview: Preview

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: str, ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Every request gets an answer: a page, 400/404 with the reason, or 500 naming the failure."""
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            return
        except BadRequest as e:
            self._answer(400, str(e))
        except NotFound as e:
            self._answer(404, str(e))
        except Exception as e:
            self._answer(500, internal(e))

    def _answer(self, status: int, reason: str) -> None:
        try:
            self._send(status, reason + "\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self) -> None:
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        p = self.preview
        trigger = q.get("trigger") or None
        if url.path == "/":
            with p.lock:
                return self._send(200, index_page(p))
        if url.path == "/flows":
            with p.lock:
                return self._send(200, flows_page(p))
        if url.path.startswith("/t/"):
            with p.lock:
                return self._send(200, template_page(p, unquote(url.path[3:]), trigger, q.get("esp")))
        if url.path.startswith("/render/"):
            with p.lock:
                status, doc = render_page(p, unquote(url.path[8:]), trigger, q.get("esp", ""), q.get("v", "0"),
                                          q.get("dark") == "1")
            return self._send(status, doc)
        if url.path == "/events":
            return self._events()
        raise NotFound(f"nothing at {url.path}")

    def _events(self) -> None:
        """Server-sent events: ``{"version": N, "errors": [...]}`` now and at every change of the build."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        p = self.preview
        last = None
        while True:
            with p.changed:
                if last == p.version:
                    p.changed.wait(timeout=15)
                version, errors = p.version, list(p.errors)
            try:
                self.wfile.write(f"data: {json.dumps({'version': version, 'errors': errors})}\n\n".encode())
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                return
            last = version


class Server:
    """The preview server and its watcher, on 127.0.0.1."""

    def __init__(self, root: Path, port: int = 8765, interval: float = 0.2):
        self.preview = Preview(root)
        handler = type("Handler", (_Handler,), {"preview": self.preview})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        self.interval = interval
        self._stop = threading.Event()

    def start(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.preview.poll()
            except Exception as e:  # keep watching; tell the open pages
                with self.preview.lock:
                    self.preview.errors = [internal(e)]
                    self.preview._bump()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
