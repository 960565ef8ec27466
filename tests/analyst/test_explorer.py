"""The analyst API over a small hand-built catalog model."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from generator._model import (
    Catalog,
    Channel,
    ChannelUse,
    Container,
    Domain,
    Entity,
    Flow,
    FlowLink,
    FlowStep,
    Message,
    MessageUse,
    Pointer,
    Relationship,
    Service,
    Source,
    System,
)
from generator.analyst import (
    CatalogExplorer,
    NotInCatalog,
    Table,
    _diagrams,
    open_catalog,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["orderId", "items"],
    "properties": {
        "orderId": {"type": "string", "format": "uuid", "description": "The order."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "status": {"type": "string", "enum": ["CREATED", "CONFIRMED"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku"],
                "properties": {
                    "sku": {"type": "string", "maxLength": 32},
                    "quantity": {"type": "integer", "minimum": 1},
                },
            },
        },
    },
}

OMS = "domains/Ordering/systems/oms"
REVIEWS = "domains/Reviews"


def res(kind: str, rid: str, folder: str, **fields: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "id": rid,
        "name": fields.pop("name", rid.replace("-", " ").title()),
        "version": fields.pop("version", "1.0.0"),
        "source": Source(f"{folder}/index.mdx", 1),
        **fields,
    }


def use(mid: str, channel: str = "ordering.events") -> MessageUse:
    return MessageUse(Pointer(mid), (ChannelUse(Pointer(channel), (("message", mid),)),))


def step(sid: str, title: str, nxt: tuple[str, ...] = (), **node: Any) -> FlowStep:
    return FlowStep(
        id=sid,
        title=title,
        source=Source("flows/place/index.mdx", 3),
        next=tuple(FlowLink(n) for n in nxt),
        **node,
    )


def build(*, schema: dict[str, Any] | None = None, extra: tuple[Message, ...] = ()) -> Catalog:
    """Ordering (OMS with order-service) and Reviews (a service without a system)."""
    order_created = Message(
        **res("event", "order-created", f"{OMS}/services/OrderService/events/order-created"),
        schema=copy.deepcopy(SCHEMA if schema is None else schema),
        schema_path=f"{OMS}/services/OrderService/events/order-created/schema.json",
    )
    create_order = Message(
        **res("command", "create-order", f"{OMS}/services/OrderService/commands/create-order"),
        schema={"type": "object", "properties": {}},
    )
    review_submitted = Message(
        **res("event", "review-submitted", f"{REVIEWS}/services/ReviewApi/events/review-submitted"),
        schema={"type": "object", "properties": {}},
    )
    order_service = Service(
        **res("service", "order-service", f"{OMS}/services/OrderService", name="Order <Service>"),
        sends=(use("order-created"),),
        receives=(use("create-order", "ordering.commands"),),
        writes_to=(Pointer("order-database"),),
    )
    storefront = Service(
        **res("service", "storefront", "services/Storefront"),
        sends=(use("create-order", "ordering.commands"),),
    )
    review_api = Service(
        **res("service", "review-api", f"{REVIEWS}/services/ReviewApi"),
        sends=(use("review-submitted", "reviews.events"),),
        receives=(use("order-created"),),
        reads_from=(Pointer("review-database"),),
        writes_to=(Pointer("review-database"),),
    )
    oms = System(
        **res("system", "order-management-system", OMS, name="Order Management"),
        services=(Pointer("order-service"),),
        containers=(Pointer("order-database"),),
        relationships=(Relationship(Pointer("stripe"), "pays with"),),
    )
    stripe = System(**res("system", "stripe", "domains/Payments/systems/stripe"), scope="external")
    ordering = Domain(
        **res("domain", "ordering", "domains/Ordering"),
        systems=(Pointer("order-management-system"),),
        entities=(Pointer("order"),),
        flows=(Pointer("place-an-order"),),
    )
    reviews = Domain(
        **res("domain", "reviews", REVIEWS, name="Reviews & Ratings"),
        services=(Pointer("review-api"),),
    )
    flow = Flow(
        **res("flow", "place-an-order", "domains/Ordering/flows/PlaceAnOrder"),
        steps=(
            step("shopper", "Shopper orders", ("create",), actor="Shopper"),
            step("create", "Create order", ("oms",), message=Pointer("create-order")),
            step("oms", "Order service", ("created", "db"), service=Pointer("order-service")),
            step("created", "Order created", ("reviews",), message=Pointer("order-created")),
            step("db", "Store the order", (), container=Pointer("audit-log")),
            step("reviews", "Reviews", (), service=Pointer("review-api")),
        ),
    )
    containers = tuple(
        Container(**res("container", cid, f"{folder}/containers/{cid}"), container_type=ctype)
        for cid, folder, ctype in (
            ("order-database", OMS, "database"),
            ("review-database", REVIEWS, "database"),
            ("audit-log", OMS, "objectStore"),
        )
    )
    channels = tuple(
        Channel(**res("channel", cid, f"channels/{cid}"), address=f"{cid}.{{message}}")
        for cid in ("ordering.events", "ordering.commands", "reviews.events")
    )
    return Catalog(
        root=Path("catalog"),
        domains=(ordering, reviews),
        systems=(oms, stripe),
        services=(order_service, storefront, review_api),
        messages=(order_created, create_order, review_submitted, *extra),
        channels=channels,
        flows=(flow,),
        containers=containers,
        entities=(Entity(**res("entity", "order", f"{OMS}/entities/order")),),
    )


@pytest.fixture
def cat() -> CatalogExplorer:
    return open_catalog(build())


@pytest.fixture
def no_dot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_diagrams.shutil, "which", lambda name: None)


# --- senders / receivers ------------------------------------------------------------------


def test_senders_and_receivers_with_their_channels(cat: CatalogExplorer) -> None:
    senders = cat.senders("order-created")
    assert senders.column("service") == ["order-service"]
    assert senders[0]["system"] == "order-management-system"
    assert senders[0]["domain"] == "ordering"
    assert senders[0]["channels"] == ["ordering.events (ordering.events.order-created)"]
    receivers = cat.receivers("order-created")
    assert receivers.column("service") == ["review-api"]
    assert receivers[0]["domain"] == "reviews"  # through the domain's services, no system


def test_lookup_by_name_and_unknown_ids(cat: CatalogExplorer) -> None:
    assert cat.senders("Create Order").column("service") == ["storefront"]
    with pytest.raises(NotInCatalog, match="did you mean order-created"):
        cat.receivers("order-creatd")


def test_html_is_escaped_and_plain_repr_is_a_table(cat: CatalogExplorer) -> None:
    table = cat.senders("order-created")
    html = table._repr_html_()
    assert "<table>" in html and "Order &lt;Service&gt;" in html
    assert "<Service>" not in html
    text = repr(table)
    assert text.splitlines()[0] == "Senders of event order-created (1 rows)"
    assert "Order <Service>" in text


# --- flows --------------------------------------------------------------------------------


def test_flow_steps(cat: CatalogExplorer) -> None:
    flow = cat.flow("place-an-order")
    assert flow.steps.column("step") == ["shopper", "create", "oms", "created", "db", "reviews"]
    assert flow.steps[2] == {
        "step": "oms",
        "title": "Order service",
        "kind": "service",
        "target": "order-service",
        "next": ["created", "db"],
    }
    assert flow.messages == ["create-order", "order-created"]
    assert flow.services == ["order-service", "review-api"]


def test_flow_diagram_renders_svg_when_dot_is_installed(cat: CatalogExplorer) -> None:
    if not _diagrams.dot_available():
        pytest.skip("graphviz dot is not installed")
    flow = cat.flow("place-an-order")
    svg = flow._repr_svg_()
    assert svg is not None and svg.startswith("<svg") and "Order created" in svg
    html = flow._repr_html_()
    assert "<svg" in html and "<table>" in html
    assert flow._repr_markdown_() is None  # the HTML form carries the diagram


def test_flow_diagram_falls_back_to_mermaid_without_dot(cat: CatalogExplorer, no_dot: None) -> None:
    flow = cat.flow("place-an-order")
    assert flow._repr_svg_() is None
    markdown = flow._repr_markdown_()
    assert markdown is not None and "```mermaid\nflowchart LR" in markdown
    assert '"Order created' in markdown
    html = flow._repr_html_()
    assert '<pre class="mermaid">' in html and "<table>" in html
    # six steps, five links drawn between them
    assert flow.diagram.mermaid.count(" --> ") == 5


def test_datastores_touched_by_a_flow(cat: CatalogExplorer) -> None:
    table = cat.datastores_touched_by("place-an-order")
    assert table.records() == [
        {
            "datastore": "audit-log",
            "name": "Audit Log",
            "type": "objectStore",
            "technology": "",
            "access": ["step"],
            "via": ["step db"],
        },
        {
            "datastore": "order-database",
            "name": "Order Database",
            "type": "database",
            "technology": "",
            "access": ["write"],
            "via": ["order-service"],
        },
        {
            "datastore": "review-database",
            "name": "Review Database",
            "type": "database",
            "technology": "",
            "access": ["read", "write"],
            "via": ["review-api"],
        },
    ]


# --- domains ------------------------------------------------------------------------------


def test_domain_owns(cat: CatalogExplorer) -> None:
    ordering = cat.domain("ordering")
    assert ordering.systems == ["order-management-system"]
    assert ordering.services == ["order-service"]
    # Messages documented under order-service's folder belong to it, whoever sends them.
    assert ordering.messages == ["create-order", "order-created"]
    # audit-log is only a flow step: no system lists it and no service writes it.
    assert ordering.datastores == ["order-database"]
    assert ordering.flows == ["place-an-order"]
    assert ordering.entities == ["order"]
    assert ("event", "order-created") in [(r["kind"], r["id"]) for r in ordering.owns]
    reviews = cat.domain("Reviews & Ratings")
    assert reviews.services == ["review-api"]
    assert reviews.messages == ["review-submitted"]
    assert reviews.datastores == ["review-database"]


# --- systems map --------------------------------------------------------------------------


def test_systems_map(cat: CatalogExplorer, no_dot: None) -> None:
    systems_map = cat.systems_map()
    assert systems_map.nodes.column("id") == ["order-management-system", "stripe", "review-api"]
    assert systems_map.edges.records() == [
        {
            "from": "order-management-system",
            "to": "stripe",
            "label": "pays with",
            "kind": "relationship",
        }
    ]
    mermaid = systems_map.diagram.mermaid
    assert 'subgraph c1["Ordering"]' in mermaid or '["Ordering"]' in mermaid
    assert '|"pays with"|' in mermaid


def test_systems_map_with_message_edges(cat: CatalogExplorer) -> None:
    edges = cat.systems_map(messages=True).edges
    derived = [r for r in edges if r["kind"] == "messages"]
    assert derived == [
        {
            "from": "order-management-system",
            "to": "review-api",
            "label": "order-created",
            "kind": "messages",
        },
        {
            "from": "storefront",
            "to": "order-management-system",
            "label": "create-order",
            "kind": "messages",
        },
    ]


# --- schemas ------------------------------------------------------------------------------


def test_schema_fields(cat: CatalogExplorer) -> None:
    fields = cat.schema("order-created")
    assert fields.column("field") == [
        "orderId",
        "currency",
        "status",
        "items",
        "items[].sku",
        "items[].quantity",
    ]
    assert fields[0] == {
        "field": "orderId",
        "type": "string",
        "format": "uuid",
        "required": True,
        "constraints": "",
        "description": "The order.",
    }
    by_name = {r["field"]: r for r in fields}
    assert by_name["status"]["constraints"] == "one of CREATED, CONFIRMED"
    assert by_name["currency"]["constraints"] == "pattern '^[A-Z]{3}$'"
    assert by_name["items"]["type"] == "array of object"
    assert by_name["items[].sku"]["required"] is True
    assert by_name["items[].quantity"]["required"] is False


def test_schema_of_an_older_version() -> None:
    old = replace(
        build().messages[0],
        version="0.6.0",
        is_latest=False,
        schema={"type": "object", "properties": {"id": {"type": "string"}}},
    )
    cat = open_catalog(build(extra=(old,)))
    assert cat.schema("order-created", "0.6.0").column("field") == ["id"]
    with pytest.raises(NotInCatalog, match="versions: 0.6.0, 1.0.0"):
        cat.schema("order-created", "0.5.0")


# --- changes ------------------------------------------------------------------------------


def test_messages_changed_between_two_models() -> None:
    smaller = copy.deepcopy(SCHEMA)
    del smaller["properties"]["currency"]
    new = build(schema=smaller)
    added = Message(**res("event", "order-archived", f"{OMS}/services/OrderService/events/x"))
    new = replace(new, messages=(*new.messages[:2], added))  # review-submitted removed
    changes = open_catalog(new).messages_changed(open_catalog(build()))
    assert [(r["message"], r["change"]) for r in changes] == [
        ("order-archived", "added"),
        ("order-created", "changed"),
        ("review-submitted", "removed"),
    ]
    created = changes[1]
    assert created["what"] == "schema"
    assert created["breaking"] == ["field-removed", "version-not-bumped"]
    assert changes[2]["breaking"] == ["message-removed"]
    assert {c.rule for c in changes.breaking} >= {"message-removed", "field-removed"}
    assert len(changes.breaking_table) == len(changes.breaking)


def test_unchanged_catalog_has_no_message_changes(cat: CatalogExplorer) -> None:
    changes = cat.messages_changed(build())
    assert len(changes) == 0
    assert "0 rows" in repr(changes)


# --- tables -------------------------------------------------------------------------------


def test_table_rejects_ragged_rows_and_unknown_columns() -> None:
    with pytest.raises(ValueError, match="does not have 2 values"):
        Table("t", ("a", "b"), [(1,)])
    with pytest.raises(KeyError, match="no column 'c'"):
        Table("t", ("a", "b"), [(1, 2)]).column("c")


def test_listings(cat: CatalogExplorer) -> None:
    assert cat.domains().column("domain") == ["ordering", "reviews"]
    assert cat.systems()[0]["data stores"] == ["order-database"]
    assert cat.services().column("service") == ["order-service", "review-api", "storefront"]
    assert cat.messages("command").column("message") == ["create-order"]
    assert cat.flows()[0]["steps"] == 6
    assert cat.channels().column("channel") == [
        "ordering.commands",
        "ordering.events",
        "reviews.events",
    ]
    assert cat.datastores().column("system") == ["", "order-management-system", ""]
    with pytest.raises(ValueError, match="use event, command or query"):
        cat.messages("events")


def test_message_edges_draw_services_outside_systems(cat: CatalogExplorer, no_dot: None) -> None:
    mermaid = cat.systems_map(messages=True).diagram.mermaid
    assert '[["Storefront"]]' in mermaid  # the client service that sends create-order
    assert mermaid.count(" -.->") == 2


def test_diagram_escapes_awkward_ids_and_labels() -> None:
    diagram = _diagrams.Diagram(
        "odd: names",
        nodes=[
            _diagrams.Node("a:b", 'say "hi" <b>', cluster="x & y"),
            _diagrams.Node("c.d", "two\nlines"),
        ],
        edges=[_diagrams.Edge("a:b", "c.d", "a->b"), _diagrams.Edge("a:b", "missing")],
    )
    mermaid = diagram.mermaid
    assert 'n0["say #quot;hi#quot; #lt;b#gt;"]' in mermaid
    assert 'n1["two<br/>lines"]' in mermaid
    assert 'subgraph c1["x #amp; y"]' in mermaid
    assert mermaid.count("-->") == 1  # the edge to an unknown node is dropped
    if _diagrams.dot_available():
        svg = diagram.svg()
        assert svg is not None and "say &quot;hi&quot; &lt;b&gt;" in svg


def test_explorer_summary(cat: CatalogExplorer) -> None:
    assert dict(zip(*[cat.summary().column(c) for c in ("kind", "count")], strict=True)) == {
        "domains": 2,
        "systems": 2,
        "services": 3,
        "messages": 3,
        "channels": 3,
        "flows": 1,
        "data stores": 3,
    }
    assert "<table>" in cat._repr_html_()
    assert repr(cat).startswith("<CatalogExplorer catalog: 2 domains")
