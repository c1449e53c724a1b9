"""The embedded store: one SQLite file in WAL mode holding the inbox, profiles, outbox, timers and dead letters.

* ``append`` is a group commit: a writer thread takes every request waiting, inserts them in one
  transaction with ``synchronous=FULL`` and answers them all once the commit is on disk.
* ``process`` applies inbox rows in arrival order; the profile states, aliases, outbox items, the
  profile's next timer and the inbox row's ``done`` flag change in one transaction, so a crash
  leaves an event either wholly applied or not at all.
* the outbox is ordered by ``seq``; ``claim`` offers at most one item per profile in a batch and never
  a profile's item while an earlier item of that profile waits for a retry.
"""

from __future__ import annotations

import json
import queue
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ..engine import DEDUP_SECONDS, from_segment
from .delivery import outage
from .ingest import Message
from .model import Dead, Delivered, OutboxItem, Outcome, Retry
from .process import Processor, Record, View, aliases_of, item_from_json, item_to_json, order_keys
from .store import Future, Settled, complete

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY, mid TEXT NOT NULL UNIQUE, received REAL NOT NULL,
                                  body TEXT, done INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS inbox_todo ON inbox(seq) WHERE done = 0;
CREATE INDEX IF NOT EXISTS inbox_age ON inbox(received);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, profile TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profiles (key TEXT PRIMARY KEY, record TEXT NOT NULL, due REAL);
CREATE INDEX IF NOT EXISTS profiles_due ON profiles(due) WHERE due IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, esp TEXT NOT NULL,
                                   profile TEXT NOT NULL, item TEXT NOT NULL, attempts INTEGER NOT NULL,
                                   due REAL NOT NULL, received REAL NOT NULL, reason TEXT,
                                   tried INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS outbox_esp ON outbox(esp, seq);
CREATE TABLE IF NOT EXISTS dead (id TEXT PRIMARY KEY, esp TEXT NOT NULL, profile TEXT NOT NULL, item TEXT NOT NULL,
                                 attempts INTEGER NOT NULL, reason TEXT NOT NULL, at REAL NOT NULL);
"""


TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))


def _ours(path: Path) -> None:
    """A database that holds tables, none of them the relay's, is another program's: it is neither given the
    relay's tables nor switched to WAL (read-only look first)."""
    con = sqlite3.connect(f"{path.resolve().as_uri().replace('file://', 'file:', 1)}?mode=ro", uri=True)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        con.close()
    if names and not names & TABLES:
        raise sqlite3.DatabaseError(f"it holds another program's tables ({', '.join(sorted(names)[:5])}), "
                                    "not the relay's: give --store a file of its own")


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=30000")
    return db


