"""Breaking-change rules: each rule has a case that triggers it and a close one that does not."""

from __future__ import annotations

import copy
import io
import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from generator._breaking import RULES, BreakingChange, compare, latest_by_id, version_key
from generator._cmd_breaking import breaking, run
from generator._model import (
    Catalog,
    Channel,
    ChannelUse,
    Flow,
    FlowStep,
    HttpOperation,
    Message,
    MessageUse,
    Pointer,
    Service,
    Source,
    Specification,
)

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["orderId", "total"],
    "properties": {
        "orderId": {"type": "string", "format": "uuid"},
        "total": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "status": {"type": "string", "enum": ["CREATED", "CONFIRMED"]},
        "note": {"type": "string", "maxLength": 200},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}},
            },
        },
    },
}

ORDER_PAGE = "domains/Ordering/services/OrderService/events/order-created/index.mdx"
ORDER_SCHEMA_PATH = "domains/Ordering/services/OrderService/events/order-created/schema.json"
OPENAPI_PATH = "domains/Ordering/services/OrderService/openapi.yml"


def message(
    mid: str = "order-created",
    schema: dict[str, Any] | None = None,
    *,
    version: str = "1.0.0",
    operation: HttpOperation | None = None,
    page: str = ORDER_PAGE,
    schema_path: str = ORDER_SCHEMA_PATH,
) -> Message:
    return Message(
        kind="event",
        id=mid,
        name=mid,
        version=version,
        source=Source(page, 1),
        schema_path=schema_path,
        schema=copy.deepcopy(ORDER_SCHEMA if schema is None else schema),
        operation=operation,
    )


def use(mid: str, channel: str = "ordering.events") -> MessageUse:
    return MessageUse(Pointer(mid), (ChannelUse(Pointer(channel), (("message", mid),)),))


def service(
    sid: str,
    *,
    sends: tuple[str, ...] = (),
    receives: tuple[str, ...] = (),
    openapi: dict[str, Any] | None = None,
) -> Service:
    specs = ()
    if openapi is not None:
        specs = (Specification("openapi", OPENAPI_PATH, document=openapi),)
    return Service(
        kind="service",
        id=sid,
        name=sid,
        version="1.0.0",
        source=Source(f"services/{sid}/index.mdx", 1),
        sends=tuple(use(m) for m in sends),
        receives=tuple(use(m) for m in receives),
        specifications=specs,
    )


def flow(fid: str, *message_ids: str) -> Flow:
    steps = tuple(
        FlowStep(
            id=f"s{i}", title=m, source=Source(f"flows/{fid}/index.mdx", 5), message=Pointer(m)
        )
        for i, m in enumerate(message_ids)
    )
    return Flow(
        kind="flow",
        id=fid,
        name=fid,
        version="1.0.0",
        source=Source(f"flows/{fid}/index.mdx", 1),
        steps=steps,
    )


def channel(cid: str = "ordering.events", address: str = "ordering.events.{message}") -> Channel:
    return Channel(
        kind="channel",
        id=cid,
        name=cid,
        version="1.0.0",
        source=Source(f"channels/{cid}/index.mdx", 1),
        address=address,
    )


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/orders/{orderId}": {"get": {"operationId": "getOrder"}},
        "/orders": {"post": {"operationId": "createOrder"}, "get": {}},
    },
}


def catalog(
    *,
    messages: tuple[Message, ...] | None = None,
    services: tuple[Service, ...] | None = None,
    flows: tuple[Flow, ...] | None = None,
    channels: tuple[Channel, ...] | None = None,
) -> Catalog:
    """A small catalog: order-service sends order-created, inventory-service receives it."""
    return Catalog(
        root=Path("catalog"),
        messages=(message(),) if messages is None else messages,
        services=(
            service("order-service", sends=("order-created",), openapi=copy.deepcopy(OPENAPI)),
            service("inventory-service", receives=("order-created",)),
        )
        if services is None
        else services,
        flows=(flow("place-an-order", "order-created"),) if flows is None else flows,
        channels=(channel(),) if channels is None else channels,
    )


def schema_with(edit: Any) -> dict[str, Any]:
    schema = copy.deepcopy(ORDER_SCHEMA)
    edit(schema)
    return schema


def new_message(edit: Any, *, version: str = "2.0.0") -> Catalog:
    """The base catalog whose order-created schema was edited (major bump by default)."""
    return catalog(messages=(message(schema=schema_with(edit), version=version),))


def rules(old: Catalog, new: Catalog) -> list[str]:
    return [c.rule for c in compare(old, new)]


