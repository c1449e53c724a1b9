"""The scale-out store: Redis Streams with consumer groups for the work, hashes for profile state.

Ordering and sharing (docs/relay.md):

* an event goes to one of ``SHARDS`` inbox streams by a hash of its anonymousId (else userId), so one
  visitor's events share a stream and keep their order;
* a relay process works a shard only while it holds the shard's lease (``SET NX PX``, renewed each
  second, expiring after ``LEASE_MS``, or ``MAILWRIGHT_RELAY_LEASE_MS``: how soon a dead relay's shards
  are taken over); processes take free shards up to their fair share
  (shards / live processes) and give back extras, so N processes split the shards;
* a shard's events are read with ``XREADGROUP``; a new owner first takes what a dead worker held with
  ``XAUTOCLAIM``. Applying an event (profile hashes, aliases, outbox entries, timer, ``XACK`` +
  ``XDEL`` of the inbox entry) is one ``MULTI``/``EXEC`` under ``WATCH`` of the lease, the aliases and
  the profiles it touches: a crash leaves it wholly applied or not at all, a lost lease or a
  concurrent change to the same profile (an identity merge across shards) makes it start again;
* the outbox is a stream per ESP and shard, delivered by the shard's owner in order; retry times and
  attempts live in a hash beside it, dead letters in a hash per ESP.

Durability: run Redis with ``appendonly yes`` and ``appendfsync always`` so an acknowledged event
survives a crash of Redis itself (the relay answers 200 once Redis has answered the write).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time
import uuid
from typing import Any

import redis
import redis.asyncio as aioredis

from ..engine import DEDUP_SECONDS, from_segment
from .delivery import outage
from .ingest import Message
from .model import Dead, Delivered, OutboxItem, Outcome, Retry
from .process import Processor, Record, View, aliases_of, item_from_json, item_to_json, order_keys
from .store import Settled, complete

SHARDS = 16
LEASE_MS = 10_000
GROUP = "relay"
P = "mw:"

_APPEND = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'm', ARGV[2], 'r', ARGV[3])
  return 1
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# No command of the relay blocks on the server, so one unanswered for 5 s means a Redis that hangs (a paused VM,
# a half-open connection): it raises redis.TimeoutError, an outage the runner waits out, instead of holding a loop
# for good. The URL's own ?socket_timeout=... wins (redis-py reads the query string over these).
CLIENT = {"decode_responses": True, "socket_timeout": 5.0, "socket_connect_timeout": 5.0}


def shard_of(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % SHARDS


class RedisStore:
    def __init__(self, url: str, lease_ms: int = LEASE_MS):
        self.url, self.lease_ms = url, lease_ms
        self.r = redis.Redis.from_url(url, **CLIENT)
        self.wake = threading.Event()
        self.me = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.owned: set[int] = set()
        self._claimed: set[int] = set()  # shards whose dead workers' entries this process has taken over
        self._clean: set[int] = set()  # shards with nothing held: read new entries only
        self._leaving: set[int] = set()  # shards being given back: no new batch is claimed from them
        self._handover = threading.Lock()  # a claim and a give-back never interleave
        self._aio: Any = None
        self._aio_loop: Any = None
        self._append = self.r.register_script(_APPEND)
        self._renew = self.r.register_script(_RENEW)
        self._release = self.r.register_script(_RELEASE)
        # (esp, item id) -> (shard, outbox entry id, received): what claim handed out, for settle
        self._entries: dict[tuple[str, str], tuple[int, str, float]] = {}
        self._last_lease = 0.0
        for k in range(SHARDS):
            try:
                self.r.xgroup_create(f"{P}in:{k}", GROUP, id="0", mkstream=True)
            except redis.ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

    # ------------------------------------------------------------ ingest

    async def append(self, msgs: list[Message]) -> int:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio_loop is not loop:  # a client serves the loop it was made in
            self._aio, self._aio_loop = aioredis.Redis.from_url(self.url, **CLIENT), loop
            self._aio_append = self._aio.register_script(_APPEND)
        now = repr(time.time())
        async with self._aio.pipeline(transaction=False) as pipe:
            for m in msgs:
                await self._aio_append(keys=[f"{P}seen:{m.id}", f"{P}in:{shard_of(m.shard_key)}"],
                                       args=[DEDUP_SECONDS, json.dumps(m.body, separators=(",", ":")), now],
                                       client=pipe)
            results = await pipe.execute()
        return sum(int(x) for x in results)

    # ------------------------------------------------------------ shards

    def leases(self, now: float) -> set[int]:
        """Renew the shards held, give back extras, take free ones up to a fair share."""
        if now - self._last_lease < 1.0:
            return self.owned
        self._last_lease = now
        r = self.r
        r.zadd(f"{P}members", {self.me: now})
        r.zremrangebyscore(f"{P}members", "-inf", now - self.lease_ms / 1000)  # gone as its leases expire
        fair = -(-SHARDS // max(1, r.zcard(f"{P}members")))
        for k in sorted(self.owned):
            if not self._renew(keys=[f"{P}lease:{k}"], args=[self.me, self.lease_ms]):
                self._drop(k)
        # extras go back, but never while a batch of their items is at an ESP without an outcome: the
        # next owner would send it again. Until then they are renewed and no new batch is claimed from them.
        with self._handover:
            self._leaving = set(sorted(self.owned, reverse=True)[:max(0, len(self.owned) - fair)])
            busy = {shard for shard, _eid, _r in list(self._entries.values())}  # settle pops without the lock
            for k in sorted(self._leaving - busy):
                self._release(keys=[f"{P}lease:{k}"], args=[self.me])
                self._drop(k)
        for k in range(SHARDS):
            if len(self.owned) >= fair:
                break
            if k not in self.owned and r.set(f"{P}lease:{k}", self.me, nx=True, px=self.lease_ms):
                self.owned.add(k)
        return self.owned

    def _drop(self, k: int) -> None:
        self.owned.discard(k)
        self._leaving.discard(k)
        self._claimed.discard(k)
        self._clean.discard(k)

    def _held(self, k: int, limit: int) -> list[tuple[str, dict]]:
        """What this process must finish first on shard ``k``: what a dead worker held (``XAUTOCLAIM``,
        once per taking over), then what was delivered to this consumer and not acknowledged."""
        stream = f"{P}in:{k}"
        if k not in self._claimed:
            start = "0-0"
            while True:
                res = self.r.xautoclaim(stream, GROUP, self.me, 0, start, count=500)
                start = res[0]
                if start == "0-0":
                    break
            self._claimed.add(k)
        got = self.r.xreadgroup(GROUP, self.me, {stream: "0"}, count=limit)
        return [(eid, f) for eid, f in (got[0][1] if got else []) if f]

    def process(self, processor: Processor, limit: int = 200) -> int:
        try:
            return self._process(processor, limit)
        except BaseException:
            # entries read before the failure (an outage mid-batch) are held by this consumer unapplied:
            # the next call reads what is held first
            self._clean.clear()
            raise

    def _process(self, processor: Processor, limit: int) -> int:
        owned = sorted(self.leases(time.time()))
        n = 0
        for k in owned:
            if k in self._clean:
                continue
            held = self._held(k, limit)
            for eid, fields in held:
                self._apply(processor, k, eid, fields)
            n += len(held)
            if not held:
                self._clean.add(k)
        if n or not owned:
            return n
        streams = {f"{P}in:{k}": ">" for k in owned if k in self._clean}
        for stream, entries in self.r.xreadgroup(GROUP, self.me, streams, count=limit) or []:
            k = int(stream.rsplit(":", 1)[1])
            for eid, fields in entries:
                self._apply(processor, k, eid, fields)
                n += 1
        return n

    def _apply(self, processor: Processor, k: int, eid: str, fields: dict) -> None:
        ev, _why = from_segment(json.loads(fields["m"]))
        received = float(fields["r"])
        lease = f"{P}lease:{k}"
        while True:
            with self.r.pipeline() as pipe:
                try:
                    aliases = aliases_of(ev["ids"]) if ev else []
                    pipe.watch(lease, *(f"{P}a:{a}" for a in aliases))
                    if pipe.get(lease) != self.me:
                        pipe.unwatch()
                        return  # the lease is gone: the new owner takes this entry
                    view = View({}, {})
                    keys = [pipe.get(f"{P}a:{a}") for a in aliases]
                    for key in dict.fromkeys(x for x in keys if x):
                        pipe.watch(f"{P}p:{key}")
                        rec = self._record(pipe, key)
                        if rec is not None:
                            view.records[key] = rec
                            for x in rec.aliases:
                                view.index[x] = key
                    items = processor.apply(view, ev, _mid(fields)) if ev else []
                    pipe.multi()
                    if ev:
                        self._save(pipe, processor, view, k)
                        self._enqueue(pipe, items, k, received)
                    pipe.xack(f"{P}in:{k}", GROUP, eid)
                    pipe.xdel(f"{P}in:{k}", eid)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def fire_timers(self, processor: Processor, now: float, limit: int = 200) -> int:
        n = 0
        for k in sorted(self.owned):
            for key in self.r.zrangebyscore(f"{P}t:{k}", "-inf", now, start=0, num=limit):
                self._timer(processor, k, key, now)
                n += 1
        return n

    def _timer(self, processor: Processor, k: int, key: str, now: float) -> None:
        lease = f"{P}lease:{k}"
        while True:
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(lease, f"{P}p:{key}")
                    if pipe.get(lease) != self.me:
                        pipe.unwatch()
                        return
                    rec = self._record(pipe, key)
                    pipe.multi()
                    if rec is None:  # merged into another profile since
                        pipe.zrem(f"{P}t:{k}", key)
                    else:
                        items = processor.advance(key, rec, now)
                        self._save(pipe, processor, View({}, {key: rec}), k)
                        self._enqueue(pipe, items, k, now)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    @staticmethod
    def _record(r: Any, key: str) -> Record | None:
        h = r.hgetall(f"{P}p:{key}")
        return Record(json.loads(h["state"]), json.loads(h["aliases"])) if h else None

    def _save(self, pipe: Any, processor: Processor, view: View, k: int) -> None:
        for key in view.dropped:
            pipe.delete(f"{P}p:{key}")
        for key, rec in view.records.items():
            pipe.hset(f"{P}p:{key}", mapping={"state": json.dumps(rec.state, separators=(",", ":")),
                                              "aliases": json.dumps(rec.aliases)})
            due = processor.engine.next_due(rec.state)
            if due is None:
                pipe.zrem(f"{P}t:{k}", key)
            else:
                pipe.zadd(f"{P}t:{k}", {key: due})
        for a, key in view.index.items():
            pipe.set(f"{P}a:{a}", key)

    def _enqueue(self, pipe: Any, items: list[OutboxItem], k: int, received: float) -> None:
        for it in items:
            pipe.xadd(f"{P}out:{it.esp}:{k}", {"i": json.dumps(item_to_json(it), separators=(",", ":")),
                                               "r": repr(received)})

    # ------------------------------------------------------------ delivery

    def claim(self, esp: str, now: float, limit: int = 100) -> list[OutboxItem]:
        with self._handover:
            return self._claim(esp, now, limit)

    def _secure(self, shards: list[int]) -> list[int]:
        """The shards still leased to this relay for at least half a lease. A relay starved of CPU may not
        have renewed in time, and another may hold the shard already: sending its items would send them
        twice (measured: 8% of the events on the shared 2-core machine with 2-second leases)."""
        if not shards:
            return []
        with self.r.pipeline(transaction=False) as pipe:
            for k in shards:
                pipe.get(f"{P}lease:{k}")
                pipe.pttl(f"{P}lease:{k}")
            got = pipe.execute()
        return [k for i, k in enumerate(shards) if got[2 * i] == self.me and got[2 * i + 1] >= self.lease_ms / 2]

    def release(self, esp: str, items: list[OutboxItem]) -> None:
        for it in items:
            self._entries.pop((esp, it.id), None)

    def _claim(self, esp: str, now: float, limit: int) -> list[OutboxItem]:
        out: list[OutboxItem] = []
        for k in self._secure(sorted(self.owned - self._leaving)):
            stream, state = f"{P}out:{esp}:{k}", f"{P}os:{esp}:{k}"
            entries = self.r.xrange(stream, count=limit * 3)
            if not entries:
                continue
            states = self.r.hmget(state, [eid for eid, _ in entries])
            blocked: set[str] = set()
            for (eid, f), st in zip(entries, states):
                d = json.loads(f["i"])
                keys = order_keys(d)
                if blocked.intersection(keys):
                    continue
                blocked.update(keys)  # one item per profile per batch, in order
                s = json.loads(st) if st else {"attempts": 0, "due": 0}
                if s["due"] > now:
                    continue
                item = item_from_json(d, max(s["attempts"], 1 if s.get("tried") else 0))
                self._entries[(esp, item.id)] = (k, eid, float(f["r"]))
                out.append(item)
                if len(out) >= limit:
                    return out
        return out

    def tried(self, esp: str, items: list[OutboxItem]) -> None:
        with self.r.pipeline() as pipe:
            for it in items:
                if it.attempts == 0:
                    k, eid, _received = self._entries[(esp, it.id)]
                    pipe.hset(f"{P}os:{esp}:{k}", eid, json.dumps({"attempts": 0, "due": 0, "tried": True}))
            pipe.execute()

    def settle(self, esp: str, items: list[OutboxItem], outcomes: list[Outcome], now: float) -> Settled:
        res = Settled()
        by_id = complete(items, outcomes)
        with self.r.pipeline() as pipe:
            for it in items:
                k, eid, received = self._entries[(esp, it.id)]  # kept until written: a settle can be retried
                stream, state = f"{P}out:{esp}:{k}", f"{P}os:{esp}:{k}"
                o = by_id[it.id]
                if isinstance(o, Delivered):
                    pipe.xdel(stream, eid)
                    pipe.hdel(state, eid)
                    res.delivered.append(max(0.0, now - received))
                elif isinstance(o, Retry):
                    pipe.hset(state, eid, json.dumps({"attempts": it.attempts + 1, "due": now + max(0.0, o.after),
                                                      "reason": o.reason}))
                    res.retries.append(o.reason)
                elif isinstance(o, Dead):
                    pipe.hset(f"{P}dead:{esp}", it.id, json.dumps({"item": item_to_json(it), "shard": k,
                                                                   "reason": o.reason, "at": now,
                                                                   "attempts": it.attempts + 1}))
                    pipe.xdel(stream, eid)
                    pipe.hdel(state, eid)
                    res.dead.append(o.reason)
            pipe.execute()
        for it in items:
            self._entries.pop((esp, it.id), None)
        return res

    def resume(self, esp: str, now: float) -> int:
        n = 0
        for k in self._secure(sorted(self.owned)):  # a shard another relay holds now is its to write
            state = f"{P}os:{esp}:{k}"
            waiting = {eid: json.loads(raw) for eid, raw in self.r.hgetall(state).items()}
            # called from this ESP's delivery loop, the only writer of its shards' states here
            due = {eid: json.dumps({**s, "due": now}) for eid, s in waiting.items()
                   if s["due"] > now and outage(s.get("reason") or "")}
            if due:
                self.r.hset(state, mapping=due)  # one write per shard, not one per item
            n += len(due)
        return n

    # ------------------------------------------------------------ operations

    def status(self, now: float) -> dict[str, Any]:
        r = self.r
        inbox, oldest_in = 0, None
        esps: dict[str, dict] = {}
        for k in range(SHARDS):
            inbox += r.xlen(f"{P}in:{k}")
            first = r.xrange(f"{P}in:{k}", count=1)
            if first:
                t = float(first[0][1]["r"])
                oldest_in = t if oldest_in is None else min(oldest_in, t)
        for stream in r.scan_iter(f"{P}out:*", count=1000):
            esp = stream.split(":")[2]
            e = esps.setdefault(esp, {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 0})
            e["pending"] += r.xlen(stream)
            first = r.xrange(stream, count=1)
            if first:
                e["oldest_pending_seconds"] = max(e["oldest_pending_seconds"],
                                                  round(max(0.0, now - float(first[0][1]["r"])), 3))
        for key in r.scan_iter(f"{P}dead:*", count=1000):
            esps.setdefault(key.split(":")[2], {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 0})[
                "dead"] = r.hlen(key)
        esps = {e: v for e, v in esps.items() if v["pending"] or v["dead"]}
        timers = sum(r.zcard(f"{P}t:{k}") for k in range(SHARDS))
        return {"inbox": {"pending": inbox, "oldest_pending_seconds":
                          round(max(0.0, now - oldest_in), 3) if oldest_in else 0.0},
                "timers": timers, "esps": dict(sorted(esps.items()))}

    def dead_letters(self, esps: list[str] | None) -> list[dict]:
        out = []
        for key in self.r.scan_iter(f"{P}dead:*", count=1000):
            esp = key.split(":")[2]
            if esps is None or esp in esps:
                for i, raw in self.r.hgetall(key).items():
                    d = json.loads(raw)
                    out.append({"id": i, "esp": esp, "reason": d["reason"], "attempts": d["attempts"], "at": d["at"]})
        return sorted(out, key=lambda d: d["at"])

    def retry_dead(self, esps: list[str] | None, dry_run: bool) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in list(self.r.scan_iter(f"{P}dead:*", count=1000)):
            esp = key.split(":")[2]
            if esps is not None and esp not in esps:
                continue
            letters = self.r.hgetall(key)
            counts[esp] = len(letters)
            if dry_run or not letters:
                continue
            now = repr(time.time())
            with self.r.pipeline() as pipe:  # MULTI: re-queued and removed together
                for i, raw in sorted(letters.items(), key=lambda x: json.loads(x[1])["at"]):
                    d = json.loads(raw)
                    pipe.xadd(f"{P}out:{esp}:{d['shard']}", {"i": json.dumps(d["item"]), "r": now})
                    pipe.hdel(key, i)
                pipe.execute()
        return counts

    def close(self) -> None:
        for k in list(self.owned):
            try:
                self._release(keys=[f"{P}lease:{k}"], args=[self.me])
            except redis.RedisError:
                pass
        try:
            self.r.zrem(f"{P}members", self.me)
        except redis.RedisError:
            pass
        self.owned.clear()
        self.r.close()


def _mid(fields: dict) -> str:
    return json.loads(fields["m"])["messageId"]
