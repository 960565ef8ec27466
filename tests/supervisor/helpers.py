"""Helpers for the supervisor tests: fake child commands, condition polling, process checks."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from acme.runtime.supervisor import ChildSpec

FAKE = str(Path(__file__).with_name("fake_child.py"))


def fake(
    name: str, mode: str, state_dir: Path, *, stage: int = 1, export: str | None = None
) -> ChildSpec:
    return ChildSpec(
        name,
        (sys.executable, FAKE, name, mode, "{port}", str(state_dir)),
        env={"ACME_FAKE_PORT": "{port}"},
        export_url_as=export,
        stage=stage,
    )


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `condition()` holds; fail with a clear message if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"condition not reached within {timeout}s: {condition}")
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
