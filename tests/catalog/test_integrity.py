"""The catalog holds together on its own: schemas, references, wiring, lint, HTTP and SQL.

Nothing here needs the facts sheet. Each test gathers every problem of its kind and fails once,
naming the catalog file and what is wrong, so one run shows the whole damage.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from facts_notation import REPO
from jsonschema import SchemaError
from jsonschema.validators import validator_for

from generator import Catalog, Container, Message, MessageUse, Pointer, Resource, Service, lint

DRAFTS = {
    "https://json-schema.org/draft/2020-12/schema",
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
HTTP_PROTOCOLS = {"http", "https"}
GENERATED = REPO / "generated"


def fail_on(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems), pytrace=False)


def page(resource: Resource) -> str:
    return f"catalog/{resource.source.path}"


def current(catalog: Catalog) -> Iterator[Resource]:
    """The latest version of every resource."""
    for resource in catalog.resources():
        if catalog.latest(resource.kind, resource.id) is resource:
            yield resource


# -- schemas -------------------------------------------------------------------------------------


def test_every_message_has_a_json_schema_file(catalog: Catalog) -> None:
    problems = []
    for message in catalog.messages:
        if message.schema_path is None:
            problems.append(f"{page(message)}: no schemaPath/schemas")
        elif not catalog.files[message.schema_path].exists:
            problems.append(f"{page(message)}: schema {message.schema_path} does not exist")
        elif message.schema_format != "jsonschema" or message.schema is None:
            error = catalog.files[message.schema_path].error
            problems.append(f"catalog/{message.schema_path}: not a JSON Schema object ({error})")
    fail_on(problems, "message(s) without a readable JSON Schema")


def test_every_schema_file_is_valid_json_schema(catalog: Catalog) -> None:
    # Every .json file of the catalog, referenced or not: a stray schema is still read by people.
    paths = sorted(Path(catalog.root).rglob("*.json"))
    assert len(paths) >= len({m.schema_path for m in catalog.messages})
    problems = []
    for path in paths:
        where = f"catalog/{path.relative_to(catalog.root).as_posix()}"
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{where}: not JSON: {exc}")
            continue
        draft = schema.get("$schema") if isinstance(schema, dict) else None
        if draft not in DRAFTS:
            problems.append(f"{where}: $schema {draft!r} is not draft 2020-12 or draft-07")
            continue
        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            at = "/".join(str(p) for p in exc.path) or "(root)"
            problems.append(f"{where}: invalid {draft} schema at {at}: {exc.message}")
    fail_on(problems, "invalid schema file(s)")


# -- references ----------------------------------------------------------------------------------


def _pointers(resource: Resource) -> Iterator[tuple[str, str, Pointer]]:
    """(field, kind it must resolve to, pointer) for every reference a page makes."""
    uses: list[tuple[str, MessageUse]] = []
    for name, kind in (
        ("systems", "system"),
        ("services", "service"),
        ("containers", "container"),
        ("entities", "entity"),
        ("flows", "flow"),
        ("subdomains", "domain"),
        ("writes_to", "container"),
        ("reads_from", "container"),
        ("routes", "channel"),
    ):
        for pointer in getattr(resource, name, ()):
            yield name, kind, pointer
    for relationship in getattr(resource, "relationships", ()):
        yield "relationships", "system", relationship.target
    for direction in ("sends", "receives"):
        uses.extend((direction, use) for use in getattr(resource, direction, ()))
    for direction, use in uses:
        yield direction, "event", use.message
        for channel in use.channels:
            yield f"{direction} {use.message.id} to/from", "channel", channel.channel
        for trigger in use.triggers:
            yield f"{direction} {use.message.id} triggers", "event", trigger
    for channel in getattr(resource, "channels", ()):
        yield "channels", "channel", channel.channel
    for step in getattr(resource, "steps", ()):
        for name in ("message", "service", "container", "flow", "agent", "data_product"):
            pointer = getattr(step, name)
            if pointer is not None:
                yield f"step {step.id} {name}", "event" if name == "message" else name, pointer


def test_every_reference_resolves(catalog: Catalog) -> None:
    problems = []
    for resource in catalog.resources():
        for field, kind, pointer in _pointers(resource):
            if catalog.resolve(pointer, kind) is None:
                problems.append(
                    f"catalog/{pointer.source}: {field}: no {kind} {pointer.id!r} version "
                    f"{pointer.version!r} ({page(resource)})"
                )
        for owner in resource.owners:
            if catalog.owner(owner) is None:
                problems.append(f"{page(resource)}: owner {owner!r} is no team or user")
    fail_on(problems, "dangling reference(s)")


def test_flow_links_name_steps_of_the_same_flow(catalog: Catalog) -> None:
    problems = []
    for flow in catalog.flows:
        ids = [step.id for step in flow.steps]
        for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"{page(flow)}: step id {duplicate!r} used twice")
        for step in flow.steps:
            for link in step.next:
                if link.target not in ids:
                    problems.append(
                        f"catalog/{step.source}: next step {link.target!r} is not a step"
                    )
    fail_on(problems, "broken flow link(s)")


def test_every_message_of_a_flow_has_a_sender_and_a_receiver(catalog: Catalog) -> None:
    problems = []
    checked = 0
    for flow in catalog.flows:
        if catalog.latest("flow", flow.id) is not flow:
            continue
        for step in flow.steps:
            if step.message is None:
                continue
            message = catalog.message(step.message)
            if message is None:
                continue  # test_every_reference_resolves reports it
            checked += 1
            for role, found in (
                ("sender", catalog.producers(message)),
                ("receiver", catalog.consumers(message)),
            ):
                if not found:
                    problems.append(
                        f"catalog/{step.source}: {message.kind} {message.id}@{message.version} "
                        f"has no {role}"
                    )
    assert checked > 0, "no flow uses a message: the check proved nothing"
    fail_on(problems, "flow message(s) without sender or receiver")


def test_message_ids_are_unique_across_events_commands_and_queries(catalog: Catalog) -> None:
    kinds: dict[str, set[str]] = defaultdict(set)
    pages: dict[tuple[str, str], list[str]] = defaultdict(list)
    for message in catalog.messages:
        kinds[message.id].add(message.kind)
        pages[(message.id, message.version)].append(page(message))
    problems = [f"{id}: used by {sorted(k)}" for id, k in sorted(kinds.items()) if len(k) > 1]
    problems += [
        f"{id}@{version}: written twice (the later silently wins): {paths}"
        for (id, version), paths in sorted(pages.items())
        if len(paths) > 1
    ]
    fail_on(problems, "message id clash(es)")


def test_ids_are_unique_across_every_kind_of_resource(catalog: Catalog) -> None:
    # docs/how-this-catalog-is-organised.mdx: "Ids are ... unique across every kind of resource".
    kinds: dict[str, list[str]] = defaultdict(list)
    for resource in current(catalog):
        kinds[resource.id].append(f"{resource.kind} ({page(resource)})")
    for team in (*catalog.teams, *catalog.users):
        kinds[team.id].append(f"{team.kind} (catalog/{team.source.path})")
    fail_on(
        [f"{id}: {found}" for id, found in sorted(kinds.items()) if len(found) > 1],
        "id(s) shared by several resources",
    )


# -- lint ----------------------------------------------------------------------------------------


def test_lint_strict_reports_no_problem(catalog: Catalog) -> None:
    # `python -m generator lint --strict catalog` fails on errors and warnings alike.
    fail_on([str(problem) for problem in lint(catalog)], "lint problem(s)")


# -- channels ------------------------------------------------------------------------------------


def _uses(catalog: Catalog) -> Iterator[tuple[Resource, str, MessageUse]]:
    for resource in current(catalog):
        for direction in ("sends", "receives"):
            for use in getattr(resource, direction, ()):
                yield resource, direction, use


def test_every_send_and_receive_names_its_channel(catalog: Catalog) -> None:
    # how-this-catalog-is-organised.mdx: services declare, for each message, the channel it
    # travels on. A message without an HTTP operation can only travel on a broker.
    problems = []
    for _, direction, use in _uses(catalog):
        message = catalog.message(use.message)
        where = f"catalog/{use.source}: {direction} {use.message.id}"
        if not use.channels:
            problems.append(f"{where}: names no channel")
            continue
        channels = [catalog.channel(c.channel) for c in use.channels]
        if message is not None and message.operation is None:
            for channel in channels:
                if channel is not None and set(channel.protocols) <= HTTP_PROTOCOLS:
                    problems.append(
                        f"{where}: broker message on HTTP channel {channel.id} "
                        f"{list(channel.protocols)}"
                    )
    fail_on(problems, "send/receive(s) without a broker channel")


def test_every_receive_channel_is_reached_by_a_sender(catalog: Catalog) -> None:
    # A receiver listens on the channel a sender writes to, or one it routes to.
    routes = {c.id: [r.id for r in c.routes] for c in catalog.channels}
    reached: dict[str, set[str]] = defaultdict(set)
    for _, direction, use in _uses(catalog):
        if direction != "sends":
            continue
        todo = [c.channel.id for c in use.channels]
        while todo:
            channel = todo.pop()
            if channel not in reached[use.message.id]:
                reached[use.message.id].add(channel)
                todo.extend(routes.get(channel, []))
    problems = [
        f"catalog/{use.source}: receives {use.message.id} from {c.channel.id}, where no sender "
        f"writes it (senders reach {sorted(reached[use.message.id]) or 'nothing'})"
        for _, direction, use in _uses(catalog)
        if direction == "receives"
        for c in use.channels
        if c.channel.id not in reached[use.message.id]
    ]
    fail_on(problems, "receive(s) on a channel no sender reaches")


# -- HTTP ----------------------------------------------------------------------------------------


def _operations(catalog: Catalog) -> Iterator[tuple[Service, str, str, str, dict[str, Any]]]:
    """(service, spec path, method, path, operation) of every OpenAPI document."""
    for service in current(catalog):
        if not isinstance(service, Service):
            continue
        for spec in service.specifications:
            if spec.type != "openapi":
                continue
            paths = (spec.document or {}).get("paths") or {}
            for path, item in paths.items():
                for method in HTTP_METHODS:
                    if isinstance(item, dict) and isinstance(item.get(method), dict):
                        yield service, spec.path, method.upper(), path, item[method]


def test_openapi_documents_are_readable_3_1(catalog: Catalog) -> None:
    problems = []
    for service in catalog.services:
        for spec in service.specifications:
            if spec.type != "openapi":
                continue
            version = (spec.document or {}).get("openapi")
            if not (isinstance(version, str) and version.startswith("3.1")):
                problems.append(f"catalog/{spec.path}: openapi version {version!r}, not 3.1")
    fail_on(problems, "unreadable OpenAPI document(s)")


def test_every_openapi_operation_names_its_message(catalog: Catalog) -> None:
    problems = []
    count = 0
    for service, spec, method, path, operation in _operations(catalog):
        count += 1
        where = f"catalog/{spec}: {method} {path}"
        name = operation.get("x-message")
        message = catalog.message(name) if isinstance(name, str) else None
        if message is None:
            problems.append(f"{where}: x-message {name!r} names no message")
            continue
        op = message.operation
        if op is None or (op.method, op.path) != (method, path):
            found = f"{op.method} {op.path}" if op else "none"
            problems.append(f"{where}: {page(message)} has operation {found}")
            continue
        responses = sorted(str(code) for code in operation.get("responses") or {})
        if responses != sorted(op.status_codes):
            problems.append(
                f"{where}: responses {responses}, {page(message)} statusCodes "
                f"{sorted(op.status_codes)}"
            )
        if not any(catalog.message(u.message) is message for u in service.receives):
            problems.append(f"{where}: {page(service)} does not receive {message.id}")
    assert count > 0, "no OpenAPI operation found: the check proved nothing"
    fail_on(problems, "OpenAPI operation(s) out of step with their message")


def test_every_http_command_and_query_is_in_its_receivers_openapi(catalog: Catalog) -> None:
    # Commands and queries that arrive over HTTP say so on the receiving service (a receive from
    # an HTTP channel) and in its OpenAPI document. A service may also receive the same command
    # from a broker (reindex-catalog reaches the product worker so); that receive needs no
    # document. Events with an operation are webhooks and Stripe calls of external systems.
    served = {(s.id, op.get("x-message")) for s, _, _, _, op in _operations(catalog)}
    http_receivers: dict[str, list[Service]] = defaultdict(list)
    for resource, direction, use in _uses(catalog):
        channels = [catalog.channel(c.channel) for c in use.channels]
        over_http = any(c is not None and set(c.protocols) <= HTTP_PROTOCOLS for c in channels)
        received = catalog.message(use.message)
        if direction == "receives" and over_http and isinstance(resource, Service) and received:
            http_receivers[received.id].append(resource)
    problems = []
    for message in current(catalog):
        if not isinstance(message, Message) or message.operation is None:
            continue
        if message.kind == "event":
            continue
        operation = f"{message.operation.method} {message.operation.path}"
        if not http_receivers[message.id]:
            problems.append(f"{page(message)}: {operation}: no service receives it over HTTP")
        for receiver in http_receivers[message.id]:
            if (receiver.id, message.id) not in served:
                problems.append(
                    f"{page(receiver)}: receives {message.id} ({operation}) over HTTP but its "
                    "OpenAPI document has no such operation"
                )
    fail_on(problems, "HTTP message(s) missing from an OpenAPI document")


# -- data stores ---------------------------------------------------------------------------------


def _sqlite_tables(container: Container) -> dict[str, list[tuple[str, bool, bool]]]:
    """Tables of schema.sql as SQLite builds them: name -> [(column, not null, primary key)]."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(container.sql or "")
        names = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: [
                (row[1], bool(row[3]) or row[5] > 0, row[5] > 0)
                for row in db.execute(f'PRAGMA table_info("{name}")')
            ]
            for name in names
        }
    finally:
        db.close()


