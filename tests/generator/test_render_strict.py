"""Generated models enforce their JSON Schema exactly: no null where the schema has none, no
lax coercion between JSON types, no repeated items under `uniqueItems`.

One message of the fixture catalog gets a schema with one property per rule; the catalog is
rendered, imported, and the model is fed what a client could send, as a broker message (JSON)
and as a request body (parsed JSON under `JsonBody`, as the generated routers declare it).
In Python, None still means "absent".
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from render_fixture import imported, shop_catalog, write_package

from generator._render import render_catalog
from generator.contracts import JsonBody

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["orderId", "quantity"],
    "properties": {
        "orderId": {"type": "string", "format": "uuid"},
        "quantity": {"type": "integer", "minimum": 1},
        "price": {"type": "number"},
        "gift": {"type": "boolean", "default": False},
        "note": {"type": "string", "maxLength": 50},
        "placedAt": {"type": "string", "format": "date-time"},
        "channel": {"type": "string", "enum": ["WEB", "APP"]},
        "comment": {"type": ["string", "null"]},
        "coupon": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"sku": {"type": "string"}, "count": {"type": "integer"}},
            },
            "uniqueItems": True,
        },
        "gifts": {"type": "array", "items": {"type": "string"}},
    },
}
ORDER = str(uuid.uuid4())


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[BaseModel]]:
    catalog = shop_catalog()
    messages = tuple(
        dataclasses.replace(m, schema=SCHEMA) if m.id == "create-order" else m
        for m in catalog.messages
    )
    result = render_catalog(
        dataclasses.replace(catalog, messages=messages), package_name="strictgen"
    )
    parent: Path = tmp_path_factory.mktemp("strict")
    write_package(result, parent, "strictgen")
    with imported(parent, "strictgen") as load:
        cls = load("messages.create_order").MESSAGE.model
        assert isinstance(cls, type) and issubclass(cls, BaseModel)
        yield cls


def _errors(model: type[BaseModel], **fields: Any) -> list[tuple[tuple[Any, ...], str]]:
    """Errors of a body with these fields, the same whether it is a broker message (JSON
    mode) or a request body (FastAPI's parsed JSON under `JsonBody`)."""
    body = json.dumps({"orderId": ORDER, "quantity": 1, **fields})
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body)
    with pytest.raises(ValidationError) as as_request:
        TypeAdapter(Annotated[model, JsonBody()]).validate_python(json.loads(body))
    errors = [(tuple(e["loc"]), e["type"]) for e in caught.value.errors()]
    assert [(tuple(e["loc"]), e["type"]) for e in as_request.value.errors()] == errors
    return errors


def _valid(model: type[BaseModel], **fields: Any) -> BaseModel:
    body = json.dumps({"orderId": ORDER, "quantity": 1, **fields})
    parsed = model.model_validate_json(body)
    assert TypeAdapter(Annotated[model, JsonBody()]).validate_python(json.loads(body)) == parsed
    return parsed


def test_null_is_refused_where_the_schema_has_no_null(model: type[BaseModel]) -> None:
    assert _errors(model, note=None) == [(("note",), "null_not_allowed")]
    assert _errors(model, placedAt=None) == [(("placedAt",), "null_not_allowed")]
    assert _errors(model, tags=None) == [(("tags",), "null_not_allowed")]
    assert _errors(model, gift=None) == [(("gift",), "bool_type")]  # a default, not nullable
    absent = _valid(model)
    assert absent.model_dump(exclude={"order_id", "quantity"}) == {
        "price": None,
        "gift": False,  # the schema's default
        "note": None,
        "placed_at": None,
        "channel": None,
        "comment": None,
        "coupon": None,
        "tags": None,
        "lines": None,
        "gifts": None,
    }


def test_null_is_accepted_where_the_schema_allows_it(model: type[BaseModel]) -> None:
    both = _valid(model, comment=None, coupon=None)
    assert both.model_dump()["comment"] is None
    assert both.model_dump()["coupon"] is None
    assert _valid(model, comment="ok", coupon="SAVE").model_dump()["coupon"] == "SAVE"


def test_booleans_are_not_integers_or_numbers(model: type[BaseModel]) -> None:
    assert _errors(model, quantity=True) == [(("quantity",), "int_type")]
    assert _errors(model, price=False) == [(("price",), "float_type")]
    assert _errors(model, gift=1) == [(("gift",), "bool_type")]


