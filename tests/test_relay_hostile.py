"""Hostile input to the relay, from the outside: bodies that are not text, never stop arriving or carry
what no store can hold get a 4xx with a reason, and the relay keeps acknowledging and delivering."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import sqlite3
import time

import pytest
import requests

from tests.test_relay_core import Core, Recorder, Recording, RelayProcess, make_project, sqlite_relay, track, wait_for
from tests.test_relay_redis import redis_url  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    yield from sqlite_relay(tmp_path_factory.mktemp("hostile"))


def _still_delivers(relay, mid: str) -> None:
    assert relay.post("/v1/track", track("still", mid=mid)).status_code == 200
    wait_for(lambda: any(i["id"] == f"{mid}:klaviyo" for i in relay.recorder.accepted("klaviyo")),
             what=f"{mid} delivered")
    assert json.loads(requests.get(relay.url + "/healthz", timeout=5).text) == {"ok": True}


LONE = [b'{"type":"track","event":"x","anonymousId":"a\\ud800","messageId":"s1"}',  # the engine's aliases
        b'{"type":"track","event":"x","anonymousId":"a","messageId":"s\\uDFFF2"}',  # the inbox's dedup key
        b'{"batch":[{"type":"track","event":"x\\udc00","anonymousId":"a","messageId":"s3"}]}']


def test_a_lone_surrogate_is_refused_and_stops_nothing(relay):
    for n, body in enumerate(LONE):
        r = relay.post("/v1/batch" if body.startswith(b'{"batch"') else "/v1/track", body)
        assert r.status_code == 400 and "lone UTF-16 surrogate escape" in r.json()["error"], r.text
        _still_delivers(relay, f"after-lone-{n}")


def test_unicode_that_is_text_is_kept_as_sent(relay):
    body = json.dumps(track("café_viewed", "ánon-😀", props={"name": "naïve \U0001F600 \u2028"}, mid="uni"))
    assert relay.post("/v1/track", body.encode()).status_code == 200  # ensure_ascii: a surrogate *pair*
    assert relay.post("/v1/track", json.dumps(track("y", mid="uni2"), ensure_ascii=False).encode()).status_code == 200
    wait_for(lambda: any(i["id"] == "uni:klaviyo" for i in relay.recorder.accepted("klaviyo")))
    got = next(i for i in relay.recorder.accepted("klaviyo") if i["id"] == "uni:klaviyo")
    assert got["event"] == "café_viewed" and got["properties"]["name"] == "naïve \U0001F600 \u2028"
    r = relay.post("/v1/track", "{\"event\": \"x\"}".encode("utf-16"))
    assert r.status_code == 400 and r.json()["error"] == "the body is not UTF-8 text"
    assert relay.post("/v1/track", b"\xef\xbb\xbf" + json.dumps(track("bom", mid="bom")).encode()).status_code == 200


def test_a_write_that_fails_fails_its_own_request_only(tmp_path):
    """The store's writer outlives an append it cannot store (here a key SQLite cannot encode, which the
    ingest refuses before; a full disk fails the same way): the next request is acknowledged."""
    from mailwright.signals.relay.ingest import Message

    c = Core(tmp_path, {"klaviyo": Recording()})

    async def go():
        with pytest.raises(UnicodeEncodeError):
            await asyncio.wait_for(c.store.append([Message("m\ud800", track("x"), "a1")]), 5)
        return await asyncio.wait_for(c.store.append([Message("ok", track("x", mid="ok"), "a1")]), 5)
    try:
        assert asyncio.run(go()) == 1
    finally:
        c.close()


@pytest.fixture
def inproc(tmp_path):
    """The relay's app served by uvicorn in a thread of this process, with a short body deadline."""
    import threading

    import uvicorn

    from mailwright.signals.relay.app import build_app
    from mailwright.signals.relay.metrics import Metrics
    from tests.test_relay_core import WRITE_KEY, _quiet_log, free_port

    c = Core(tmp_path, {"klaviyo": Recording()})
    port = free_port()
    app = build_app(c.relay, [WRITE_KEY.encode()], _quiet_log(), Metrics(), body_seconds=0.5)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    wait_for(lambda: server.started, what="uvicorn")
    yield port
    server.should_exit = True
    t.join(10)
    c.close()


