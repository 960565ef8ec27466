"""open_catalog and messages_changed against folders and git revisions (real files, real git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator.analyst import open_catalog

PAGE = '---\nid: {id}\nname: {name}\nversion: "1.0.0"\n{extra}---\n{body}\n'
SCHEMA = '{"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}\n'


def write_catalog(root: Path) -> Path:
    service = root / "domains/Shopping/services/CartApi"
    pages = {
        root / "domains/Shopping/index.mdx": PAGE.format(
            id="shopping", name="Shopping", extra="services:\n  - id: cart-api\n", body="Carts."
        ),
        service / "index.mdx": PAGE.format(
            id="cart-api", name="Cart API", extra="sends:\n  - id: item-added\n", body="Carts."
        ),
        service / "events/item-added/index.mdx": PAGE.format(
            id="item-added", name="Item Added", extra="schemaPath: schema.json\n", body="Added."
        ),
        service / "events/item-added/schema.json": SCHEMA,
    }
    for path, text in pages.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_open_a_folder_and_compare_with_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    catalog_dir = write_catalog(repo / "catalog")
    git(repo, "init", "-q")
    git(repo, "add", "catalog")
    git(repo, "commit", "-q", "-m", "catalog")
    schema_file = catalog_dir / "domains/Shopping/services/CartApi/events/item-added/schema.json"
    schema_file.write_text(SCHEMA.replace('"string"', '"integer"'), encoding="utf-8")

    cat = open_catalog(catalog_dir)
    assert cat.domain("shopping").messages == ["item-added"]
    assert cat.schema("item-added")[0]["type"] == "integer"
    changes = cat.messages_changed("HEAD")
    assert changes.title == "Messages changed since HEAD"
    assert [(r["message"], r["change"], r["what"]) for r in changes] == [
        ("item-added", "changed", "schema")
    ]
    assert changes[0]["breaking"] == ["field-type-changed", "version-not-bumped"]
    # A folder works the same way, and an unknown revision is a clear error.
    assert len(cat.messages_changed(catalog_dir)) == 0
    with pytest.raises(ValueError, match="neither a folder nor a git revision"):
        cat.messages_changed("no-such-revision")


def test_open_catalog_finds_the_repository_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    write_catalog(repo / "catalog")
    git(repo, "init", "-q")
    (repo / "notebooks").mkdir()
    monkeypatch.chdir(repo / "notebooks")
    assert open_catalog().domains().column("domain") == ["shopping"]


def test_open_catalog_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="no such catalog folder"):
        open_catalog(tmp_path / "missing")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="not inside a git repository"):
        open_catalog()
