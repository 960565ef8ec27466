"""Writing generated/: only inside the output folder, only what the manifest says is ours."""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

import pytest
from render_fixture import rendered

from generator._write import (
    MANIFEST,
    OutputError,
    _plain_parts,
    check_output_folder,
    expected_files,
    sha256,
    write_output,
)

EMPTY = '{"files": {}}\n'  # a manifest listing nothing


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    folder.mkdir()
    return folder


def test_manifest_lists_every_file_with_hash_and_sources() -> None:
    files = expected_files(rendered(), "catalog")
    text = files[MANIFEST]
    assert text.endswith("}\n") and "\n  " in text  # 2-space indent, trailing newline
    manifest = json.loads(text)
    assert json.dumps(manifest, indent=2, sort_keys=True) + "\n" == text  # sorted keys
    assert set(manifest["files"]) == set(files) - {MANIFEST}
    entry = manifest["files"]["messages/order_created.py"]
    assert entry["sha256"] == sha256(files["messages/order_created.py"])
    assert entry["sources"] == [
        "catalog/domains/Ordering/systems/oms/services/OrderService/events/order-created/index.mdx",
        "catalog/domains/Ordering/systems/oms/services/OrderService/events/order-created/schema.json",
    ]


def test_second_write_changes_nothing(tmp_path: Path, catalog_dir: Path) -> None:
    files = expected_files(rendered(), "catalog")
    out = tmp_path / "gen"
    first = write_output(files, out, catalog_root=catalog_dir)
    assert sorted(first.written) == sorted(files)
    stamp = {p: (out / p).stat().st_mtime_ns for p in files}
    second = write_output(files, out, catalog_root=catalog_dir)
    assert second.written == [] and second.removed == []
    assert {p: (out / p).stat().st_mtime_ns for p in files} == stamp


def test_removes_only_files_the_previous_manifest_lists(tmp_path: Path, catalog_dir: Path) -> None:
    files = expected_files(rendered(), "catalog")
    out = tmp_path / "gen"
    write_output(files, out, catalog_root=catalog_dir)
    (out / "notes.txt").write_text("mine")  # not generated: must survive
    (out / "services" / "__pycache__").mkdir()
    fewer = {p: t for p, t in files.items() if not p.startswith("datastores/")}
    report = write_output(fewer, out, catalog_root=catalog_dir)
    assert sorted(report.removed) == ["datastores/__init__.py", "datastores/order_database.py"]
    assert not (out / "datastores").exists()  # emptied folder pruned
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "services" / "__pycache__").is_dir()


def test_manifest_entries_outside_the_folder_are_never_removed(
    tmp_path: Path, catalog_dir: Path
) -> None:
    out = tmp_path / "gen"
    outside = tmp_path / "precious.py"
    outside.write_text("keep")
    write_output({"a.py": "x = 1\n", MANIFEST: EMPTY}, out, catalog_root=catalog_dir)
    forged = {"files": {"../precious.py": {"sha256": sha256("keep"), "sources": []}}}
    (out / MANIFEST).write_text(json.dumps(forged))
    write_output({"a.py": "x = 1\n", MANIFEST: EMPTY}, out, catalog_root=catalog_dir)
    assert outside.read_text() == "keep"


def test_refuses_paths_that_escape(tmp_path: Path, catalog_dir: Path) -> None:
    out = tmp_path / "gen"
    for bad in ("../x.py", "/etc/x.py", "a/../../x.py"):
        with pytest.raises(OutputError):
            write_output({bad: "x\n"}, out, catalog_root=catalog_dir)
    assert not (tmp_path / "x.py").exists()


def test_never_writes_through_a_symlink(tmp_path: Path, catalog_dir: Path) -> None:
    out = tmp_path / "gen"
    write_output({"a.py": "x = 1\n", MANIFEST: EMPTY}, out, catalog_root=catalog_dir)
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, out / "messages")
    with pytest.raises(OutputError, match="symbolic link"):
        write_output({"messages/m.py": "y = 2\n", MANIFEST: EMPTY}, out, catalog_root=catalog_dir)
    assert list(target.iterdir()) == []


@pytest.mark.parametrize(
    "where",
    ["inside-catalog", "catalog-itself", "parent-of-catalog", "project-root", "foreign-folder"],
)
def test_refuses_unsafe_output_folders(tmp_path: Path, catalog_dir: Path, where: str) -> None:
    out = {
        "inside-catalog": catalog_dir / "generated",
        "catalog-itself": catalog_dir,
        "parent-of-catalog": tmp_path,
        "project-root": tmp_path / "project",
        "foreign-folder": tmp_path / "handwritten",
    }[where]
    if where == "project-root":
        out.mkdir()
        (out / "pyproject.toml").write_text("[project]\n")
    if where == "foreign-folder":
        out.mkdir()
        (out / "service.py").write_text("hand written\n")
    with pytest.raises(OutputError):
        check_output_folder(out, catalog_root=catalog_dir)
    if where == "foreign-folder":
        assert (out / "service.py").read_text() == "hand written\n"


def test_refuses_the_generator_package_itself(catalog_dir: Path) -> None:
    import generator

    package = Path(next(iter(generator.__path__)))
    with pytest.raises(OutputError):
        check_output_folder(package / "generated", catalog_root=catalog_dir)
    with pytest.raises(OutputError):
        check_output_folder(package.parent, catalog_root=catalog_dir)


@pytest.mark.parametrize(
    "relative",
    [
        "a.py",
        "messages/m.py",
        "./a.py",
        "a//b.py",
        "a/./b.py",
        "a/",
        "",
        ".",
        "..",
        "a/../b.py",
        "/etc/x.py",
        "//x.py",
        "a\\b.py",
    ],
)
def test_plain_parts_read_paths_as_pure_posix_paths_do(relative: str) -> None:
    pure = PurePosixPath(relative)
    refused = pure.is_absolute() or not pure.parts or any(p in ("..", ".") for p in pure.parts)
    if refused:
        with pytest.raises(OutputError):
            _plain_parts(relative)
    else:
        assert _plain_parts(relative) == pure.parts


def test_a_same_size_hand_edit_is_rewritten(tmp_path: Path, catalog_dir: Path) -> None:
    out = tmp_path / "gen"
    files = {"a.py": "x = 1\n", "pkg/b.py": "y = 2\n", MANIFEST: EMPTY}
    write_output(files, out, catalog_root=catalog_dir)
    (out / "pkg" / "b.py").write_text("y = 3\n")  # same size, other bytes
    report = write_output(files, out, catalog_root=catalog_dir)
    assert report.written == ["pkg/b.py"]
    assert sorted(report.unchanged) == sorted([MANIFEST, "a.py"])
    assert (out / "pkg" / "b.py").read_text() == "y = 2\n"
