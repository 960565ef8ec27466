"""Every lint rule: a small catalog that triggers it and a close one that is clean.

Each case changes a few files of `BASE` (a tiny, problem-free catalog). The triggering catalog
must report the rule (at the expected place when given); the clean counterpart must report no
problem at all, so a rule that fires too eagerly fails here too.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from generator import RULES, lint, load_catalog
from generator import _lint as lint_module
from generator._problems import Problem

Files = dict[str, str | bytes | None]  # None deletes a file of the base catalog


def page(front: str, body: str = "") -> str:
    return f"---\n{textwrap.dedent(front).strip()}\n---\n{body}"


def res(ident: str, name: str, extra: str = "", *, version: str = '"1.0.0"', body: str = "") -> str:
    """A resource page owned by the base team."""
    front = f"id: {ident}\nname: {name}\nversion: {version}\nowners: [orders-team]\n"
    return page(front + textwrap.dedent(extra).strip(), body)


SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["orderId"],
    "properties": {"orderId": {"type": "string", "format": "uuid"}},
}

SVC_DIR = "domains/Orders/services/OrderService"
SVC = f"{SVC_DIR}/index.mdx"
BILLING = "domains/Orders/services/BillingService/index.mdx"
MSG_DIR = "domains/Orders/services/OrderService/events/order-placed"
MSG = f"{MSG_DIR}/index.mdx"
CHANNEL = "channels/orders.events/index.mdx"
DOMAIN = "domains/Orders/index.mdx"
FLOW = "domains/Orders/flows/Checkout/index.mdx"
SYSTEM = "domains/Orders/systems/orders-system/index.mdx"

SENDS = """
sends:
  - id: order-placed
    version: "1.0.0"
    to:
      - id: orders.events
        parameters:
          message: order-placed
"""
RECEIVES = """
receives:
  - id: order-placed
    from:
      - id: orders.events
        parameters:
          message: order-placed
