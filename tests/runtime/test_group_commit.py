"""Group commit on SQLite: queued write transactions of a process share commits, and each one
still succeeds or fails on its own (acme.runtime.group_commit)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from acme.runtime.db import Stores
from acme.runtime.group_commit import GroupCommitFailed, GroupWriter
from acme.runtime.settings import Settings

STORE = "ledger-db"
DDL = (
    "CREATE TABLE entry (id TEXT PRIMARY KEY)",
    # Checked at COMMIT only: a bad row makes the whole group's commit fail.
    "CREATE TABLE note (id TEXT PRIMARY KEY, entry_id TEXT NOT NULL "
    "REFERENCES entry (id) DEFERRABLE INITIALLY DEFERRED)",
)


def _committed(settings: Settings, table: str = "entry") -> set[str]:
    """Rows another connection sees: what is committed."""
    with sqlite3.connect(settings.data_dir / f"{STORE}.sqlite3") as conn:
        return {row[0] for row in conn.execute(f"SELECT id FROM {table}")}  # noqa: S608


async def _open(settings: Settings) -> tuple[Stores, GroupWriter]:
    stores = Stores(settings)
    await stores.open(STORE, DDL)
    return stores, stores._writers[STORE]


async def _write(stores: Stores, entry: str, *, fail: bool = False) -> None:
    async with stores.write(STORE) as conn:
        await conn.execute(text("INSERT INTO entry VALUES (:id)"), {"id": entry})
        await asyncio.sleep(0)  # let the others queue up behind this one
        if fail:
            raise ValueError(f"handler of {entry} failed")


async def test_queued_units_share_commits_and_each_sees_its_commit(settings: Settings) -> None:
    stores, group = await _open(settings)
    seen_after_exit: dict[str, bool] = {}

    async def unit(entry: str) -> None:
        await _write(stores, entry)
        # The block has returned: the row is durable, visible to any other connection.
        seen_after_exit[entry] = entry in _committed(settings)

    try:
        entries = [f"e{i}" for i in range(40)]
        await asyncio.gather(*(unit(e) for e in entries))
        assert _committed(settings) == set(entries)
        assert all(seen_after_exit.values()) and len(seen_after_exit) == 40
        assert group.units == 40
        assert group.commits < 40 / 2, "queued units must share commits"
        assert group.commits >= 40 / group.max_group
    finally:
        await stores.dispose()


async def test_a_failing_unit_undoes_only_its_own_writes(settings: Settings) -> None:
    stores, group = await _open(settings)
    try:
        results = await asyncio.gather(
            *(_write(stores, f"e{i}", fail=i in {0, 7}) for i in range(12)),
            return_exceptions=True,
        )
        failed = {i for i, r in enumerate(results) if isinstance(r, ValueError)}
        assert failed == {0, 7}  # the group's first unit (no savepoint) and one inside a group
        assert all(r is None for i, r in enumerate(results) if i not in failed)
        assert _committed(settings) == {f"e{i}" for i in range(12)} - {"e0", "e7"}
        assert group.units == 10
    finally:
        await stores.dispose()


async def test_a_failed_commit_fails_every_unit_of_the_group(settings: Settings) -> None:
    stores, _ = await _open(settings)

    async def orphan_note() -> None:
        async with stores.write(STORE) as conn:
            await conn.execute(text("INSERT INTO entry VALUES ('orphan-entry')"))
            # Deferred foreign key: accepted now, refused by the COMMIT.
            await conn.execute(text("INSERT INTO note VALUES ('n', 'missing')"))
            await asyncio.sleep(0)

    try:
        results = await asyncio.gather(
            _write(stores, "before"),
            orphan_note(),
            _write(stores, "after"),
            return_exceptions=True,
        )
        assert [type(r) for r in results] == [GroupCommitFailed] * 3
        assert "FOREIGN KEY" in str(results[0]) and STORE in str(results[0])
        assert _committed(settings) == set()
        # The writer recovers: the next units commit on a fresh connection.
        await asyncio.gather(_write(stores, "before"), _write(stores, "after"))
        assert _committed(settings) == {"before", "after"}
    finally:
        await stores.dispose()


async def test_a_turn_commits_the_open_group_first(settings: Settings) -> None:
    stores, _ = await _open(settings)
    seen_by_turn: set[str] = set()

    async def other_connection_work() -> None:
        await asyncio.sleep(0)  # queue behind the first units
        async with stores.writer_lock(STORE):
            seen_by_turn.update(_committed(settings))
            with sqlite3.connect(settings.data_dir / f"{STORE}.sqlite3", timeout=0) as conn:
                conn.execute("INSERT INTO entry VALUES ('from-turn')")  # the lock is free

    try:
        await asyncio.gather(
            _write(stores, "a"), _write(stores, "b"), other_connection_work(), _write(stores, "c")
        )
        assert {"a", "b"} <= seen_by_turn
        assert _committed(settings) == {"a", "b", "c", "from-turn"}
    finally:
        await stores.dispose()


async def test_a_group_left_open_is_committed_when_its_waiters_are_cancelled(
    settings: Settings,
) -> None:
    stores, group = await _open(settings)
    gate = asyncio.Event()

    async def gated_write() -> None:
        async with stores.write(STORE) as conn:
            await conn.execute(text("INSERT INTO entry VALUES ('kept')"))
            await gate.wait()

    try:
        first = asyncio.create_task(gated_write())
        await asyncio.sleep(0)  # `first` holds the store
        waiter = asyncio.create_task(_write(stores, "never"))
        await asyncio.sleep(0)  # queued behind it
        gate.set()
        while not group._group:  # `first` is done and left its group open for the waiter
            await asyncio.sleep(0)
        waiter.cancel()  # nobody is left to take the group over: the flusher commits it
        await first
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert group._flusher is not None
        assert _committed(settings) == {"kept"}
    finally:
        await stores.dispose()


async def test_group_size_one_commits_every_unit(settings: Settings) -> None:
    stores, group = await _open(settings.model_copy(update={"group_commit": 1}))
    try:
        await asyncio.gather(*(_write(stores, f"e{i}") for i in range(10)))
        assert (group.commits, group.units) == (10, 10)
        assert len(_committed(settings)) == 10
    finally:
        await stores.dispose()


async def test_dispose_commits_nothing_half_done_and_closes(settings: Settings) -> None:
    stores, group = await _open(settings)
    await asyncio.gather(*(_write(stores, f"e{i}") for i in range(5)))
    await stores.dispose()
    assert group._conn is None and group._tx is None
    path: Path = settings.data_dir / f"{STORE}.sqlite3"
    with sqlite3.connect(path, timeout=0) as conn:
        conn.execute("BEGIN IMMEDIATE")  # nobody holds the write lock any more
        conn.execute("ROLLBACK")


@pytest.mark.external
async def test_postgres_units_share_commits_and_fail_alone(
    postgres_settings: tuple[Settings, str],
) -> None:
    pg, suffix = postgres_settings
    store = f"ledger-{suffix}"
    stores = Stores(pg)
    try:
        engine = await stores.open(store, DDL)
        group = stores._writers[store]

        async def write(entry: str, fail: bool = False) -> None:
            async with stores.write(store) as conn:
                await conn.execute(text("INSERT INTO entry VALUES (:id)"), {"id": entry})
                await asyncio.sleep(0.01)  # a server round trip: the others queue meanwhile
                if fail:
                    raise ValueError(entry)

        results = await asyncio.gather(
            *(write(f"e{i}", fail=i == 5) for i in range(20)), return_exceptions=True
        )
        assert [i for i, r in enumerate(results) if r is not None] == [5]
        async with engine.connect() as conn:
            rows = set((await conn.execute(text("SELECT id FROM entry"))).scalars())
        assert rows == {f"e{i}" for i in range(20)} - {"e5"}
        assert group.units == 19 and group.commits < 19
    finally:
        await stores.dispose()
