"""Every id of Acme's facts sheet exists in catalog/ with the facts' names, owners and fields.

The facts sheet (``../shared/acme/facts.yaml`` next to the repository, or ``$ACME_FACTS``) is what
Acme's upstream documentation says. The catalog may add to it (new messages, fields, tables,
receivers) but may change what the facts say only by a documented decision: the tables below list
each such change, exactly as the catalog made it, with the decision it comes from. Decisions are
numbered as in catalog/docs/architecture-decisions.mdx; others are the "Architecture decision"
note of the page named.

Every failure names the catalog file, what differs, the facts' value and the catalog's value.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from facts_notation import (
    Difference,
    FactColumn,
    FieldSpec,
    compare_fields,
    load_facts,
    override,
    parse_columns,
    parse_fields,
    parse_http,
)

from generator import Catalog, Container, Entity, Flow, Message, Pointer, Resource

FACTS = load_facts()
if FACTS is None:
    pytest.skip(
        "facts sheet not found: $ACME_FACTS names no file"
        if os.environ.get("ACME_FACTS")
        else "facts sheet not found at <repo>/../shared/acme/facts.yaml and $ACME_FACTS is unset "
        "(CI has it)",
        allow_module_level=True,
    )


def _section(name: str) -> dict[str, Any]:
    section = FACTS.get(name) if FACTS else None
    if not isinstance(section, dict):
        raise AssertionError(f"facts: section {name!r} is missing or not a mapping")
    return section


DOMAINS = _section("domains")
#: The facts list three ADRs among the Catalog domain's systems; the catalog makes them ADRs
#: ("Catalog conventions" in architecture-decisions.mdx).
ADRS = {k: v for k, v in _section("systems").items() if k.startswith("adr-")}
SYSTEMS = {k: v for k, v in _section("systems").items() if k not in ADRS}
SERVICES = _section("services")
MESSAGES = _section("messages")
CHANNELS = _section("channels")
FLOWS = _section("flows")
CONTAINERS = _section("containers")
ENTITIES = _section("entities")
TEAMS = _section("teams")
HTTP_APIS = _section("http_apis")

# -- documented changes --------------------------------------------------------------------------

#: Message fields whose facts value the catalog changed: (id, version, dotted path) -> the values
#: the catalog has instead.
FIELD_DECISIONS: dict[tuple[str, str, str], dict[str, Any]] = {
    # Decision 12 and the get-order page: the status enum covers the whole order lifecycle
    # (upstream: CREATED, COMPLETED, CANCELLED).
    ("get-order", "1.0.0", "response.status"): {
        "enum": [
            "CREATED",
            "CONFIRMED",
            "AWAITING_FULFILMENT",
            "FULFILLING",
            "ON_HOLD",
            "COMPLETED",
            "CANCELLED",
            "ARCHIVED",
        ]
    },
}

#: Review API page: "Product and customer ids are typed as UUIDs in every review message
#: (upstream: plain strings)". Applied to every field of these names in messages owned by the
#: Reviews team that the facts type as a plain string.
REVIEW_UUID_FIELDS = ("productId", "customerId")
REVIEW_TEAM = "reviews-platform"

#: Facts sends/receives the catalog removed: (service, sends|receives, message) -> decision.
WIRING_DECISIONS = {
    # Decision 1: only the Cart API receives checkout-cart; the Checkout API reacts to
    # cart-checked-out, which the test of its receives below still requires.
    ("checkout-api", "receives", "checkout-cart"): "decision 1",
}

#: Flow steps the catalog replaced: (flow, kind, ref) -> the (kind, ref) steps that stand for it.
FLOW_DECISIONS: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {
    # Decision 14 and the Place an Order page: a failed checkout ends in checkout-failed (no order
    # exists yet), and the custom steps became the messages order-confirmed and checkout-failed.
    ("place-an-order", "message", "order-cancelled"): (("message", "checkout-failed"),),
    ("place-an-order", "custom", "Order confirmed"): (("message", "order-confirmed"),),
    ("place-an-order", "custom", "Checkout failed"): (("message", "checkout-failed"),),
    # Checkout Saga page: "Saga complete" and "Compensate and abort" became checkout-completed,
    # release-inventory and checkout-failed (decisions 6 and 7).
    ("checkout-saga", "custom", "Saga complete"): (("message", "checkout-completed"),),
    ("checkout-saga", "custom", "Compensate and abort"): (
        ("message", "release-inventory"),
        ("message", "checkout-failed"),
    ),
    # Order Cancellation page: the actor is "Shopper or staff" (decision 13), and "Release and
    # refund" is the real receivers and messages of decisions 11, 13 and 15.
    ("order-cancellation", "actor", "Shopper or System"): (("actor", "Shopper or staff"),),
    ("order-cancellation", "custom", "Release and refund"): (
        ("service", "inventory-service"),
        ("service", "warehouse-service"),
        ("service", "payment-worker"),
        ("message", "refund-requested"),
        ("service", "stripe-payments-api"),
        ("message", "refund-processed"),
    ),
}

#: Facts tables the catalog replaced: (container, table) -> the table that replaces it.
TABLE_DECISIONS = {
    # Product Database page: the product-specific `outbox` is replaced by the platform-wide
    # `message_outbox` every store carries (ADR-001 still holds).
    ("product-database", "outbox"): "message_outbox",
}

#: Data stores section of architecture-decisions.mdx: schema.sql is portable, so ids are not
#: generated by the database and `now()` is `CURRENT_TIMESTAMP`. Facts default -> catalog default.
PORTABLE_DEFAULTS: dict[str, str | None] = {
    "gen_random_uuid()": None,
    "now()": "CURRENT_TIMESTAMP",
}

#: The facts name the Reviews HTTP API by its domain; the service serving it is review-api.
HTTP_API_SERVICES = {"reviews": "review-api"}

# -- helpers -------------------------------------------------------------------------------------


class Report:
    """Differences of one resource, each naming the file, what, the facts' and catalog's value."""

    def __init__(self, page: str) -> None:
        self.page = page
        self.problems: list[str] = []

    def add(self, what: str, facts: Any, catalog: Any) -> None:
        self.problems.append(f"{self.page}: {what}: facts {facts!r}, catalog {catalog!r}")

    def same(self, what: str, facts: Any, catalog: Any) -> None:
        if facts != catalog:
            self.add(what, facts, catalog)

    def includes(self, what: str, facts: Iterable[Any], catalog: Iterable[Any]) -> None:
        """Every facts item is among the catalog's (the catalog may add more)."""
        have = list(catalog)
        missing = [item for item in facts if item not in have]
        if missing:
            self.add(f"{what} missing {missing}", list(facts), have)

    def check(self) -> None:
        if self.problems:
            pytest.fail("\n".join(self.problems), pytrace=False)


