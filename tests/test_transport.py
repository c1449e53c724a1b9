"""The shared transport against a tiny local server: retries, Retry-After, lost creates, redaction."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mailwright.transport import AuthError, Limit, LostResponse, RemoteError, Secret, Transport

SECRET = "sk_live_TOPSECRET_123"


class Script:
    """Answers in order: (status, headers, body) or 'reset' (close without answering)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []


def serve(script):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self):
            n = int(self.headers.get("Content-Length") or 0)
            script.seen.append((self.command, self.path, self.rfile.read(n)))
            a = script.answers.pop(0) if script.answers else (200, {}, {"ok": True})
            if a == "reset":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()
                return
            status, headers, body = a
            data = json.dumps(body).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = _answer

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def make():
    servers = []

    def _make(answers, **kw):
        script = Script(answers)
        srv = serve(script)
        servers.append(srv)
        slept = []
        t = Transport(f"http://127.0.0.1:{srv.server_port}", {"Authorization": f"Bearer {SECRET}"},
                      Secret(SECRET), label="ESP", sleep=slept.append, timeout=2, **kw)
        return t, script, slept

    yield _make
    for s in servers:
        s.shutdown()


def test_429_honours_retry_after(make):
    t, script, slept = make([(429, {"Retry-After": "7"}, {}), (200, {}, {"id": 1})])
    assert t.request("GET", "/x") == {"id": 1}
    assert slept == [7.0] and len(script.seen) == 2


def test_5xx_backs_off_then_gives_up(make):
    t, script, slept = make([(500, {}, {})] * 3, retries=2)
    with pytest.raises(RemoteError) as e:
        t.request("GET", "/x")
    assert e.value.status == 500 and len(script.seen) == 3 and len(slept) == 2
    assert slept[1] > slept[0] / 2  # exponential (with jitter)


def test_lost_answer_to_a_create_is_not_retried(make):
    t, script, _ = make(["reset", (200, {}, {"id": 2})])
    with pytest.raises(LostResponse):
        t.request("POST", "/things", json={"name": "a"}, creates=True)
    assert len(script.seen) == 1  # exactly one write reached the server


def test_lost_answer_to_a_read_is_retried(make):
    t, script, _ = make(["reset", (200, {}, {"id": 3})])
    assert t.request("GET", "/things/3") == {"id": 3}
    assert len(script.seen) == 2


def test_credential_is_redacted_everywhere(make):
    t, _, _ = make([(400, {}, {"error": f"bad key {SECRET}"}), (401, {}, {"detail": SECRET})])
    with pytest.raises(RemoteError) as e:
        t.request("GET", "/x")
    assert SECRET not in str(e.value) and "***" in str(e.value)
    with pytest.raises(AuthError) as e:
        t.request("GET", "/x")
    assert SECRET not in str(e.value) and SECRET not in repr(t.secret)


def test_pacing_holds_requests_under_the_limit(make):
    now = [0.0]
    waits = []

    def sleep(s):
        waits.append(s)
        now[0] += s

    t, _, _ = make([], limits={"api": Limit(2, 1, burst=2)})
    t.sleep = sleep
    (bucket,) = t.buckets["api"]
    bucket.clock = lambda: now[0]
    bucket.stamp = 0.0
    for _ in range(4):
        t.request("GET", "/x", limit="api")
    # a burst of 2, then one request every half second: 2 per second, as the limit says
    assert waits == [0.5, 0.5]
