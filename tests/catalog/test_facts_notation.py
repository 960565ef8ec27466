"""The facts' compact notation is read correctly, and the schema comparison catches each change.

These run without the facts file: they pin the reader the facts tests rely on.
"""

from __future__ import annotations

from typing import Any

import pytest
from facts_notation import (
    FactColumn,
    FactsNotationError,
    FieldSpec,
    HttpFact,
    compare_fields,
    override,
    parse_columns,
    parse_field,
    parse_fields,
    parse_http,
)


def test_scalar_with_constraints_and_required() -> None:
    spec = parse_field("pageSize", "integer [minimum=1, maximum=100, default=20] (required)", "m")
    assert spec == FieldSpec("pageSize", "integer", True, {"minimum": 1, "maximum": 100}, 20, True)


def test_pattern_with_brackets_and_commas_stays_whole() -> None:
    spec = parse_field("code", "string [pattern=^[A-Z]{2,3}$, minLength=2]", "m")
    assert spec.constraints == {"pattern": "^[A-Z]{2,3}$", "minLength": 2}
    assert not spec.required


def test_enum_with_default_of_its_values() -> None:
    spec = parse_field("sort", "string [enum=['newest', 'highest'], default=newest]", "m")
    assert spec.constraints == {"enum": ["newest", "highest"]}
    assert (spec.default, spec.has_default) == ("newest", True)


def test_array_of_enum_strings() -> None:
    spec = parse_field("changed", "array<string [enum=['items', 'promotionCode']]> (required)", "m")
    assert (spec.type, spec.required, spec.constraints) == ("array", True, {})
    assert spec.items == FieldSpec("[]", "string", False, {"enum": ["items", "promotionCode"]})


def test_nested_objects_arrays_of_objects_and_unwrapped_objects() -> None:
    raw: dict[str, Any] = {
        "request": {
            "required": True,
            "type": {
                "object": {
                    "query": "string [minLength=1]",
                    "filters": {"object": {"minPrice": "integer [minimum=0]"}},
                    "results": {"array of object": {"sku": "string (required)"}},
                }
            },
        }
    }
    (request,) = parse_fields(raw, "search-products")
    assert (request.type, request.required) == ("object", True)
    filters = request.child("filters")
    assert filters is not None and (filters.type, filters.required) == ("object", False)
    assert filters.properties == (FieldSpec("minPrice", "integer", False, {"minimum": 0}),)
    results = request.child("results")
    assert results is not None and results.type == "array"
    assert results.properties == (FieldSpec("sku", "string", True),)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("strin", "unknown type 'strin'"),
        ("string [colour=red]", "unknown constraint 'colour=red'"),
        ("string [enum=nope]", "enum 'nope' is not a list"),
        ("integer [minimum=low]", "'low' is not a number"),
        ("string [maxLength=-1]", "maxLength '-1' is not a length"),
        ("string (optional)", "cannot read"),
        ({"required": "yes", "type": {"object": {}}}, "`required` is not true or false"),
        ({"type": {"set": {}}}, "unknown nested kind 'set'"),
        (3, "expected a string or a mapping, got int"),
    ],
)
def test_bad_notation_names_the_field(raw: Any, message: str) -> None:
    with pytest.raises(FactsNotationError, match="^msg.field: ") as error:
        parse_field("field", raw, "msg")
    assert message in str(error.value)


def test_http_operation_and_errors() -> None:
    assert parse_http("DELETE /carts/{cartId}/items/{productId} (removeItem) -> 200, 404", "a") == (
        HttpFact("DELETE", "/carts/{cartId}/items/{productId}", "removeItem", ("200", "404"))
    )
    with pytest.raises(FactsNotationError, match="^cart-api: cannot read HTTP operation"):
        parse_http("FETCH /carts", "cart-api")