def page(resource: Resource) -> str:
    return f"catalog/{resource.source.path}"


def latest(catalog: Catalog, kind: str, id: str) -> Resource:
    found = catalog.latest(kind, id)
    if found is None:
        pytest.fail(f"catalog: no {kind} with id {id!r} (facts have one)")
    return found


def domain_id(label: str) -> str:
    """A facts domain reference (``Fulfilment``, ``Reviews``) as the facts domain id."""
    for id, domain in DOMAINS.items():
        if label in (id, domain.get("name")) or label.lower() == id:
            return id
    raise AssertionError(f"facts: unknown domain {label!r}")


def custom_properties(report: Report, facts: Any, resource: Resource) -> None:
    extensions = dict(resource.extensions)
    for key, value in (facts or {}).items():
        report.same(f"custom property {key}", value, extensions.get(key))


def expected_fields(message_id: str, version: str, facts: Mapping[str, Any]) -> list[FieldSpec]:
    """The facts' fields of one message version with the documented changes applied."""
    specs = parse_fields(facts.get("fields"), f"messages.{message_id}@{version}")
    for (id, at, path), values in FIELD_DECISIONS.items():
        if (id, at) == (message_id, version):
            specs = override(specs, path, **values)
    if REVIEW_TEAM in MESSAGES[message_id].get("owners", []):
        specs = tuple(_uuid_ids(spec) for spec in specs)
    return list(specs)


def _uuid_ids(spec: FieldSpec) -> FieldSpec:
    if spec.name in REVIEW_UUID_FIELDS and spec.type == "string" and not spec.constraints:
        return spec.with_constraint("format", "uuid")
    return replace(spec, properties=tuple(_uuid_ids(p) for p in spec.properties))


def message_versions() -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for id, message in MESSAGES.items():
        yield id, str(message["version"]), message
        for older in message.get("older_versions") or []:
            yield id, str(older["version"]), older


# -- the facts sheet itself ----------------------------------------------------------------------


