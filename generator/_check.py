"""Compare what the catalog generates with what the output folder holds.

Kinds of drift, each with a unified diff where there is text to compare:
- ``missing``: the catalog generates a file the folder lacks;
- ``stale``: the file is as the last run wrote it (its sha256 matches the folder's manifest) but
  the catalog or the generator now produce something else — regenerate;
- ``edited``: the file was changed after generation (its sha256 no longer matches the manifest);
- ``extra``: the folder holds a file the catalog no longer generates (or never did).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from generator._write import MANIFEST, manifest_hashes, read_manifest, sha256

__all__ = ["Drift", "compare_folder", "format_drift"]

DriftKind = Literal["missing", "stale", "edited", "extra"]
_IGNORED_DIRS = frozenset({"__pycache__"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")
_EXPLAIN: dict[DriftKind, str] = {
    "missing": "missing: the catalog generates it",
    "stale": "stale: the catalog or the generator changed since it was generated",
    "edited": "edited by hand after it was generated",
    "extra": "extra: the catalog does not generate it",
}


@dataclass(frozen=True, order=True)
class Drift:
    path: str  # relative to the output folder
    kind: DriftKind
    diff: str = ""

    def describe(self, folder: str) -> str:
        return f"{folder}/{self.path}: {_EXPLAIN[self.kind]}"


def _files_on_disk(root: Path) -> Iterator[str]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in _IGNORED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        is_file = path.is_symlink() or path.is_file()
        if is_file and not path.name.endswith(_IGNORED_SUFFIXES):
            yield relative.as_posix()


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _diff(old: str, new: str, path: str, folder: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{folder}/{path} (on disk)",
        tofile=f"{folder}/{path} (from the catalog)",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text


def compare_folder(expected: Mapping[str, str], out: Path) -> list[Drift]:
    """Every difference between `expected` (path -> text, manifest included) and `out`."""
    folder = out.as_posix().rstrip("/") or "."
    recorded = manifest_hashes(read_manifest(out))
    drifts: list[Drift] = []
    on_disk = set(_files_on_disk(out))
    for path, text in sorted(expected.items()):
        if path not in on_disk:
            drifts.append(Drift(path, "missing", _diff("", text, path, folder)))
            continue
        current = _read(out / path) if not (out / path).is_symlink() else None
        if current == text:
            continue
        was_generated = current is not None and recorded.get(path) == sha256(current)
        kind: DriftKind = "stale" if was_generated or path == MANIFEST else "edited"
        drifts.append(Drift(path, kind, _diff(current or "", text, path, folder)))
    for path in sorted(on_disk - set(expected)):
        current = _read(out / path)
        diff = _diff(current, "", path, folder) if current is not None else ""
        drifts.append(Drift(path, "extra", diff))
    return sorted(drifts)


def format_drift(drifts: list[Drift], folder: str, *, diffs: bool = True) -> str:
    """Summary lines first, then the diffs (manifest.json's last: it only echoes the others)."""
    lines = [drift.describe(folder) + "\n" for drift in drifts]
    if diffs:
        ordered = sorted(drifts, key=lambda d: (d.path == MANIFEST, d.path))
        lines.extend(drift.diff for drift in ordered if drift.diff)
    return "".join(lines)