def test_a_body_that_trickles_in_gets_408_and_the_connection_is_not_held(inproc):
    import base64

    from tests.test_relay_core import WRITE_KEY

    auth = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    with socket.create_connection(("127.0.0.1", inproc), timeout=5) as s:
        s.sendall(f"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n".encode())
        started = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            s.sendall(b" ")  # one byte every 0.1 s: never finishes
            time.sleep(0.1)
            s.setblocking(False)
            try:
                answer += s.recv(4096)
            except BlockingIOError:
                pass
            s.setblocking(True)
            assert time.monotonic() - started < 4, "the relay kept waiting for the body"
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"the body took longer than 0.5 s to arrive" in answer
    r = requests.post(f"http://127.0.0.1:{inproc}/v1/track", data=json.dumps(track("x", mid="fast")),
                      auth=(WRITE_KEY, ""), timeout=5)
    assert r.status_code == 200


NOT_JSON_NUMBERS = [(b'{"event":"x","anonymousId":"a","properties":{"v":NaN}}', "NaN is not a JSON number"),
                    (b'{"event":"x","anonymousId":"a","properties":{"v":-Infinity}}', "-Infinity is not a JSON number"),
                    (b'{"batch":[{"type":"track","event":"x","anonymousId":"a","properties":{"v":1e400}}]}',
                     "the number 1e400 is out of range"),
                    (b'{"event":"x","anonymousId":"a","properties":{"v":' + b"9" * 400 + b"}}",
                     f"the number {'9' * 40}… is out of range")]


def test_numbers_that_json_has_not_are_refused_not_passed_to_the_esps(relay):
    """Python's json reads NaN, Infinity and 1e400 (inf); the ESPs' JSON parsers do not, so an event carrying
    one would be sent as a body no ESP reads (or poison a bulk job, or a sum() for its whole window)."""
    for body, reason in NOT_JSON_NUMBERS:
        r = relay.post("/v1/batch" if body.startswith(b'{"batch"') else "/v1/track", body)
        assert (r.status_code, r.json()["error"]) == (400, reason), r.text
    assert relay.post("/v1/track", {**track("y", mid="num"), "properties": {"v": 1e308, "w": -0.0, "n": 10**300}}).status_code == 200


STORES = [("sqlite:mailwright.toml", "mailwright.toml: error: cannot use this as the relay's store: file is not a database"),
          ("sqlite:templates", "templates: error: cannot use this as the relay's store"),
          ("sqlite:app.db", "app.db: error: cannot use this as the relay's store: it holds another program's tables "
                            "(users), not the relay's"),
          ("redis://:hunter2pw@127.0.0.1:{port}/0", "--store: error: cannot use Redis at redis://***@127.0.0.1:"),
          ("redis://127.0.0.1:{port}/0?password=hunter2pw", "--store: error: cannot use Redis at redis://127.0.0.1:"),
          ("redis://:hunter2pw@127.0.0.1:notaport/0", "--store: error: cannot use Redis at redis://***@127.0.0.1:"),
          ("htp://:hunter2pw@h", "'htp://***@h' is neither sqlite:PATH nor redis://HOST:PORT/DB")]


@pytest.mark.parametrize("command", ["status", "run"])
def test_a_store_that_cannot_be_used_is_a_located_error_without_its_password(tmp_path, command):
    import os
    import subprocess
    import sys

    from tests.test_relay_core import WRITE_KEY, free_port

    proj = make_project(tmp_path / "p")
    toml = (proj / "mailwright.toml").read_text()
    env = {**os.environ, "MAILWRIGHT_WRITE_KEYS": WRITE_KEY, "KLAVIYO_API_KEY": "pk_test_unused"}
    app = sqlite3.connect(proj / "app.db")  # another program's database: left exactly as it was
    app.execute("CREATE TABLE users (id INTEGER)")
    app.commit()
    app.close()
    for store, said in STORES:
        store = store.format(port=free_port())  # nothing listens there
        r = subprocess.run([sys.executable, "-m", "mailwright", "relay", command, ".", "--store", store,
                            "--esp", "klaviyo"], capture_output=True, text=True, timeout=30, cwd=proj, env=env)
        assert r.returncode == (2 if store.startswith("htp") else 1) and said in r.stderr, (store, r.stderr)
        assert "hunter2pw" not in r.stderr + r.stdout and "internal error" not in r.stderr
    assert (proj / "mailwright.toml").read_text() == toml
    app = sqlite3.connect(proj / "app.db")
    assert app.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]
    assert app.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    app.close()