def test_facts_sheet_has_the_documented_shape() -> None:
    # Guards against a vacuous pass on a truncated or misread facts file.
    kinds = [m["type"] for m in MESSAGES.values()]
    internal = [s for s in SYSTEMS.values() if "External" not in s["badges"]]
    assert (len(DOMAINS), len(SYSTEMS), len(internal), len(ADRS)) == (7, 15, 12, 3)
    assert (len(SERVICES), len(MESSAGES), len(CHANNELS), len(FLOWS)) == (27, 64, 5, 5)
    assert (kinds.count("event"), kinds.count("command"), kinds.count("query")) == (39, 19, 6)
    assert (len(CONTAINERS), len(ENTITIES), len(TEAMS)) == (12, 29, 8)
    fields = sum(len(expected_fields(i, v, m)) for i, v, m in message_versions())
    assert fields > 250


# -- owners and structure ------------------------------------------------------------------------


@pytest.mark.parametrize("team_id", sorted(TEAMS))
def test_team(catalog: Catalog, team_id: str) -> None:
    team = next((t for t in catalog.teams if t.id == team_id), None)
    assert team is not None, f"catalog/teams: no team {team_id!r}"
    report = Report(f"catalog/{team.source.path}")
    report.same("name", TEAMS[team_id]["name"], team.name)
    report.check()


@pytest.mark.parametrize("domain_id", sorted(DOMAINS))
def test_domain(catalog: Catalog, domain_id: str) -> None:
    facts = DOMAINS[domain_id]
    domain = catalog.domain(domain_id)
    assert domain is not None, f"catalog: no domain {domain_id!r}"
    report = Report(page(domain))
    report.same("name", facts["name"], domain.name)
    report.same("version", facts["version"], domain.version)
    report.same("owners", facts["owners"], list(domain.owners))
    report.includes("systems", facts["systems"], [p.id for p in domain.systems])
    report.includes("services", facts["services"], [p.id for p in domain.services])
    report.includes("entities", facts["entities"], [p.id for p in domain.entities])
    custom_properties(report, facts.get("custom_properties"), domain)
    report.check()


@pytest.mark.parametrize("system_id", sorted(SYSTEMS))
def test_system(catalog: Catalog, system_id: str) -> None:
    facts = SYSTEMS[system_id]
    system = catalog.system(system_id)
    assert system is not None, f"catalog: no system {system_id!r}"
    report = Report(page(system))
    report.same("name", facts["name"], system.name)
    report.same("version", facts["version"], system.version)
    report.same("owners", facts["owners"], list(system.owners))
    report.same("badges", facts["badges"] or [], list(system.badges))
    scope = "external" if "External" in facts["badges"] else "internal"
    report.same("scope", scope, system.scope)
    domain = catalog.domain_of(system)
    report.same("domain", domain_id(facts["domain"]), domain.id if domain else None)
    report.includes("services", facts["services"], [p.id for p in system.services])
    report.includes("containers", facts["containers"], [p.id for p in system.containers])
    report.includes(
        "relationships",
        [(r["to"], r["label"]) for r in facts["relationships"]],
        [(r.target.id, r.label) for r in system.relationships],
    )
    custom_properties(report, facts.get("custom_properties"), system)
    report.check()


@pytest.mark.parametrize("adr_id", sorted(ADRS))
def test_adr(catalog: Catalog, adr_id: str) -> None:
    facts = ADRS[adr_id]
    adr = latest(catalog, "adr", adr_id)
    report = Report(page(adr))
    report.same("kind", "adr", adr.kind)
    report.same("name", facts["name"], adr.name)
    report.same("version", facts["version"], adr.version)
    report.same("owners", facts["owners"], list(adr.owners))
    report.same("badges", facts["badges"] or [], list(adr.badges))
    custom_properties(report, facts.get("custom_properties"), adr)
    folder = f"domains/{DOMAINS[domain_id(facts['domain'])]['name']}/adrs/"
    report.same("folder", folder, adr.source.path[: len(folder)])
    report.same("also a system", None, catalog.system(adr_id))
    report.check()