def test_columns_with_table_primary_key_and_defaults() -> None:
    columns = parse_columns(
        [
            "job_id: UUID NOT NULL REFERENCES jobs (job_id)",
            "sku: TEXT NOT NULL",
            "status: TEXT NOT NULL DEFAULT 'CREATED'",
            "currency: CHAR(3) DEFAULT 'USD'",
            "created_at: TIMESTAMPTZ NOT NULL DEFAULT now()",
            "constraint: PRIMARY KEY (job_id, sku)",
            "constraint: CHECK (status IN ('CREATED', 'DONE'))",
        ],
        "store.items",
    )
    assert columns == [
        FactColumn("job_id", "UUID", True, True, None),
        FactColumn("sku", "TEXT", True, True, None),
        FactColumn("status", "TEXT", True, False, "'CREATED'"),
        FactColumn("currency", "CHAR(3)", False, False, "'USD'"),
        FactColumn("created_at", "TIMESTAMPTZ", True, False, "now()"),
    ]
    with pytest.raises(FactsNotationError, match="unknown columns"):
        parse_columns(["a: TEXT", "constraint: PRIMARY KEY (b)"], "store.t")


FIELDS = parse_fields(
    {
        "orderId": "string [format=uuid] (required)",
        "status": "string [enum=['A', 'B']]",
        "items": {"required": True, "type": {"array of object": {"qty": "integer [minimum=1]"}}},
    },
    "m",
)


def _schema(**changes: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["orderId", "items"],
        "properties": {
            "orderId": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": ["A", "B"]},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"qty": {"type": "integer", "minimum": 1}},
                },
            },
            "note": {"type": "string"},  # an optional extra field is allowed
        },
    }
    for path, value in changes.items():
        target = schema
        *parents, last = path.split("__")
        for key in parents:
            target = target[key]
        target[last] = value
    return schema


def test_matching_schema_has_no_difference() -> None:
    assert compare_fields(FIELDS, _schema(), "p") == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"required": ["orderId"]}, "p.items: required: facts True, catalog False"),
        ({"required": ["orderId", "items", "note"]}, "p.note: added field is required"),
        ({"properties__status__enum": ["A", "B", "C"]}, "p.status: enum: facts ['A', 'B']"),
        ({"properties__orderId__format": "email"}, "p.orderId: format: facts 'uuid'"),
        ({"properties__orderId__type": "integer"}, "p.orderId: type: facts 'string'"),
        ({"properties__status__default": "A"}, "p.status: default: facts (none), catalog 'A'"),
        ({"properties__items__items__properties__qty__minimum": 0}, "p.items[].qty: minimum"),
        ({"properties__items__items__type": "string"}, "p.items[]: type: facts 'object'"),
        ({"properties__status__pattern": "^A$"}, "p.status: pattern: facts (none)"),
    ],
)
def test_each_change_is_a_difference(change: dict[str, Any], expected: str) -> None:
    differences = compare_fields(FIELDS, _schema(**change), "p")
    assert [str(d) for d in differences if str(d).startswith(expected)], differences
    assert not any(d.added_bound for d in differences)


def test_added_bound_is_told_apart() -> None:
    (difference,) = compare_fields(FIELDS, _schema(properties__status__maxLength=3), "p")
    assert difference.added_bound and str(difference) == (
        "p.status: maxLength: facts (none), catalog 3"
    )


def test_missing_field_is_a_difference() -> None:
    schema = _schema()
    del schema["properties"]["status"]
    assert [str(d) for d in compare_fields(FIELDS, schema, "p")] == [
        "p.status: field: facts 'present', catalog (none)"
    ]


def test_override_replaces_one_nested_constraint() -> None:
    changed = override(FIELDS, "items.qty", minimum=0)
    items = next(s for s in changed if s.name == "items")
    assert items.properties[0].constraints == {"minimum": 0}
    assert changed[0] == FIELDS[0]
    with pytest.raises(KeyError, match="no field 'nope'"):
        override(FIELDS, "items.nope", minimum=0)
