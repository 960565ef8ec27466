"""``python -m generator lint`` and ``rules``: exit codes, text and JSON output, usage errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from generator import RULES
from generator.cli import main

FULL = Path(__file__).parent / "fixtures" / "full"


def _catalog(root: Path, service: str) -> Path:
    (root / "services" / "S").mkdir(parents=True)
    (root / "services" / "S" / "index.mdx").write_text(service, encoding="utf-8")
    return root


BROKEN = "---\nid: s\nname: S\nversion: 1.0\ntier: 1\n---\nSee [[service|s]].\n"
CLEAN = "---\nid: s\nname: S\nversion: '1.0.0'\n---\n"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_clean_catalog_exits_0(tmp_path: Path) -> None:
    code, out, err = run("lint", str(_catalog(tmp_path, CLEAN)))
    assert (code, out) == (0, "")
    assert "no problems in 1 page(s)" in err


def test_problems_exit_1_with_sorted_positioned_lines(tmp_path: Path) -> None:
    code, out, err = run("lint", str(_catalog(tmp_path, BROKEN)))
    assert code == 1
    assert out.splitlines() == [
        "services/S/index.mdx:4:1: error frontmatter/non-string-version: "
        "'version' must be a quoted "
        'string (write version: "1.0.0"), not a number (1.0)',
        "services/S/index.mdx:5:1: error frontmatter/unknown-key: unknown key 'tier' for "
        "services; custom keys must start with 'x-'",
    ]
    assert "2 error(s), 0 warning(s)" in err


def test_json_format(tmp_path: Path) -> None:
    code, out, _err = run("lint", str(_catalog(tmp_path, BROKEN)), "--format", "json")
    assert code == 1
    rows = json.loads(out)
    assert [(r["path"], r["line"], r["column"], r["severity"], r["rule"]) for r in rows] == [
        ("services/S/index.mdx", 4, 1, "error", "frontmatter/non-string-version"),
        ("services/S/index.mdx", 5, 1, "error", "frontmatter/unknown-key"),
    ]
    assert set(rows[0]) == {"path", "line", "column", "severity", "rule", "message"}


def test_warnings_alone_exit_0_unless_strict(tmp_path: Path) -> None:
    root = _catalog(tmp_path, CLEAN.replace("'1.0.0'", "'1.0'"))
    code, out, _err = run("lint", str(root))
    assert code == 0 and "warning frontmatter/non-semver-version" in out
    assert run("lint", str(root), "--strict")[0] == 1


def test_ignore_rules_and_families(tmp_path: Path) -> None:
    root = _catalog(tmp_path, BROKEN)
    code, out, _err = run("lint", str(root), "--ignore", "frontmatter/")
    assert (code, out) == (0, "")
    code, out, _err = run("lint", str(root), "--ignore", "frontmatter/unknown-key")
    assert code == 1 and "unknown-key" not in out and "non-string-version" in out


@pytest.mark.parametrize(
    "argv",
    [
        ("lint", "does-not-exist"),
        ("lint",),
        ("lint", ".", "--format", "xml"),
        ("no-such-command",),
    ],
)
def test_usage_errors_exit_2(
    argv: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _out, err = run(*argv)
    assert code == 2
    assert "Usage" in err or "Error" in err


def test_lint_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert run("lint", str(target))[0] == 2


def test_rules_lists_every_rule() -> None:
    code, out, _err = run("rules")
    assert code == 0
    assert len(out.splitlines()) == len(RULES)
    assert out.splitlines()[0].startswith("files/unreadable")
    code, out, _err = run("rules", "--format", "json")
    assert {r["id"] for r in json.loads(out)} == {r.id for r in RULES}


def test_python_dash_m_entry_point() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "generator", "lint", str(FULL), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0, completed.stderr
    assert [r["rule"] for r in json.loads(completed.stdout)] == ["schemas/not-json-schema"]


def test_a_broken_command_module_does_not_break_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import cli

    monkeypatch.setitem(cli.COMMANDS, "broken", "generator._no_such_module")
    code, out, err = run("--help")
    assert code == 0 and "lint" in out and "command 'broken' is unavailable" in err
    assert run("lint", str(_catalog(tmp_path, CLEAN)))[0] == 0
