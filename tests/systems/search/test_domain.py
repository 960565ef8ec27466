"""Search rules without I/O: field merge by event time, query translation, visibility."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acme.systems.search.domain import (
    ParsedQuery,
    SearchRuleError,
    check_price_range,
    fts5_expression,
    merge_fields,
    parse_query,
    searchable_text,
    visible_statuses,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
FULL = {
    "sku": "S1",
    "name": "Lamp",
    "price": 100,
    "currency": "EUR",
    "status": "DRAFT",
    "variants": [],
}


def t(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def replay(events: list[tuple[dict[str, Any], datetime]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    times: dict[str, datetime] = {}
    for incoming, when in events:
        merge = merge_fields(fields, times, incoming, when)
        fields, times = merge.fields, merge.times
    return fields


def test_any_delivery_order_converges_on_the_latest_value_of_each_field() -> None:
    events: list[tuple[dict[str, Any], datetime]] = [
        (FULL, t(0)),
        ({"price": 200}, t(10)),
        ({"name": "Desk lamp", "status": "ACTIVE"}, t(20)),
        ({"price": 300, "category": "lighting"}, t(30)),
        ({"status": "ARCHIVED"}, t(40)),
    ]
    expected = replay(events)
    assert expected["price"] == 300 and expected["name"] == "Desk lamp"
    assert expected["status"] == "ARCHIVED" and expected["category"] == "lighting"
    for order in itertools.permutations(events):
        assert replay(list(order)) == expected


def test_stale_and_duplicate_events_change_nothing() -> None:
    first = merge_fields({}, {}, FULL, t(10))
    assert first.changed and first.complete and first.newest == t(10)
    again = merge_fields(first.fields, first.times, FULL, t(10))
    assert not again.changed
    older = merge_fields(first.fields, first.times, {"price": 1}, t(5))
    assert not older.changed and older.fields["price"] == 100
    partial = merge_fields({}, {}, {"price": 5}, t(1))
    assert partial.changed and not partial.complete  # cannot become a document on its own


def test_searchable_text_joins_fields_and_variants() -> None:
    fields = {
        **FULL,
        "description": "Brass",
        "variants": [{"sku": "S1-B", "attributes": {"finish": "matt"}}],
    }
    assert searchable_text(fields) == "Lamp S1 Brass S1-B matt"


@pytest.mark.parametrize(
    ("text", "groups", "excluded"),
    [
        ("red shoe", (("red",), ("shoe",)), ()),
        ('"running shoe" -boot', (("running shoe",),), ("boot",)),
        ("jacket or socks hat", (("jacket", "socks"), ("hat",)), ()),
        ("or socks", (("or",), ("socks",)), ()),  # a leading "or" is a word
        ("!!! - ---", (), ()),
        ('shoe "unterminated phrase', (("shoe",), ("unterminated phrase",)), ()),
    ],
)
def test_parse_query_follows_web_search_conventions(
    text: str, groups: tuple[tuple[str, ...], ...], excluded: tuple[str, ...]
) -> None:
    assert parse_query(text) == ParsedQuery(groups, excluded)


def test_fts5_expression_quotes_every_term() -> None:
    assert fts5_expression(parse_query('red "trail shoe"')) == '"red" AND "trail shoe"'
    assert fts5_expression(parse_query("jacket or socks")) == '("jacket" OR "socks")'
    assert fts5_expression(parse_query('a"b')) == '"a""b"'
    assert fts5_expression(parse_query("shoe -boot -sock")) == '("shoe") NOT "boot" NOT "sock"'
    assert fts5_expression(parse_query("-boot")) is None  # exclusion alone matches nothing
    assert fts5_expression(ParsedQuery()) is None


def test_shoppers_find_active_products_only() -> None:
    assert visible_statuses(None, staff=False) == ("ACTIVE",)
    assert visible_statuses("ACTIVE", staff=False) == ("ACTIVE",)
    assert visible_statuses("DRAFT", staff=False) == ()
    assert visible_statuses(None, staff=True) is None
    assert visible_statuses("ARCHIVED", staff=True) == ("ARCHIVED",)


def test_price_range_must_not_be_inverted() -> None:
    check_price_range(5, 5)
    check_price_range(None, 5)
    with pytest.raises(SearchRuleError, match="minPrice"):
        check_price_range(6, 5)
