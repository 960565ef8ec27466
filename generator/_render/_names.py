"""Python names derived from catalog ids, and the checks that keep hostile ids out of code.

Every id that becomes a module, class, constant or method name goes through `module_name`,
`class_name` or `constant_name`; each one refuses anything that is not a plain identifier,
so a catalog can never smuggle code or a path separator into the generated package.
"""

from __future__ import annotations

import functools
import keyword
import re

from generator._render._errors import RenderError

_ID_SEPARATORS = re.compile(r"[-_.\s]+")
_SAFE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_VERSION = re.compile(r"^[0-9A-Za-z]+(?:[.\-+][0-9A-Za-z]+)*$")


@functools.lru_cache(maxsize=65536)
def _is_safe(name: str) -> bool:
    # Memoised (with the splits below): every id is named thousands of times in a big catalog.
    return bool(
        _IDENTIFIER.match(name) and not keyword.iskeyword(name) and not keyword.issoftkeyword(name)
    )


def check_identifier(name: str, *, what: str = "name") -> str:
    """Return `name` unchanged if it is a Python identifier that is not a keyword."""
    if not isinstance(name, str) or not _is_safe(name):
        raise RenderError(f"{what} {name!r} is not a safe Python identifier")
    return name


@functools.lru_cache(maxsize=65536)
def _split(value: str) -> tuple[str, ...] | None:
    if not _SAFE_ID.match(value):
        return None
    words: list[str] = []
    for part in _ID_SEPARATORS.split(value):
        words.extend(w for w in _CAMEL_BOUNDARY.split(part) if w)
    return tuple(words)


def _words(value: str, *, what: str) -> tuple[str, ...]:
    words = _split(value) if isinstance(value, str) else None
    if words is None:
        raise RenderError(
            f"{what} {value!r} cannot become a Python name: use letters, digits, '-', '_' or '.'"
        )
    return words


def module_name(value: str, *, what: str = "id") -> str:
    """snake_case module name of a catalog id: ``order-created`` -> ``order_created``."""
    name = "_".join(w.lower() for w in _words(value, what=what))
    return check_identifier(name, what=what)


def method_name(value: str, *, what: str = "id") -> str:
    """snake_case method name; also splits camelCase (``createProduct`` -> ``create_product``)."""
    return module_name(value, what=what)


def class_name(value: str, *, what: str = "id") -> str:
    """PascalCase class name of a catalog id: ``order-created`` -> ``OrderCreated``."""
    name = "".join(w[:1].upper() + w[1:].lower() for w in _words(value, what=what))
    return check_identifier(name, what=what)


def constant_name(value: str, *, what: str = "id") -> str:
    """UPPER_SNAKE constant name: ``order-created`` -> ``ORDER_CREATED``."""
    return module_name(value, what=what).upper()


def version_suffix(version: str) -> str:
    """Module suffix of a message version: ``0.6.0`` -> ``v0_6_0``."""
    if not _VERSION.match(version):
        raise RenderError(f"version {version!r} cannot become part of a module name")
    return "v" + re.sub(r"[.\-+]", "_", version).lower()