BASE = catalog()


def test_identical_catalogs_have_no_breaking_change() -> None:
    assert compare(BASE, catalog()) == []


def test_every_rule_has_a_description() -> None:
    assert all(RULES.values())
    assert all(rule == rule.lower() and " " not in rule for rule in RULES)


# --- message-removed -----------------------------------------------------------------------


def test_message_removed() -> None:
    found = compare(BASE, catalog(messages=()))
    assert [c.rule for c in found if c.rule == "message-removed"] == ["message-removed"]
    removed = next(c for c in found if c.rule == "message-removed")
    # Reported where the message was, since the new catalog has no page for it.
    assert (removed.path, removed.line) == (ORDER_PAGE, 1)
    assert "order-created" in removed.message


def test_message_added_is_not_breaking() -> None:
    new = catalog(messages=(message(), message("order-archived", page="x/index.mdx")))
    assert rules(BASE, new) == []


# --- field-removed -------------------------------------------------------------------------


def test_field_removed() -> None:
    found = compare(BASE, new_message(lambda s: s["properties"].pop("note")))
    assert [c.rule for c in found] == ["field-removed"]
    assert found[0].path == ORDER_SCHEMA_PATH
    assert "'note'" in found[0].message


def test_nested_field_removed_is_named_with_its_path() -> None:
    new = new_message(lambda s: s["properties"]["items"]["items"]["properties"].pop("quantity"))
    found = compare(BASE, new)
    assert [c.rule for c in found] == ["field-removed"]
    assert "'items[].quantity'" in found[0].message


def test_optional_field_added_is_not_breaking() -> None:
    new = new_message(lambda s: s["properties"].update(coupon={"type": "string"}), version="1.1.0")
    assert rules(BASE, new) == []


# --- field-required-added ----------------------------------------------------------------


def add_required_coupon(schema: dict[str, Any]) -> None:
    schema["properties"]["coupon"] = {"type": "string"}
    schema["required"].append("coupon")


def test_new_required_field_on_a_received_message() -> None:
    assert rules(BASE, new_message(add_required_coupon)) == ["field-required-added"]


def test_optional_field_becoming_required() -> None:
    found = compare(BASE, new_message(lambda s: s["required"].append("note")))
    assert [c.rule for c in found] == ["field-required-added"]
    assert "became required" in found[0].message


def test_new_required_field_on_a_message_nobody_receives_is_not_breaking() -> None:
    only_sender = (service("order-service", sends=("order-created",)),)
    old = catalog(services=only_sender)
    new = replace(new_message(add_required_coupon), services=only_sender)
    assert rules(old, new) == []


# --- field-type-changed / field-format-changed -------------------------------------------


def test_field_type_changed() -> None:
    found = compare(BASE, new_message(lambda s: s["properties"]["total"].update(type="number")))
    assert [c.rule for c in found] == ["field-type-changed"]
    assert "integer to number" in found[0].message


def test_description_change_is_not_a_type_change() -> None:
    new = new_message(lambda s: s["properties"]["total"].update(description="minor units"))
    assert rules(BASE, new) == []


def test_field_format_changed() -> None:
    new = new_message(lambda s: s["properties"]["orderId"].update(format="uri"))
    assert rules(BASE, new) == ["field-format-changed"]


def test_same_format_is_not_a_format_change() -> None:
    new = new_message(lambda s: s["properties"]["orderId"].update(format="uuid", title="Order"))
    assert rules(BASE, new) == []


# --- enum-value-removed --------------------------------------------------------------------


def test_enum_value_removed() -> None:
    found = compare(BASE, new_message(lambda s: s["properties"]["status"].update(enum=["CREATED"])))
    assert [c.rule for c in found] == ["enum-value-removed"]
    assert "'CONFIRMED'" in found[0].message


def test_enum_value_added_is_not_breaking() -> None:
    new = new_message(
        lambda s: s["properties"]["status"]["enum"].append("CANCELLED"), version="1.1.0"
    )
    assert rules(BASE, new) == []


# --- constraint-tightened ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "edit", "keyword"),
    [
        ("note", {"maxLength": 100}, "maxLength"),
        ("total", {"minimum": 1}, "minimum"),
        ("currency", {"pattern": "^[A-Z]{3}[A-Z]?$"}, "pattern"),
        ("note", {"pattern": "^[a-z]*$"}, "pattern"),
        ("note", {"minLength": 1}, "minLength"),
        ("total", {"maximum": 1000}, "maximum"),
    ],
)
def test_constraint_tightened(field: str, edit: dict[str, Any], keyword: str) -> None:
    found = compare(BASE, new_message(lambda s: s["properties"][field].update(edit)))
    assert [c.rule for c in found] == ["constraint-tightened"]
    assert keyword in found[0].message


