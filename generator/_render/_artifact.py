"""One generated file: where it goes, its text, and the catalog files it was made from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the output folder, POSIX separators
    text: str
    sources: tuple[str, ...]  # catalog files (``catalog/...``) this file came from


def as_texts(artifacts: Iterable[Artifact]) -> dict[str, str]:
    return {a.path: a.text for a in artifacts}
