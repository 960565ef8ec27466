"""Format every generated Python file with ruff, in one pass, the same way on every machine.

Files are written to a temporary directory, import-sorted and formatted by two ruff runs with
`--isolated` (no project configuration, no cache) and explicit settings, then read back. Output
therefore depends only on the text, its path, the package name and the pinned ruff version,
never on where it runs, which is what keys the optional `Cache`: files it knows skip ruff.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path

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


def _run(args: list[str], cwd: Path) -> None:
    try:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:  # pragma: no cover - the interpreter itself is missing
        raise RenderError(f"cannot run ruff: {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise RenderError(f"ruff failed on generated code (a template bug):\n{detail}")


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
    python = sorted(path for path in files if path.endswith(".py"))
    formatted = dict(files)
    cache = cache or Cache.off()
    keys = {path: _key(path, files[path], package) for path in python} if cache.enabled else {}
    todo: list[str] = []
    for path in python:
        hit = cache.get("ruff", keys[path]) if keys else None
        if hit is None:
            todo.append(path)
        else:
            formatted[path] = hit
    if not todo:
        return formatted
    ruff = _ruff()
    with tempfile.TemporaryDirectory(prefix="generator-format-", dir=_temporary_root()) as tmp:
        root = Path(tmp) / package
        made: set[Path] = set()
        for path in todo:
            target = root / path
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_text(files[path], encoding="utf-8", newline="\n")
        _run([*ruff, *_CHECK, package], cwd=Path(tmp))
        _run([*ruff, *_FORMAT, package], cwd=Path(tmp))
        for path in todo:
            formatted[path] = (root / path).read_text(encoding="utf-8")
            if keys:
                cache.put("ruff", keys[path], formatted[path])
    return formatted