def test_additional_properties_false_added() -> None:
    def close_items(schema: dict[str, Any]) -> None:
        schema["properties"]["items"]["items"]["additionalProperties"] = False

    found = compare(BASE, new_message(close_items))
    assert [c.rule for c in found] == ["constraint-tightened"]
    assert "items[]" in found[0].message and "additionalProperties" in found[0].message


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("note", {"maxLength": 500}),
        ("total", {"minimum": -10}),
        ("currency", {"pattern": "^[A-Z]{3}$"}),
    ],
)
def test_loosened_or_unchanged_constraint_is_not_breaking(field: str, edit: dict[str, Any]) -> None:
    new = new_message(lambda s: s["properties"][field].update(edit), version="1.1.0")
    assert rules(BASE, new) == []


def test_opening_a_closed_object_is_not_breaking() -> None:
    new = new_message(lambda s: s.update(additionalProperties=True), version="1.1.0")
    assert rules(BASE, new) == []


# --- version-not-bumped / major-not-bumped ------------------------------------------------


def test_version_not_bumped() -> None:
    new = new_message(lambda s: s["properties"].pop("note"), version="1.0.0")
    # The version finding sits on the page (index.mdx), the field finding in schema.json.
    assert rules(BASE, new) == ["version-not-bumped", "field-removed"]


def test_major_not_bumped() -> None:
    new = new_message(lambda s: s["properties"].pop("note"), version="1.4.0")
    found = compare(BASE, new)
    assert [c.rule for c in found] == ["major-not-bumped", "field-removed"]
    assert "1.0.0 to 1.4.0" in found[0].message


def test_major_bump_satisfies_the_version_rules() -> None:
    new = new_message(lambda s: s["properties"].pop("note"), version="2.0.0")
    assert rules(BASE, new) == ["field-removed"]


def test_minor_bump_counts_as_major_below_one() -> None:
    old = catalog(messages=(message(version="0.3.0"),))
    new = catalog(messages=(message(schema=schema_with(lambda s: s.pop("required"))),))
    new = replace(new, messages=(replace(new.messages[0], version="0.4.0"),))
    assert "major-not-bumped" not in rules(old, new)


# --- sender-removed / receiver-removed ----------------------------------------------------


def test_sender_removed_from_a_message_a_flow_uses() -> None:
    new = catalog(
        services=(
            service("order-service", openapi=copy.deepcopy(OPENAPI)),
            service("inventory-service", receives=("order-created",)),
        )
    )
    found = compare(BASE, new)
    assert [c.rule for c in found] == ["sender-removed"]
    assert "'order-service'" in found[0].message and "'place-an-order'" in found[0].message
    assert found[0].path == "services/order-service/index.mdx"


def test_receiver_removed_from_a_message_a_flow_uses() -> None:
    new = catalog(
        services=(
            service("order-service", sends=("order-created",), openapi=copy.deepcopy(OPENAPI)),
            service("inventory-service"),
        )
    )
    assert rules(BASE, new) == ["receiver-removed"]


def test_participants_of_a_message_no_flow_uses_may_change() -> None:
    old = catalog(flows=())
    new = catalog(
        flows=(),
        services=(
            service("order-service", openapi=copy.deepcopy(OPENAPI)),
            service("inventory-service"),
        ),
    )
    assert rules(old, new) == []


# --- service-removed ---------------------------------------------------------------------


def test_service_removed_while_its_message_is_still_received() -> None:
    new = catalog(services=(service("inventory-service", receives=("order-created",)),))
    found = compare(BASE, new)
    assert "service-removed" in [c.rule for c in found]
    removal = next(c for c in found if c.rule == "service-removed")
    assert "inventory-service" in removal.message


def test_service_removed_when_another_service_took_over_its_messages() -> None:
    new = catalog(
        services=(
            service("order-service-v2", sends=("order-created",)),
            service("inventory-service", receives=("order-created",)),
        )
    )
    # The flow's sender changed (reported by sender-removed) but nothing is orphaned.
    assert "service-removed" not in rules(BASE, new)


# --- channel-address-changed -------------------------------------------------------------


