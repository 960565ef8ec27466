"""The model worker changes nothing but time: datamodel-code-generator's batch gives the same
code in a forked worker as in this process; a worker that fails is replaced by this process;
the batch's own errors read the same; lint still refuses a broken catalog first."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest

from generator import _generate as generate_module
from generator._build import load_catalog
from generator._cmd_generate import run as run_generate
from generator._generate import CatalogErrors, generate
from generator._render import _datamodel as datamodel
from generator._render import render_catalog
from generator._render._cache import CACHE_DIR_ENV, CACHE_ENV, Cache
from generator._render._errors import RenderError
from generator._render._format import format_python, start_format
from generator._render._worker import WORKER_ENV, Worker, WorkerFailed, workers_enabled

ROOT = Path(__file__).parents[2]
GOLDEN = ROOT / "tests" / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "catalog").is_dir())
M = datamodel.MARKER

pytestmark = pytest.mark.skipif(not workers_enabled(), reason="workers fork on Linux only")

SCHEMAS: dict[str, dict[str, Any]] = {
    "messages/order_placed": {
        "type": "object",
        "title": f"{M}",
        "properties": {
            "order_id": {"type": "string"},
            "lines": {"type": "array", "items": {"$ref": f"#/$defs/{M}Line"}},
        },
        "required": ["order_id"],
        "$defs": {f"{M}Line": {"type": "object", "properties": {"sku": {"type": "string"}}}},
    },
    "messages/order_shipped": {"type": "object", "title": f"{M}", "properties": {}},
}
NAMES = {"messages/order_placed": "OrderPlaced", "messages/order_shipped": "OrderShipped"}
BROKEN = {
    **SCHEMAS,
    "messages/order_lost": {
        "type": "object",
        "title": f"{M}",
        "properties": {"where": {"$ref": "elsewhere.json"}},
    },
}
BROKEN_NAMES = {**NAMES, "messages/order_lost": "OrderLost"}


def _never(*_: object) -> NoReturn:
    raise AssertionError("the batch ran in this process, not in the worker")


def _boom(*_: object) -> NoReturn:
    raise OSError("the worker's disk is gone")


def _sabotage() -> None:
    """A worker's warm-up that breaks its copy of the batch function (not this process's)."""
    datamodel._generate_batch = _boom  # type: ignore[assignment]


def _die() -> None:
    os._exit(3)


def _files(result: Any) -> dict[str, str]:
    return dict(result.files)


@pytest.mark.parametrize("case", CASES)
def test_worker_renders_the_same_bytes_as_this_process(case: str) -> None:
    catalog = load_catalog(GOLDEN / case / "catalog")
    alone = _files(render_catalog(catalog, cache=Cache.off(), worker=False))
    assert _files(render_catalog(catalog, cache=Cache.off(), worker=True)) == alone
    early = datamodel.start_model_worker()
    assert early is not None
    assert _files(render_catalog(catalog, cache=Cache.off(), worker=early)) == alone


def test_the_real_catalog_renders_the_same_with_a_worker() -> None:
    catalog = load_catalog(ROOT / "catalog")
    alone = render_catalog(catalog, cache=Cache.off(), worker=False)
    helped = render_catalog(catalog, cache=Cache.off(), worker=datamodel.start_model_worker())
    assert helped == alone


def test_the_batch_really_runs_in_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = datamodel.generate_models(SCHEMAS, NAMES)
    worker = datamodel.start_model_worker()
    pending = datamodel.start_models(SCHEMAS, NAMES, worker=worker)
    assert pending.worker is worker
    # From here this process cannot generate anything; the worker (forked before) still can.
    monkeypatch.setattr(datamodel, "_generate_batch", _never)
    assert pending.result() == expected


def test_a_worker_that_dies_is_replaced_by_this_process() -> None:
    expected = datamodel.generate_models(SCHEMAS, NAMES)
    worker = Worker.start(warm=_die)
    assert worker is not None
    assert datamodel.start_models(SCHEMAS, NAMES, worker=worker).result() == expected


def test_a_worker_killed_mid_batch_is_replaced_by_this_process() -> None:
    expected = datamodel.generate_models(SCHEMAS, NAMES)
    worker = datamodel.start_model_worker()
    assert worker is not None
    pending = datamodel.start_models(SCHEMAS, NAMES, worker=worker)
    os.kill(worker.pid, signal.SIGTERM)
    assert pending.result() == expected


def test_a_cancelled_batch_leaves_no_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the worker inherits it
    for mid_batch in (False, True):
        worker = datamodel.start_model_worker()
        assert worker is not None
        pending = datamodel.start_models(SCHEMAS, NAMES, worker=worker)
        deadline = time.monotonic() + 30
        while mid_batch and not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.001)  # until the worker has made its folder of schemas
        pending.cancel()
        assert [p.name for p in tmp_path.iterdir()] == []


def test_an_unexpected_error_in_the_worker_is_retried_here() -> None:
    expected = datamodel.generate_models(SCHEMAS, NAMES)
    worker = Worker.start(warm=_sabotage)
    assert worker is not None
    assert datamodel.start_models(SCHEMAS, NAMES, worker=worker).result() == expected


def _normalized(error: RenderError) -> str:
    return re.sub(r"generator-models?-[^/]+", "TMP", str(error))


def test_the_batch_error_reads_the_same_from_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RenderError) as here:
        datamodel.generate_models(BROKEN, BROKEN_NAMES)
    assert str(here.value).startswith("messages/order_lost: datamodel-code-generator cannot read")
    worker = datamodel.start_model_worker()
    pending = datamodel.start_models(BROKEN, BROKEN_NAMES, worker=worker)
    monkeypatch.setattr(datamodel, "_generate_batch", _never)  # the error must come from there
    with pytest.raises(RenderError) as there:
        pending.result()
    assert _normalized(there.value) == _normalized(here.value)


def test_a_cancelled_batch_leaves_no_process_behind() -> None:
    worker = datamodel.start_model_worker()
    assert worker is not None
    pending = datamodel.start_models(SCHEMAS, NAMES, worker=worker)
    pending.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(worker.pid, os.WNOHANG)  # reaped already


def test_a_fully_cached_batch_needs_no_worker(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    datamodel.generate_models(SCHEMAS, NAMES, cache=cache)
    cache.flush()
    worker = datamodel.start_model_worker()
    assert worker is not None
    pending = datamodel.start_models(SCHEMAS, NAMES, cache=cache, worker=worker)
    assert pending.worker is None  # closed at once: nothing to hand over
    with pytest.raises(ChildProcessError):
        os.waitpid(worker.pid, os.WNOHANG)
    assert pending.result() == datamodel.generate_models(SCHEMAS, NAMES)


def test_worker_returns_values_and_raises_the_jobs_errors() -> None:
    with Worker.start() as worker:
        worker.submit(divmod, 17, 5)
        assert worker.result() == (3, 2)
    with Worker.start() as worker:
        worker.submit(int, "seventeen")
        with pytest.raises(ValueError, match="seventeen"):
            worker.result()
    with Worker.start() as worker:
        with pytest.raises(WorkerFailed):
            worker.result()  # nothing submitted
        worker.submit(divmod, 1, 1)
        with pytest.raises(WorkerFailed):
            worker.submit(divmod, 1, 1)  # one job per worker


def test_two_workers_started_together_do_not_wait_for_each_other() -> None:
    def too_long(*_: object) -> NoReturn:
        raise AssertionError("a worker waited for the other one's pipe")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        with Worker.start() as first, Worker.start() as second:
            # `second` was forked while `first` still waited for its job: it must not hold
            # `first`'s request pipe open, or `first` would never see the end of its request.
            first.submit(divmod, 7, 2)
            assert first.result() == (3, 1)
            second.submit(divmod, 9, 4)
            assert second.result() == (2, 1)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_workers_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WORKER_ENV, "off")
    assert not workers_enabled()
    assert Worker.start() is None
    pending = datamodel.start_models(SCHEMAS, NAMES, worker=True)
    assert pending.worker is None
    assert pending.result() == datamodel.generate_models(SCHEMAS, NAMES)


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_command_starts_a_worker_early_and_writes_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = GOLDEN / "full" / "catalog"
    alone = tmp_path / "alone" / "generated"
    generate(catalog, out=alone, cache=Cache.off(), worker=False)
    started: list[Worker] = []
    real_start = Worker.start.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Worker], *args: Any, **kwargs: Any) -> Worker | None:
        worker: Worker | None = real_start(cls, *args, **kwargs)
        if worker is not None:
            started.append(worker)
        return worker

    monkeypatch.setattr(Worker, "start", classmethod(spy))
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))  # empty: start early
    monkeypatch.delenv(CACHE_ENV, raising=False)
    helped = tmp_path / "helped" / "generated"
    assert run_generate(catalog, helped) == 0
    assert len(started) == 1
    assert _tree(helped) == _tree(alone)
    # A filled cache: no early worker, and none later (every model is cached).
    shutil.rmtree(helped)
    started.clear()
    assert run_generate(catalog, helped) == 0
    assert started == []
    assert _tree(helped) == _tree(alone)
    capsys.readouterr()


def test_lint_errors_still_win_over_a_started_worker(tmp_path: Path) -> None:
    catalog = _broken_copy(tmp_path)
    worker = datamodel.start_model_worker()
    with pytest.raises(CatalogErrors):
        generate(catalog, out=tmp_path / "out" / "generated", cache=Cache.off(), worker=worker)
    with pytest.raises(ChildProcessError):
        assert worker is not None
        os.waitpid(worker.pid, os.WNOHANG)
    assert not (tmp_path / "out").exists()


# --- lint in a forked process (large catalogs) -------------------------------------------------


def _broken_copy(tmp_path: Path) -> Path:
    catalog = tmp_path / "catalog"
    shutil.copytree(GOLDEN / "full" / "catalog", catalog)
    page = next(p for p in sorted(catalog.rglob("index.md*")) if "/services/" in p.as_posix())
    text = page.read_text()
    page.write_text(re.sub(r"(?m)^id: (.*)$", r"id: ../\1", text, count=1))
    assert page.read_text() != text
    return catalog


def test_lint_apart_gives_the_same_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = GOLDEN / "full" / "catalog"
    alone = tmp_path / "alone" / "generated"
    generate(catalog, out=alone, cache=Cache.off(), worker=False)
    linters: list[Worker] = []
    real_start = generate_module._start_lint

    def spy(*args: Any) -> Worker | None:
        linter = real_start(*args)
        assert linter is not None
        linters.append(linter)
        return linter

    monkeypatch.setattr(generate_module, "LINT_APART", 1)
    monkeypatch.setattr(generate_module, "_start_lint", spy)
    apart = tmp_path / "apart" / "generated"
    generate(catalog, out=apart, cache=Cache.off())
    assert len(linters) == 1
    assert _tree(apart) == _tree(alone)


def test_lint_apart_reports_the_same_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _broken_copy(tmp_path)
    with pytest.raises(CatalogErrors) as here:
        generate(catalog, out=tmp_path / "a" / "generated", cache=Cache.off(), worker=False)
    monkeypatch.setattr(generate_module, "LINT_APART", 1)
    with pytest.raises(CatalogErrors) as apart:
        generate(catalog, out=tmp_path / "b" / "generated", cache=Cache.off())
    assert apart.value.problems == here.value.problems
    assert str(apart.value) == str(here.value)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_lint_process_that_dies_is_replaced_by_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = _broken_copy(tmp_path)
    with pytest.raises(CatalogErrors) as here:
        generate(catalog, out=tmp_path / "a" / "generated", cache=Cache.off(), worker=False)
    parent = os.getpid()
    real_lint = generate_module.lint_errors

    def dies_apart(model: Any) -> Any:
        if os.getpid() != parent:
            os._exit(5)
        return real_lint(model)

    monkeypatch.setattr(generate_module, "LINT_APART", 1)
    monkeypatch.setattr(generate_module, "lint_errors", dies_apart)
    with pytest.raises(CatalogErrors) as replaced:
        generate(catalog, out=tmp_path / "b" / "generated", cache=Cache.off())
    assert replaced.value.problems == here.value.problems


# --- formatting in two runs (what needs no model first) ------------------------------------------


def test_formatting_in_two_runs_gives_the_bytes_of_one() -> None:
    files = render_catalog(
        load_catalog(GOLDEN / "full" / "catalog"), cache=Cache.off(), format_code=False
    ).files
    whole = format_python(files)
    paths = sorted(files)
    first = start_format({p: files[p] for p in paths[::2]})
    second = start_format({p: files[p] for p in paths[1::2]})
    assert {**second.result(), **first.result()} == whole
    assert whole != dict(files)  # ruff did change something


def test_a_ruff_failure_reads_the_same_in_either_run() -> None:
    broken = {"pkg/bad.py": "def broken(:\n", "pkg/good.py": "x  =  1\n"}
    with pytest.raises(RenderError, match="ruff failed on generated code") as whole:
        format_python(broken)
    pending = start_format(broken)
    with pytest.raises(RenderError) as started:
        pending.result()
    assert str(started.value) == str(whole.value)
    dropped = start_format({"pkg/ok.py": "x  =  1\n"})
    dropped.cancel()  # stops ruff, removes the folder
    dropped.cancel()


# --- the cache written in the background while the output folder is ----------------------------


def test_a_background_flush_stores_the_same_entries(tmp_path: Path) -> None:
    catalog = GOLDEN / "full" / "catalog"
    plain = Cache(tmp_path / "plain")
    generate(catalog, out=tmp_path / "a" / "generated", cache=plain, worker=False)
    plain.close()
    later = Cache(tmp_path / "later")
    later.background = True
    generate(catalog, out=tmp_path / "b" / "generated", cache=later, worker=False)
    later.close()  # waits for the thread
    assert later._writer is None

    def entries(folder: Path) -> list[tuple[str, str, str]]:
        import sqlite3

        with sqlite3.connect(folder / "entries.sqlite3") as db:
            return sorted(db.execute("SELECT kind, key, sha256 FROM entry").fetchall())

    assert entries(tmp_path / "later") == entries(tmp_path / "plain")
    assert entries(tmp_path / "plain")
    assert _tree(tmp_path / "b" / "generated") == _tree(tmp_path / "a" / "generated")


def test_generate_flushes_its_own_cache_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(CACHE_ENV, raising=False)
    generate(GOLDEN / "basic" / "catalog", out=tmp_path / "a" / "generated")
    warm = Cache(tmp_path / "cache")
    generate(GOLDEN / "basic" / "catalog", out=tmp_path / "b" / "generated", cache=warm)
    assert warm.misses == 0 and warm.hits > 0
