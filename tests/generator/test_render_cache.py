"""The render cache changes nothing but time: same bytes with no cache, an empty, a warm, a
partial or a damaged one; entries are keyed by content and tool versions; a warm run imports
neither datamodel-code-generator nor sqlglot."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from generator._build import load_catalog
from generator._generate import generate
from generator._render import _datamodel as datamodel
from generator._render import render_catalog
from generator._render._cache import CACHE_DIR_ENV, CACHE_ENV, Cache, key_of

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "catalog").is_dir())
SCHEMA = "domains/Sales/systems/sales-system/services/OrderAPI/events/order-accepted/schema.json"


def _render(catalog: Path, cache: Cache) -> dict[str, str]:
    return render_catalog(load_catalog(catalog), cache=cache).files


def _entries(cache: Cache, kind: str) -> list[str]:
    assert cache.database is not None
    with sqlite3.connect(cache.database) as db:
        return [
            k for (k,) in db.execute("SELECT key FROM entry WHERE kind = ? ORDER BY key", (kind,))
        ]


def _delete(cache: Cache, kind: str, keys: list[str]) -> None:
    assert cache.database is not None
    with sqlite3.connect(cache.database) as db:
        db.executemany("DELETE FROM entry WHERE kind = ? AND key = ?", [(kind, k) for k in keys])


@pytest.mark.parametrize("case", CASES)
def test_no_cache_empty_warm_and_partial_cache_give_the_same_bytes(
    case: str, tmp_path: Path
) -> None:
    catalog = GOLDEN / case / "catalog"
    plain = _render(catalog, Cache.off())

    cache = Cache(tmp_path / "cache")
    assert _render(catalog, cache) == plain  # empty: fills it
    assert cache.misses > 0
    models, formatted = _entries(cache, "models"), _entries(cache, "ruff")
    assert models and formatted

    warm = Cache(tmp_path / "cache")
    assert _render(catalog, warm) == plain
    assert warm.misses == 0 and warm.hits >= len(models) + len(formatted)

    # Half the entries gone: the rest are generated in a smaller batch, same bytes.
    _delete(cache, "models", models[::2])
    _delete(cache, "ruff", formatted[1::2])
    assert _render(catalog, Cache(tmp_path / "cache")) == plain
    # A single model to generate (datamodel-code-generator then gets a one-file folder).
    _delete(cache, "models", _entries(cache, "models")[1:])
    assert _render(catalog, Cache(tmp_path / "cache")) == plain


def test_the_real_catalog_renders_the_same_with_and_without_cache(tmp_path: Path) -> None:
    catalog = ROOT / "catalog"
    plain = _render(catalog, Cache.off())
    assert _render(catalog, Cache(tmp_path / "cache")) == plain
    warm = Cache(tmp_path / "cache")
    assert _render(catalog, warm) == plain
    assert warm.misses == 0


def test_generate_writes_the_same_folder_with_and_without_cache(tmp_path: Path) -> None:
    catalog = GOLDEN / "full" / "catalog"
    without = tmp_path / "a" / "generated"
    with_cache = tmp_path / "b" / "generated"
    generate(catalog, out=without, cache=Cache.off())
    generate(catalog, out=with_cache, cache=Cache(tmp_path / "cache"))
    shutil.rmtree(with_cache)
    generate(catalog, out=with_cache, cache=Cache(tmp_path / "cache"))  # warm
    snapshot = {p.relative_to(without): p.read_bytes() for p in without.rglob("*") if p.is_file()}
    assert snapshot
    for relative, data in snapshot.items():
        assert (with_cache / relative).read_bytes() == data, relative
    assert len([p for p in with_cache.rglob("*") if p.is_file()]) == len(snapshot)


def test_a_damaged_entry_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    catalog = GOLDEN / "full" / "catalog"
    plain = _render(catalog, Cache.off())
    cache = Cache(tmp_path / "cache")
    _render(catalog, cache)
    assert cache.database is not None
    with sqlite3.connect(cache.database) as db:
        db.execute(
            "UPDATE entry SET body = CAST(replace(CAST(body AS TEXT), 'class ', 'klass ') AS BLOB) "
            "WHERE kind = 'models' AND key = ?",
            (_entries(cache, "models")[0],),
        )
    second = Cache(tmp_path / "cache")
    assert _render(catalog, second) == plain
    assert second.misses == 1
    third = Cache(tmp_path / "cache")
    _render(catalog, third)
    assert third.misses == 0  # rewritten by the second run


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    catalog = GOLDEN / "basic" / "catalog"
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    assert _render(catalog, Cache(blocked)) == _render(catalog, Cache.off())


def test_changing_one_schema_misses_only_its_model(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(GOLDEN / "full" / "catalog", catalog)
    _render(catalog, Cache(tmp_path / "cache"))
    schema_file = catalog / SCHEMA
    schema = json.loads(schema_file.read_text())
    schema["properties"]["couponCode"] = {"type": "string"}
    schema_file.write_text(json.dumps(schema, indent=2))
    cache = Cache(tmp_path / "cache")
    files = _render(catalog, cache)
    assert cache.misses >= 1
    assert "coupon_code" in files["messages/order_accepted.py"]
    assert _render(catalog, Cache.off()) == files


def test_keys_follow_tool_version_and_input(monkeypatch: pytest.MonkeyPatch) -> None:
    assert key_of("models", ["a", "b"]) != key_of("models", ["ab", ""])  # lengths delimit
    assert key_of("models", ["a"]) != key_of("ruff", ["a"])
    before = datamodel._cache_key("{}", True)
    assert datamodel._cache_key("{}", False) != before
    assert datamodel._cache_key('{"type": "object"}', True) != before
    monkeypatch.setattr(datamodel, "dist_version", lambda *_: "999.0")
    assert datamodel._cache_key("{}", True) != before


def test_where_the_cache_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    project = tmp_path / "project"
    (project / "catalog").mkdir(parents=True)
    assert Cache.for_catalog(project / "catalog").folder is None  # no project around it
    (project / "pyproject.toml").write_text("")
    assert Cache.for_catalog(project / "catalog").folder == project / ".cache" / "generator"
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "elsewhere"))
    assert Cache.for_catalog(project / "catalog").folder == tmp_path / "elsewhere"
    monkeypatch.setenv(CACHE_ENV, "off")
    assert not Cache.for_catalog(project / "catalog").enabled


def test_a_warm_run_imports_neither_datamodel_code_generator_nor_sqlglot(tmp_path: Path) -> None:
    catalog = GOLDEN / "full" / "catalog"
    cache = tmp_path / "cache"
    _render(catalog, Cache(cache))
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from generator._generate import render_folder\n"
        f"render_folder(Path({str(catalog)!r}), Path('generated'))\n"
        "print(sorted(m for m in ('datamodel_code_generator', 'sqlglot') if m in sys.modules))\n"
    )
    env = {**os.environ, CACHE_DIR_ENV: str(cache), "PYTHONPATH": str(ROOT)}
    env.pop(CACHE_ENV, None)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_a_file_that_is_no_database_is_replaced(tmp_path: Path) -> None:
    catalog = GOLDEN / "basic" / "catalog"
    plain = _render(catalog, Cache.off())
    cache = Cache(tmp_path / "cache")
    assert cache.database is not None
    cache.database.parent.mkdir(parents=True)
    cache.database.write_bytes(b"not a database, just some bytes " * 100)
    assert _render(catalog, cache) == plain
    warm = Cache(tmp_path / "cache")
    assert _render(catalog, warm) == plain
    assert warm.hits > 0 and warm.misses == 0