def _generated_modules() -> dict[str, str]:
    """Generated datastores module by the schema.sql it came from (generated/manifest.json)."""
    manifest = json.loads((GENERATED / "manifest.json").read_text(encoding="utf-8"))
    root = manifest["catalog"]
    modules = {}
    for file, entry in manifest["files"].items():
        if file.startswith("datastores/") and file != "datastores/__init__.py":
            for source in entry["sources"]:
                if source.endswith("/schema.sql"):
                    relative = source[len(root) + 1 :]
                    modules[relative] = "generated." + file.removesuffix(".py").replace("/", ".")
    return modules


def test_every_schema_sql_runs_on_sqlite_and_matches_the_generated_tables(
    catalog: Catalog,
) -> None:
    modules = _generated_modules()
    problems = []
    stores = [c for c in current(catalog) if isinstance(c, Container) and c.sql_path]
    assert stores, "no data store has a schema.sql: the check proved nothing"
    for container in stores:
        assert container.sql_path is not None
        where = f"catalog/{container.sql_path}"
        try:
            created = _sqlite_tables(container)
        except sqlite3.Error as exc:
            problems.append(f"{where}: does not run on SQLite: {exc}")
            continue
        if not created:
            problems.append(f"{where}: creates no table")
        module_name = modules.get(container.sql_path)
        if module_name is None:
            problems.append(f"{where}: no generated datastores module (run `make generate`)")
            continue
        metadata = importlib.import_module(module_name).metadata
        generated = {
            table.name: [(c.name, not c.nullable, bool(c.primary_key)) for c in table.columns]
            for table in metadata.tables.values()
        }
        for table in sorted(set(created) | set(generated)):
            if created.get(table) != generated.get(table):
                problems.append(
                    f"{where}: table {table}: schema.sql (column, not null, key) "
                    f"{created.get(table)}, {module_name} {generated.get(table)}"
                )
    stale = set(modules) - {c.sql_path for c in stores}
    problems += [
        f"{modules[s]}: generated from {s}, which is no data store's schema" for s in stale
    ]
    fail_on(problems, "data store(s) whose SQL and generated tables disagree")


def test_committed_asyncapi_documents_equal_the_export(catalog: Catalog) -> None:
    # A service's asyncapi.yml in the catalog is the generator's export, kept by hand in sync:
    # if a page changes its sends or receives, this test says to re-export.
    import yaml

    from generator._asyncapi import export

    for service in catalog.services:
        for spec in service.specifications:
            if spec.type != "asyncapi":
                continue
            committed = yaml.safe_load((catalog.root / spec.path).read_text(encoding="utf-8"))
            exported = export(catalog, [service.id])[service.id]
            assert committed == exported, (
                f"catalog/{spec.path} differs from the export: run `python -m generator asyncapi "
                f"catalog --service {service.id}` and save it as YAML"
            )
