"""Errors and warnings raised while turning the catalog model into code."""

from __future__ import annotations

from dataclasses import dataclass


class RenderError(Exception):
    """The catalog cannot be rendered; the message names what and where."""


@dataclass(frozen=True, order=True)
class RenderWarning:
    """Something rendered with a fallback (for example a message without a JSON Schema)."""

    where: str  # catalog-relative path, optionally ``path:line``
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"
