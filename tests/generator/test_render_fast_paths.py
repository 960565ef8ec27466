"""Shortcuts taken for speed keep the behaviour of the slow paths: a new output folder is filled
beside it and renamed (no leftovers, same files and modes as file-by-file writes), and the cycle
collector comes back as it was after loading, linting and rendering."""

from __future__ import annotations

import gc
import stat
from pathlib import Path

import pytest

from generator._build import load_catalog
from generator._lint import lint
from generator._load import paused_gc
from generator._write import MANIFEST, OutputError, write_output

GOLDEN = Path(__file__).parents[1] / "golden" / "full" / "catalog"
FILES = {"a.py": "x = 1\n", "pkg/b.py": "y = 2\n", MANIFEST: '{"files": {}}\n'}


def _tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_a_new_folder_holds_what_file_by_file_writes_produce(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    fresh = tmp_path / "one" / "generated"
    report = write_output(FILES, fresh, catalog_root=catalog)
    assert report.written == ["a.py", "pkg/b.py", MANIFEST]
    # The same files written into an existing (empty) folder take the per-file path.
    existing = tmp_path / "two" / "generated"
    existing.mkdir(parents=True)
    write_output(FILES, existing, catalog_root=catalog)
    assert _tree(fresh) == _tree(existing)
    assert [p.name for p in fresh.parent.iterdir()] == ["generated"]  # no staging folder left


def test_a_refused_path_leaves_no_folder_behind(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    out = tmp_path / "out" / "generated"
    with pytest.raises(OutputError):
        write_output({"a.py": "x\n", "../escape.py": "x\n"}, out, catalog_root=catalog)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []
    assert not (tmp_path / "out" / "escape.py").exists()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_comes_back_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with paused_gc():
            assert not gc.isenabled()
            with paused_gc():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause still holds
        assert gc.isenabled() is enabled
        lint(load_catalog(GOLDEN))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