@pytest.mark.parametrize("service_id", sorted(SERVICES))
def test_service(catalog: Catalog, service_id: str) -> None:
    facts = SERVICES[service_id]
    service = catalog.service(service_id)
    assert service is not None, f"catalog: no service {service_id!r}"
    report = Report(page(service))
    report.same("name", facts["name"], service.name)
    report.same("version", facts["version"], service.version)
    report.same("owners", facts["owners"], list(service.owners))
    system = catalog.system_of(service)
    report.same("system", facts["system"], system.id if system else None)
    folder = f"domains/{facts['domain_folder']}/"
    report.same("domain folder", folder, service.source.path[: len(folder)])
    for direction, channel_key in (("sends", "to"), ("receives", "from")):
        uses = {u.message.id: u for u in getattr(service, direction)}
        for entry in facts[direction]:
            if (service_id, direction, entry["id"]) in WIRING_DECISIONS:
                report.same(
                    f"{direction} {entry['id']} (removed by decision)", None, uses.get(entry["id"])
                )
                continue
            use = uses.get(entry["id"])
            if use is None:
                report.add(f"{direction} {entry['id']}", entry, None)
                continue
            message = catalog.message(use.message)
            report.same(
                f"{direction} {entry['id']} version",
                str(entry["version"]),
                message.version if message else None,
            )
            report.includes(
                f"{direction} {entry['id']} {channel_key}",
                entry.get(channel_key, []),
                [c.channel.id for c in use.channels],
            )
    report.includes("writesTo", facts["writesTo"] or [], [p.id for p in service.writes_to])
    report.includes("readsFrom", facts["readsFrom"] or [], [p.id for p in service.reads_from])
    report.includes(
        "specifications",
        [(s["type"], f"{service.folder}/{s['file']}") for s in facts["specifications"] or []],
        [(s.type, s.path) for s in service.specifications],
    )
    report.check()


# -- messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message_id", "version"), [(i, v) for i, v, _ in message_versions()], ids=str
)
def test_message(catalog: Catalog, message_id: str, version: str) -> None:
    facts_message = MESSAGES[message_id]
    facts = next(m for i, v, m in message_versions() if (i, v) == (message_id, version))
    message = catalog.message(Pointer(message_id, version))
    assert message is not None, f"catalog: no message {message_id!r} version {version!r}"
    report = Report(page(message))
    report.same("version", version, message.version)
    report.same("kind", facts_message["type"], message.kind)
    report.same("name", facts_message["name"], message.name)
    report.same("owners", facts_message["owners"], list(message.owners))
    report.same("badges", facts_message["badges"] or [], list(message.badges))
    owner_folder = f"/services/{facts_message['documented_under_service_folder']}/"
    report.same("owning service folder", True, owner_folder in message.source.path)
    head = catalog.latest("event", message_id)
    if version == str(facts_message["version"]):
        report.same("latest version", version, head.version if head else None)
        report.same("at the root of its folder (not versioned/)", True, message.is_latest)
    else:
        assert head is not None
        expected = f"{head.folder}/versioned/"
        report.same("folder", expected, message.source.path[: len(expected)])
        report.same("historical (under versioned/)", False, message.is_latest)
    if message.schema is None:
        report.add("schema", "a JSON Schema", message.schema_path)
    else:
        changes = compare_fields(
            tuple(expected_fields(message_id, version, facts)), message.schema, "payload"
        )
        for change in changes:
            if change.added_bound:  # see test_no_bounds_beyond_the_facts
                continue
            if (message_id, version, change.path) in REQUIRED_ADDITIONS and (
                change.what == "added field is required"
            ):
                continue
            report.problems.append(f"{report.page} (catalog/{message.schema_path}): {change}")
    report.check()


# Fields the catalog added AND made required, each by a documented decision (page named).
REQUIRED_ADDITIONS = {
    # checkout-cart page, "Architecture decision": a delivery address is required at checkout,
    # because an order without one could never be picked, packed or shipped.
    ("checkout-cart", "1.0.0", "payload.deliveryAddress"): "checkout-cart",
}


def _documented_bound(change: Difference) -> bool:
    """Bounds allowed by the catalog convention "Bounds the facts leave open are closed"
    (catalog/docs/architecture-decisions.mdx): non-negative amounts and counts, pages from 1,
    a response page size capped like its request, and a length limit on free text."""
    if change.what == "minimum":
        return change.catalog in (0, 1)
    if change.what == "maxLength":
        return isinstance(change.catalog, int) and change.catalog > 0
    if change.what == "maximum":
        return change.path.endswith(".pageSize") and change.catalog == 100
    return False


