"""A content-addressed cache of slow, pure steps of rendering (model generation, formatting).

An entry's key is the sha256 of everything its text depends on: the input bytes, the version of
the tool that made it and the options it ran with. So an entry never goes stale, a fresh clone
without any cache produces the same bytes, and deleting the folder only costs time.

Where it lives:
- ``GENERATOR_CACHE=off`` (or 0, false, no) switches it off;
- ``GENERATOR_CACHE_DIR`` names the folder;
- otherwise ``.cache/generator`` in the project holding the catalog (the nearest folder above it
  with a ``pyproject.toml`` or ``.git``); a catalog outside any project is not cached.

Entries are written atomically (temporary file, then rename) and carry the sha256 of their
text, so a torn or edited entry is a miss, never wrong output. Failing to write is not an error.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "CACHE_ENV", "Cache", "dist_version", "key_of"]

CACHE_ENV = "GENERATOR_CACHE"
CACHE_DIR_ENV = "GENERATOR_CACHE_DIR"
FORMAT = "1"  # bump when the meaning of a key or the entry layout changes
_OFF = frozenset({"0", "off", "false", "no"})
_PROJECT_MARKERS = ("pyproject.toml", ".git")


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


class Cache:
    """Entries below `folder`, or nothing at all when `folder` is None."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.hits = 0
        self.misses = 0

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

    def _path(self, kind: str, key: str) -> Path:
        assert self.folder is not None
        return self.folder / kind / key[:2] / key

    def get(self, kind: str, key: str) -> str | None:
        if self.folder is None:
            return None
        try:
            data = self._path(kind, key).read_bytes()
        except OSError:
            self.misses += 1
            return None
        checksum, _, body = data.partition(b"\n")
        if hashlib.sha256(body).hexdigest().encode() != checksum:
            self.misses += 1
            return None
        self.hits += 1
        return body.decode("utf-8", "surrogatepass")

    def put(self, kind: str, key: str, text: str) -> None:
        if self.folder is None:
            return
        body = text.encode("utf-8", "surrogatepass")
        target = self._path(kind, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".entry-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass  # a read-only or full disk only makes the next run slower