"""
CHANNEL_PAGE = res(
    "orders.events",
    "Orders events",
    """
    address: "orders.events.{message}"
    protocols: [nats]
    deliveryGuarantee: at-least-once
    parameters:
      message:
        description: id of the message carried
    """,
)
FLOW_PAGE = res(
    "checkout",
    "Checkout",
    """
    steps:
      - id: place
        title: Order placed
        message:
          id: order-placed
        next_step: bill
      - id: bill
        title: Billing
        service:
          id: billing-service
    """,
)

DOMAIN_PAGE = res(
    "orders",
    "Orders",
    """
    services:
      - id: order-service
      - id: billing-service
    flows:
      - id: checkout
    """,
    body="The [[service|order-service]] takes orders.\n",
)
CONFIG = "export default { title: 'Test', organizationName: 'Test', cId: 'x' };\n"

BASE: Files = {
    "eventcatalog.config.js": CONFIG,
    "teams/orders-team.md": page("id: orders-team\nname: Orders Team\nmembers: [ada]"),
    "users/ada.md": page("id: ada\nname: Ada Lovelace"),
    CHANNEL: CHANNEL_PAGE,
    DOMAIN: DOMAIN_PAGE,
    SVC: res("order-service", "Order Service", SENDS),
    MSG: res("order-placed", "Order placed", "schemaPath: schema.json"),
    f"{MSG_DIR}/schema.json": json.dumps(SCHEMA, indent=2),
    BILLING: res("billing-service", "Billing Service", RECEIVES),
    FLOW: FLOW_PAGE,
}


def write(root: Path, changes: Files) -> Path:
    files = {**BASE, **changes}
    for relative, content in files.items():
        if content is None:
            continue
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def run_lint(root: Path, changes: Files) -> list[Problem]:
    return lint(load_catalog(write(root, changes)))


@dataclass(frozen=True)
class Case:
    rule: str
    bad: Files
    good: Files = field(default_factory=dict)
    path: str | None = None  # where the problem must be reported
    line: int | None = None


def message_page(ident: str, extra: str = "") -> str:
    return res(ident, ident.replace("-", " ").title(), "schemaPath: schema.json\n" + extra)


OPENAPI = "openapi: 3.1.0\ninfo: {title: Orders, version: 1.0.0}\npaths: {}\n"
SYSTEM_PAGE = res("orders-system", "Orders System", "services:\n  - id: order-service")
ADR = "domains/Orders/adrs/adr-001/index.mdx"
ADR_FIELDS = "status: accepted\ndate: 2024-05-01\n"
CONTAINER = "domains/Orders/systems/orders-system/containers/orders-db/index.mdx"
HTTP_CHANNEL = res("http.gateway", "HTTP gateway", 'address: "/api"\nprotocols: [http]')
BILLING_HTTP = res(
    "billing-service",
    "Billing Service",
    RECEIVES + "  - id: get-bill\n    from:\n      - id: http.gateway",
)
GET_BILL = "domains/Orders/services/BillingService/queries/get-bill"

CASES: list[Case] = [
    Case(
        "files/unreadable",
        {"docs/broken.mdx": b"---\ntitle: \xff\xfe\nsummary: x\n---\n"},
        {"docs/broken.mdx": page("title: Fine\nsummary: Readable")},
        path="docs/broken.mdx",
    ),
    Case(
        "files/outside-catalog",
        {MSG: res("order-placed", "Order placed", "schemaPath: ../../../../../../../x.json")},
        path=MSG,
        line=6,
    ),
    Case(
        "layout/not-loaded",
        {"events/Orders/OrderShipped/index.mdx": message_page("order-shipped")},
        {
            "events/order-shipped/index.mdx": message_page("order-shipped"),
            "events/order-shipped/schema.json": json.dumps(SCHEMA),
        },
        path="events/Orders/OrderShipped/index.mdx",
    ),
    Case(
        "layout/not-loaded",
        {
            "domains/Orders/subdomains/Tax/systems/tax/services/TaxService/index.mdx": res(
                "tax", "Tax"
            )
        },
        {"domains/Orders/subdomains/Tax/services/TaxService/index.mdx": res("tax", "Tax")},
    ),
    Case(
        "layout/stray-index",
        {"domains/Orders/flows/Checkout/notes/index.mdx": page("title: Notes")},
        path="domains/Orders/flows/Checkout/notes/index.mdx",
    ),
    Case(
        "layout/multiple-collections",
        {
            "docs/events/order-shipped/index.mdx": message_page(
                "order-shipped", "title: Shipped\nsummary: Doc"
            )
        },
        {"docs/order-shipped.mdx": page("title: Shipped\nsummary: A doc")},
    ),
    Case(
        "frontmatter/invalid-yaml",
        {SVC: page("id: order-service\nname: [Order Service\nversion: '1.0.0'")},
        path=SVC,
        line=4,
    ),
    Case(
        "frontmatter/invalid-yaml",
        {"teams/orders-team.md": "---\nid: orders-team\nname: Orders Team\n"},
        path="teams/orders-team.md",
        line=1,
    ),
    Case(
        "frontmatter/duplicate-key",
        {MSG: res("order-placed", "Order placed", "schemaPath: schema.json\nname: Again")},
        path=MSG,
        line=7,
    ),
    Case(
        "frontmatter/missing-field",
        {SVC: page("id: order-service\nversion: '1.0.0'\nowners: [orders-team]\n" + SENDS)},
        path=SVC,
    ),
    Case(
        "frontmatter/missing-field",
        {FLOW: res("checkout", "Checkout")},
        path=FLOW,
    ),
    Case(
        "frontmatter/missing-field",
        {"docs/guide.mdx": page("title: Guide")},
        {"docs/guide.mdx": page("title: Guide\nsummary: How to read this catalog")},
    ),
    Case(
        "frontmatter/missing-field",
        {ADR: res("adr-001", "Use an outbox", "status: accepted")},
        {ADR: res("adr-001", "Use an outbox", ADR_FIELDS)},
    ),
    Case(
        "frontmatter/missing-field",
        {"teams/orders-team.md": page("id: orders-team\nmembers: [ada]")},
    ),
    Case(
        "frontmatter/missing-field",
        {"events/order-shipped/index.mdx": "# no frontmatter at all\n"},
        {
            "events/order-shipped/index.mdx": message_page("order-shipped"),
            "events/order-shipped/schema.json": json.dumps(SCHEMA),
        },
    ),
    Case(
        "frontmatter/invalid-type",
        {CHANNEL: CHANNEL_PAGE.replace("at-least-once", "exactly-twice")},
        path=CHANNEL,
        line=8,
    ),
    Case(
        "frontmatter/invalid-type",
        {MSG: res("order-placed", "Order placed", "schemaPath: schema.json\nsummary:")},
        {MSG: res("order-placed", "Order placed", "schemaPath: schema.json\nsummary: Placed")},
    ),
    Case(
        "frontmatter/invalid-type",
        {SYSTEM: res("orders-system", "Orders", "scope: public\nservices: [{id: order-service}]")},
        {
            SYSTEM: res(
                "orders-system", "Orders", "scope: external\nservices: [{id: order-service}]"
            )
        },
    ),
    Case(
        "frontmatter/non-string-version",
        {MSG: res("order-placed", "Order placed", "schemaPath: schema.json", version="1.0")},
        {MSG: res("order-placed", "Order placed", "schemaPath: schema.json", version='"1.0.0"')},
        path=MSG,
        line=4,
    ),
    Case(
        "frontmatter/non-string-version",
        {SVC: res("order-service", "Order Service", SENDS.replace('"1.0.0"', "1.0"))},
        path=SVC,
        line=8,
    ),
    Case(
        "frontmatter/non-semver-version",
        {SVC: res("order-service", "Order Service", SENDS, version='"1.0"')},
        path=SVC,
        line=4,
    ),
    Case(
        "frontmatter/unknown-key",
        {SVC: res("order-service", "Order Service", SENDS + "tier: 1")},
        {SVC: res("order-service", "Order Service", SENDS + "x-tier: 1")},
        path=SVC,
        line=13,
    ),
    Case(
        "frontmatter/unknown-key",
        {SVC: res("order-service", "Order Service", SENDS + "writes_to: []")},
    ),
    Case(
        "frontmatter/bare-x",
        {SVC: res("order-service", "Order Service", SENDS + "x-: 1")},
        {SVC: res("order-service", "Order Service", SENDS + "x-team-size: 1")},
    ),
    Case(
        "frontmatter/computed-field",
        {
            MSG: res(
                "order-placed",
                "Order placed",
                "schemaPath: schema.json\nproducers: [order-service]",
            )
        },
        path=MSG,
    ),
    Case(
        "frontmatter/missing-container-type",
        {SYSTEM: SYSTEM_PAGE, CONTAINER: res("orders-db", "Orders DB", "technology: postgres@16")},
        {
            SYSTEM: SYSTEM_PAGE,
            CONTAINER: res("orders-db", "Orders DB", "container_type: database"),
        },
        path=CONTAINER,
    ),
    Case(
        "frontmatter/malformed-badge",
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "badges:\n  - content: New\n    backgroundColor: blue",
            )
        },
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS
                + "badges:\n  - content: New\n    backgroundColor: blue\n    textColor: white",
            )
        },
        path=SVC,
        line=14,
    ),
    Case(
        "frontmatter/relative-url",
        {SVC: res("order-service", "Order Service", SENDS + "attachments:\n  - docs/runbook.pdf")},
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "attachments:\n  - https://example.com/r.pdf",
            )
        },
    ),
    Case(
        "ids/unsafe",
        {"teams/orders-team.md": None, "teams/evil.md": page("id: ../orders-team\nname: Evil")},
        path="teams/evil.md",
    ),
    Case(
        "ids/unsafe",
        {CHANNEL: CHANNEL_PAGE.replace("id: orders.events", "id: Orders Events")},
        path=CHANNEL,
    ),
    Case(
        "ids/unsafe",
        {"users/class.md": page("id: class\nname: A keyword")},
        {"users/klass.md": page("id: klass\nname: Not a keyword")},
        path="users/class.md",
    ),
    Case(
        "ids/name-collision",
        {
            "commands/order.placed/index.mdx": message_page("order.placed"),
            "commands/order.placed/schema.json": json.dumps(SCHEMA),
        },
        {
            "commands/place-order/index.mdx": message_page("place-order"),
            "commands/place-order/schema.json": json.dumps(SCHEMA),
        },
        path="commands/order.placed/index.mdx",
    ),
    Case(
        "ids/unsafe-version",
        {SVC: res("order-service", "Order Service", SENDS, version='"1.0.0\'x"')},
    ),
    Case(
        "ids/duplicate-version",
        {
            "domains/Orders/services/OrderService/events/order-placed-copy/index.mdx": message_page(
                "order-placed"
            ),
            "domains/Orders/services/OrderService/events/order-placed-copy/schema.json": json.dumps(
                SCHEMA
            ),
        },
        {
            f"{MSG_DIR}/versioned/0.9.0/index.mdx": message_page("order-placed").replace(
                '"1.0.0"', '"0.9.0"'
            ),
            f"{MSG_DIR}/versioned/0.9.0/schema.json": json.dumps(SCHEMA),
        },
        path=MSG,
    ),
    Case(
        "ids/duplicate-message-id",
        {
            "commands/order-placed/index.mdx": message_page("order-placed").replace(
                '"1.0.0"', '"2.0.0"'
            ),
            "commands/order-placed/schema.json": json.dumps(SCHEMA),
        },
        path="commands/order-placed/index.mdx",
    ),
    Case(
        "ids/duplicate-owner",
        {"users/orders-team.md": page("id: orders-team\nname: Someone")},
        path="users/orders-team.md",
    ),
    Case(
        "ids/shared-across-kinds",
        {
            SYSTEM: res(
                "orders-system",
                "Orders",
                "services: [{id: order-service}]\ncontainers: [{id: billing-service}]",
            ),
            CONTAINER: res("billing-service", "Billing DB", "container_type: database"),
        },
        {
            SYSTEM: res(
                "orders-system",
                "Orders",
                "services: [{id: order-service}]\ncontainers: [{id: billing-db}]",
            ),
            CONTAINER: res("billing-db", "Billing DB", "container_type: database"),
        },
    ),
    Case(
        "versions/root-not-latest",
        {
            f"{MSG_DIR}/versioned/2.0.0/index.mdx": message_page("order-placed").replace(
                '"1.0.0"', '"2.0.0"'
            ),
            f"{MSG_DIR}/versioned/2.0.0/schema.json": json.dumps(SCHEMA),
        },
        path=MSG,
        line=4,
    ),
    Case(
        "refs/unknown-message",
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS.replace("id: order-placed", "id: order-plced"),
            )
        },
        path=SVC,
        line=7,
    ),
    Case(
        "refs/unknown-channel",
        {
            BILLING: res(
                "billing-service",
                "Billing Service",
                RECEIVES.replace("orders.events", "order.events"),
            )
        },
        path=BILLING,
        line=9,
    ),
    Case(
        "refs/unknown-service",
        {SYSTEM: res("orders-system", "Orders", "services:\n  - id: orders-service")},
        {SYSTEM: SYSTEM_PAGE},
        path=SYSTEM,
    ),
    Case(
        "refs/unknown-container",
        {SVC: res("order-service", "Order Service", SENDS + "writesTo:\n  - id: orders-db")},
    ),
    Case(
        "refs/unknown-entity",
        {
            "domains/Orders/entities/order/index.mdx": res(
                "order",
                "Order",
                "properties:\n  - name: customerId\n    type: string\n    references: customer",
            )
        },
        {
            "domains/Orders/entities/order/index.mdx": res(
                "order", "Order", "properties:\n  - name: customerId\n    type: string"
            )
        },
    ),
    Case(
        "refs/unknown-entity",
        {SVC: res("order-service", "Order Service", SENDS + "entities:\n  - id: order")},
    ),
    Case(
        "refs/unknown-system",
        {
            SYSTEM: res(
                "orders-system",
                "Orders",
                "services: [{id: order-service}]\n"
                "relationships:\n  - id: stripe\n    label: pays with",
            )
        },
        {SYSTEM: SYSTEM_PAGE},
    ),
    Case(
        "refs/unknown-domain",
        {"domains/Billing/index.mdx": res("billing", "Billing", "domains:\n  - id: invoicing")},
        {"domains/Billing/index.mdx": res("billing", "Billing", "domains:\n  - id: orders")},
    ),
    Case(
        "refs/unknown-flow",
        {SVC: res("order-service", "Order Service", SENDS + "flows:\n  - id: refund")},
        {SVC: res("order-service", "Order Service", SENDS + "flows:\n  - id: checkout")},
    ),
    Case(
        "refs/unknown-agent",
        {"domains/Billing/index.mdx": res("billing", "Billing", "agents: [{id: bot}]")},
    ),
    Case(
        "refs/unknown-data-product",
        {"domains/Billing/index.mdx": res("billing", "Billing", "data-products: [{id: sales}]")},
    ),
    Case(
        "refs/unknown-diagram",
        {SVC: res("order-service", "Order Service", SENDS + "diagrams: [{id: context-map}]")},
        {
            SVC: res("order-service", "Order Service", SENDS + "diagrams: [{id: context-map}]"),
            "diagrams/context-map/index.mdx": res("context-map", "Context map"),
        },
    ),
    Case(
        "refs/unknown-adr",
        {ADR: res("adr-001", "Outbox", ADR_FIELDS + "supersedes: [{id: adr-000}]")},
        {ADR: res("adr-001", "Outbox", ADR_FIELDS)},
    ),
    Case(
        "refs/unknown-owner",
        {
            SVC: res("order-service", "Order Service", SENDS).replace(
                "[orders-team]", "[order-team]"
            )
        },
        path=SVC,
        line=5,
    ),
    Case(
        "refs/unknown-user",
        {"teams/orders-team.md": page("id: orders-team\nname: Orders Team\nmembers: [grace]")},
    ),
    Case(
        "refs/unknown-resource",
        {
            "domains/Orders/data-products/sales/index.mdx": res(
                "sales", "Sales", "inputs: [{id: ledger}]"
            )
        },
        {
            "domains/Orders/data-products/sales/index.mdx": res(
                "sales", "Sales", "inputs: [{id: order-placed}]"
            )
        },
    ),
    Case(
        "refs/unresolved-version",
        {SVC: res("order-service", "Order Service", SENDS.replace('"1.0.0"', '"^2.0.0"'))},
        {SVC: res("order-service", "Order Service", SENDS.replace('"1.0.0"', '"^1.0.0"'))},
        path=SVC,
        line=7,
    ),
    Case(
        "refs/unresolved-version",
        {SVC: res("order-service", "Order Service", SENDS.replace('"1.0.0"', "newest"))},
        {SVC: res("order-service", "Order Service", SENDS.replace('"1.0.0"', "1.x"))},
    ),
    Case(
        "flows/malformed-step",
        {FLOW: FLOW_PAGE.replace("    title: Billing\n", "")},
        path=FLOW,
    ),
    Case(
        "flows/multiple-node-kinds",
        {
            FLOW: FLOW_PAGE.replace(
                "    title: Billing\n", "    title: Billing\n    actor:\n      name: Clerk\n"
            )
        },
    ),
    Case(
        "flows/next-step-and-next-steps",
        {
            FLOW: FLOW_PAGE.replace(
                "    next_step: bill\n", "    next_step: bill\n    next_steps: [bill]\n"
            )
        },
        {FLOW: FLOW_PAGE.replace("    next_step: bill\n", "    next_steps: [bill]\n")},
    ),
    Case(
        "flows/numeric-step-id",
        {
            FLOW: FLOW_PAGE.replace("- id: bill", "- id: 2").replace(
                "next_step: bill", "next_step: 2"
            )
        },
        {
            FLOW: FLOW_PAGE.replace("- id: bill", '- id: "2"').replace(
                "next_step: bill", 'next_step: "2"'
            )
        },
    ),
    Case(
        "flows/unknown-next-step",
        {FLOW: FLOW_PAGE.replace("next_step: bill", "next_step: billing")},
        path=FLOW,
        line=11,
    ),
    Case(
        "flows/duplicate-step-id",
        {
            FLOW: FLOW_PAGE.replace("- id: bill", "- id: place").replace(
                "next_step: bill", "next_step: place"
            )
        },
    ),
    Case(
        "flows/message-without-sender",
        {SVC: res("order-service", "Order Service")},
        path=FLOW,
        line=9,
    ),
    Case(
        "flows/message-without-receiver",
        {BILLING: res("billing-service", "Billing Service")},
        path=FLOW,
    ),
    Case(
        "channels/no-channel",
        {BILLING: res("billing-service", "Billing Service", "receives:\n  - id: order-placed")},
        path=BILLING,
    ),
    Case(
        "channels/unfilled-parameter",
        {
            BILLING: res(
                "billing-service",
                "Billing Service",
                "receives:\n  - id: order-placed\n    from: [{id: orders.events}]",
            )
        },
        path=BILLING,
        line=8,
    ),
    Case(
        "channels/unknown-parameter",
        {SVC: res("order-service", "Order Service", SENDS + "          env: prod")},
        path=SVC,
        line=13,
    ),
    Case(
        "channels/parameter-not-in-enum",
        {
            CHANNEL: CHANNEL_PAGE.replace(
                "description: id of the message carried",
                "description: id of the message carried\n    enum: [order-cancelled]",
            )
        },
        {
            CHANNEL: CHANNEL_PAGE.replace(
                "description: id of the message carried",
                "description: id of the message carried\n    enum: [order-placed]",
            )
        },
    ),
    Case(
        "channels/undeclared-parameter",
        {
            CHANNEL: CHANNEL_PAGE.replace(
                "  message:\n    description: id of the message carried", "  msg: {}"
            )
        },
        path=CHANNEL,
    ),
    Case(
        "channels/http-without-operation",
        {
            "channels/http.gateway/index.mdx": HTTP_CHANNEL,
            BILLING: BILLING_HTTP,
            f"{GET_BILL}/index.mdx": message_page("get-bill"),
            f"{GET_BILL}/schema.json": json.dumps(SCHEMA),
        },
        {
            "channels/http.gateway/index.mdx": HTTP_CHANNEL,
            BILLING: BILLING_HTTP,
            f"{GET_BILL}/index.mdx": message_page(
                "get-bill", "operation:\n  method: GET\n  path: /bills/{id}\n  statusCodes: ['200']"
            ),
            f"{GET_BILL}/schema.json": json.dumps(SCHEMA),
        },
        path=BILLING,
    ),
    Case(
        "messages/legacy-channels",
        {
            MSG: res(
                "order-placed",
                "Order placed",
                "schemaPath: schema.json\nchannels:\n  - id: orders.events",
            )
        },
        path=MSG,
    ),
    Case(
        "schemas/no-schema",
        {MSG: res("order-placed", "Order placed")},
        path=MSG,
    ),
    Case(
        "schemas/empty-path",
        {MSG: res("order-placed", "Order placed", 'schemaPath: ""')},
        path=MSG,
        line=6,
    ),
    Case(
        "schemas/missing-file",
        {f"{MSG_DIR}/schema.json": None},
        path=MSG,
        line=6,
    ),
    Case(
        "schemas/invalid-json",
        {f"{MSG_DIR}/schema.json": '{\n  "type": "object",\n  "properties": {,}\n}\n'},
        path=f"{MSG_DIR}/schema.json",
        line=3,
    ),
    Case(
        "schemas/invalid-schema",
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "properties": {"orderId": {"type": "strin"}}}, indent=2
            )
        },
        path=f"{MSG_DIR}/schema.json",
        line=10,
    ),
    Case(
        "schemas/unknown-draft",
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "$schema": "https://example.com/draft-99"}
            )
        },
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "$schema": "http://json-schema.org/draft-07/schema#"}
            )
        },
    ),
    Case(
        "schemas/not-json-schema",
        {
            MSG: res("order-placed", "Order placed", "schemaPath: schema.avsc"),
            f"{MSG_DIR}/schema.avsc": json.dumps(
                {"type": "record", "name": "OrderPlaced", "fields": []}
            ),
        },
        path=MSG,
    ),
    Case(
        "schemas/unresolved-ref",
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "properties": {"orderId": {"$ref": "#/$defs/OrderId"}}}, indent=2
            )
        },
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {
                    **SCHEMA,
                    "properties": {"orderId": {"$ref": "#/$defs/OrderId"}},
                    "$defs": {"OrderId": {"type": "string"}},
                },
                indent=2,
            )
        },
        path=f"{MSG_DIR}/schema.json",
        line=10,
    ),
    Case(
        "schemas/unresolved-ref",
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "properties": {"orderId": {"$ref": "common.json#/$defs/Id"}}}
            )
        },
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "properties": {"orderId": {"$ref": "../common.json#/$defs/Id"}}}
            ),
            "domains/Orders/services/OrderService/events/common.json": json.dumps(
                {"$defs": {"Id": {"type": "string"}}}
            ),
        },
    ),
    Case(
        "schemas/remote-ref",
        {
            f"{MSG_DIR}/schema.json": json.dumps(
                {**SCHEMA, "properties": {"orderId": {"$ref": "https://example.com/id.json"}}}
            )
        },
    ),
    Case(
        "specs/missing-file",
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "specifications:\n  - type: openapi\n    path: openapi.yml",
            )
        },
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "specifications:\n  - type: openapi\n    path: openapi.yml",
            ),
            "domains/Orders/services/OrderService/openapi.yml": OPENAPI,
        },
        path=SVC,
    ),
    Case(
        "specs/invalid",
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "specifications:\n  openapiPath: openapi.yml",
            ),
            f"{SVC_DIR}/openapi.yml": "info: {title: Orders}\npaths: {}\n",
        },
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "specifications:\n  openapiPath: openapi.yml",
            ),
            "domains/Orders/services/OrderService/openapi.yml": OPENAPI,
        },
        path="domains/Orders/services/OrderService/openapi.yml",
    ),
    Case(
        "schemas/unresolved-ref",
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "specifications:\n  - type: openapi\n    path: openapi.yml",
            ),
            "domains/Orders/services/OrderService/openapi.yml": textwrap.dedent(
                """\
                openapi: 3.1.0
                info: {title: Orders, version: 1.0.0}
                paths:
                  /orders:
                    post:
                      requestBody:
                        content:
                          application/json:
                            schema:
                              $ref: 'events/order-placed/schema.json#/properties/total'
                """
            ),
        },
        {
            SVC: res(
                "order-service",
                "Order Service",
                SENDS + "specifications:\n  - type: openapi\n    path: openapi.yml",
            ),
            "domains/Orders/services/OrderService/openapi.yml": textwrap.dedent(
                """\
                openapi: 3.1.0
                info: {title: Orders, version: 1.0.0}
                paths:
                  /orders:
                    post:
                      requestBody:
                        content:
                          application/json:
                            schema:
                              $ref: 'events/order-placed/schema.json#/properties/orderId'
                """
            ),
        },
        path="domains/Orders/services/OrderService/openapi.yml",
        line=10,
    ),
    Case(
        "body/resource-ref-in-md",
        {
            "docs/guide.md": page(
                "title: Guide\nsummary: Reading", "See [[service|order-service]].\n"
            )
        },
        {
            "docs/guide.mdx": page(
                "title: Guide\nsummary: Reading", "See [[service|order-service]].\n"
            )
        },
        path="docs/guide.md",
        line=5,
    ),
    Case(
        "body/dangling-resource-ref",
        {DOMAIN: DOMAIN_PAGE.replace("[[service|order-service]]", "[[service|order-servce]]")},
        path=DOMAIN,
        line=12,
    ),
    Case(
        "body/dangling-resource-ref",
        {DOMAIN: DOMAIN_PAGE.replace("[[service|order-service]]", "[[event|order-placed@latest]]")},
        {DOMAIN: DOMAIN_PAGE.replace("[[service|order-service]]", "[[event|order-placed@1.0.0]]")},
    ),
]


def test_base_catalog_is_clean(tmp_path: Path) -> None:
    assert run_lint(tmp_path, {}) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_rule_fires(case: Case, tmp_path: Path) -> None:
    problems = run_lint(tmp_path, case.bad)
    hits = [p for p in problems if p.rule == case.rule]
    assert hits, f"{case.rule} not reported; got:\n" + "\n".join(map(str, problems))
    if case.path is not None:
        assert any(p.path == case.path for p in hits), hits
    if case.line is not None:
        assert any(p.line == case.line for p in hits if case.path in (None, p.path)), hits


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule)
def test_clean_counterpart(case: Case, tmp_path: Path) -> None:
    problems = run_lint(tmp_path, case.good)
    assert problems == [], "\n".join(map(str, problems))


def test_every_rule_has_a_case() -> None:
    covered = {case.rule for case in CASES} | {"internal/error"}
    assert {rule.id for rule in RULES} - covered == set()


def test_rule_docs_match_rules() -> None:
    assert lint_module.__doc__ is not None
    for rule in RULES:
        documented = rule.id if not rule.id.startswith("refs/unknown-") else "refs/unknown-<kind>"
        assert documented in lint_module.__doc__
    assert len({rule.id for rule in RULES}) == len(RULES)


def test_internal_error_names_the_file_and_lint_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(ctx: object, doc: object) -> None:
        if getattr(doc, "path", "") == SVC:
            raise KeyError("boom")

    monkeypatch.setattr(lint_module, "_CHECKS", (*lint_module._CHECKS, explode))
    problems = run_lint(tmp_path, {SVC: res("order-service", "Order Service", SENDS + "tier: 1")})
    internal = [p for p in problems if p.rule == "internal/error"]
    assert [p.path for p in internal] == [SVC]
    assert "explode failed: KeyError" in internal[0].message
    # the other rules still ran on the same file
    assert any(p.rule == "frontmatter/unknown-key" and p.path == SVC for p in problems)


_WEIRD: list[object] = [
    None,
    1,
    1.5,
    "",
    "x",
    True,
    [],
    {},
    [1],
    [None],
    [[1]],
    [{"id": 1}],
    {"id": "x", "a": [1]},
    [{"id": "x", "version": 2, "to": "c", "from": {"id": 1}, "parameters": [1], "triggers": "t"}],
    [{"id": "x", "properties": {"a": 1}, "items": [1], "references": 5, "next_steps": "a"}],
    [{"id": 2, "next_step": {"id": None}, "message": "m", "actor": "a", "custom": [1]}],
]


def test_messy_frontmatter_never_crashes(tmp_path: Path) -> None:
    """Every known field of every kind set to values of the wrong shape: problems, no crash."""
    import yaml  # type: ignore[import-untyped]

    from generator import _fields

    n = 0
    for collection, shape in _fields.SHAPES.items():
        for value in _WEIRD:
            n += 1
            front: dict[str, object] = dict.fromkeys(shape.fields, value)
            front.update(id=f"p{n}", name="N", version="1.0.0")
            folder = tmp_path / collection / f"p{n}"
            folder.mkdir(parents=True)
            name = "index.mdx" if collection not in ("users", "teams", "docs") else "p.mdx"
            target = (
                folder / name
                if collection not in ("users", "teams")
                else tmp_path / collection / f"p{n}.md"
            )
            body = "[[service|x]] [[nope|y]] [[event|p1@1.x]]\n"
            target.write_text("---\n" + yaml.safe_dump(front) + "---\n" + body, encoding="utf-8")
            (folder / "schema.json").write_text(json.dumps(value), encoding="utf-8")
            (folder / "openapi.yml").write_text(yaml.safe_dump(value), encoding="utf-8")
    (tmp_path / "events" / "refs").mkdir()
    (tmp_path / "events" / "refs" / "index.mdx").write_text(message_page("refs"), encoding="utf-8")
    (tmp_path / "events" / "refs" / "schema.json").write_text(
        json.dumps({"$id": 7, "$ref": "#/a/~2", "allOf": [{"$ref": "http://[bad"}, {"$ref": 5}]}),
        encoding="utf-8",
    )
    problems = lint(load_catalog(tmp_path))
    assert [p for p in problems if p.rule == "internal/error"] == []
    assert {"frontmatter/invalid-type", "frontmatter/missing-field", "schemas/unresolved-ref"} <= {
        p.rule for p in problems
    }


_BROKEN_SCHEMAS: list[dict[str, object]] = [
    {"type": "strin"},
    {"properties": {"a": {"type": 5}}},
    {"required": "x"},
    {"$defs": {"a": {"minimum": "x"}}},
    {"items": {"enum": 3}},
    {"prefixItems": [{"type": []}]},
    {"$id": 7},
    {"additionalProperties": {"pattern": 1}},
    {"dependentSchemas": {"a": 3}},
    {"format": 5},
    {"unevaluatedProperties": {"type": "nope"}},
    {"definitions": {"a": {"type": "x"}}},
    {"anyOf": []},
    {"$anchor": "1bad"},
    {"deprecated": "yes"},
    {"$dynamicRef": 3},
    {"dependencies": {"a": [1]}},
    {"minLength": -1},
    {"multipleOf": 0},
    {"not": {"maxItems": 1.5}},
    {"if": {"const": 1}, "then": {"type": "q"}},
]


@pytest.mark.parametrize("schema", _BROKEN_SCHEMAS, ids=lambda s: next(iter(s)))
def test_flat_metaschema_judges_like_the_real_one(schema: dict[str, object]) -> None:
    """The fast, flattened 2020-12 metaschema must reject exactly what the real one rejects."""
    from jsonschema.validators import Draft202012Validator  # type: ignore[import-untyped]

    def verdict(validator: object) -> list[tuple[list[object], str]]:
        errors = validator.iter_errors(schema)  # type: ignore[attr-defined]
        return sorted((list(e.absolute_path), e.message) for e in errors)

    real = verdict(Draft202012Validator(Draft202012Validator.META_SCHEMA))
    flat = verdict(Draft202012Validator(lint_module.flat_2020_12_metaschema()))
    assert real and flat == real
