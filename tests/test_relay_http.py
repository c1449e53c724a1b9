"""The relay as a real subprocess (uvicorn serving the Starlette app): Segment's API, auth, refusals,
/healthz, /metrics, structured logs, graceful drain, and `mailwright relay status|retry`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.test_relay_core import WRITE_KEY, make_project, sqlite_relay, track, wait_for


@pytest.fixture
def relay(tmp_path):
    yield from sqlite_relay(tmp_path)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mailwright", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def test_track_identify_page_batch_reach_each_esp_with_score(relay):
    t = time.time()
    assert relay.post("/v1/identify", {"anonymousId": "a1", "userId": "u1", "messageId": "i1",
                                       "traits": {"email": "ada@example.com"}}).json() == {"success": True}
    assert relay.post("/v1/page", {"anonymousId": "a1", "messageId": "p1", "name": "Home",
                                   "context": {"page": {"url": "https://s.test/"}}}).status_code == 200
    assert relay.post("/v1/track", {**track("product_viewed", "a1", t=t), "messageId": "t1"}).status_code == 200
    r = relay.post("/v1/batch", {"batch": [track("cart_updated", "a1", props={"cart_value": 50}, mid="b1"),
                                           {**track("product_viewed", "a1"), "messageId": "t1"}]})
    assert r.status_code == 200
    for esp in ("klaviyo", "hubspot"):
        wait_for(lambda esp=esp: len(relay.recorder.accepted(esp)) == 3, what=f"3 items at {esp}")
        got = relay.recorder.accepted(esp)
        assert [i["event"] for i in got] == ["page_visit", "product_viewed", "cart_updated"]
        assert got[0]["properties"]["url"] == "https://s.test/"
        assert got[2]["properties"]["intent_score"] == 35 and got[2]["properties"]["cart_value"] == 50
        assert got[2]["identity"] == ["u1", "a1", "ada@example.com"] and got[2]["profile"] == "u1"
    time.sleep(0.2)
    assert max(relay.recorder.raw.values()) == 1  # the repeated messageId t1 was never delivered again


BAD = [
    ("/v1/track", track("x"), "wrong_key", 401, "unknown write key"),
    ("/v1/track", track("x"), None, 401, "unknown write key"),
    ("/v1/track", b"{not json", WRITE_KEY, 400, "the body is not JSON"),
    ("/v1/track", b"[1]", WRITE_KEY, 400, "the body is not a JSON object"),
    ("/v1/track", {"type": "track", "anonymousId": "a"}, WRITE_KEY, 400, "no event name"),
    ("/v1/track", {"event": "x", "properties": {}}, WRITE_KEY, 400, "no identity (userId or anonymousId)"),
    ("/v1/track", {**track("x"), "timestamp": "yesterday"}, WRITE_KEY, 400, "timestamp 'yesterday' is not ISO 8601"),
    ("/v1/track", {**track("x"), "messageId": 7}, WRITE_KEY, 400, "messageId must be a non-empty string"),
    ("/v1/identify", track("x"), WRITE_KEY, 400, "type 'track' sent to /v1/identify"),
    ("/v1/batch", {"batch": []}, WRITE_KEY, 400, "a batch needs a non-empty 'batch' list"),
    ("/v1/batch", {"batch": [track("x"), {"type": "alias"}]}, WRITE_KEY, 400, "batch[1]: type must be one of"),
    ("/v1/track", {**track("x"), "properties": {"p": "x" * 33000}}, WRITE_KEY, 400, "larger than 32 KB"),
    ("/v1/batch", {"batch": [{**track("x"), "properties": {"p": "x" * 30000}}] * 20}, WRITE_KEY, 400,
     "larger than 500 KB"),
    ("/v1/batch", {"batch": [track("x"), {**track("y"), "properties": {"p": "x" * 33000}}]}, WRITE_KEY, 400,
     "batch[1]: the event is larger than 32 KB"),
]


def test_bad_requests_are_refused_with_a_reason_counted_and_never_delivered(relay):
    for n, (path, body, key, status, reason) in enumerate(BAD):
        r = relay.post(path, body, key=key)
        assert (r.status_code, reason in r.json()["error"]) == (status, True), (path, reason, r.text)
        assert relay.post("/v1/track", track("after", mid=f"ok{n}")).status_code == 200  # still running
    wait_for(lambda: len(relay.recorder.accepted("klaviyo")) == len(BAD))
    assert {i["event"] for i in relay.recorder.accepted("klaviyo")} == {"after"}
    metrics = relay_get(relay, "/metrics")
    assert 'mailwright_relay_requests_rejected_total{reason="malformed"} 9.0' in metrics
    assert 'mailwright_relay_requests_rejected_total{reason="unauthorised"} 2.0' in metrics
    assert 'mailwright_relay_requests_rejected_total{reason="too_large"} 3.0' in metrics
    assert WRITE_KEY not in relay.log() and "wrong_key" not in relay.log()


def relay_get(relay, path):
    import requests

    return requests.get(relay.url + path, timeout=5).text


def test_unknown_endpoint_and_write_key_in_body(relay):
    import requests

    assert requests.post(relay.url + "/v1/alias", data=b"{}", timeout=5).status_code == 404
    r = requests.post(relay.url + "/v1/track", data=json.dumps({**track("x", mid="wk"), "writeKey": WRITE_KEY}),
                      timeout=5)
    assert r.status_code == 200


def test_metrics_health_logs_and_graceful_drain(relay):
    for i in range(20):
        assert relay.post("/v1/track", track("product_viewed", f"a{i % 3}", mid=f"m{i}")).status_code == 200
    wait_for(lambda: len(relay.recorder.accepted("hubspot")) == 20)
    assert json.loads(relay_get(relay, "/healthz")) == {"ok": True}
    m = relay_get(relay, "/metrics")
    assert "mailwright_relay_events_ingested_total 20.0" in m
    assert 'mailwright_relay_sends_total{esp="hubspot"} 20.0' in m
    assert 'mailwright_relay_queue_depth{queue="inbox"}' in m
    assert "mailwright_relay_ingest_seconds_bucket" in m and "mailwright_relay_end_to_end_seconds_bucket" in m
    assert relay.stop(signal.SIGTERM) == 0
    lines = [json.loads(x) for x in relay.log().splitlines() if x.startswith("{")]
    events = [x["event"] for x in lines]
    assert events[0] == "relay_listening" and "relay_started" in events and events[-1] == "relay_stopped"


def test_status_and_retry_commands(relay, tmp_path):
    relay.post("/v1/track", track("product_viewed", mid="s1"))
    wait_for(lambda: len(relay.recorder.accepted("klaviyo")) == 1)
    relay.stop()
    r = _cli("relay", "status", str(relay.project), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["inbox"]["pending"] == 0
    assert s["esps"]["klaviyo"] == {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 0}
    r = _cli("relay", "retry", str(relay.project), "--esp", "hubspot", "--dry-run")
    assert r.returncode == 0 and r.stdout.strip() == "hubspot: would re-queue 0 dead letter(s)"
    r = _cli("relay", "status", str(relay.project), "--esp", "mailchimp")
    assert r.returncode == 2 and "not one of the project's ESPs" in r.stderr
    r = _cli("relay", "status", str(relay.project), "--store", "sqlite:nowhere.db")
    assert r.returncode == 1 and "error: no relay store here" in r.stderr and "Traceback" not in r.stderr


def test_relay_without_write_keys_is_a_located_error(tmp_path):
    import os

    proj = make_project(tmp_path / "p")
    env = {k: v for k, v in os.environ.items() if k != "MAILWRIGHT_WRITE_KEYS"}
    r = _cli("relay", str(proj), "--esp", "klaviyo", env=env)
    assert r.returncode == 1 and r.stderr.startswith("MAILWRIGHT_WRITE_KEYS: error: set MAILWRIGHT_WRITE_KEYS")


def test_garbage_never_crashes_it(relay):
    import random

    import requests

    rnd = random.Random(7)
    shapes = [None, True, 1e308, "x", [], {}, {"batch": "no"}, {"batch": [None]}, {"type": "track", "event": {}},
              {"event": "x", "anonymousId": ["a"]}, {"event": "x", "userId": True, "anonymousId": ""},
              {"batch": [{"type": "page", "anonymousId": "a", "properties": []}]}, {"event": "x" * 10, "a": [[[[]]]]}]
    for i in range(120):
        path = rnd.choice(["/v1/track", "/v1/page", "/v1/identify", "/v1/batch"])
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(200))) if i % 2 else json.dumps(
            rnd.choice(shapes)).encode()
        r = relay.post(path, body)
        assert r.status_code in (200, 400), (path, body, r.text)
    r = requests.post(relay.url + "/v1/batch", data=b"[" * 100000, auth=(WRITE_KEY, ""), timeout=10)
    assert r.status_code == 400
    assert json.loads(relay_get(relay, "/healthz")) == {"ok": True}
    assert relay.post("/v1/track", track("still", mid="still")).status_code == 200
    wait_for(lambda: any(i["event"] == "still" for i in relay.recorder.accepted("klaviyo")))
    assert "Traceback" not in relay.log()