def test_no_bounds_beyond_the_facts(catalog: Catalog) -> None:
    # A minimum, maximum or length limit where the facts state none narrows the contract: a
    # payload valid by the facts may be refused. Only the documented convention may do so.
    problems = []
    for message_id, version, facts in message_versions():
        message = catalog.message(Pointer(message_id, version))
        if message is None or message.schema is None:
            continue  # test_message reports it
        for change in compare_fields(
            tuple(expected_fields(message_id, version, facts)), message.schema, "payload"
        ):
            if change.added_bound and not _documented_bound(change):
                problems.append(f"catalog/{message.schema_path}: {change}")
    if problems:
        pytest.fail(
            f"{len(problems)} undocumented bound(s):\n" + "\n".join(problems), pytrace=False
        )


def test_review_uuid_decision_applies_to_every_review_message() -> None:
    # The decision rewrites ids in review messages only; make sure it has something to rewrite,
    # so a renamed field in the facts cannot silently switch it off.
    rewritten = [
        (i, v)
        for i, v, m in message_versions()
        if REVIEW_TEAM in MESSAGES[i]["owners"]
        and expected_fields(i, v, m) != list(parse_fields(m["fields"], i))
    ]
    assert len(rewritten) >= 8


# -- channels and flows --------------------------------------------------------------------------


@pytest.mark.parametrize("channel_id", sorted(CHANNELS))
def test_channel(catalog: Catalog, channel_id: str) -> None:
    facts = CHANNELS[channel_id]
    channel = catalog.channel(channel_id)
    assert channel is not None, f"catalog: no channel {channel_id!r}"
    report = Report(page(channel))
    report.same("name", facts["name"], channel.name)
    report.same("version", facts["version"], channel.version)
    report.same("address", facts["address"], channel.address)
    report.same("protocols", facts["protocols"], list(channel.protocols))
    report.same("deliveryGuarantee", facts["deliveryGuarantee"], channel.delivery_guarantee)
    report.same("owners", facts["owners"], list(channel.owners))
    report.same("routes", facts.get("routes", []), [p.id for p in channel.routes])
    report.check()


def _flow_nodes(flow: Flow) -> set[tuple[str, str]]:
    nodes: set[tuple[str, str]] = set()
    for step in flow.steps:
        for kind in ("message", "service", "container"):
            pointer = getattr(step, kind)
            if pointer is not None:
                nodes.add((kind, pointer.id))
        if step.actor is not None:
            nodes.add(("actor", step.actor))
        if step.custom is not None:
            nodes.add(("custom", step.custom))
    return nodes


@pytest.mark.parametrize("flow_id", sorted(FLOWS))
def test_flow(catalog: Catalog, flow_id: str) -> None:
    facts = FLOWS[flow_id]
    flow = latest(catalog, "flow", flow_id)
    assert isinstance(flow, Flow)
    report = Report(page(flow))
    report.same("name", facts["name"], flow.name)
    report.same("version", facts["version"], flow.version)
    report.same("owners", facts["owners"], list(flow.owners))
    report.same("location", facts["location"], flow.folder)
    nodes = _flow_nodes(flow)
    for step in facts["steps"]:
        node = (step["kind"], step["ref"])
        replaced = FLOW_DECISIONS.get((flow_id, *node))
        if replaced is None:
            report.same(
                f"step {step['step']} ({step['kind']} {step['ref']!r})", True, node in nodes
            )
        else:
            missing = [n for n in replaced if n not in nodes]
            if missing:  # the decision's replacement must be drawn in the flow
                report.add(
                    f"step {step['step']} replaced by decision, steps missing {missing}",
                    node,
                    sorted(nodes),
                )
    report.check()


# -- data stores and entities --------------------------------------------------------------------


