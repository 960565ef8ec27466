"""A content-addressed cache of slow, pure steps of rendering (model generation, formatting).

An entry's key is the sha256 of everything its text depends on: the input bytes, the version of
the tool that made it and the options it ran with. So an entry never goes stale, a fresh clone
without any cache produces the same bytes, and deleting the folder only costs time.

Where it lives:
- ``GENERATOR_CACHE=off`` (or 0, false, no) switches it off;
- ``GENERATOR_CACHE_DIR`` names the folder;
- otherwise ``.cache/generator`` in the project holding the catalog (the nearest folder above it
  with a ``pyproject.toml`` or ``.git``); a catalog outside any project is not cached.

Entries live in one SQLite file (thousands of small files cost more to create than to render);
new ones are written in one transaction by `flush`, without fsync. Each carries the sha256 of
its text, so a damaged entry is a miss, never wrong output; a file that is no database any more
is replaced, and any other failure to read or write the cache only makes the run slower.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["CACHE_DIR_ENV", "CACHE_ENV", "Cache", "dist_version", "key_of"]

CACHE_ENV = "GENERATOR_CACHE"
CACHE_DIR_ENV = "GENERATOR_CACHE_DIR"
FORMAT = "1"  # bump when the meaning of a key or the entry layout changes
DATABASE = "entries.sqlite3"
_OFF = frozenset({"0", "off", "false", "no"})
_PROJECT_MARKERS = ("pyproject.toml", ".git")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entry ("
    "kind TEXT NOT NULL, key TEXT NOT NULL, sha256 TEXT NOT NULL, body BLOB NOT NULL, "
    "PRIMARY KEY (kind, key)) WITHOUT ROWID"
)


def key_of(kind: str, parts: Iterable[str]) -> str:
    """The sha256 naming one entry: `kind` plus every input it depends on, unambiguously."""
    digest = hashlib.sha256(f"{kind}\0{FORMAT}\0{sys.version_info[:2]}".encode())
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"\0%d\0" % len(data))
        digest.update(data)
    return digest.hexdigest()


@cache
def dist_version(package: str, distribution: str) -> str:
    """Installed version of a distribution, read without importing it (imports are slow).

    Looks for ``<distribution>-<version>.dist-info`` beside the package; falls back to
    `importlib.metadata` for other layouts, and to "unknown" (which still keys correctly within
    one installation, as long as nothing is upgraded in place).
    """
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is not None and spec.origin:
        site = Path(spec.origin).resolve().parent.parent
        for name in dict.fromkeys((distribution, distribution.lower())):
            prefix = name.replace("-", "_") + "-"
            found = sorted(e.name[len(prefix) : -10] for e in site.glob(f"{prefix}*.dist-info"))
            if found:
                return ",".join(found)  # two of them (a broken upgrade) still key apart
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:  # noqa: BLE001 - any failure only means a less precise key
        return "unknown"


def _open(path: Path) -> Any:
    import sqlite3

    # Used by one thread at a time: a background `flush` is waited for before any other use.
    db = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        # Big pages and a memory map: a large catalog reads thousands of entries of several
        # kilobytes, which would otherwise be one read call per 4 KB page.
        db.execute("PRAGMA page_size=65536")  # only takes effect on a new file
        db.execute("PRAGMA mmap_size=1073741824")
        # WAL: readers never wait for the writer. No fsync at all: on a shared, busy disk one
        # costs seconds, and a cache may lose entries (a damaged file is detected and replaced).
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute(_SCHEMA)
        db.execute("SELECT count(*) FROM entry WHERE kind = ''").fetchone()
        db.commit()
    except BaseException:
        db.close()
        raise
    return db


class Cache:
    """Entries in `folder`, or nothing at all when `folder` is None."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0
        self._db: Any = None  # sqlite3.Connection once opened; False when it cannot be
        self._pending: dict[tuple[str, str], bytes] = {}
        self.background = False  # see `flush`
        self._writer: Any = None  # threading.Thread of a flush under way

    @classmethod
    def off(cls) -> Cache:
        return cls(None)

    @classmethod
    def for_catalog(cls, catalog: Path) -> Cache:
        """The cache the environment asks for, or the catalog project's ``.cache/generator``."""
        if os.environ.get(CACHE_ENV, "").strip().lower() in _OFF:
            return cls.off()
        named = os.environ.get(CACHE_DIR_ENV, "").strip()
        if named:
            return cls(Path(named))
        start = catalog.resolve()
        for folder in (start, *start.parents):
            if any((folder / marker).exists() for marker in _PROJECT_MARKERS):
                return cls(folder / ".cache" / "generator")
        return cls.off()

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    @property
    def database(self) -> Path | None:
        return None if self.folder is None else self.folder / DATABASE

    def _connection(self) -> Any:
        if self._db is None:
            self._db = False
            if self.folder is not None:
                import sqlite3

                try:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    self._db = _open(self.folder / DATABASE)
                except sqlite3.DatabaseError:
                    # Not a database any more (a crash without fsync, a stray file): start over.
                    try:
                        for suffix in ("", "-wal", "-shm"):
                            Path(f"{self.folder / DATABASE}{suffix}").unlink(missing_ok=True)
                        self._db = _open(self.folder / DATABASE)
                    except (OSError, sqlite3.Error):
                        self._db = False
                except (OSError, sqlite3.Error):
                    self._db = False
        return self._db or None

    def get(self, kind: str, key: str) -> str | None:
        self._settle()
        pending = self._pending.get((kind, key))
        if pending is not None:
            self.hits += 1
            return pending.decode("utf-8", "surrogatepass")
        db = self._connection()
        if db is None:
            if self.folder is not None:
                self.misses += 1
            return None
        try:
            row = db.execute(
                "SELECT sha256, body FROM entry WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        except Exception:  # noqa: BLE001 - a damaged database is an empty cache
            row = None
        if row is None or hashlib.sha256(row[1]).hexdigest() != row[0]:
            self.misses += 1
            return None
        self.hits += 1
        return bytes(row[1]).decode("utf-8", "surrogatepass")

    def put(self, kind: str, key: str, text: str) -> None:
        """Remember an entry; it reaches the disk with the others at `flush`."""
        if self.folder is not None:
            self._pending[(kind, key)] = text.encode("utf-8", "surrogatepass")

    def flush(self) -> None:
        """Write the new entries in one transaction (quietly gives up when it cannot).

        With `background` set, a thread writes them (SQLite and hashing let the interpreter
        go meanwhile) and the next use of the cache, or `close`, waits for it: the owner of
        the cache sets it when it closes the cache itself after other work (writing the
        output folder), on the second core.
        """
        self._settle()
        pending, self._pending = self._pending, {}
        if pending and self.background:
            import threading

            self._writer = threading.Thread(target=self._write, args=(pending,))
            self._writer.start()
            return
        self._write(pending)

    def _settle(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.join()

    def _write(self, pending: dict[tuple[str, str], bytes]) -> None:
        db = self._connection() if pending else None
        if db is None:
            return
        rows = [
            (kind, key, hashlib.sha256(body).hexdigest(), body)
            for (kind, key), body in pending.items()
        ]
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO entry VALUES (?, ?, ?, ?)", rows)
        except Exception:  # noqa: BLE001 - read-only, full or locked: the next run is slower
            pass

    def close(self) -> None:
        """Write what is left (waiting for a background flush), then close the database."""
        self._settle()
        pending, self._pending = self._pending, {}
        self._write(pending)
        if self._db:
            self._db.close()
        self._db = None
