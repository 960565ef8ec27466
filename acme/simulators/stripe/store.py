"""SQLite state of the sandbox: API objects, idempotency records and the webhook event log.

One file under the data folder, so a restarted sandbox still knows its payment intents, answers a
retried request from its idempotency record and resumes pending webhook deliveries. Objects are
kept as the JSON the API returns; a change of state, its idempotency record and its events are
written in one transaction. The sandbox is a single asyncio process, so one connection suffices.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payment_intent TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_kind ON objects (kind, seq);
CREATE INDEX IF NOT EXISTS objects_intent ON objects (payment_intent, kind);
CREATE TABLE IF NOT EXISTS counters (
    payment_intent TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (payment_intent, name)
);
CREATE TABLE IF NOT EXISTS idempotency (
    api_key_hash TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (api_key_hash, key)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    deliveries INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS events_status ON events (status, seq);
"""

# Stripe forgets idempotency keys after at least 24 hours.
IDEMPOTENCY_TTL_S = 24 * 3600


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    status: int
    body: str
    request_id: str


@dataclass(frozen=True)
class EventRecord:
    seq: int
    id: str
    type: str
    ordering_key: str
    body: JsonObject
    status: str
    attempts: int
    deliveries: int
    last_error: str | None


class SandboxStore:
    def __init__(self, path: Path | None) -> None:
        """`path=None` keeps everything in memory."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            ":memory:" if path is None else str(path),
            isolation_level=None,  # explicit BEGIN/COMMIT below
            check_same_thread=False,
        )
        self._db.row_factory = sqlite3.Row
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._depth = 0
        self.prune_idempotency()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all (nesting joins the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    # --- API objects ------------------------------------------------------------------------------

    def get(self, kind: str, object_id: str) -> JsonObject | None:
        row = self._db.execute(
            "SELECT body FROM objects WHERE id = ? AND kind = ?", (object_id, kind)
        ).fetchone()
        return None if row is None else json.loads(row["body"])

    def put(self, kind: str, obj: JsonObject, *, payment_intent: str | None) -> None:
        self._db.execute(
            "INSERT INTO objects (id, kind, payment_intent, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (obj["id"], kind, payment_intent, json.dumps(obj)),
        )

    def list_objects(
        self,
        kind: str,
        *,
        payment_intent: str | None = None,
        limit: int | None = None,
        before_seq: int | None = None,
    ) -> list[JsonObject]:
        """Newest first, like Stripe's list endpoints."""
        sql = "SELECT body FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if payment_intent is not None:
            sql += " AND payment_intent = ?"
            args.append(payment_intent)
        if before_seq is not None:
            sql += " AND seq < ?"
            args.append(before_seq)
        sql += " ORDER BY seq DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [json.loads(row["body"]) for row in self._db.execute(sql, args)]

    def seq_of(self, kind: str, object_id: str) -> int | None:
        row = self._db.execute(
            "SELECT seq FROM objects WHERE id = ? AND kind = ?", (object_id, kind)
        ).fetchone()
        return None if row is None else int(row["seq"])

    # --- counters (proof that nothing is charged or captured twice) ------------------------------

    def bump(self, payment_intent: str, name: str, by: int = 1) -> None:
        self._db.execute(
            "INSERT INTO counters (payment_intent, name, value) VALUES (?, ?, ?) "
            "ON CONFLICT (payment_intent, name) DO UPDATE SET value = value + excluded.value",
            (payment_intent, name, by),
        )

    def counters(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for row in self._db.execute("SELECT payment_intent, name, value FROM counters"):
            result.setdefault(row["payment_intent"], {})[row["name"]] = int(row["value"])
        return result

    # --- idempotency -----------------------------------------------------------------------------

    def get_idempotency(self, api_key_hash: str, key: str) -> IdempotencyRecord | None:
        row = self._db.execute(
            "SELECT fingerprint, status, body, request_id, created FROM idempotency "
            "WHERE api_key_hash = ? AND key = ?",
            (api_key_hash, key),
        ).fetchone()
        if row is None or row["created"] < time.time() - IDEMPOTENCY_TTL_S:
            return None
        return IdempotencyRecord(row["fingerprint"], row["status"], row["body"], row["request_id"])

    def put_idempotency(self, api_key_hash: str, key: str, record: IdempotencyRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO idempotency "
            "(api_key_hash, key, fingerprint, status, body, request_id, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                api_key_hash,
                key,
                record.fingerprint,
                record.status,
                record.body,
                record.request_id,
                time.time(),
            ),
        )

    def prune_idempotency(self) -> None:
        with self.transaction():
            self._db.execute(
                "DELETE FROM idempotency WHERE created < ?", (time.time() - IDEMPOTENCY_TTL_S,)
            )

    # --- events ----------------------------------------------------------------------------------

    def add_event(self, event: JsonObject, ordering_key: str, status: str) -> EventRecord:
        cursor = self._db.execute(
            "INSERT INTO events (id, type, ordering_key, body, status) VALUES (?, ?, ?, ?, ?)",
            (event["id"], event["type"], ordering_key, json.dumps(event), status),
        )
        assert cursor.lastrowid is not None
        return EventRecord(
            cursor.lastrowid, event["id"], event["type"], ordering_key, event, status, 0, 0, None
        )

    def get_event(self, event_id: str) -> EventRecord | None:
        row = self._db.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if row is None else _event(row)

    def events(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        sql = "SELECT * FROM events WHERE 1 = 1"
        args: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        if type is not None:
            sql += " AND type = ?"
            args.append(type)
        sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [_event(row) for row in self._db.execute(sql, args)]

    def record_delivery(
        self,
        event_id: str,
        *,
        status: str,
        attempts: int = 0,
        deliveries: int = 0,
        error: str | None = None,
    ) -> None:
        """Adds to the attempt and delivery counts and sets the status."""
        with self.transaction():
            self._db.execute(
                "UPDATE events SET status = ?, attempts = attempts + ?, "
                "deliveries = deliveries + ?, last_error = ? WHERE id = ?",
                (status, attempts, deliveries, error, event_id),
            )

    # --- tests -----------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.transaction():
            for table in ("objects", "counters", "idempotency", "events"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


def _event(row: sqlite3.Row) -> EventRecord:
    return EventRecord(
        row["seq"],
        row["id"],
        row["type"],
        row["ordering_key"],
        json.loads(row["body"]),
        row["status"],
        row["attempts"],
        row["deliveries"],
        row["last_error"],
    )