def test_channel_address_changed() -> None:
    found = compare(BASE, catalog(channels=(channel(address="orders.{message}"),)))
    assert [c.rule for c in found] == ["channel-address-changed"]
    assert found[0].path == "channels/ordering.events/index.mdx"


def test_channel_summary_change_is_not_breaking() -> None:
    new = catalog(channels=(replace(channel(), summary="Ordering's events"),))
    assert rules(BASE, new) == []


# --- operation-removed / operation-changed -----------------------------------------------


def with_openapi(document: dict[str, Any]) -> Catalog:
    return catalog(
        services=(
            service("order-service", sends=("order-created",), openapi=document),
            service("inventory-service", receives=("order-created",)),
        )
    )


def test_openapi_operation_removed() -> None:
    document = copy.deepcopy(OPENAPI)
    del document["paths"]["/orders/{orderId}"]
    found = compare(BASE, with_openapi(document))
    assert [c.rule for c in found] == ["operation-removed"]
    assert "GET /orders/{orderId} (getOrder)" in found[0].message
    assert found[0].path == OPENAPI_PATH


def test_openapi_operation_without_id_removed() -> None:
    document = copy.deepcopy(OPENAPI)
    del document["paths"]["/orders"]["get"]
    assert rules(BASE, with_openapi(document)) == ["operation-removed"]


def test_openapi_operation_path_changed() -> None:
    document = copy.deepcopy(OPENAPI)
    document["paths"]["/orders/by-id/{orderId}"] = document["paths"].pop("/orders/{orderId}")
    found = compare(BASE, with_openapi(document))
    assert [c.rule for c in found] == ["operation-changed"]
    assert "moved to GET /orders/by-id/{orderId}" in found[0].message


def test_openapi_operation_method_changed() -> None:
    document = copy.deepcopy(OPENAPI)
    document["paths"]["/orders"]["put"] = document["paths"]["/orders"].pop("post")
    assert rules(BASE, with_openapi(document)) == ["operation-changed"]


def test_openapi_operation_added_or_renamed_is_not_breaking() -> None:
    document = copy.deepcopy(OPENAPI)
    document["paths"]["/orders/{orderId}"]["get"]["operationId"] = "readOrder"
    document["paths"]["/orders/{orderId}"]["delete"] = {"operationId": "deleteOrder"}
    assert rules(BASE, with_openapi(document)) == []


def test_message_operation_path_changed_needs_a_major_bump() -> None:
    old = catalog(messages=(message(operation=HttpOperation("GET", "/orders/{orderId}")),))
    new = catalog(
        messages=(message(operation=HttpOperation("GET", "/order/{orderId}"), version="1.1.0"),)
    )
    assert rules(old, new) == ["major-not-bumped", "operation-changed"]


def test_message_operation_status_codes_change_is_not_breaking() -> None:
    old = catalog(messages=(message(operation=HttpOperation("get", "/orders/{orderId}")),))
    new = catalog(
        messages=(message(operation=HttpOperation("GET", "/orders/{orderId}", ("200", "404"))),)
    )
    assert rules(old, new) == []


def test_message_operation_removed() -> None:
    old = catalog(messages=(message(operation=HttpOperation("GET", "/orders/{orderId}")),))
    assert rules(old, catalog(messages=(message(version="2.0.0"),))) == ["operation-removed"]


# --- comparison mechanics -----------------------------------------------------------------


def test_latest_versions_are_compared() -> None:
    historical = replace(
        message(schema={"type": "object", "properties": {}}, version="0.6.0"), is_latest=False
    )
    # Only 1.0.0 counts, so the older version without fields changes nothing.
    assert compare(BASE, catalog(messages=(historical, message()))) == []
    assert latest_by_id([historical, message()])["order-created"].version == "1.0.0"


def test_version_order_is_semantic() -> None:
    versions = ["1.10.0", "1.2.0", "1.2.0-rc.1", "0.6.0"]
    assert sorted(versions, key=version_key) == ["0.6.0", "1.2.0-rc.1", "1.2.0", "1.10.0"]


def test_local_refs_are_followed() -> None:
    with_ref = {
        "type": "object",
        "$defs": {"money": {"type": "integer", "minimum": 0}},
        "properties": {"total": {"$ref": "#/$defs/money"}},
    }
    tightened = copy.deepcopy(with_ref)
    tightened["$defs"]["money"]["minimum"] = 1
    old = catalog(messages=(message(schema=with_ref),))
    new = catalog(messages=(message(schema=tightened, version="2.0.0"),))
    assert rules(old, new) == ["constraint-tightened"]


