"""The relay rides out a store outage: Redis stopped under a running relay with events in flight, then
started again; SQLite failing with a real 'database is locked'. Every acknowledged event is delivered
exactly once, /healthz says 503 while it lasts and 200 after. A failure that is no outage (a bug, a poison
event) still stops its loop."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import tempfile
import time

import pytest
import requests

from mailwright.signals.relay import runner
from mailwright.signals.relay.logs import Log
from mailwright.signals.relay.runner import store_outage
from tests.test_relay_core import Core, Recorder, Recording, RelayProcess, free_port, make_project, track, wait_for
from tests.test_relay_kill import Load, check_exactly_once

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


class RedisServer:
    """A real redis-server on a fixed port and directory, so that it can be stopped and started again
    with its append-only file (every acknowledged write fsynced)."""

    def __init__(self, tmp):
        self.port, self.dir = free_port(), tmp
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.pings, timeout=10, what="redis-server")

    def pings(self) -> bool:
        import redis

        try:
            with redis.Redis(port=self.port) as r:
                return bool(r.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def healthz(relay: RelayProcess) -> int:
    return requests.get(relay.url + "/healthz", timeout=5).status_code


@needs_redis
def test_redis_stopped_and_started_under_a_running_relay_delivers_every_acknowledged_event_once(tmp_path):
    server = RedisServer(tmp_path)
    rec = Recorder()
    relay = RelayProcess(tmp_path, make_project(tmp_path / "proj"), rec.url, server.url)
    load = Load(lambda: relay.url, pause=0.05)
    try:
        wait_for(lambda: len(load.acked) > 50, timeout=10, what="events acknowledged")
        # each ESP's loop is then in a request that ends during the outage: its outcomes must be
        # recorded once Redis is back, not lost (the items would be sent again)
        rec.delay = 0.5
        time.sleep(0.6)
        server.stop()
        wait_for(lambda: healthz(relay) == 503, timeout=5, what="/healthz 503 during the outage")
        time.sleep(1.0)
        assert healthz(relay) == 503
        down = requests.get(relay.url + "/metrics", timeout=10)  # what operators look at, most of all now
        assert down.status_code == 200 and "mailwright_relay_store_up 0.0" in down.text, down.text[-500:]
        server.start()
        rec.delay = 0.0  # the backlog drains in a second or two
        wait_for(lambda: healthz(relay) == 200, timeout=10, what="/healthz 200 once Redis is back")
        time.sleep(0.3)  # events acknowledged after the outage go through too
    finally:
        load.finish()
    try:
        assert len(load.acked) > 50
        check_exactly_once(rec, load.acked, load.n, kills=0)  # kills=0: nothing was sent twice
        logs = [json.loads(line) for line in relay.log().splitlines() if line.startswith("{")]
        events = [e["event"] for e in logs]
        assert events.count("store_outage") == 1 and events.count("store_back") == 1
        assert next(e for e in logs if e["event"] == "store_back")["seconds"] >= 1.0  # from its start
        assert "loop_failed" not in events and "Traceback" not in relay.log()
        assert healthz(relay) == 200
        assert "mailwright_relay_store_up 1.0" in requests.get(relay.url + "/metrics", timeout=5).text
    finally:
        relay.stop()
        rec.close()
        server.stop()


def _locked() -> sqlite3.OperationalError:
    """A real 'database is locked' from SQLite: one connection holds the write lock, another asks for it."""
    with tempfile.TemporaryDirectory() as d:
        a = sqlite3.connect(f"{d}/x.db", isolation_level=None)
        b = sqlite3.connect(f"{d}/x.db", isolation_level=None, timeout=0)
        a.execute("BEGIN EXCLUSIVE")
        try:
            b.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as e:
            return e
        finally:
            a.close()
            b.close()
    raise AssertionError("SQLite did not refuse the second writer")


def test_what_counts_as_a_store_outage():
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    with pytest.raises(redis.ConnectionError) as refused:
        redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0)).ping()
    assert store_outage(refused.value)
    assert store_outage(redis.BusyLoadingError("Redis is loading the dataset in memory"))
    assert store_outage(redis.TimeoutError("Timeout reading from socket"))
    assert store_outage(_locked())
    with pytest.raises(sqlite3.OperationalError) as syntax:
        sqlite3.connect(":memory:").execute("SELEC 1")
    assert not store_outage(syntax.value)  # a bug, not an outage
    assert not store_outage(sqlite3.OperationalError("database is locked"))  # no result code: not from SQLite
    assert not store_outage(redis.ResponseError("ERR wrong number of arguments"))
    assert not store_outage(ValueError("a poison event"))
    try:  # a ROLLBACK failing after the outage: the outage counts
        try:
            raise _locked()
        except sqlite3.OperationalError:
            raise sqlite3.OperationalError("cannot rollback - no transaction is active") from None
    except sqlite3.OperationalError as e:
        assert e.__context__ is not None and store_outage(e)


class Flaky:
    """Wraps a store method: the first ``n`` calls fail with ``error`` (after doing nothing)."""

    def __init__(self, method, error: BaseException, n: int):
        self.method, self.error, self.n, self.calls = method, error, n, 0

    def __call__(self, *a, **kw):
        self.calls += 1
        if self.calls <= self.n:
            raise self.error
        return self.method(*a, **kw)


def _core(tmp_path, delivery) -> tuple[Core, io.StringIO]:
    c = Core(tmp_path, {"klaviyo": delivery})
    out = io.StringIO()
    c.relay.log = Log(out)
    return c, out


def test_sqlite_locked_at_settle_is_waited_out_and_the_outcome_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "OUTAGE_MAX", 0.2)
    k = Recording()
    c, out = _core(tmp_path, k)
    settle = c.store.settle = Flaky(c.store.settle, _locked(), 4)
    try:
        c.send([track("product_viewed", "a1", mid="m1"), track("product_viewed", "a2", mid="m2")])
        c.relay.start()
        wait_for(lambda: settle.calls >= 2, timeout=5, what="a settle met by the outage")
        assert not c.relay.healthy
        wait_for(lambda: settle.calls > 4 and c.relay.healthy, timeout=5, what="healthy again")
        wait_for(lambda: "klaviyo" not in c.store.status(time.time())["esps"], timeout=5, what="the outbox empty")
        c.relay.stop()
        assert sorted(i.id for i in k.got) == ["m1:klaviyo", "m2:klaviyo"]  # each sent once: the outcome was kept
        events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
        assert events == ["store_outage", "store_back"]
        assert c.relay.failed is None
    finally:
        c.relay.stop()
        c.close()


def test_a_failure_that_is_no_outage_stops_the_loop_for_good(tmp_path):
    k = Recording()
    c, out = _core(tmp_path, k)
    process = c.store.process = Flaky(c.store.process, ValueError("a poison event"), 1_000)
    try:
        c.send([track("product_viewed", "a1", mid="m1")])
        c.relay.start()
        wait_for(lambda: c.relay.failed is not None, timeout=5, what="the engine loop to fail")
        time.sleep(0.3)
        assert process.calls == 1  # not retried
        assert isinstance(c.relay.failed, ValueError) and not c.relay.healthy
        assert k.got == []
        logs = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [e["event"] for e in logs] == ["loop_failed"] and logs[0]["loop"] == "relay-engine"
    finally:
        c.relay.stop()
        c.close()


def test_stop_during_an_outage_returns_promptly_and_keeps_the_work(tmp_path):
    k = Recording()
    c, _out = _core(tmp_path, k)
    flaky = c.store.process = Flaky(c.store.process, _locked(), 1_000)
    try:
        c.send([track("product_viewed", "a1", mid="m1")])
        c.relay.start()
        wait_for(lambda: not c.relay.healthy, timeout=5, what="the outage")
        t0 = time.time()
        c.relay.stop()
        assert time.time() - t0 < 2 and c.relay.failed is None
        assert c.store.status(time.time())["inbox"]["pending"] == 1
        flaky.n = 0  # the store is back by the next start
        c.drain(lambda: len(k.got) == 1 and c.relay.healthy)
    finally:
        c.relay.stop()
        c.close()
