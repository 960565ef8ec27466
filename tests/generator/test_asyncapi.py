"""AsyncAPI 3.0 export: content on the fixture catalog, $ref inlining, structural checks, CLI."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from generator import load_catalog
from generator._asyncapi import (
    HEADER_NAMES,
    AsyncApiError,
    check_document,
    dumps,
    export,
    inline_refs,
)
from generator.cli import main as generator_main
from tests.generator.render_fixture import CALCULATE_DISCOUNT, ORDER_CREATED, shop_catalog

REPO = Path(__file__).resolve().parents[2]
FULL = Path(__file__).resolve().parent / "fixtures" / "full"


@pytest.fixture(scope="module")
def shop() -> dict[str, dict[str, Any]]:
    return export(shop_catalog())


def _operation(doc: dict[str, Any], action: str, message: str) -> dict[str, Any]:
    found = [
        op
        for op in doc["operations"].values()
        if op["action"] == action and op["messages"][0]["$ref"].endswith(f"/messages/{message}")
    ]
    assert len(found) == 1, f"{action} {message}: {found}"
    return found[0]


def _deref(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


# --- content --------------------------------------------------------------------------------


def test_every_shop_document_is_structurally_sound(shop: dict[str, dict[str, Any]]) -> None:
    assert set(shop) == {s.id for s in shop_catalog().services}
    for service_id, doc in shop.items():
        assert check_document(doc) == [], service_id


def test_info_comes_from_the_service_page(shop: dict[str, dict[str, Any]]) -> None:
    doc = shop["order-service"]
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"] == {
        "title": "Order Service",
        "version": "1.0.0",
        "description": "Order Service does its job",
    }
    assert doc["defaultContentType"] == "application/json"
    assert doc["x-eventcatalog"]["system"] == "oms"
    assert doc["x-eventcatalog"]["domain"] == "ordering"


def test_send_on_a_parameterised_channel_has_the_filled_address(
    shop: dict[str, dict[str, Any]],
) -> None:
    doc = shop["order-service"]
    op = _operation(doc, "send", "order-created")
    channel = _deref(doc, op["channel"]["$ref"])
    assert op["channel"]["$ref"] == "#/channels/ordering.events"
    assert channel["address"] == "ordering.events.order-created"
    assert channel["x-eventcatalog-channel"]["parameters"] == {"message": "order-created"}
    message = _deref(doc, _deref(doc, op["messages"][0]["$ref"])["$ref"])
    assert message["contentType"] == "application/json"
    assert message["payload"] == ORDER_CREATED  # no $ref in it: unchanged
    assert message["headers"]["required"] == list(HEADER_NAMES)
    assert message["headers"]["properties"]["message-type"]["const"] == "order-created"
    assert message["headers"]["properties"]["message-version"]["const"] == "1.0.0"


def test_one_channel_at_several_addresses_gets_one_key_per_address(
    shop: dict[str, dict[str, Any]],
) -> None:
    doc = shop["order-service"]
    create = _deref(doc, _operation(doc, "receive", "create-order")["channel"]["$ref"])
    cancel = _deref(doc, _operation(doc, "receive", "cancel-order")["channel"]["$ref"])
    assert create["address"] == "ordering.commands.create-order"
    assert cancel["address"] == "ordering.commands.cancel-order"
    assert "ordering.commands.create-order" in doc["channels"]
    assert "ordering.commands.cancel-order" in doc["channels"]


def test_routed_receive_uses_the_senders_address(shop: dict[str, dict[str, Any]]) -> None:
    doc = shop["order-auditor"]
    op = _operation(doc, "receive", "order-created")
    channel = _deref(doc, op["channel"]["$ref"])
    # ordering.events routes into ordering.audit: the auditor listens where the sender publishes
    assert channel["address"] == "ordering.events.order-created"
    assert channel["x-eventcatalog-channel"]["id"] == "ordering.audit"


def test_exchange_sends_the_request_and_expects_the_reply(
    shop: dict[str, dict[str, Any]],
) -> None:
    for service, action in (("order-service", "send"), ("promotion-service", "receive")):
        doc = shop[service]
        op = _operation(doc, action, "calculate-discount")
        request = _deref(doc, _deref(doc, op["messages"][0]["$ref"])["$ref"])
        assert request["payload"] == CALCULATE_DISCOUNT["properties"]["request"]
        reply_ref = op["reply"]["messages"][0]["$ref"]
        assert reply_ref.startswith(op["reply"]["channel"]["$ref"] + "/messages/")
        reply = _deref(doc, _deref(doc, reply_ref)["$ref"])
        assert reply["payload"] == CALCULATE_DISCOUNT["properties"]["response"]
        assert _deref(doc, op["reply"]["channel"]["$ref"])["address"] is None


def test_http_uses_are_not_operations_but_listed(shop: dict[str, dict[str, Any]]) -> None:
    doc = shop["order-service"]
    http = {(h["action"], h["channel"], h["message"]): h for h in doc["x-http-channels"]}
    assert set(http) == {
        ("send", "stripe.api", "payment-requested"),
        ("receive", "http.gateway", "cancel-order"),
        ("receive", "http.gateway", "get-order"),
        ("receive", "payments.outcomes", "payment-succeeded"),
    }
    assert http[("receive", "payments.outcomes", "payment-succeeded")]["webhook"] is True
    assert http[("receive", "http.gateway", "get-order")]["webhook"] is False
    addresses = {c["address"] for c in doc["channels"].values()}
    assert "/v1" not in addresses and "/api" not in addresses
    assert shop["storefront"]["operations"] == {}


def test_message_without_json_schema_and_send_without_channel(
    shop: dict[str, dict[str, Any]],
) -> None:
    doc = shop["legacy-service"]
    (op,) = doc["operations"].values()
    channel = _deref(doc, op["channel"]["$ref"])
    assert channel["address"] == "ordering.events.legacy-note"  # default: owner domain
    assert channel["x-eventcatalog-channel"]["id"] is None
    message = doc["components"]["messages"]["legacy-note"]
    assert "payload" not in message
    assert message["x-eventcatalog-message"]["schema"].endswith("schema.avsc")
    assert check_document(doc) == []


def test_output_is_deterministic() -> None:
    first = {k: dumps(v) for k, v in export(shop_catalog()).items()}
    second = {k: dumps(v) for k, v in export(shop_catalog()).items()}
    assert first == second
    text = first["order-service"]
    assert text.endswith("}\n") and json.loads(text)["asyncapi"] == "3.0.0"


def test_the_repository_catalog_exports_cleanly() -> None:
    catalog = load_catalog(REPO / "catalog")
    documents = export(catalog)
    assert documents, "the catalog has services"
    for service_id, doc in documents.items():
        assert check_document(doc) == [], service_id
        assert '"$ref": "#/$defs' not in dumps(doc), service_id


# --- $ref inlining --------------------------------------------------------------------------


def test_local_defs_are_inlined_from_the_on_disk_fixture() -> None:
    doc = export(load_catalog(FULL), ["order-service"])["order-service"]
    (payload,) = [m["payload"] for m in doc["components"]["messages"].values() if "payload" in m][
        :1
    ]
    assert payload["properties"]["total"] == {"type": "integer", "minimum": 0}
    assert "$defs" not in payload


def _reader(files: dict[str, Any]) -> Any:
    from generator._render._errors import RenderError

    def read(path: str) -> Any:
        if path not in files:
            raise RenderError(f"$ref target {path} cannot be read: No such file")
        return copy.deepcopy(files[path])

    return read


def test_refs_across_files_with_sibling_annotations() -> None:
    files = {
        "shared/money.json": {"$defs": {"cents": {"type": "integer", "minimum": 0}}},
    }
    schema = {
        "type": "object",
        "properties": {
            "total": {"$ref": "../shared/money.json#/$defs/cents", "description": "Total."},
            "limit": {"$ref": "../shared/money.json#/$defs/cents", "maximum": 10},
            "note": {"const": {"$ref": "not a reference, data"}},
        },
    }
    out = inline_refs(schema, "events/schema.json", _reader(files))
    assert out["properties"]["total"] == {"type": "integer", "minimum": 0, "description": "Total."}
    assert out["properties"]["limit"] == {
        "allOf": [{"type": "integer", "minimum": 0}, {"maximum": 10}]
    }
    assert out["properties"]["note"] == {"const": {"$ref": "not a reference, data"}}


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ({"$ref": "#/$defs/missing"}, "does not exist"),
        ({"$ref": "other.json"}, "cannot be read"),
        ({"$ref": "https://example.com/s.json"}, "remote references"),
        ({"$ref": "../../../x.json"}, "above the catalog root"),
        ({"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}, "recursive"),
    ],
)
def test_bad_refs_are_clear_errors(schema: dict[str, Any], error: str) -> None:
    with pytest.raises(AsyncApiError, match=error) as info:
        inline_refs(schema, "events/schema.json", _reader({}))
    assert "events/schema.json" in str(info.value)


# --- structural validation ------------------------------------------------------------------


def _sound() -> dict[str, Any]:
    return copy.deepcopy(export(shop_catalog(), ["order-service"])["order-service"])


def test_check_document_finds_each_kind_of_breakage() -> None:
    doc = _sound()
    del doc["info"]["title"]
    assert check_document(doc) == ["info.title: missing or not a string"]

    doc = _sound()
    op = next(iter(doc["operations"].values()))
    op["action"] = "publish"
    assert any("must be 'send' or 'receive'" in p for p in check_document(doc))

    doc = _sound()
    op = _operation(doc, "send", "order-created")
    op["messages"] = [{"$ref": "#/channels/ordering.commands.create-order/messages/create-order"}]
    assert any("must reference a message of #/channels/ordering.events" in p for p in
               check_document(doc))  # fmt: skip

    doc = _sound()
    doc["channels"]["ordering.events"]["messages"]["order-created"]["$ref"] = (
        "#/components/messages/nope"
    )
    assert any("does not resolve" in p for p in check_document(doc))

    doc = _sound()
    doc["channels"]["bad key!"] = {"address": "x", "messages": {}}
    assert any("'bad key!'" in p for p in check_document(doc))

    doc = _sound()
    doc["channels"]["ordering.events"]["address"] = "ordering.events.{message}"
    assert any("unfilled parameters" in p for p in check_document(doc))

    assert check_document([]) == ["the document is not a JSON object"]


# --- command --------------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = generator_main(["asyncapi", *args], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_command_writes_one_file_per_service_and_is_stable(tmp_path: Path) -> None:
    code, out, err = _run(str(FULL), "--out", str(tmp_path / "docs"))
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert "order-service.asyncapi.json" in files
    first = {name: (tmp_path / "docs" / name).read_bytes() for name in files}
    code, out, err = _run(str(FULL), "--out", str(tmp_path / "docs"))
    assert code == 0 and out == "" and f"0 written, {len(files)} unchanged" in err
    assert first == {name: (tmp_path / "docs" / name).read_bytes() for name in files}
    for name in files:
        assert check_document(json.loads(first[name])) == []


def test_command_service_filter_and_usage_errors(tmp_path: Path) -> None:
    code, out, _ = _run(str(FULL), "--out", str(tmp_path), "--service", "order-service")
    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["order-service.asyncapi.json"]

    code, _, err = _run(str(FULL), "--out", str(tmp_path), "--service", "no-such-service")
    assert code == 2 and "no-such-service: no such service" in err

    code, _, err = _run(str(tmp_path / "missing"), "--out", str(tmp_path))
    assert code == 2 and "no such catalog folder" in err

    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(str(FULL), "--out", str(blocker))
    assert code == 2 and "is not a folder" in err
