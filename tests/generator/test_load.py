"""Loading: which files EventCatalog loads, frontmatter with positions, a full catalog's model."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

import generator
from generator import Catalog, Message, Service, lint, load_catalog
from generator import _load as load_module
from generator._load import classify, locate, parse_markdown

FULL = Path(__file__).parent / "fixtures" / "full"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("events/order-created/index.mdx", ("events",)),
        ("events/order-created/versioned/0.1.0/index.md", ("events",)),
        ("events/Orders/OrderCreated/index.mdx", ()),  # message folders cannot be grouped
        ("events/order-created/v1/versioned/0.1.0/index.mdx", ()),
        ("domains/D/systems/S/services/X/events/E/index.mdx", ("events",)),
        ("services/Storefront/index.mdx", ("services",)),
        ("domains/D/services/X/index.mdx", ("services",)),
        ("domains/D/subdomains/S/services/X/index.mdx", ("services",)),
        ("systems/S/services/X/index.mdx", ("services",)),
        ("domains/D/systems/S/services/X/versioned/1.0.0/index.mdx", ("services",)),
        ("domains/D/subdomains/S/systems/T/services/X/index.mdx", ()),  # core ignores these
        ("teams/platform/services/X/index.mdx", ()),
        ("domains/D/index.mdx", ("domains",)),
        ("domains/D/subdomains/S/index.mdx", ("domains",)),
        ("domains/D/subdomains/S/subdomains/T/index.mdx", ()),
        ("domains/D/systems/S/index.mdx", ("systems",)),
        ("systems/a/systems/b/index.md", ("systems",)),
        ("domains/D/systems/S/containers/C/index.mdx", ("containers",)),
        ("channels/index.mdx", ("channels",)),  # channels/index.mdx is itself a channel
        ("channels/group/orders.events/index.mdx", ("channels",)),
        ("domains/D/flows/F/versioned/1/index.mdx", ("flows",)),
        ("domains/D/entities/E/index.mdx", ("entities",)),
        ("domains/D/adrs/adr-1/index.mdx", ("adrs",)),
        ("docs/events/x/index.mdx", ("events", "docs")),
        ("docs/guides/intro.mdx", ("docs",)),
        ("services/S/docs/guide.mdx", ("resource-docs",)),
        ("teams/platform.md", ("teams",)),
        ("users/ada.mdx", ("users",)),
        ("teams/nested/platform.md", ()),
        ("domains/D/ubiquitous-language.mdx", ("ubiquitous-languages",)),
        ("domains/D/changelog.mdx", ("changelogs",)),
        ("federated/acme/domains/D/index.mdx", ("domains",)),
    ],
)
def test_classify_follows_eventcatalog_globs(path: str, expected: tuple[str, ...]) -> None:
    assert classify(path) == expected


def test_frontmatter_positions_are_file_lines_and_columns() -> None:
    text = "---\nid: s\nsends:\n  - id: m\n    to:\n      - {id: c}\n---\nbody\n"
    doc, problems = parse_markdown("services/S/index.mdx", text)
    assert problems == []
    assert doc.position("id") == (2, 1)
    assert doc.position("sends", 0) == (4, 5)
    assert doc.position("sends", 0, "to", 0, "id") == (6, 10)
    # a path that is not written falls back to its nearest written ancestor
    assert doc.position("sends", 0, "version") == (4, 5)
    assert doc.body == "body\n" and doc.body_line == 8


def test_yaml_error_reports_the_line_of_the_error() -> None:
    text = "---\nid: s\nname: S\nversion: '1.0.0'\nsends: [\n  - id: x\n---\n"
    doc, problems = parse_markdown("services/S/index.mdx", text)
    assert doc.frontmatter is None
    [problem] = problems
    assert (problem.rule, problem.line) == ("frontmatter/invalid-yaml", 6)
    assert problem.column > 1


def test_unclosed_and_non_mapping_frontmatter() -> None:
    _doc, [unclosed] = parse_markdown("services/S/index.mdx", "---\nid: s\n")
    assert "never closed" in unclosed.message
    _doc, [listed] = parse_markdown("services/S/index.mdx", "---\n- a\n- b\n---\n")
    assert "not a mapping" in listed.message


def test_yaml_1_2_semantics_and_duplicates() -> None:
    text = "---\nid: s\nenabled: yes\nflag: true\nversion: 1.10\nid: t\n---\n"
    doc, problems = parse_markdown("services/S/index.mdx", text)
    assert doc.frontmatter is not None
    # js-yaml (EventCatalog) reads `yes` as a string; 1.10 really is the number 1.1
    assert doc.frontmatter["enabled"] == "yes" and doc.frontmatter["flag"] is True
    assert doc.frontmatter["version"] == 1.1
    assert [(p.rule, p.line) for p in problems] == [("frontmatter/duplicate-key", 6)]


def test_bom_crlf_and_merge_keys() -> None:
    text = (
        "\ufeff---\r\nbase: &b {a: 1}\r\nid: s\r\nmerged:\r\n  <<: *b\r\n  c: 2\r\n---\r\nbody\r\n"
    )
    doc, problems = parse_markdown("services/S/index.mdx", text)
    assert problems == []
    assert doc.frontmatter == {"base": {"a": 1}, "id": "s", "merged": {"a": 1, "c": 2}}
    assert doc.position("merged") == (4, 1)


def test_alias_bomb_is_a_problem_not_a_hang() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    _doc, [problem] = parse_markdown("services/S/index.mdx", "---\n" + "\n".join(lines) + "\n---\n")
    assert problem.rule == "frontmatter/invalid-yaml"


def test_locate_finds_json_pointers() -> None:
    text = '{\n  "properties": {\n    "a": {"type": "x"}\n  },\n  "items": [1, {"b": 2}]\n}\n'
    assert locate(text, ("properties", "a", "type")) == (3, 11)
    assert locate(text, ("items", "1", "b")) == (5, 17)
    assert locate("not: [json", ("a",)) == (1, 1)


# --- the full fixture: every v4 resource kind ---------------------------------------------------


@pytest.fixture(scope="module")
def full() -> Catalog:
    return load_catalog(FULL)


def test_full_fixture_loads_every_kind(full: Catalog) -> None:
    assert {d.id for d in full.domains} == {"shop", "payments"}
    assert {s.id for s in full.systems} == {"shop-system", "stripe"}
    assert {s.id for s in full.services} == {"order-service", "payment-service", "storefront"}
    assert sorted((m.id, m.version, m.kind) for m in full.messages) == [
        ("get-order", "1.0.0", "query"),
        ("order-placed", "0.9.0", "event"),
        ("order-placed", "1.0.0", "event"),
        ("payment-taken", "1.0.0", "event"),
    ]
    assert {c.id for c in full.channels} == {"shop.events", "http.gateway"}
    assert [f.id for f in full.flows] == ["buy"]
    assert [c.id for c in full.containers] == ["order-db"]
    assert {e.id for e in full.entities} == {"order", "customer"}
    assert [a.id for a in full.adrs] == ["adr-001-outbox"]
    assert [a.id for a in full.agents] == ["support-bot"]
    assert [d.id for d in full.diagrams] == ["context"]
    assert [d.id for d in full.data_products] == ["sales"]
    assert [t.id for t in full.teams] == ["platform"] and [u.id for u in full.users] == ["ada"]
    assert full.users[0].kind == "user" and full.teams[0].members == ("ada",)
    assert [d.title for d in full.docs] == ["Getting started"]
    assert full.config["cId"] == "fixture-full"


def test_full_fixture_lints_clean_but_for_the_avro_schema(full: Catalog) -> None:
    problems = lint(full)
    assert [(p.rule, p.path.rsplit("/", 2)[-2]) for p in problems] == [
        ("schemas/not-json-schema", "payment-taken")
    ]


def test_versions_and_resolution(full: Catalog) -> None:
    latest = full.message("order-placed")
    assert latest is not None and latest.version == "1.0.0" and latest.is_latest
    old = full.message(generator.Pointer("order-placed", "0.x"))
    assert old is not None and old.version == "0.9.0" and not old.is_latest
    assert full.message(generator.Pointer("order-placed", "^2.0.0")) is None
    assert [m.version for m in full.versions("event", "order-placed")] == ["1.0.0", "0.9.0"]
    lookup = full.lookup("command", "order-placed", "3.0.0")  # message kinds share one namespace
    assert lookup.known_id and not lookup.found and lookup.versions == ("1.0.0", "0.9.0")


def test_messages_carry_schemas_and_operations(full: Catalog) -> None:
    placed = full.message("order-placed")
    assert placed is not None and placed.schema is not None
    assert placed.schema_path is not None and placed.schema_path.endswith(
        "order-placed/schema.json"
    )
    assert placed.schema_format == "jsonschema" and placed.schema["title"] == "OrderPlaced"
    get_order = full.message("get-order")
    assert get_order is not None and get_order.is_exchange
    assert get_order.operation is not None and get_order.operation.status_codes == ("200", "404")
    taken = full.message("payment-taken")
    assert taken is not None and taken.schema_format == "avro" and taken.schema is None


def test_services_systems_domains(full: Catalog) -> None:
    order = full.service("order-service")
    assert isinstance(order, Service)
    assert order.owners == ("platform", "ada")
    [send] = order.sends
    assert (send.message.id, send.message.version) == ("order-placed", "^1.0.0")
    assert send.channels[0].parameters == (("message", "order-placed"),)
    assert send.source.path == order.source.path and send.source.line == 11
    assert [p.id for p in order.writes_to] == ["order-db"] and [p.id for p in order.flows] == [
        "buy"
    ]
    [spec] = order.specifications
    assert spec.type == "openapi" and spec.document is not None and "paths" in spec.document
    system = full.system_of(order)
    assert system is not None and system.id == "shop-system"
    domain = full.domain_of(order)
    assert domain is not None and domain.id == "shop"
    payment = full.service("payment-service")
    assert payment is not None
    subdomain = full.domain_of(payment)
    assert subdomain is not None and subdomain.id == "payments"  # the subdomain, not its parent
    placed = full.message("order-placed")
    assert isinstance(placed, Message)
    assert [s.id for s in full.producers(placed)] == ["order-service"]
    assert [s.id for s in full.consumers(placed)] == ["payment-service"]
    stripe = full.system("stripe")
    assert stripe is not None and stripe.scope == "external" and stripe.badges == ("External",)
    shop = full.domain("shop")
    assert shop is not None and [p.id for p in shop.subdomains] == ["payments"]
    assert shop.extensions == (("x-criticality", "high"),)


def test_flows_containers_entities(full: Catalog) -> None:
    [flow] = full.flows
    steps = {s.id: s for s in flow.steps}
    assert steps["shopper"].actor == "Shopper"
    assert (
        steps["shopper"].next[0].target == "storefront"
        and steps["shopper"].next[0].label == "browses"
    )
    assert steps["placed"].message is not None and steps["placed"].message.id == "order-placed"
    assert steps["pay"].external_system == "Stripe"
    [db] = full.containers
    assert db.container_type == "database" and db.authoritative and db.access_mode == "readWrite"
    assert db.sql is not None and "CREATE TABLE" in db.sql and db.sql_path is not None
    order = next(e for e in full.entities if e.id == "order")
    assert order.aggregate_root and order.identifier == "orderId"
    lines = next(p for p in order.properties if p.name == "lines")
    assert lines.items_type == "object" and [p.name for p in lines.properties] == ["sku"]


def test_legacy_message_channels_are_migrated_into_services(tmp_path: Path) -> None:
    (tmp_path / "events/e").mkdir(parents=True)
    (tmp_path / "events/e/index.mdx").write_text(
        "---\nid: e\nname: E\nversion: '1.0.0'\nchannels:\n  - id: c\n---\n"
    )
    (tmp_path / "services/S").mkdir(parents=True)
    (tmp_path / "services/S/index.mdx").write_text(
        "---\nid: s\nname: S\nversion: '1.0.0'\nsends:\n  - id: e\n---\n"
    )
    catalog = load_catalog(tmp_path)
    [service] = catalog.services
    assert [u.channel.id for u in service.sends[0].channels] == ["c"]


def test_each_file_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: collections.Counter[str] = collections.Counter()
    original = load_module._read_text

    def counting(root: Path, path: str) -> str:
        reads[path] += 1
        return original(root, path)

    monkeypatch.setattr(load_module, "_read_text", counting)
    catalog = load_catalog(FULL)
    lint(catalog)
    assert reads and max(reads.values()) == 1
    # schema.json of order-placed is both a schemaPath and an OpenAPI $ref target: read once
    assert any(path.endswith("get-order/schema.json") for path in reads)


def test_load_catalog_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        load_catalog(tmp_path / "missing")
    empty = load_catalog(tmp_path)
    assert empty.services == () and lint(empty) == []


def test_public_api_resolves() -> None:
    for name in generator.__all__:
        assert getattr(generator, name) is not None
    with pytest.raises(AttributeError):
        _ = generator.nothing_here  # type: ignore[attr-defined]
