"""Write rendered files into the output folder, and nowhere else.

Rules that keep regeneration safe:
- the output folder may not be, contain, or sit inside the catalog, the generator, the templates
  or a repository root; a non-empty folder without our manifest.json is refused;
- a file is written only when its bytes change (atomically, through a temporary file beside it);
- a file is removed only when the previous manifest lists it and this run no longer produces it;
- symbolic links inside the output folder are never followed.
`manifest.json` records every file with its sha256 and the catalog files it came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from generator._render import RenderResult
from generator._render._env import GENERATOR_COMMAND, TEMPLATES_DIR

__all__ = [
    "MANIFEST",
    "OutputError",
    "WriteReport",
    "check_output_folder",
    "expected_files",
    "manifest_text",
    "read_manifest",
    "write_output",
]

MANIFEST = "manifest.json"
GENERATOR_DIR = Path(__file__).resolve().parent
# A folder holding one of these is a project root, never an output folder.
_ROOT_MARKERS = (".git", "pyproject.toml", "setup.py", "setup.cfg")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class OutputError(Exception):
    """The output folder is unsafe to write (a usage error)."""


@dataclass
class WriteReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_text(result: RenderResult, catalog_name: str) -> str:
    """manifest.json: sorted keys, 2-space indent, trailing newline, no timestamps."""
    data = {
        "catalog": catalog_name,
        "generator": GENERATOR_COMMAND,
        "files": {
            path: {"sha256": sha256(text), "sources": list(result.sources.get(path, ()))}
            for path, text in result.files.items()
        },
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_files(result: RenderResult, catalog_name: str) -> dict[str, str]:
    """Everything the output folder should hold, manifest included."""
    files = dict(result.files)
    files[MANIFEST] = manifest_text(result, catalog_name)
    return files


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of a previous run, or None when absent or unreadable."""
    path = out / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def manifest_hashes(manifest: Mapping[str, Any] | None) -> dict[str, str]:
    files = (manifest or {}).get("files", {})
    out: dict[str, str] = {}
    for path, entry in files.items() if isinstance(files, dict) else ():
        if (
            isinstance(path, str)
            and isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
        ):
            out[path] = entry["sha256"]
    return out


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def check_output_folder(out: Path, *, catalog_root: Path, protected: Iterable[Path] = ()) -> Path:
    """Resolve `out` and refuse folders that are not safe to (re)generate into."""
    target = out.resolve()
    catalog = catalog_root.resolve()
    guarded = [catalog, GENERATOR_DIR, TEMPLATES_DIR.resolve(), *(p.resolve() for p in protected)]
    for folder in guarded:
        if _inside(target, folder):
            raise OutputError(f"{out}: the output folder is inside {folder}; choose another one")
        if _inside(folder, target):
            raise OutputError(f"{out}: the output folder would contain {folder}; choose another")
    if target.exists() and not target.is_dir():
        raise OutputError(f"{out}: exists and is not a folder")
    if target.is_dir():
        for marker in _ROOT_MARKERS:
            if (target / marker).exists():
                raise OutputError(
                    f"{out}: looks like a project root ({marker}); choose a subfolder"
                )
        has_content = any(
            child.name not in ("__pycache__",) and not child.name.startswith(".")
            for child in target.iterdir()
        )
        if has_content and read_manifest(target) is None:
            raise OutputError(
                f"{out}: not empty and has no {MANIFEST}, so it was not generated here; "
                "empty it or choose another folder"
            )
    return target


def _plain_parts(relative: str) -> tuple[str, ...]:
    """The parts of `relative` (as `PurePosixPath` reads them), refusing anything not plain."""
    parts = tuple(relative.split("/"))
    if not all(p and p != "." and p != ".." for p in parts):  # a rare spelling: the slow way
        pure = PurePosixPath(relative)
        parts = pure.parts
        if pure.is_absolute() or not parts or any(p in ("..", "", ".") for p in parts):
            raise OutputError(f"refusing to write {relative!r}: not a plain relative path")
    return parts


