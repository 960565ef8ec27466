"""One forked helper process for one slow, pure job, so it runs on another core meanwhile.

The machine this targets has two cores, and generation spends a third of its time in one
dependency (datamodel-code-generator: importing it, then converting every schema). A `Worker`
is a fork of the current process that can start importing right away (`warm`), then waits for
its single job: a module-level function and its arguments, handed over in a temporary file
(the job may be large, and a pipe would block the main process until the helper reads it).
Or it is forked with its job, when the arguments exist already (a loaded catalog to lint).
The outcome comes back pickled through a pipe and is read when the main process needs it.

What the job raises comes back as the same exception. Anything else that goes wrong (the fork
fails, the helper dies, the outcome cannot be pickled) raises `WorkerFailed`, and the caller
runs the job in its own process instead, which gives exactly the result or error it would
have given without a helper. Only Linux forks (elsewhere, and with ``GENERATOR_WORKER=off``,
`Worker.start` returns None); the helper never runs anything but its job, and leaves with
`os._exit`, so the parent's buffers, temporary folders and exit handlers stay the parent's.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

__all__ = ["WORKER_ENV", "Worker", "WorkerFailed", "workers_enabled"]

WORKER_ENV = "GENERATOR_WORKER"
_OFF = frozenset({"0", "off", "false", "no"})
_SHM = "/dev/shm"
_MAX_FD = 65536
_STOP_SECONDS = 5.0  # a stopped helper cleans up within this, or is killed


class WorkerFailed(Exception):
    """The helper gave no outcome; the job should run in the calling process."""


def workers_enabled() -> bool:
    """True when helpers may be forked here (Linux, and not switched off)."""
    if os.environ.get(WORKER_ENV, "").strip().lower() in _OFF:
        return False
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _temporary_root() -> str | None:
    if os.environ.get("TMPDIR"):
        return None
    return _SHM if os.path.isdir(_SHM) and os.access(_SHM, os.W_OK) else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


class Worker:
    """A forked helper: `start` it, `submit` one job, read its `result`, `close` it."""

    def __init__(self, pid: int, requests: int, results: int) -> None:
        self.pid = pid
        self._requests: int | None = requests  # write end: the path of the job's file
        self._results: int | None = results  # read end: the pickled outcome
        self._job_file: str | None = None
        self._submitted = False
        self._status: int | None = None  # wait status once reaped

    @classmethod
    def start(
        cls,
        warm: Callable[[], object] | None = None,
        *,
        job: tuple[Callable[..., Any], tuple[Any, ...]] | None = None,
    ) -> Worker | None:
        """Fork a helper that runs `warm` (imports, typically) and then waits for its job.

        With `job` (a function and its arguments) the helper runs it at once instead: it has
        the arguments already, as a fork, however large they are; only the outcome is sent.
        None when helpers are off or the fork fails: the caller then works alone.
        """
        if not workers_enabled():
            return None
        fds: list[int] = []
        try:
            requests_read, requests_write = os.pipe()
            fds += [requests_read, requests_write]
            results_read, results_write = os.pipe()
            fds += [results_read, results_write]
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        if pid == 0:  # pragma: no cover - the helper's side; it leaves through os._exit
            _serve(requests_read, results_write, warm, job, (requests_write, results_read))
        os.close(requests_read)
        os.close(results_write)
        worker = cls(pid, requests_write, results_read)
        if job is not None:
            worker._submitted = True
            worker._requests = None
            os.close(requests_write)
        return worker

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        """Hand the helper its job: `function` (defined at module level) called with `args`."""
        if self._submitted or self._requests is None:
            raise WorkerFailed("a worker runs one job")
        self._submitted = True
        requests, self._requests = self._requests, None
        try:
            fd, path = tempfile.mkstemp(prefix="generator-job-", dir=_temporary_root())
            self._job_file = path
            with os.fdopen(fd, "wb") as handle:
                pickle.dump((function, args), handle, protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(requests, os.fsencode(path))
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            raise WorkerFailed(f"cannot hand the job over: {exc}") from exc
        finally:
            os.close(requests)  # end of the request: the helper reads up to here

    def result(self) -> Any:
        """Wait for the job's outcome: its value, or the exception it raised.

        Raises `WorkerFailed` when there is no outcome (the caller then runs the job itself).
        """
        if not self._submitted or self._results is None:
            raise WorkerFailed("no job was submitted")
        results, self._results = self._results, None
        try:
            data = _read_all(results)
        except BaseException as exc:  # interrupted: the helper is not waited for, but stopped
            os.close(results)
            self._reap(kill=True)
            if isinstance(exc, OSError):
                raise WorkerFailed(f"cannot read the worker's result: {exc}") from exc
            raise
        os.close(results)
        self._reap(kill=False)  # the end of its output: it is leaving
        if self._status is None or not os.WIFEXITED(self._status):
            raise WorkerFailed(f"the worker ended abnormally (status {self._status})")
        if os.WEXITSTATUS(self._status) != 0 or not data:
            raise WorkerFailed(f"the worker failed (exit {os.WEXITSTATUS(self._status)})")
        try:
            kind, value = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - any damage means no outcome
            raise WorkerFailed(f"unreadable result: {exc}") from exc
        if kind == "ok":
            return value
        if kind == "raised" and isinstance(value, BaseException):
            raise value
        raise WorkerFailed(str(value))

    def close(self) -> None:
        """Stop the helper if it still runs (its result is not wanted), and reap it."""
        for name in ("_requests", "_results"):
            fd = getattr(self, name)
            if fd is not None:
                setattr(self, name, None)
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._reap(kill=True)

    def _reap(self, *, kill: bool) -> None:
        if self._status is None:
            try:
                if kill:
                    self._stop()
                if self._status is None:
                    _, self._status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self._status = -1
        if self._job_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._job_file)
            self._job_file = None

    def _stop(self) -> None:
        """Ask the helper to stop (it removes its temporary files), then force it."""
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_SECONDS
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._status = status
                return
            time.sleep(0.002)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Stopped(BaseException):
    """The parent no longer wants the helper's result (SIGTERM)."""