def test_every_missing_setting_of_a_run_is_reported_in_one_pass(tmp_path):
    import os
    import subprocess
    import sys

    proj = make_project(tmp_path / "p")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAILWRIGHT_WRITE_KEYS", "KLAVIYO_API_KEY", "HUBSPOT_ACCESS_TOKEN")}
    r = subprocess.run([sys.executable, "-m", "mailwright", "relay", "."], capture_output=True, text=True,
                       timeout=30, cwd=proj, env=env)
    assert r.returncode == 1, r.stderr
    assert [line.split(":")[0] for line in r.stderr.splitlines()] == [
        "MAILWRIGHT_WRITE_KEYS", "KLAVIYO_API_KEY", "HUBSPOT_ACCESS_TOKEN"], r.stderr
    assert not (proj / ".mailwright").exists()  # nothing made by a run that did not start


def test_a_write_key_sent_in_the_body_is_not_stored(relay):
    """analytics clients may send the key as ``writeKey`` in the body: it authorises, and is then dropped
    before the event is committed (the store's files, and what reaches the ESPs, never hold it)."""
    from tests.test_relay_core import WRITE_KEY

    for n, path in enumerate(("/v1/track", "/v1/batch")):
        msg = {**track("keyed", mid=f"wk{n}"), "writeKey": WRITE_KEY}
        body = {"batch": [msg], "writeKey": WRITE_KEY} if path == "/v1/batch" else msg
        assert requests.post(relay.url + path, data=json.dumps(body), timeout=5).status_code == 200
    wait_for(lambda: {"wk0:klaviyo", "wk1:klaviyo"} <= {i["id"] for i in relay.recorder.accepted("klaviyo")})
    stored = b"".join(p.read_bytes() for p in (relay.project / ".mailwright").glob("relay.sqlite3*"))
    assert b"keyed" in stored and WRITE_KEY.encode() not in stored
    assert WRITE_KEY not in json.dumps(relay.recorder.accepted("klaviyo")) and WRITE_KEY not in relay.log()


