"""kill -9 of the relay (a real subprocess) at random moments under load, then restart: every acknowledged
event reaches each ESP exactly once (the ESP stand-in keeps the first of each idempotency key, as Klaviyo
does), none is lost, and each profile's events arrive in order."""

from __future__ import annotations

import random
import threading
import time

import requests

from tests.test_relay_core import ESPS, Recorder, RelayProcess, make_project, track, wait_for


class Load:
    """Senders posting small batches as fast as they can; ``acked`` holds what was answered 200."""

    def __init__(self, url_of, senders: int = 3, profiles: int = 20, pause: float = 0.0):
        self.url_of, self.acked, self.stop, self.pause = url_of, [], threading.Event(), pause
        self.lock = threading.Lock()
        self.n = 0
        self.profiles = profiles
        self.threads = [threading.Thread(target=self.run, args=(s,), daemon=True) for s in range(senders)]
        for t in self.threads:
            t.start()

    def run(self, s: int) -> None:
        session = requests.Session()
        rnd = random.Random(s)
        while not self.stop.is_set():
            batch = []
            for _ in range(rnd.randint(1, 10)):
                with self.lock:
                    self.n += 1
                    mid = f"s{s}-{self.n}"
                batch.append(track("product_viewed", f"a{rnd.randrange(self.profiles)}", mid=mid,
                                   props={"seq": int(mid.split("-")[1])}))
            try:
                r = session.post(self.url_of() + "/v1/batch", json={"batch": batch}, auth=("wk_test_5f1e", ""),
                                 timeout=5)
            except requests.RequestException:
                time.sleep(0.02)  # the relay is down: nothing of this batch was acknowledged
                continue
            if r.status_code == 200:
                with self.lock:
                    self.acked += [m["messageId"] for m in batch]
            time.sleep(self.pause)  # bounded load: the test stays seconds long

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


def check_exactly_once(rec: Recorder, acked: list[str], sent: int, kills: int, esps=ESPS) -> None:
    for esp in esps:
        wait_for(lambda esp=esp: {i["id"].rsplit(":", 1)[0] for i in rec.accepted(esp)} >= set(acked),
                 timeout=30, what=f"every acknowledged event at {esp}")
        got = rec.accepted(esp)
        ids = [i["id"].rsplit(":", 1)[0] for i in got]
        assert len(got) <= sent  # nothing invented: at most what was sent (acknowledged or answer lost)
        assert all(i["id"].endswith(":" + esp) for i in got)
        # per profile and sender, events arrive in the order the sender sent them
        seen: dict[tuple[str, str], int] = {}
        for mid, item in zip(ids, got):
            key = (item["profile"], mid.split("-")[0])
            assert item["properties"]["seq"] > seen.get(key, 0), f"out of order at {esp}: {mid}"
            seen[key] = item["properties"]["seq"]
        # sent again after a kill (the outcome was not recorded yet): only what one batch holds per kill
        with rec.lock:
            again = sum(n - 1 for (e, _i), n in rec.raw.items() if e == esp)
        assert again <= kills * 100, again


def test_kill_9_under_load_sqlite_loses_nothing_and_duplicates_nothing(tmp_path):
    rec = Recorder()
    proj = make_project(tmp_path / "proj")
    store = f"sqlite:{tmp_path / 'relay.sqlite3'}"
    port_holder = {}
    relay = RelayProcess(tmp_path, proj, rec.url, store)
    port_holder["url"] = relay.url
    load = Load(lambda: port_holder["url"])
    rnd = random.Random(15)
    try:
        for _ in range(3):
            time.sleep(rnd.uniform(0.3, 1.0))
            relay.kill()
            relay = RelayProcess(tmp_path, proj, rec.url, store, port=relay.port)
        time.sleep(0.5)
    finally:
        load.finish()
    try:
        assert len(load.acked) > 200, "too little load to mean anything"
        check_exactly_once(rec, load.acked, load.n, kills=3)
        assert relay.stop() == 0
    finally:
        relay.stop()
        rec.close()