def _stopped(signum: int, frame: object) -> None:  # pragma: no cover - in the helper
    raise _Stopped


def _serve(  # pragma: no cover - runs in the helper, measured through the parent's tests
    requests: int,
    results: int,
    warm: Callable[[], object] | None,
    job: tuple[Callable[..., Any], tuple[Any, ...]] | None,
    parents: tuple[int, ...],
) -> None:
    """The helper's whole life: warm up, read the job, run it, send the outcome, leave."""
    status = 1
    try:
        for fd in parents:
            os.close(fd)
        # Other inherited descriptors too: a pipe end of another worker held open here would
        # keep that worker from ever seeing the end of its request.
        low, high = sorted((requests, results))
        os.closerange(3, low)
        os.closerange(low + 1, high)
        os.closerange(high + 1, _MAX_FD)
        import gc

        gc.disable()  # a short life that keeps almost everything it makes
        signal.signal(signal.SIGTERM, _stopped)  # unwinds: temporary folders are removed
        if job is not None:
            os.close(requests)
            function, args = job
        else:
            if warm is not None:
                with contextlib.suppress(Exception):  # the job meets the same problem
                    warm()
            path = os.fsdecode(_read_all(requests))
            os.close(requests)
            if not path:
                status = 0  # no job after all
                return
            with open(path, "rb") as handle:
                function, args = pickle.load(handle)
            os.unlink(path)
        try:
            outcome: tuple[str, Any] = ("ok", function(*args))
        except Exception as exc:  # noqa: BLE001 - every error goes back to the parent
            outcome = ("raised", exc)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps(("failed", f"cannot send the outcome: {exc!r}"))
        _write_all(results, data)
        status = 0
    except BaseException:  # noqa: BLE001 - whatever happens, leave without the parent's cleanup
        status = 1
    finally:
        os._exit(status)
