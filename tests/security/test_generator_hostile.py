"""The generator on a hostile copy of the catalog: `python -m generator generate` must refuse an
id that climbs out of the output folder, and render text that looks like code as text.

The copy lives in a sandbox folder; the tests compare the sandbox's files before and after, so
a write anywhere but the output folder (a traversal, a cache, a marker the payload would drop)
shows up. The payload, were it ever executed, only creates a folder in the sandbox.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import generator
from tests.security.apis import CATALOG, ROOT

COMMAND = Path("domains/Shopping/systems/cart-system/services/CartAPI/commands/create-cart")


def sandbox_with_catalog(tmp_path: Path) -> tuple[Path, Path]:
    sandbox = tmp_path / "sandbox"
    catalog = sandbox / "catalog"
    shutil.copytree(CATALOG, catalog)
    (sandbox / "work").mkdir()
    return sandbox, catalog


def edit_frontmatter(page: Path, **changes: str) -> None:
    """Rewrite fields of an .mdx page's YAML frontmatter (values quoted by the YAML dumper)."""
    _, front, body = page.read_text(encoding="utf-8").split("---\n", 2)
    fields = yaml.safe_load(front)
    fields.update(changes)
    dumped = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True, width=10_000)
    page.write_text(f"---\n{dumped}---\n{body}", encoding="utf-8")


def files_under(folder: Path, *, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file below `folder` (except under `skip`) with its size and modification time."""
    found = {}
    for path in folder.rglob("*"):
        if skip is not None and path.is_relative_to(skip):
            continue
        if path.is_file():
            stat = path.stat()
            found[path.relative_to(folder).as_posix()] = (stat.st_size, stat.st_mtime_ns)
    return found


def run_generator(sandbox: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENERATOR_CACHE")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "generator", "generate", "catalog", "--out", str(out)],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_id_that_climbs_out_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    sandbox, catalog = sandbox_with_catalog(tmp_path)
    hostile = "../../escaped"
    page = catalog / COMMAND / "index.mdx"
    edit_frontmatter(page, id=hostile)
    out = sandbox / "work" / "generated"
    before = files_under(tmp_path)

    finished = run_generator(sandbox, out)

    assert finished.returncode == 1, finished.stderr
    assert "ids/unsafe" in finished.stderr and "index.mdx" in finished.stderr, finished.stderr
    assert files_under(tmp_path) == before, "the generator wrote files"
    assert not out.exists()
    assert not list(tmp_path.rglob("escaped*"))
    # The library API says the same: lint names the page, generate refuses.
    problems = [
        p for p in generator.lint(generator.load_catalog(catalog)) if p.rule == "ids/unsafe"
    ]
    assert [Path(p.path).name for p in problems] == ["index.mdx"], problems
    with pytest.raises(Exception) as refused:
        generator.generate(catalog, out=out)
    assert getattr(refused.value, "code", None) == 1, refused.value
    assert any(p.rule == "ids/unsafe" for p in getattr(refused.value, "problems", ())), refused
    assert files_under(tmp_path) == before


def test_text_that_looks_like_code_stays_text(tmp_path: Path) -> None:
    sandbox, catalog = sandbox_with_catalog(tmp_path)
    marker = sandbox / "pwned"
    payload = f"__import__('os').makedirs({str(marker)!r})"
    summary = f'Opens a cart.""" + {payload} + """ \'\'\' {{{{ 7*7 }}}} \\ {payload}'
    description = f'""" {payload} #'
    page = catalog / COMMAND / "index.mdx"
    edit_frontmatter(page, summary=summary)
    schema = catalog / COMMAND / "schema.json"
    document = json.loads(schema.read_text(encoding="utf-8"))
    document["description"] = description
    schema.write_text(json.dumps(document, indent=2), encoding="utf-8")
    work = sandbox / "work"
    out = work / "generated"
    before = files_under(tmp_path)

    finished = run_generator(sandbox, out)

    assert finished.returncode == 0, finished.stderr
    written = files_under(tmp_path, skip=out)
    assert written == before, "the generator wrote outside its output folder"
    generated = sorted(out.rglob("*.py"))
    assert generated
    for module in generated:
        tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
        ]
        assert calls == [], f"{module}: code from the catalog became a call"
    # The text survives as data: verbatim in the registry, re-wrapped in docstrings.
    message = out / "messages" / "create_cart.py"
    strings = [flat(s) for s in string_constants(message)]
    assert any(flat(summary) in s for s in strings), "the summary is not kept as a string"
    assert any(flat(description) in s for s in strings), "the description is not kept as a string"
    assert summary in string_constants(out / "catalog.py")
    # Importing the whole generated package runs none of it.
    imported = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        cwd=work,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)])},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert imported.returncode == 0, imported.stderr
    seen = json.loads(imported.stdout)
    assert seen["registry"] == summary
    assert flat(summary) in flat(seen["module"]) and flat(description) in flat(seen["model"])
    assert not marker.exists(), "the payload ran"


def flat(text: str) -> str:
    """`text` with every run of whitespace made one space (docstrings are re-wrapped)."""
    return " ".join(text.split())


def string_constants(module: Path) -> list[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


# Import every generated module of the sandbox's package; print where the hostile text landed.
IMPORT_ALL = """
import importlib, json, pkgutil, generated
assert "sandbox" in generated.__path__[0], generated.__path__
for info in pkgutil.walk_packages(generated.__path__, "generated."):
    importlib.import_module(info.name)
message = importlib.import_module("generated.messages.create_cart")
registry = importlib.import_module("generated.catalog").MESSAGES["create-cart"]
print(json.dumps(
    {"module": message.__doc__, "model": message.CreateCart.__doc__, "registry": registry.summary}
))
"""