def test_locator_positions_changes_and_output_is_sorted() -> None:
    asked: list[tuple[str, tuple[str, ...]]] = []

    def locate(path: str, pointer: Any) -> int | None:
        asked.append((path, tuple(pointer)))
        return 40 if "note" in pointer else None

    def edit(schema: dict[str, Any]) -> None:
        schema["properties"].pop("currency")
        schema["properties"]["note"]["maxLength"] = 10

    found = compare(BASE, new_message(edit, version="1.0.0"), locate=locate)
    assert found == sorted(found)
    by_rule = {c.rule: c for c in found}
    assert by_rule["constraint-tightened"].line == 40
    assert by_rule["field-removed"].line == 1  # the locator could not tell
    assert (ORDER_SCHEMA_PATH, ("properties", "currency")) in asked
    assert str(by_rule["constraint-tightened"]).startswith(
        f"{ORDER_SCHEMA_PATH}:40: breaking constraint-tightened: event 'order-created'"
    )


def test_change_serialises_to_json_ready_dict() -> None:
    change = BreakingChange("a/b.json", 3, "field-removed", "gone", "event", "x")
    assert change.to_dict() == {
        "path": "a/b.json",
        "line": 3,
        "rule": "field-removed",
        "message": "gone",
        "resource": {"kind": "event", "id": "x"},
    }


# --- the command: folders, git revisions, output -------------------------------------------

PAGE = """---
id: {id}
name: {name}
version: "{version}"
{extra}---
{body}
"""

SCHEMA_JSON = """{
  "type": "object",
  "required": ["orderId"],
  "properties": {
    "orderId": {"type": "string", "format": "uuid"},
    "note": {"type": "string", "maxLength": 200}
  }
}
"""


def write_catalog(root: Path, *, schema: str = SCHEMA_JSON, version: str = "1.0.0") -> Path:
    """A two-service catalog on disk: order-service sends order-created to inventory-service."""
    service_dir = root / "domains/Ordering/services/OrderService"
    files = {
        service_dir / "index.mdx": PAGE.format(
            id="order-service",
            name="Order Service",
            version="1.0.0",
            extra="sends:\n  - id: order-created\n",
            body="Creates orders.",
        ),
        root / "domains/Ordering/services/InventoryService/index.mdx": PAGE.format(
            id="inventory-service",
            name="Inventory Service",
            version="1.0.0",
            extra="receives:\n  - id: order-created\n",
            body="Reserves stock.",
        ),
        service_dir / "events/order-created/index.mdx": PAGE.format(
            id="order-created",
            name="Order Created",
            version=version,
            extra="schemaPath: schema.json\n",
            body="An order exists.",
        ),
        service_dir / "events/order-created/schema.json": schema,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


WITHOUT_NOTE = SCHEMA_JSON.replace(',\n    "note": {"type": "string", "maxLength": 200}', "")
SCHEMA_FILE = "domains/Ordering/services/OrderService/events/order-created/schema.json"
MESSAGE_PAGE = "domains/Ordering/services/OrderService/events/order-created/index.mdx"


def run_breaking(catalog_dir: Path, against: str, fmt: str = "text") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(catalog_dir, against, fmt, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_command_against_a_folder_prints_sorted_positioned_lines(tmp_path: Path) -> None:
    old = write_catalog(tmp_path / "old")
    new = write_catalog(tmp_path / "new", schema=WITHOUT_NOTE)
    code, out, err = run_breaking(new, str(old))
    assert code == 1
    assert out.splitlines() == [
        f"{MESSAGE_PAGE}:4: breaking version-not-bumped: event 'order-created' changed in a "
        "breaking way (field-removed) but kept version 1.0.0",
        # The field is gone, so the change points at the `properties` it was removed from.
        f"{SCHEMA_FILE}:4: breaking field-removed: event 'order-created': field 'note' was removed",
    ]
    assert "2 breaking changes" in err


def test_command_json_output(tmp_path: Path) -> None:
    old = write_catalog(tmp_path / "old")
    new = write_catalog(tmp_path / "new", schema=WITHOUT_NOTE, version="2.0.0")
    code, out, _ = run_breaking(new, str(old), "json")
    assert code == 1
    assert json.loads(out) == [
        {
            "path": SCHEMA_FILE,
            "line": 4,
            "rule": "field-removed",
            "message": "event 'order-created': field 'note' was removed",
            "resource": {"kind": "event", "id": "order-created"},
        }
    ]


def test_command_exits_0_without_breaking_changes(tmp_path: Path) -> None:
    old = write_catalog(tmp_path / "old")
    code, out, err = run_breaking(write_catalog(tmp_path / "new"), str(old))
    assert (code, out) == (0, "")
    assert "0 breaking changes" in err


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_command_against_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    catalog_dir = write_catalog(repo / "catalog")
    git(repo, "init", "-q")
    git(repo, "add", "catalog")
    git(repo, "commit", "-q", "-m", "catalog")
    (catalog_dir / SCHEMA_FILE).write_text(WITHOUT_NOTE, encoding="utf-8")
    code, out, _ = run_breaking(catalog_dir, "HEAD")
    assert code == 1
    assert [line.split(": breaking ")[1].split(":")[0] for line in out.splitlines()] == [
        "version-not-bumped",
        "field-removed",
    ]
    git(repo, "commit", "-q", "-am", "drop note")
    assert run_breaking(catalog_dir, "HEAD")[0] == 0  # the working tree matches HEAD now
    assert run_breaking(catalog_dir, "HEAD~1")[0] == 1


@pytest.mark.parametrize("revision", ["no-such-branch", "--output=x", ""])
def test_command_rejects_unknown_revisions(tmp_path: Path, revision: str) -> None:
    repo = tmp_path / "repo"
    catalog_dir = write_catalog(repo / "catalog")
    git(repo, "init", "-q")
    git(repo, "add", "catalog")
    git(repo, "commit", "-q", "-m", "catalog")
    code, out, err = run_breaking(catalog_dir, revision)
    assert (code, out) == (2, "")
    assert "neither a folder nor a git revision" in err


def test_command_names_a_catalog_missing_at_the_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "README").parent.mkdir(parents=True)
    (repo / "README").write_text("x\n", encoding="utf-8")
    git(repo, "init", "-q")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "first")
    catalog_dir = write_catalog(repo / "catalog")
    code, _, err = run_breaking(catalog_dir, "HEAD")
    assert code == 2
    assert "'catalog' does not exist there" in err