def _sqlite_columns(container: Container) -> dict[str, dict[str, tuple[Any, ...]]]:
    """Tables of the container's schema.sql as SQLite creates them: name -> column -> pragma row."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(container.sql or "")
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            table: {row[1]: row for row in db.execute(f'PRAGMA table_info("{table}")')}
            for table in tables
        }
    finally:
        db.close()


def _column_report(report: Report, table: str, fact: FactColumn, row: tuple[Any, ...]) -> None:
    _, _, sql_type, not_null, default, pk = row
    where = f"schema.sql {table}.{fact.name}"
    report.same(f"{where} type", fact.type.upper(), str(sql_type).upper())
    report.same(f"{where} NOT NULL", fact.not_null or fact.primary_key, bool(not_null) or pk > 0)
    report.same(f"{where} PRIMARY KEY", fact.primary_key, pk > 0)
    expected = PORTABLE_DEFAULTS.get(fact.default, fact.default) if fact.default else None
    actual = default if default is None else str(default)
    report.same(
        f"{where} DEFAULT",
        expected.upper() if expected else None,
        actual.upper() if actual else None,
    )


@pytest.mark.parametrize("container_id", sorted(CONTAINERS))
def test_container(catalog: Catalog, container_id: str) -> None:
    facts = CONTAINERS[container_id]
    container = catalog.container(container_id)
    assert container is not None, f"catalog: no container {container_id!r}"
    report = Report(page(container))
    for key, value in (
        ("name", container.name),
        ("version", container.version),
        ("container_type", container.container_type),
        ("technology", container.technology),
        ("classification", container.classification),
        ("retention", container.retention),
        ("residency", container.residency),
        ("authoritative", container.authoritative),
        ("access_mode", container.access_mode),
    ):
        report.same(key, facts[key], value)
    if facts.get("system"):
        system = catalog.system(facts["system"])
        members = [p.id for p in system.containers] if system else []
        report.same(f"member of system {facts['system']}", True, container_id in members)
    tables = facts.get("tables") or {}
    if tables and container.sql is None:
        report.add("schema.sql", sorted(tables), None)
        report.check()
    try:
        created = _sqlite_columns(container) if tables else {}
    except sqlite3.Error as exc:
        report.add("schema.sql runs on SQLite", "yes", f"no: {exc}")
        report.check()
    for table, lines in tables.items():
        replacement = TABLE_DECISIONS.get((container_id, table))
        if replacement is not None:
            report.same(f"table {table} replaced by {replacement}", True, replacement in created)
            continue
        if table not in created:
            report.add(f"schema.sql table {table}", "present", sorted(created))
            continue
        for column in parse_columns(lines, f"containers.{container_id}.{table}"):
            row = created[table].get(column.name)
            if row is None:
                report.add(f"schema.sql column {table}.{column.name}", "present", None)
            else:
                _column_report(report, table, column, row)
    report.check()


@pytest.mark.parametrize("entity_id", sorted(ENTITIES))
def test_entity(catalog: Catalog, entity_id: str) -> None:
    facts = ENTITIES[entity_id]
    entity = latest(catalog, "entity", entity_id)
    assert isinstance(entity, Entity)
    report = Report(page(entity))
    report.same("name", facts["name"], entity.name)
    report.same("identifier", facts["identifier"], entity.identifier)
    report.same("aggregateRoot", bool(facts["aggregateRoot"]), entity.aggregate_root)
    domain = catalog.domain_of(entity)
    report.same("domain", domain_id(facts["domain"]), domain.id if domain else None)
    properties = {p.name: p for p in entity.properties}
    for prop in facts["properties"]:
        name = prop["name"]
        have = properties.get(name)
        if have is None:
            report.add(f"property {name}", prop, None)
            continue
        report.same(f"property {name} type", prop["type"], have.type)
        report.same(f"property {name} required", bool(prop.get("required")), have.required)
        report.same(f"property {name} references", prop.get("references"), have.references)
        report.same(f"property {name} relationType", prop.get("relationType"), have.relation_type)
        report.same(f"property {name} enum", list(prop.get("enum") or []), list(have.enum))
    report.check()


# -- HTTP ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", sorted(HTTP_APIS))
def test_http_api(catalog: Catalog, api: str) -> None:
    service_id = HTTP_API_SERVICES.get(api, api)
    service = catalog.service(service_id)
    assert service is not None, f"catalog: no service {service_id!r} for HTTP API {api!r}"
    specs = [s for s in service.specifications if s.type == "openapi"]
    assert specs, f"{page(service)}: no OpenAPI specification (facts: HTTP API {api!r})"
    report = Report(f"catalog/{specs[0].path}")
    paths = (specs[0].document or {}).get("paths") or {}
    for line in HTTP_APIS[api]:
        fact = parse_http(line, f"http_apis.{api}")
        operation = (paths.get(fact.path) or {}).get(fact.method.lower())
        where = f"{fact.method} {fact.path}"
        if not isinstance(operation, dict):
            report.add(f"operation {where}", fact.operation_id, None)
            continue
        report.same(f"{where} operationId", fact.operation_id, operation.get("operationId"))
        report.includes(
            f"{where} responses", fact.status_codes, list(operation.get("responses") or {})
        )
        message = catalog.message(str(operation.get("x-message")))
        if isinstance(message, Message) and message.operation is not None:
            report.includes(
                f"{where} statusCodes of message {message.id}",
                fact.status_codes,
                message.operation.status_codes,
            )
        else:
            report.add(f"{where} x-message", "a message with an operation", message)
    report.check()