class SQLiteStore:
    def __init__(self, path: Path, engine_due: Any = None):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size:
            _ours(path)
        self.path = path
        self.wake = threading.Event()
        self._due = engine_due  # Engine.next_due (set by the runner; status/retry need no engine)
        init = connect(path)
        init.executescript(SCHEMA)
        if "tried" not in {r[1] for r in init.execute("PRAGMA table_info(outbox)")}:  # a store made before it
            init.execute("ALTER TABLE outbox ADD COLUMN tried INTEGER NOT NULL DEFAULT 0")
        init.close()
        self._work = connect(path)  # processing, timers, status (one thread at a time: the lock)
        self._lock = threading.Lock()
        self._outbox: dict[str, sqlite3.Connection] = {}
        self._q: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None

    # ------------------------------------------------------------ ingest (group commit)

    async def append(self, msgs: list[Message]) -> int:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="relay-ingest", daemon=True)
            self._writer.start()
        f = Future()
        self._q.put((msgs, f))
        return await f.fut

    def _write_loop(self) -> None:
        db = connect(self.path, "FULL")
        while True:
            first = self._q.get()
            if first is None:
                break
            waiting = [first]
            while len(waiting) < 512:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._q.put(None)
                    break
                waiting.append(nxt)
            now = time.time()
            try:
                counts = []
                db.execute("BEGIN IMMEDIATE")
                for msgs, _f in waiting:
                    n = 0
                    for m in msgs:
                        n += db.execute("INSERT OR IGNORE INTO inbox (mid, received, body) VALUES (?, ?, ?)",
                                        (m.id, now, json.dumps(m.body, separators=(",", ":")))).rowcount
                    counts.append(n)
                db.execute("COMMIT")
            except Exception as e:  # not only sqlite3.Error: the writer must outlive any one group's failure
                if db.in_transaction:
                    db.execute("ROLLBACK")
                for _msgs, f in waiting:
                    f.done(error=e)
                continue
            self.wake.set()
            for (_msgs, f), n in zip(waiting, counts):
                f.done(n)
        db.close()

    # ------------------------------------------------------------ the engine

    def process(self, processor: Processor, limit: int = 200) -> int:
        with self._lock:
            db = self._work
            rows = db.execute("SELECT seq, mid, received, body FROM inbox WHERE done = 0 ORDER BY seq LIMIT ?",
                              (limit,)).fetchall()
            if not rows:
                return 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for seq, mid, received, body in rows:
                    ev, _why = from_segment(json.loads(body))
                    if ev is not None:  # checked at ingest; a row that no longer reads is skipped, not fatal
                        view = self._view(db, aliases_of(ev["ids"]))
                        items = processor.apply(view, ev, mid)
                        self._save(db, processor, view)
                        self._enqueue(db, items, received)
                    db.execute("UPDATE inbox SET done = 1, body = NULL WHERE seq = ?", (seq,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(rows)

    def fire_timers(self, processor: Processor, now: float, limit: int = 200) -> int:
        with self._lock:
            db = self._work
            keys = [k for (k,) in db.execute("SELECT key FROM profiles WHERE due IS NOT NULL AND due <= ? "
                                             "ORDER BY due LIMIT ?", (now, limit))]
            if not keys:
                return 0
            db.execute("BEGIN IMMEDIATE")
            try:
                for key in keys:
                    rec = self._record(db, key)
                    items = processor.advance(key, rec, now)
                    self._save(db, processor, View({}, {key: rec}))
                    self._enqueue(db, items, now)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(keys)

    @staticmethod
    def _record(db: sqlite3.Connection, key: str) -> Record:
        (raw,) = db.execute("SELECT record FROM profiles WHERE key = ?", (key,)).fetchone()
        d = json.loads(raw)
        return Record(d["state"], d["aliases"])

    def _view(self, db: sqlite3.Connection, aliases: list[str]) -> View:
        view = View({}, {})
        for a in aliases:
            row = db.execute("SELECT profile FROM aliases WHERE alias = ?", (a,)).fetchone()
            if row and row[0] not in view.records:
                rec = view.records[row[0]] = self._record(db, row[0])
                for x in rec.aliases:
                    view.index[x] = row[0]
        return view

    def _save(self, db: sqlite3.Connection, processor: Processor, view: View) -> None:
        for key in view.dropped:
            db.execute("DELETE FROM profiles WHERE key = ?", (key,))
        for key, rec in view.records.items():
            due = processor.engine.next_due(rec.state)
            db.execute("INSERT OR REPLACE INTO profiles (key, record, due) VALUES (?, ?, ?)",
                       (key, json.dumps(rec.to_json(), separators=(",", ":")), due))
        db.executemany("INSERT OR REPLACE INTO aliases (alias, profile) VALUES (?, ?)", view.index.items())

    def _enqueue(self, db: sqlite3.Connection, items: list[OutboxItem], received: float) -> None:
        for it in items:
            db.execute("INSERT OR IGNORE INTO outbox (id, esp, profile, item, attempts, due, received) "
                       "VALUES (?, ?, ?, ?, 0, 0, ?)",
                       (it.id, it.esp, it.profile, json.dumps(item_to_json(it), separators=(",", ":")), received))

    def prune(self, now: float) -> int:
        """Forget the messageIds older than the dedup window."""
        with self._lock:
            return self._work.execute("DELETE FROM inbox WHERE done = 1 AND received < ?",
                                      (now - DEDUP_SECONDS,)).rowcount

    # ------------------------------------------------------------ delivery

    def _db(self, esp: str) -> sqlite3.Connection:
        if esp not in self._outbox:
            self._outbox[esp] = connect(self.path)
        return self._outbox[esp]

    def claim(self, esp: str, now: float, limit: int = 100) -> list[OutboxItem]:
        db = self._db(esp)
        out: list[OutboxItem] = []
        blocked: set[str] = set()
        for raw, attempts, due, tried in db.execute(
                "SELECT item, attempts, due, tried FROM outbox WHERE esp = ? ORDER BY seq LIMIT ?", (esp, limit * 3)):
            d = json.loads(raw)
            keys = order_keys(d)
            if blocked.intersection(keys):
                continue
            blocked.update(keys)  # one item per profile per batch: the next waits for this one's outcome
            if due > now:  # waits for a retry: the profile's later items wait behind it
                continue
            out.append(item_from_json(d, max(attempts, tried)))
            if len(out) >= limit:
                break
        return out

    def release(self, esp: str, items: list[OutboxItem]) -> None:
        pass  # a claim holds nothing here

    def tried(self, esp: str, items: list[OutboxItem]) -> None:
        db = self._db(esp)
        fresh = [(i.id,) for i in items if i.attempts == 0]
        if fresh:  # committed before the request goes (WAL: survives kill -9 without an fsync)
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE outbox SET tried = 1 WHERE id = ?", fresh)
            db.execute("COMMIT")

    def settle(self, esp: str, items: list[OutboxItem], outcomes: list[Outcome], now: float) -> Settled:
        db = self._db(esp)
        res = Settled()
        by_id = complete(items, outcomes)
        db.execute("BEGIN IMMEDIATE")
        try:
            for it in items:
                o = by_id[it.id]
                if isinstance(o, Delivered):
                    row = db.execute("DELETE FROM outbox WHERE id = ? RETURNING received", (it.id,)).fetchone()
                    if row:
                        res.delivered.append(max(0.0, now - row[0]))
                elif isinstance(o, Retry):
                    db.execute("UPDATE outbox SET attempts = attempts + 1, due = ?, reason = ? WHERE id = ?",
                               (now + max(0.0, o.after), o.reason, it.id))
                    res.retries.append(o.reason)
                elif isinstance(o, Dead):
                    db.execute("INSERT OR REPLACE INTO dead (id, esp, profile, item, attempts, reason, at) "
                               "SELECT id, esp, profile, item, attempts + 1, ?, ? FROM outbox WHERE id = ?",
                               (o.reason, now, it.id))
                    db.execute("DELETE FROM outbox WHERE id = ?", (it.id,))
                    res.dead.append(o.reason)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return res

    def resume(self, esp: str, now: float) -> int:
        db = self._db(esp)
        db.execute("BEGIN IMMEDIATE")
        try:
            waiting = db.execute("SELECT id, reason FROM outbox WHERE esp = ? AND due > ?", (esp, now)).fetchall()
            due = [(now, i) for i, reason in waiting if outage(reason or "")]  # the runner's test, not a copy
            db.executemany("UPDATE outbox SET due = ? WHERE id = ?", due)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return len(due)

    # ------------------------------------------------------------ operations

    def status(self, now: float) -> dict[str, Any]:
        with self._lock:
            db = self._work
            inbox, oldest_in = db.execute("SELECT count(*), min(received) FROM inbox WHERE done = 0").fetchone()
            esps: dict[str, dict] = {}
            for esp, n, oldest in db.execute("SELECT esp, count(*), min(received) FROM outbox GROUP BY esp"):
                esps.setdefault(esp, {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 0})
                esps[esp].update(pending=n, oldest_pending_seconds=round(max(0.0, now - oldest), 3))
            for esp, n in db.execute("SELECT esp, count(*) FROM dead GROUP BY esp"):
                esps.setdefault(esp, {"pending": 0, "oldest_pending_seconds": 0.0, "dead": 0})["dead"] = n
            timers = db.execute("SELECT count(*) FROM profiles WHERE due IS NOT NULL").fetchone()[0]
        return {"inbox": {"pending": inbox, "oldest_pending_seconds":
                          round(max(0.0, now - oldest_in), 3) if oldest_in else 0.0},
                "timers": timers, "esps": dict(sorted(esps.items()))}

    def dead_letters(self, esps: list[str] | None) -> list[dict]:
        with self._lock:
            rows = self._work.execute("SELECT id, esp, reason, attempts, at FROM dead ORDER BY at").fetchall()
        return [{"id": i, "esp": e, "reason": r, "attempts": a, "at": t} for i, e, r, a, t in rows
                if esps is None or e in esps]

    def retry_dead(self, esps: list[str] | None, dry_run: bool) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._lock:
            db = self._work
            db.execute("BEGIN IMMEDIATE")
            try:
                for esp, n in db.execute("SELECT esp, count(*) FROM dead GROUP BY esp").fetchall():
                    if esps is not None and esp not in esps:
                        continue
                    counts[esp] = n
                    if not dry_run:
                        now = time.time()
                        db.execute("INSERT OR IGNORE INTO outbox (id, esp, profile, item, attempts, due, received) "
                                   "SELECT id, esp, profile, item, 0, 0, ? FROM dead WHERE esp = ? ORDER BY at",
                                   (now, esp))
                        db.execute("DELETE FROM dead WHERE esp = ?", (esp,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if counts and not dry_run:
            self.wake.set()
        return counts

    def close(self) -> None:
        if self._writer is not None:
            self._q.put(None)
            self._writer.join(timeout=10)
        for db in [self._work, *self._outbox.values()]:
            db.close()
