"""Format every generated Python file with ruff, in one pass, the same way on every machine.

Files are written to a temporary directory, import-sorted and formatted by two ruff runs with
`--isolated` (no project configuration, no cache) and explicit settings, then read back. Output
therefore depends only on the text, its path, the package name and the pinned ruff version,
never on where it runs, which is what keys the optional `Cache`: files it knows skip ruff.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import IO

from generator._render._cache import Cache, dist_version, key_of
from generator._render._env import LINE_LENGTH
from generator._render._errors import RenderError

_SETTINGS = [
    "--isolated",
    "--no-cache",
    "--line-length",
    str(LINE_LENGTH),
    "--target-version",
    "py311",
]
# Sorting imports needs to know our own packages; the temporary directory hides them.
_ISORT = ["--config", 'lint.isort.known-first-party = ["generator", "generated"]']
_CHECK = ["check", *_SETTINGS, *_ISORT, "--select", "I,F401", "--fix", "--exit-zero"]
_FORMAT = ["format", *_SETTINGS]
# Memory-backed when the system has it: thousands of small files are written and read back.
_SHM = Path("/dev/shm")


@cache
def _ruff() -> list[str]:
    """The ruff installed with this interpreter, whatever PATH says.

    Its binary directly when the package can name it (``python -m ruff`` would start a second
    interpreter only to exec it), else through the interpreter.
    """
    try:
        from ruff import find_ruff_bin  # type: ignore[import-untyped]

        return [os.fsdecode(find_ruff_bin())]
    except (ImportError, FileNotFoundError):
        return [sys.executable, "-m", "ruff"]


_Started = tuple[subprocess.Popen[bytes], IO[bytes], IO[bytes]]  # process, stdout, stderr


def _spawn(args: list[str], cwd: Path) -> _Started:
    """Start ruff; its output goes to temporary files, read only when it fails."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by `_wait` or `_stop`
    err = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        process = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err)
    except OSError as exc:  # pragma: no cover - the interpreter itself is missing
        out.close()
        err.close()
        raise RenderError(f"cannot run ruff: {exc}") from exc
    return process, out, err


def _wait(started: _Started) -> None:
    process, out, err = started
    with out, err:
        if process.wait() != 0:
            texts = []
            for stream in (err, out):
                stream.seek(0)
                texts.append(stream.read().decode("utf-8", "replace"))
            detail = (texts[0] or texts[1]).strip()
            raise RenderError(f"ruff failed on generated code (a template bug):\n{detail}")


def _stop(started: _Started) -> None:
    process, out, err = started
    with out, err:
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()


def _run(args: list[str], cwd: Path) -> None:
    _wait(_spawn(args, cwd))


def _temporary_root() -> str | None:
    if os.environ.get("TMPDIR"):
        return None  # the user chose
    return str(_SHM) if _SHM.is_dir() and os.access(_SHM, os.W_OK) else None


def _key(path: str, text: str, package: str) -> str:
    tool = dist_version("ruff", "ruff")
    return key_of("ruff", (tool, *_CHECK, *_FORMAT, package, path, text))


def format_python(
    files: Mapping[str, str], *, package: str = "generated", cache: Cache | None = None
) -> dict[str, str]:
    """Return `files` with every ``.py`` entry sorted and formatted; other entries unchanged."""
    return start_format(files, package=package, cache=cache).result()


def start_format(
    files: Mapping[str, str], *, package: str = "generated", cache: Cache | None = None
) -> PendingFormat:
    """`format_python`, with ruff's first pass started and the caller free meanwhile.

    A file's formatting depends only on its text, its path and the package (see above), not on
    which other files share the run: the renderer formats what needs no model while the models
    are on their way, then the rest, and gets the bytes one run would give.
    """
    return PendingFormat(files, package, cache or Cache.off())


class PendingFormat:
    """Files on their way through ruff; `result()` waits for them, `cancel()` drops them."""

    def __init__(self, files: Mapping[str, str], package: str, cache: Cache) -> None:
        python = sorted(path for path in files if path.endswith(".py"))
        self._formatted = dict(files)
        self._cache = cache
        self._keys = {p: _key(p, files[p], package) for p in python} if cache.enabled else {}
        self._todo: list[str] = []
        for path in python:
            hit = cache.get("ruff", self._keys[path]) if self._keys else None
            if hit is None:
                self._todo.append(path)
            else:
                self._formatted[path] = hit
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._check: _Started | None = None
        if not self._todo:
            return
        self._tmp = tempfile.TemporaryDirectory(prefix="generator-format-", dir=_temporary_root())
        try:
            self._root = Path(self._tmp.name) / package
            made: set[Path] = set()
            for path in self._todo:
                target = self._root / path
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                target.write_text(files[path], encoding="utf-8", newline="\n")
            self._check = _spawn([*_ruff(), *_CHECK, package], cwd=Path(self._tmp.name))
        except BaseException:
            self.cancel()
            raise

    def result(self) -> dict[str, str]:
        if self._tmp is None:
            return self._formatted
        try:
            if self._check is not None:
                check, self._check = self._check, None
                _wait(check)
            _run([*_ruff(), *_FORMAT, self._root.name], cwd=Path(self._tmp.name))
            for path in self._todo:
                self._formatted[path] = (self._root / path).read_text(encoding="utf-8")
                if self._keys:
                    self._cache.put("ruff", self._keys[path], self._formatted[path])
        finally:
            self.cancel()
        return self._formatted

    def cancel(self) -> None:
        """Stop ruff if it still runs and remove the temporary folder."""
        if self._check is not None:
            check, self._check = self._check, None
            _stop(check)
        if self._tmp is not None:
            tmp, self._tmp = self._tmp, None
            tmp.cleanup()