def test_sigterm_under_load_keeps_every_acknowledged_event_and_sends_none_twice(tmp_path):
    """A graceful stop (SIGTERM, then SIGINT) while senders post: it exits 0, what it acknowledged reaches each
    ESP after the restart, and, unlike kill -9, nothing is sent twice (the drain records every outcome)."""
    import signal

    from tests.test_relay_kill import Load, check_exactly_once

    rec = Recorder()
    rec.delay = 0.1  # each delivery takes a while: the stop finds one in flight and must wait for its outcome
    proj = make_project(tmp_path / "proj")
    store = f"sqlite:{tmp_path / 'relay.sqlite3'}"
    relay = RelayProcess(tmp_path, proj, rec.url, store)
    url = {"now": relay.url}
    load = Load(lambda: url["now"], pause=0.005)
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            time.sleep(0.6)
            assert relay.stop(sig) == 0, relay.log()[-2000:]
            relay = RelayProcess(tmp_path, proj, rec.url, store, port=relay.port)
        time.sleep(0.3)
    finally:
        load.finish()
    try:
        assert len(load.acked) > 100, "too little load to mean anything"
        check_exactly_once(rec, load.acked, load.n, kills=0)
        assert "Traceback" not in relay.log()
    finally:
        relay.stop()
        rec.close()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_a_store_gone_answers_503_with_a_reason_and_then_recovers_its_ingest(tmp_path):
    """Redis stops while the relay runs: a request is answered 503 with a JSON reason (never a 500 and a
    traceback), nothing is acknowledged; once Redis is back, the same request is acknowledged."""
    import subprocess

    import redis

    from tests.test_relay_core import free_port

    port = free_port()

    def redis_server():
        return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                                 "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pings():
        try:
            return redis.Redis(port=port).ping()
        except redis.ConnectionError:
            return False
    server = redis_server()
    rec = Recorder()
    relay = None
    try:
        wait_for(pings, timeout=10, what="redis-server")
        relay = RelayProcess(tmp_path, make_project(tmp_path / "proj"), rec.url, f"redis://127.0.0.1:{port}/0")
        assert relay.post("/v1/track", track("x", mid="before")).status_code == 200
        server.terminate()
        server.wait(10)
        r = relay.post("/v1/track", track("x", mid="during"))
        assert r.status_code == 503 and "could not store the events (ConnectionError)" in r.json()["error"]
        server = redis_server()
        wait_for(pings, timeout=10, what="redis-server back")
        assert relay.post("/v1/track", track("x", mid="during")).status_code == 200
        assert "Traceback" not in relay.log() and '"event": "store_failed"' in relay.log()
    finally:
        if relay:
            relay.kill()
        server.terminate()
        server.wait(10)
        rec.close()


def test_a_huge_body_is_refused_early_whatever_it_says_of_its_size(relay):
    import base64

    auth = base64.b64encode(b"wk_test_5f1e:").decode()
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as s:  # chunked, and it never ends
        s.sendall(f"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b" " * 65536
        started, answer = time.monotonic(), b""
        s.setblocking(False)
        while not answer.rstrip().endswith(b"}"):
            assert time.monotonic() - started < 5, "the relay kept reading past its limit"
            try:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                time.sleep(0.01)
            try:
                answer += s.recv(4096)
            except BlockingIOError:
                pass
    assert answer.startswith(b"HTTP/1.1 400") and b"the body is larger than 500 KB" in answer, answer
    with socket.create_connection(("127.0.0.1", relay.port), timeout=5) as s:  # says 1 TB, sends nothing
        s.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
    _still_delivers(relay, "after-huge")


@pytest.mark.parametrize("ctype,body,reason", [
    ("application/x-www-form-urlencoded", b"event=x&anonymousId=a", "the body is not JSON"),
    ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="e"\r\n\r\nx\r\n--b--',
     "the body is not JSON"),
    ("application/json", b"", "the body is not JSON")])
def test_a_body_of_another_content_type_gets_400_with_the_reason(relay, ctype, body, reason):
    r = requests.post(relay.url + "/v1/track", data=body, headers={"Content-Type": ctype}, auth=("wk_test_5f1e", ""),
                      timeout=5)
    assert (r.status_code, r.json()["error"]) == (400, reason)


