"""Format every generated Python file with ruff, in one pass, the same way on every machine.

Files are written to a temporary directory, import-sorted and formatted by two ruff runs with
`--isolated` (no project configuration, no cache) and explicit settings, then read back. Output
therefore depends only on the text and the pinned ruff version, never on where it runs.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

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


def _ruff() -> list[str]:
    # The ruff installed with this interpreter, whatever PATH says.
    return [sys.executable, "-m", "ruff"]


def _run(args: list[str], cwd: Path) -> None:
    try:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)
    except OSError as exc:  # pragma: no cover - the interpreter itself is missing
        raise RenderError(f"cannot run ruff: {exc}") from exc
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise RenderError(f"ruff failed on generated code (a template bug):\n{detail}")


def format_python(files: Mapping[str, str], *, package: str = "generated") -> dict[str, str]:
    """Return `files` with every ``.py`` entry sorted and formatted; other entries unchanged."""
    python = sorted(path for path in files if path.endswith(".py"))
    if not python:
        return dict(files)
    ruff = _ruff()
    with tempfile.TemporaryDirectory(prefix="generator-format-") as tmp:
        root = Path(tmp) / package
        for path in python:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[path], encoding="utf-8", newline="\n")
        _run(
            [
                *ruff,
                "check",
                *_SETTINGS,
                *_ISORT,
                "--select",
                "I,F401",
                "--fix",
                "--exit-zero",
                package,
            ],
            cwd=Path(tmp),
        )
        _run([*ruff, "format", *_SETTINGS, package], cwd=Path(tmp))
        formatted = dict(files)
        for path in python:
            formatted[path] = (root / path).read_text(encoding="utf-8")
    return formatted