def _safe_path(root: Path, relative: str, checked: set[str] | None = None) -> Path:
    """`root/relative`, refusing absolute paths, ``..`` and symbolic links on the way.

    `checked` holds folders already found to be real folders (or absent) in this run, so a
    folder of thousands of files is examined once, not once per file. Plain strings, not
    `Path`s, on the way: for thousands of files, building paths would cost more than checking.
    """
    parts = _plain_parts(relative)
    current = str(root)
    last = len(parts) - 1
    for number, part in enumerate(parts):
        current = os.path.join(current, part)
        if checked is not None and current in checked:
            continue
        if os.path.islink(current):
            raise OutputError(f"refusing to write through the symbolic link {current}")
        if checked is not None and number != last:
            checked.add(current)
    path = Path(current)
    # Plain parts and no link on the way already keep `path` inside `root`; resolving checks
    # it once more (an unchecked folder could still have been swapped for a link meanwhile).
    if checked is None and not path.resolve().is_relative_to(root):
        raise OutputError(f"refusing to write {relative!r}: it resolves outside {root}")
    return path


def _atomic_write(path: Path, data: bytes, made: set[Path] | None = None) -> None:
    if made is None or path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        if made is not None:
            made.add(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _same_bytes(path: Path, data: bytes) -> bool:
    """True when `path` is a regular file (not a link) holding exactly `data`.

    One open, one fstat and at most one read: the size answers for most changed files, and a
    regeneration that changes little compares thousands of files.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data):
            return False
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(len(data) + 1) == data
    except OSError:
        return False
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_new_folder(files: Mapping[str, str], root: Path) -> WriteReport | None:
    """Fill a folder that does not exist yet beside it, then rename it into place.

    Readers see no folder or the whole of it, and no file needs a temporary copy of its own
    (thousands of those cost more than rendering them). None when the folder appeared
    meanwhile: the caller then writes file by file.
    """
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.{secrets.token_hex(6)}.tmp"
    staging.mkdir()
    try:
        report = WriteReport()
        checked: set[str] = set()
        made: set[Path] = {staging}
        ordered = sorted(p for p in files if p != MANIFEST)
        for relative in [*ordered, *([MANIFEST] if MANIFEST in files else [])]:
            path = _safe_path(staging, relative, checked)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            # 0600 like the temporary files the other path renames into place
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            try:
                _write_all(fd, files[relative].encode("utf-8"))
            finally:
                os.close(fd)
            report.written.append(relative)
        try:
            os.rename(staging, root)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return None
        return report
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_output(files: Mapping[str, str], out: Path, *, catalog_root: Path) -> WriteReport:
    """Make `out` hold exactly `files` (manifest included), touching nothing else."""
    root = check_output_folder(out, catalog_root=catalog_root)
    if not root.exists() and not root.is_symlink():
        fresh = _write_new_folder(files, root)
        if fresh is not None:
            return fresh
    previous = manifest_hashes(read_manifest(root)) if root.is_dir() else {}
    report = WriteReport()
    root.mkdir(parents=True, exist_ok=True)
    checked: set[str] = set()
    made: set[Path] = set()
    ordered = sorted(p for p in files if p != MANIFEST)
    for relative in ordered:
        path = _safe_path(root, relative, checked)
        data = files[relative].encode("utf-8")
        if _same_bytes(path, data):
            report.unchanged.append(relative)
            continue
        _atomic_write(path, data, made)
        report.written.append(relative)
    for relative in sorted(set(previous) - set(files)):
        try:
            path = _safe_path(root, relative)
        except OutputError:
            continue  # a manifest entry we would not have written: leave it alone
        if path.is_file():
            path.unlink()
            report.removed.append(relative)
            _prune_empty(path.parent, root)
    if MANIFEST in files:
        path = _safe_path(root, MANIFEST)
        data = files[MANIFEST].encode("utf-8")
        if not _same_bytes(path, data):
            _atomic_write(path, data)
            report.written.append(MANIFEST)
        else:
            report.unchanged.append(MANIFEST)
    return report


def _prune_empty(folder: Path, root: Path) -> None:
    """Remove folders emptied by a removal, up to (not including) the output folder.

    A folder that still holds anything (even a ``__pycache__``) stays: it is not ours to clear.
    """
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