def test_a_gzip_body_is_read_as_segment_reads_it_and_never_past_the_limit(relay):
    import gzip

    def post(body: bytes, encoding: str, path: str = "/v1/track"):
        return requests.post(relay.url + path, data=body, auth=("wk_test_5f1e", ""), timeout=5,
                             headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert post(gzip.compress(json.dumps(track("zipped", mid="gz")).encode()), "gzip").status_code == 200
    wait_for(lambda: any(i["id"] == "gz:klaviyo" for i in relay.recorder.accepted("klaviyo")))
    bomb = gzip.compress(b'{"batch":[' + b" " * 50_000_000 + b"]}")  # 50 MB in 50 KB
    assert (post(bomb, "gzip", "/v1/batch").status_code, post(bomb, "gzip", "/v1/batch").json()["error"]) == (
        400, "the body is larger than 500 KB")
    for body, encoding, status, reason in [
            (b"{}", "gzip", 400, "the body is not gzip, as its Content-Encoding says"),
            (gzip.compress(json.dumps(track("x")).encode())[:-12], "gzip", 400, "the gzip body is cut short"),
            (b"{}", "br", 415, "Content-Encoding br is not accepted: send the JSON as it is, or gzip")]:
        r = post(body, encoding)
        assert (r.status_code, r.json()["error"]) == (status, reason)


@pytest.mark.parametrize("depth", [900, 990, 5000])
def test_deep_nesting_is_refused_or_carried_and_never_stops_the_relay(relay, depth):
    raw = json.dumps(track("deep", mid=f"deep{depth}")).encode().replace(
        b'"properties": {}', b'"properties": {"deep": ' + b"[" * depth + b"]" * depth + b"}")
    r = relay.post("/v1/track", raw)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"] == "the body is not JSON"
    _still_delivers(relay, f"after-deep{depth}")


def test_a_message_id_is_remembered_for_seven_days_and_a_pending_event_is_never_pruned(tmp_path):
    from mailwright.signals.engine import DEDUP_SECONDS

    c = Core(tmp_path, {"klaviyo": Recording()})
    try:
        assert c.send([track("x", mid="m1")]) == 1
        c.store.process(c.relay.processor)
        assert c.send([track("x", mid="pending")]) == 1  # acknowledged, not yet through the engine
        now = time.time()
        c.store.prune(now + DEDUP_SECONDS - 60)
        assert c.send([track("x", mid="m1")]) == 0  # six days and 23 hours on: still a repeat
        c.store.prune(now + DEDUP_SECONDS + 60)
        assert c.store.status(now)["inbox"]["pending"] == 1  # what waits for the engine is kept, however old
        assert c.send([track("x", mid="m1")]) == 1  # past the window: a new event
    finally:
        c.close()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_remembers_a_message_id_for_seven_days(tmp_path, redis_url):  # noqa: F811 (the fixture)
    from mailwright.signals.engine import DEDUP_SECONDS
    from tests.test_relay_redis import RedisCore

    c = RedisCore(tmp_path, {"klaviyo": Recording()}, redis_url)
    try:
        assert (c.send([track("x", mid="m1")]), c.send([track("x", mid="m1")])) == (1, 0)
        assert DEDUP_SECONDS - 5 <= c.store.r.ttl("mw:seen:m1") <= DEDUP_SECONDS
    finally:
        c.close()


def test_every_write_key_of_the_list_is_accepted_and_only_those():
    import base64

    from mailwright.signals.relay.ingest import authorised, write_keys

    keys = write_keys({"MAILWRIGHT_WRITE_KEYS": " first , second,third,"})
    assert keys == [b"first", b"second", b"third"]
    for k in ("first", "second", "third"):
        assert authorised("Basic " + base64.b64encode(f"{k}:".encode()).decode(), None, keys)
        assert authorised(None, k, keys)
    for header, body in [("Basic " + base64.b64encode(b"firs:").decode(), None), ("Basic ####", None),
                         ("Bearer first", None), ("Basic " + base64.b64encode(b":first").decode(), None),
                         (None, "fir"), (None, ["first"]), (None, ""), ("Basic w6k=", "first")]:
        assert not authorised(header, body, keys), (header, body)


def test_a_refused_batch_names_each_bad_message_not_only_the_first():
    from mailwright.signals.relay.ingest import Refused, parse

    batch = [track("ok"), {"type": "alias"}, track("ok"), {"event": "x"}] + [None] * 6
    with pytest.raises(Refused) as e:
        parse(json.dumps({"batch": batch}).encode(), None, time.time())
    assert e.value.reason == ("batch[1]: type must be one of track, identify, page; batch[3]: type must be one of "
                              "track, identify, page; batch[4]: not a JSON object; batch[5]: not a JSON object; "
                              "batch[6]: not a JSON object; and 3 more")
    assert e.value.status == 400


def test_no_credential_reaches_the_logs_metrics_or_store_even_when_the_esp_echoes_it(tmp_path):
    """The relay as users run it (`mailwright relay`, the real Klaviyo delivery) against an ESP that answers
    every request 400 echoing its headers and body: the dead letter's reason, the logs, /metrics, the store's
    files and `relay status` hold neither the API key nor the write key."""
    import os
    import subprocess
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from tests.test_relay_core import free_port

    secret, write_key = "pk_live_9e8d7c6b5a4f3e2d1c0b", "wk_live_0a1b2c3d4e5f"

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            detail = f"refused: {self.headers}{body}"
            out = json.dumps({"errors": [{"status": 400, "code": "invalid", "title": "Invalid", "detail": detail}]})
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(out.encode())

        def log_message(self, *a):
            pass

    esp = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Thread(target=esp.serve_forever, daemon=True).start()
    proj = make_project(tmp_path / "p")
    port = free_port()
    env = {**os.environ, "MAILWRIGHT_WRITE_KEYS": write_key, "KLAVIYO_API_KEY": secret,
           "KLAVIYO_BASE_URL": f"http://127.0.0.1:{esp.server_address[1]}", "MAILWRIGHT_RETRY_BACKOFF": "0"}
    log = tmp_path / "relay.log"
    relay = subprocess.Popen([sys.executable, "-m", "mailwright", "relay", str(proj), "--esp", "klaviyo", "--port",
                              str(port)], env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return requests.get(url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return relay.poll() is None and False
        wait_for(up, timeout=20, what="the relay")
        r = requests.post(url + "/v1/track", json={**track("product_viewed", mid="e1"), "writeKey": write_key},
                          timeout=5)
        assert r.status_code == 200
        wait_for(lambda: 'mailwright_relay_dead_letters{esp="klaviyo"} 1.0' in requests.get(url + "/metrics",
                                                                                              timeout=5).text)
        metrics = requests.get(url + "/metrics", timeout=5).text
    finally:
        relay.terminate()
        assert relay.wait(30) == 0
        esp.shutdown()
    status = subprocess.run([sys.executable, "-m", "mailwright", "relay", "status", str(proj), "--json"],
                            capture_output=True, text=True, timeout=30, env=env)
    assert json.loads(status.stdout)["esps"]["klaviyo"]["dead"] == 1
    stored = b"".join(p.read_bytes() for p in (proj / ".mailwright").glob("relay.sqlite3*"))
    assert b"refused:" in stored  # the ESP's reason is kept with the dead letter...
    said = log.read_text()
    assert '"event": "dead_letter"' in said
    for where, text in [("log", said), ("metrics", metrics), ("status", status.stdout + status.stderr),
                        ("store", stored.decode("utf-8", "replace"))]:
        for key in (secret, write_key):  # ...without the keys it echoed
            assert key not in text, (where, key)


def test_a_redis_that_never_answers_is_an_error_not_a_hang(tmp_path):
    """A paused or half-open Redis accepts the connection and says nothing: the relay gives up after its
    5 s socket timeout (an outage, or at start a located error) instead of hanging for good."""
    import subprocess
    import sys
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])  # kept open, never read or answered
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        proj = make_project(tmp_path / "p")
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "mailwright", "relay", "status", ".", "--store",
                            f"redis://127.0.0.1:{silent.getsockname()[1]}/0"],
                           capture_output=True, text=True, timeout=30, cwd=proj)
        assert r.returncode == 1 and "--store: error: cannot use Redis at redis://127.0.0.1:" in r.stderr, r.stderr
        assert time.monotonic() - started < 15
    finally:
        stop.set()
        for c in held:
            c.close()
        silent.close()


def test_a_gzip_bomb_is_refused_without_inflating_it():
    """The limit bounds what is unzipped, not only what is kept: 50 MB of zeros in 50 KB costs the relay
    about the limit in memory, never the 50 MB."""
    import gzip
    import tracemalloc

    from mailwright.signals.relay.app import _decoded
    from mailwright.signals.relay.ingest import MAX_BATCH, Refused

    bomb = gzip.compress(b"0" * 50_000_000, compresslevel=1)
    tracemalloc.start()
    try:
        with pytest.raises(Refused, match="larger than 500 KB"):
            _decoded(bomb, "gzip", MAX_BATCH)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_BATCH, f"{peak} bytes held to refuse a {len(bomb)}-byte body"
