"""Version pointers resolved exactly like EventCatalog 4.x.

EventCatalog keeps, per id, the versions sorted newest first (semver compare when both versions are
valid semver, else a string compare) and resolves a pointer ``{id, version?}`` with ``findInMap``:
no version or ``latest`` gives the first (highest); otherwise an exact string match; otherwise, when
the version is a valid npm semver range (``^1.0.0``, ``~1.2.0``, ``1.x``, ``>=1 <2``), the highest
version satisfying it; anything else resolves to nothing. The range grammar below is npm's
(node-semver), written from its documented grammar: no dependency speaks it in Python.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

__all__ = [
    "MESSAGE_KINDS",
    "Comparator",
    "Index",
    "Lookup",
    "SemVer",
    "compare_versions",
    "parse_range",
    "parse_semver",
    "satisfies",
    "sort_newest_first",
    "valid_range",
]

MESSAGE_KINDS = ("event", "command", "query")

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_PRE = rf"{_PRE_ID}(?:\.{_PRE_ID})*"
_BUILD = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_SEMVER_RE = re.compile(rf"^v?({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE}))?(?:\+({_BUILD}))?$")
_XR = rf"{_NUM}|[xX*]"
_PARTIAL_RE = re.compile(
    rf"^(<=|>=|<|>|=|~>|~|\^)?v?({_XR})(?:\.({_XR})(?:\.({_XR})(?:-({_PRE}))?(?:\+({_BUILD}))?)?)?$"
)
_HYPHEN_RE = re.compile(r"^\s*(\S+)\s+-\s+(\S+)\s*$")
_OP_SPACE_RE = re.compile(r"(<=|>=|<|>|=|~>|~|\^)\s+")


@dataclass(frozen=True)
class SemVer:
    """A strict semantic version (node-semver's ``valid``: a leading ``v`` is accepted)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    def __str__(self) -> str:
        pre = "-" + ".".join(str(p) for p in self.prerelease) if self.prerelease else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"

    def _key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def compare(self, other: SemVer) -> int:
        """-1, 0 or 1 by semver precedence (build metadata ignored)."""
        if self._key() != other._key():
            return -1 if self._key() < other._key() else 1
        return _compare_prerelease(self.prerelease, other.prerelease)


def _compare_prerelease(a: tuple[int | str, ...], b: tuple[int | str, ...]) -> int:
    # A version without prerelease ranks above any prerelease of the same x.y.z.
    if not a or not b:
        return (not a) - (not b)
    for left, right in zip(a, b, strict=False):
        if left == right:
            continue
        if isinstance(left, int) and isinstance(right, int):
            return -1 if left < right else 1
        if isinstance(left, int):
            return -1  # numeric identifiers rank below alphanumeric ones
        if isinstance(right, int):
            return 1
        return -1 if left < right else 1
    return (len(a) > len(b)) - (len(a) < len(b))


def _prerelease(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def parse_semver(text: str) -> SemVer | None:
    """The version if ``text`` is valid semver (surrounding whitespace ignored), else None."""
    match = _SEMVER_RE.match(text.strip())
    if not match:
        return None
    major, minor, patch, pre, _build = match.groups()
    return SemVer(int(major), int(minor), int(patch), _prerelease(pre))


def compare_versions(a: str, b: str) -> int:
    """EventCatalog's order: semver when both are valid semver, else a string comparison.

    JavaScript's ``localeCompare`` is approximated by a case-insensitive compare with lower case
    first on ties; it only matters for catalogs mixing non-semver versions, which lint flags.
    """
    sa, sb = parse_semver(a), parse_semver(b)
    if sa is not None and sb is not None:
        return sa.compare(sb)
    ka, kb = (a.casefold(), a.swapcase()), (b.casefold(), b.swapcase())
    return (ka > kb) - (ka < kb)


class _Versioned(Protocol):
    @property
    def version(self) -> str: ...


_V = TypeVar("_V", bound=_Versioned)


def sort_newest_first(items: Iterable[_V]) -> list[_V]:
    """Items sorted like ``createVersionedMap``: highest version first."""

    def newest_first(x: _V, y: _V) -> int:
        return compare_versions(y.version, x.version)

    return sorted(items, key=functools.cmp_to_key(newest_first))


# --- npm ranges -------------------------------------------------------------------------------

Op = Literal["<", "<=", ">", ">=", "="]


@dataclass(frozen=True)
class Comparator:
    op: Op
    version: SemVer

    def test(self, v: SemVer) -> bool:
        c = v.compare(self.version)
        return {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0, "=": c == 0}[self.op]


_ANY: tuple[Comparator, ...] = ()  # an empty set matches every non-prerelease version
_NONE = (Comparator("<", SemVer(0, 0, 0, (0,))),)  # matches nothing


def _is_x(part: str | None) -> bool:
    return part is None or part in ("x", "X", "*")


def _desugar(token: str) -> tuple[Comparator, ...] | None:
    match = _PARTIAL_RE.match(token)
    if not match:
        return None
    op, ma, mi, pa, pre, _build = match.groups()
    if op == "~>":
        op = "~"
    prerelease = _prerelease(pre)
    if _is_x(ma):
        if op in (None, "=", ">=", "~", "^"):
            return _ANY
        if op in ("<", ">"):
            return _NONE
        return _ANY  # "<=*"
    major = int(ma)
    if op == "~":
        return _tilde(major, mi, pa, prerelease)
    if op == "^":
        return _caret(major, mi, pa, prerelease)
    if _is_x(mi) or _is_x(pa):
        return _xrange(op, major, mi, pa)
    version = SemVer(major, int(mi), int(pa), prerelease)
    return (Comparator(op or "=", version),)  # type: ignore[arg-type]


def _upper(major: int, minor: int = 0, patch: int = 0) -> Comparator:
    # "<X.Y.Z-0": below every prerelease of X.Y.Z, as node-semver writes its upper bounds.
    return Comparator("<", SemVer(major, minor, patch, (0,)))


def _tilde(
    major: int, mi: str | None, pa: str | None, pre: tuple[int | str, ...]
) -> tuple[Comparator, ...]:
    if _is_x(mi):
        return (Comparator(">=", SemVer(major, 0, 0)), _upper(major + 1))
    minor = int(mi)  # type: ignore[arg-type]
    patch = 0 if _is_x(pa) else int(pa)  # type: ignore[arg-type]
    return (Comparator(">=", SemVer(major, minor, patch, pre)), _upper(major, minor + 1))


def _caret(
    major: int, mi: str | None, pa: str | None, pre: tuple[int | str, ...]
) -> tuple[Comparator, ...]:
    if _is_x(mi):
        return (Comparator(">=", SemVer(major, 0, 0)), _upper(major + 1))
    minor = int(mi)  # type: ignore[arg-type]
    if _is_x(pa):
        low = Comparator(">=", SemVer(major, minor, 0))
        return (low, _upper(major + 1) if major else _upper(0, minor + 1))
    patch = int(pa)  # type: ignore[arg-type]
    low = Comparator(">=", SemVer(major, minor, patch, pre))
    if major:
        return (low, _upper(major + 1))
    if minor:
        return (low, _upper(0, minor + 1))
    return (low, _upper(0, 0, patch + 1))


def _xrange(op: str | None, major: int, mi: str | None, pa: str | None) -> tuple[Comparator, ...]:
    minor = None if _is_x(mi) else int(mi)  # type: ignore[arg-type]
    if op in (None, "="):
        if minor is None:
            return (Comparator(">=", SemVer(major, 0, 0)), _upper(major + 1))
        return (Comparator(">=", SemVer(major, minor, 0)), _upper(major, minor + 1))
    if op == ">":  # ">1" means ">=2.0.0", ">1.2" means ">=1.3.0"
        low = SemVer(major + 1, 0, 0) if minor is None else SemVer(major, minor + 1, 0)
        return (Comparator(">=", low),)
    if op == ">=":
        return (Comparator(">=", SemVer(major, minor or 0, 0)),)
    if op == "<":
        return (_upper(major, minor or 0),)
    # "<=1" means "<2.0.0-0", "<=1.2" means "<1.3.0-0"
    return (_upper(major + 1) if minor is None else _upper(major, minor + 1),)


def _hyphen(low: str, high: str) -> tuple[Comparator, ...] | None:
    lo, hi = _desugar(low), _desugar(high)
    if lo is None or hi is None or low[0] in "<>=~^" or high[0] in "<>=~^":
        return None
    lower = tuple(c for c in lo if c.op in (">=", "="))
    lower = tuple(Comparator(">=", c.version) for c in lower)
    hmatch = _PARTIAL_RE.match(high)
    assert hmatch is not None
    _op, ma, mi, pa, pre, _b = hmatch.groups()
    if _is_x(ma):
        upper: tuple[Comparator, ...] = ()
    elif _is_x(mi):
        upper = (_upper(int(ma) + 1),)
    elif _is_x(pa):
        upper = (_upper(int(ma), int(mi) + 1),)
    else:
        top = SemVer(int(ma), int(mi), int(pa), _prerelease(pre))
        upper = (Comparator("<=", top),)
    return lower + upper


@functools.lru_cache(maxsize=1024)
def parse_range(text: str) -> tuple[tuple[Comparator, ...], ...] | None:
    """An npm range as alternatives of comparator sets, or None when it is not a valid range."""
    alternatives: list[tuple[Comparator, ...]] = []
    for part in text.split("||"):
        hyphen = _HYPHEN_RE.match(part)
        if hyphen:
            desugared = _hyphen(hyphen.group(1), hyphen.group(2))
            if desugared is None:
                return None
            alternatives.append(desugared)
            continue
        comparators: list[Comparator] = []
        for token in _OP_SPACE_RE.sub(r"\1", part.strip()).split():
            one = _desugar(token)
            if one is None:
                return None
            comparators.extend(one)
        alternatives.append(tuple(comparators))
    return tuple(alternatives)


def valid_range(text: str) -> bool:
    """node-semver's ``validRange`` as a predicate."""
    return parse_range(text) is not None


def _set_allows(comparators: Sequence[Comparator], version: SemVer) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if not version.prerelease:
        return True
    # A prerelease only matches when some comparator names a prerelease of the same x.y.z.
    return any(c.version.prerelease and c.version._key() == version._key() for c in comparators)


def satisfies(version: str, range_text: str) -> bool:
    """node-semver's ``satisfies``: False for an invalid version or range."""
    parsed_version = parse_semver(version)
    parsed_range = parse_range(range_text)
    if parsed_version is None or parsed_range is None:
        return False
    return any(_set_allows(alt, parsed_version) for alt in parsed_range)


# --- lookups ----------------------------------------------------------------------------------


class _Resource(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...


_R = TypeVar("_R", bound=_Resource)


@dataclass(frozen=True)
class Lookup(Generic[_R]):
    """The result of resolving a pointer: the resource, or why there is none."""

    resource: _R | None
    known_id: bool  # some version of the id exists (so a miss is the version's fault)
    versions: tuple[str, ...] = ()  # versions of the id, newest first

    @property
    def found(self) -> bool:
        return self.resource is not None


def find_version(items: Sequence[_R], version: str | None) -> _R | None:
    """``findInMap`` over versions already sorted newest first."""
    if not items:
        return None
    if not version or version == "latest":
        return items[0]
    for item in items:
        if item.version == version:
            return item
    if valid_range(version):
        for item in items:
            if satisfies(item.version or "0.0.0", version):
                return item
    return None


class Index(Generic[_R]):
    """Versions of every resource by kind and id, newest first; messages share one namespace."""

    def __init__(self, resources: Iterable[_R]) -> None:
        grouped: dict[tuple[str, str], list[_R]] = {}
        for resource in resources:
            grouped.setdefault((self._namespace(resource.kind), resource.id), []).append(resource)
        self._items = {key: sort_newest_first(items) for key, items in grouped.items()}

    @staticmethod
    def _namespace(kind: str) -> str:
        return "message" if kind in MESSAGE_KINDS else kind

    def versions(self, kind: str, id: str) -> list[_R]:
        """Every version of ``id`` (messages: across events, commands and queries), newest first."""
        return self._items.get((self._namespace(kind), id), [])

    def ids(self, kind: str) -> list[str]:
        namespace = self._namespace(kind)
        return sorted(i for k, i in self._items if k == namespace)

    def lookup(self, kind: str, id: str, version: str | None = None) -> Lookup[_R]:
        items = self.versions(kind, id)
        return Lookup(find_version(items, version), bool(items), tuple(i.version for i in items))

    def resolve(self, kind: str, id: str, version: str | None = None) -> _R | None:
        return find_version(self.versions(kind, id), version)

    def latest(self, kind: str, id: str) -> _R | None:
        items = self.versions(kind, id)
        return items[0] if items else None