def test_command_outside_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIT_CEILING_DIRECTORIES stops git from finding a repository above the temporary folder.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    catalog_dir = write_catalog(tmp_path / "catalog")
    code, _, err = run_breaking(catalog_dir, "HEAD")
    assert code == 2
    assert "not inside a git repository" in err


def test_command_usage_errors(tmp_path: Path) -> None:
    code, _, err = run_breaking(tmp_path / "missing", str(tmp_path))
    assert code == 2 and "no such catalog folder" in err
    catalog_dir = write_catalog(tmp_path / "catalog")
    code, _, err = run_breaking(catalog_dir, str(catalog_dir), "xml")
    assert code == 2 and "--format 'xml'" in err


def test_typer_command_exit_codes(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(breaking)
    app.command("noop")(lambda: None)  # two commands, so the command name is required
    old = write_catalog(tmp_path / "old")
    new = write_catalog(tmp_path / "new", schema=WITHOUT_NOTE, version="2.0.0")
    runner = CliRunner()
    result = runner.invoke(app, ["breaking", str(new), "--against", str(old), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)[0]["rule"] == "field-removed"
    assert runner.invoke(app, ["breaking", str(new)]).exit_code == 2  # --against is required
    same = runner.invoke(app, ["breaking", str(old), "--against", str(old)])
    assert same.exit_code == 0


def test_registered_on_the_generator_cli(tmp_path: Path) -> None:
    from generator.cli import main

    old = write_catalog(tmp_path / "old")
    new = write_catalog(tmp_path / "new", schema=WITHOUT_NOTE, version="2.0.0")
    out, err = io.StringIO(), io.StringIO()
    assert main(["breaking", str(new), "--against", str(old)], out, err) == 1
    assert out.getvalue().splitlines() == [
        f"{SCHEMA_FILE}:4: breaking field-removed: event 'order-created': field 'note' was removed"
    ]
    assert main(["breaking", str(old), "--against", str(old)], io.StringIO(), io.StringIO()) == 0


def test_flow_rule_names_every_flow_using_the_message() -> None:
    flows = (flow("place-an-order", "order-created"), flow("checkout-saga", "order-created"))
    new = catalog(
        flows=flows,
        services=(
            service("order-service", sends=("order-created",), openapi=copy.deepcopy(OPENAPI)),
            service("inventory-service"),
        ),
    )
    found = compare(catalog(flows=flows), new)
    assert [c.message for c in found] == [
        "service 'inventory-service' no longer receives 'order-created', which flows "
        "'checkout-saga', 'place-an-order' use"
    ]
