"""Golden cases: each tests/golden/<case>/catalog generates exactly tests/golden/<case>/expected.

A failure prints the unified diff of every differing file; after an intended change, refresh the
expected output with ``pytest tests/golden --update-golden`` and review the diff in git.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from generator._check import compare_folder, format_drift
from generator._cmd_check import run as run_check
from generator._cmd_generate import run as run_generate
from generator._generate import render_folder

HERE = Path(__file__).parent
CASES = sorted(p.name for p in HERE.iterdir() if (p / "catalog").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    catalog = HERE / case / "catalog"
    expected = HERE / case / "expected"
    # The output folder's name is the package name, so render as "generated" like the real one.
    rendered = render_folder(catalog, Path("generated"))
    if update_golden:
        shutil.rmtree(expected, ignore_errors=True)
        for path, text in rendered.files.items():
            target = expected / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
        pytest.skip(f"rewrote {expected.relative_to(HERE)}")
    drifts = compare_folder(rendered.files, expected)
    assert not drifts, (
        f"{case}: generated output differs (refresh: pytest tests/golden --update-golden)\n"
        + format_drift(drifts, f"tests/golden/{case}/expected")
    )


@pytest.mark.parametrize("case", CASES)
def test_generate_then_check_through_the_commands(case: str, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run_generate(HERE / case / "catalog", out, stdout=stdout, stderr=stderr) == 0
    assert run_check(HERE / case / "catalog", out, stdout=stdout, stderr=stderr) == 0
    expected = HERE / case / "expected"
    for path in sorted(p for p in expected.rglob("*") if p.is_file()):
        relative = path.relative_to(expected)
        assert (out / relative).read_bytes() == path.read_bytes(), relative