def test_strings_of_digits_are_not_integers_or_numbers(model: type[BaseModel]) -> None:
    assert _errors(model, quantity="5") == [(("quantity",), "int_type")]
    assert _errors(model, price="5.5") == [(("price",), "float_type")]
    assert _errors(model, note=5) == [(("note",), "string_type")]
    assert _valid(model, price=5).model_dump()["price"] == 5.0  # a JSON integer is a number


def test_repeated_items_are_refused_and_order_is_kept(model: type[BaseModel]) -> None:
    assert _errors(model, tags=["a", "b", "a"]) == [(("tags",), "unique_items")]
    repeated_line = [{"sku": "x", "count": 1}, {"sku": "x", "count": 1}]
    assert _errors(model, lines=repeated_line) == [(("lines",), "unique_items")]
    with pytest.raises(ValidationError, match="item 2 repeats item 0"):
        model(order_id=uuid.UUID(ORDER), quantity=1, tags=["a", "b", "a"])  # in Python too
    kept = _valid(model, tags=["c", "a", "b"], lines=[{"sku": "x"}, {"sku": "y"}])
    assert kept.model_dump()["tags"] == ["c", "a", "b"]
    assert _valid(model, gifts=["a", "a"]).model_dump()["gifts"] == ["a", "a"]  # no uniqueItems


def test_uuid_date_time_and_enum_strings_still_parse(model: type[BaseModel]) -> None:
    parsed = _valid(model, placedAt="2024-05-01T10:00:00Z", channel="APP")
    dumped = parsed.model_dump()
    assert dumped["order_id"] == uuid.UUID(ORDER)
    assert dumped["placed_at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert dumped["channel"] == "APP"
    assert _errors(model, channel="POST") == [(("channel",), "literal_error")]


def test_numbers_are_not_date_times(model: type[BaseModel]) -> None:
    # Pydantic would read 0 as 1970-01-01T00:00:00Z; the schema's date-time is a string.
    assert _errors(model, placedAt=0) == [(("placedAt",), "string_type")]
    assert _errors(model, placedAt=1.5) == [(("placedAt",), "string_type")]
    assert _errors(model, placedAt=True) == [(("placedAt",), "string_type")]


def test_none_in_python_means_absent(model: type[BaseModel]) -> None:
    # Code building a model may pass None for "absent" (the field's type says X | None); the
    # JSON written leaves it out, so it is the same message as one without the property.
    built = model(order_id=uuid.UUID(ORDER), quantity=1, note=None, tags=None)
    from_dict = model.model_validate({"orderId": ORDER, "quantity": 1, "note": None})
    for absent in (built, from_dict):
        assert absent.model_dump(by_alias=True, exclude_none=True, mode="json") == {
            "orderId": ORDER,
            "quantity": 1,
            "gift": False,
        }
    with pytest.raises(ValidationError, match="should not be null"):
        model.model_validate_json(built.model_dump_json(by_alias=True))  # the same, as JSON
    with pytest.raises(ValidationError, match="valid integer"):
        model(order_id=uuid.UUID(ORDER), quantity="1")  # types stay strict in Python too


def test_request_bodies_of_generated_routers_are_json() -> None:
    result = render_catalog(shop_catalog(), package_name="bodygen")
    routers = [text for path, text in result.files.items() if path.startswith("http/")]
    bodies = [line.strip() for text in routers for line in text.splitlines()]
    declared = [line for line in bodies if line.startswith("body: Annotated[")]
    assert declared and all(
        line.endswith(("JsonBody()],", "JsonBody()] = None,")) for line in declared
    )


def test_python_objects_still_validate(model: type[BaseModel]) -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    built = model(order_id=uuid.UUID(ORDER), quantity=2, placed_at=when, tags=["a"])
    assert built.model_dump(by_alias=True, exclude_none=True, mode="json") == {
        "orderId": ORDER,
        "quantity": 2,
        "gift": False,
        "placedAt": "2024-05-01T00:00:00Z",
        "tags": ["a"],
    }


def test_the_json_schema_says_what_the_model_enforces(model: type[BaseModel]) -> None:
    properties = model.model_json_schema(by_alias=True)["properties"]
    assert properties["note"]["type"] == "string" and "anyOf" not in properties["note"]
    assert {"type": "null"} in properties["comment"]["anyOf"]
    assert properties["tags"]["uniqueItems"] is True
    assert "uniqueItems" not in properties["gifts"]
