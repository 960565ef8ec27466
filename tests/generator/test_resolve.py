"""Pointer resolution as EventCatalog 4.x does it: semver order, exact match, npm ranges."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from generator._resolve import (
    Index,
    compare_versions,
    find_version,
    parse_semver,
    satisfies,
    sort_newest_first,
    valid_range,
)


@pytest.mark.parametrize(
    ("version", "range_text", "expected"),
    [
        ("1.2.3", "^1.0.0", True),
        ("2.0.0", "^1.0.0", False),
        ("0.2.5", "^0.2.3", True),
        ("0.3.0", "^0.2.3", False),
        ("0.0.4", "^0.0.3", False),
        ("1.2.9", "~1.2.0", True),
        ("1.3.0", "~1.2.0", False),
        ("1.9.9", "~1", True),
        ("1.9.0", "1.x", True),
        ("2.0.0", "1.x", False),
        ("0.0.7", "0.0.x", True),
        ("0.1.0", "0.0.x", False),
        ("1.5.0", ">=1 <2", True),
        ("2.0.0", ">=1 <2", False),
        ("1.5.0", ">= 1.2.0 < 1.6.0", True),  # spaces after operators are allowed
        ("3.0.0", "1.x || >=3", True),
        ("1.4.0", "1.2.3 - 1.4", True),
        ("1.5.0", "1.2.3 - 1.4", False),
        ("2.3.4", "1.2.3 - 2.3.4", True),
        ("5.0.0", "*", True),
        ("5.0.0", "", True),
        ("1.0.0", "=1.0.0", True),
        ("1.0.0", "v1", True),
        ("2.0.0", ">1", True),
        ("1.9.0", ">1", False),
        ("1.2.0", "<=1.1", False),
        ("1.1.9", "<=1.1", True),
        # prereleases only match a comparator naming a prerelease of the same x.y.z
        ("1.2.4-beta.1", "^1.2.3", False),
        ("1.2.3-beta.2", "^1.2.3-beta.1", True),
        ("1.2.4-beta.2", "^1.2.3-beta.1", False),
        ("not-a-version", "^1.0.0", False),
        ("1.0.0", "latest", False),  # `latest` is handled before ranges, not a range itself
    ],
)
def test_npm_ranges(version: str, range_text: str, expected: bool) -> None:
    assert satisfies(version, range_text) is expected


@pytest.mark.parametrize("text", ["latest", "newest", "1.0.0.0", ">=foo", "1.2.3 -", ">=01.0.0"])
def test_invalid_ranges(text: str) -> None:
    assert not valid_range(text)


def test_semver_precedence() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2"]
    ordered += ["1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    for lower, higher in zip(ordered, ordered[1:], strict=False):
        assert compare_versions(lower, higher) < 0, (lower, higher)
        assert compare_versions(higher, lower) > 0
    assert parse_semver("v1.2.3") is not None and parse_semver("1.2") is None


def test_non_semver_versions_sort_as_strings() -> None:
    # EventCatalog falls back to a string compare: "2" sorts above "10"
    assert compare_versions("2", "10") > 0
    assert compare_versions("10.0.0", "2.0.0") > 0


@dataclass(frozen=True)
class _V:
    kind: str
    id: str
    version: str


def test_find_version_like_find_in_map() -> None:
    items = sort_newest_first(
        [_V("event", "e", v) for v in ("0.9.0", "1.0.0", "1.1.0", "2.0.0-rc.1")]
    )
    assert [i.version for i in items] == ["2.0.0-rc.1", "1.1.0", "1.0.0", "0.9.0"]
    pick = lambda v: found.version if (found := find_version(items, v)) else None  # noqa: E731
    assert pick(None) == "2.0.0-rc.1"
    assert pick("latest") == "2.0.0-rc.1"
    assert pick("1.0.0") == "1.0.0"  # exact match first
    assert pick("^1.0.0") == "1.1.0"  # highest satisfying
    assert pick("0.x") == "0.9.0"
    assert pick("^3.0.0") is None
    assert pick("nope") is None


def test_index_shares_the_message_namespace() -> None:
    index = Index(
        [_V("event", "x", "1.0.0"), _V("command", "x", "2.0.0"), _V("service", "x", "3.0.0")]
    )
    assert [r.version for r in index.versions("query", "x")] == ["2.0.0", "1.0.0"]
    latest = index.latest("event", "x")
    assert latest is not None and latest.kind == "command"
    assert index.resolve("service", "x", "^3") is not None
    lookup = index.lookup("event", "x", "^5")
    assert lookup.known_id and not lookup.found
    assert not index.lookup("channel", "x").known_id
