"""The generate and check commands end to end on a catalog folder: determinism and drift."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from generator._cmd_check import run as check
from generator._cmd_generate import run as generate
from generator._generate import GenerateError
from generator._generate import check as check_package
from generator._generate import generate as generate_package
from generator.cli import main

GOLDEN = Path(__file__).parents[1] / "golden" / "full" / "catalog"
SCHEMA = "domains/Sales/systems/sales-system/services/OrderAPI/events/order-accepted/schema.json"


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "catalog"
    shutil.copytree(GOLDEN, folder)
    return folder


def _generate(catalog: Path, out: Path) -> list[str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    assert generate(catalog, out, stdout=stdout, stderr=stderr) == 0, stderr.getvalue()
    return sorted(line.split(" ", 1)[1] for line in stdout.getvalue().splitlines())


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_generate_twice_is_byte_identical_and_writes_nothing(catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    _generate(catalog, out)
    first = _snapshot(out)
    assert _generate(catalog, out) == []  # nothing rewritten
    assert _snapshot(out) == first
    # Another place on disk gives the same bytes: no absolute path or time leaks into the output.
    elsewhere = tmp_path / "other" / "generated"
    _generate(catalog, elsewhere)
    assert _snapshot(elsewhere) == first


def test_changing_one_schema_changes_exactly_its_module(catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    _generate(catalog, out)
    before = _snapshot(out)
    schema_file = catalog / SCHEMA
    schema = json.loads(schema_file.read_text())
    schema["properties"]["couponCode"] = {"type": "string", "description": "Coupon used."}
    schema_file.write_text(json.dumps(schema, indent=2))
    written = _generate(catalog, out)
    assert written == [
        f"{out.as_posix()}/manifest.json",
        f"{out.as_posix()}/messages/order_accepted.py",
    ]
    after = _snapshot(out)
    changed = sorted(p for p in after if after[p] != before.get(p))
    assert changed == ["manifest.json", "messages/order_accepted.py"]
    assert b"coupon_code" in after["messages/order_accepted.py"]


def test_check_reports_hand_edits_missing_extra_and_stale(catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    _generate(catalog, out)
    stdout, stderr = io.StringIO(), io.StringIO()
    assert check(catalog, out, stdout=stdout, stderr=stderr) == 0
    assert "up to date" in stderr.getvalue()

    edited = out / "services" / "auditor.py"
    edited.write_text(edited.read_text() + "\nHACK = 1\n")
    (out / "datastores" / "sales_database.py").unlink()
    (out / "messages" / "scratch.py").write_text("x = 1\n")
    schema_file = catalog / SCHEMA
    schema_file.write_text(schema_file.read_text().replace('"WEB", "APP"', '"WEB", "APP", "POS"'))

    stdout, stderr = io.StringIO(), io.StringIO()
    assert check(catalog, out, stdout=stdout, stderr=stderr) == 1
    report = stdout.getvalue()
    folder = out.as_posix()
    assert f"{folder}/services/auditor.py: edited by hand after it was generated" in report
    assert f"{folder}/datastores/sales_database.py: missing" in report
    assert f"{folder}/messages/scratch.py: extra" in report
    assert f"{folder}/messages/order_accepted.py: stale" in report
    assert "-HACK = 1" in report  # the unified diff shows what generate would undo
    assert '+    channel: Annotated[Literal["WEB", "APP", "POS"]' in report
    assert "python -m generator generate" in stderr.getvalue()


def test_cli_exit_codes(catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "generated"
    assert main(["generate", str(catalog), "--out", str(out)]) == 0
    assert main(["check", str(catalog), "--out", str(out)]) == 0
    assert main(["check", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert main(["generate", str(catalog), "--out", str(catalog / "inside")]) == 2
    assert main(["generate", str(catalog), "--out", str(tmp_path / "not-a-package")]) == 2
    assert main(["check", "--no-such-option"]) == 2
    (out / "catalog.py").write_text("edited\n")
    assert main(["check", str(catalog), "--out", str(out), "--no-diff"]) == 1
    captured = capsys.readouterr()
    assert "catalog.py: edited by hand" in captured.out
    assert "---" not in captured.out  # --no-diff


def test_catalog_with_errors_is_refused(catalog: Path, tmp_path: Path) -> None:
    page = catalog / "domains/Sales/services/Auditor/index.mdx"
    page.write_text(page.read_text().replace("id: auditor", "id: ../auditor"))
    stdout, stderr = io.StringIO(), io.StringIO()
    assert generate(catalog, tmp_path / "generated", stdout=stdout, stderr=stderr) == 1
    assert "domains/Sales/services/Auditor/index.mdx" in stderr.getvalue()
    assert not (tmp_path / "generated").exists()


def test_library_api(catalog: Path, tmp_path: Path) -> None:
    out = tmp_path / "generated"
    generated = generate_package(catalog, out=out)
    assert "services/order_api.py" in generated.report.written
    assert check_package(catalog, out=out).up_to_date
    (out / "services" / "order_api.py").unlink()
    checked = check_package(catalog, out=out)
    assert [(d.path, d.kind) for d in checked.drifts] == [("services/order_api.py", "missing")]
    with pytest.raises(GenerateError, match="no such catalog folder"):
        generate_package(tmp_path / "missing", out=out)
