"""Scenario 4: poison messages go to the dead letters, the traffic around them flows on.

Real messages of four kinds (a command to inventory, a reply to the saga, a command to
payments, an event with several consumers) are taken from the outbox and published again as
poison, each with a new message id: cut in half (invalid JSON), with its string fields
turned into numbers (wrong schema), and as major version 99 (unknown version). Every consumer
of each must dead-letter it with reason `invalid`, visible in `acme dlq list`, while a burst
of checkouts runs beside them and completes as if nothing happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from acme.runtime.registry import list_hosts, load_host
from acme.runtime.settings import Settings
from acme.runtime.transport import create_transport
from acme.runtime.wire import MESSAGE_ID, MESSAGE_VERSION, loads_headers, public_headers
from benchmarks.embedded import Stores
from tests.faults.invariants import Expectations
from tests.faults.platform import FaultPlatform
from tests.faults.scenario import FAULTS, conclude
from tests.faults.shop import Shop, summary

pytestmark = FAULTS

# message type -> subject it travels on; each has at least one consumer on the broker
TARGETS = {
    "reserve-inventory": "fulfilment.commands.reserve-inventory",
    "inventory-reserved": "fulfilment.events.inventory-reserved",
    "authorize-payment": "payments.commands.authorize-payment",
    "checkout-failed": "ordering.events.checkout-failed",
}
CHECKOUTS = 10


def consumers_of(message_type: str, subject: str) -> list[str]:
    """Every service that receives `message_type` on `subject`, per the generated registry."""
    found = []
    for host in list_hosts():
        for binding in load_host(host).services:
            for incoming in binding.spec.receives:
                if incoming.message.id == message_type and incoming.channel.address == subject:
                    found.append(binding.id)
    return sorted(set(found))


def real_messages(stores: Stores) -> dict[str, dict[str, Any]]:
    """One published outbox row per target type (subject, headers, payload)."""
    found: dict[str, dict[str, Any]] = {}
    for store in stores.names():
        conn = stores.reader(store)
        if "message_outbox" not in conn.tables():
            continue
        for row in conn.rows(
            "SELECT message_type, subject, headers, payload FROM message_outbox "
            "WHERE published_at IS NOT NULL ORDER BY created_at DESC"
        ):
            kind = row["message_type"]
            if TARGETS.get(kind) == row["subject"] and kind not in found:
                found[kind] = row
    return found


def _wrong_types(value: Any) -> Any:
    """The same shape with every string a number: valid JSON, invalid for the schema."""
    if isinstance(value, dict):
        return {k: _wrong_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrong_types(v) for v in value]
    return 12345 if isinstance(value, str) else value


def poison_variants(row: dict[str, Any]) -> list[tuple[str, dict[str, str], bytes]]:
    """(kind, headers, body) of the three poison copies of one real message."""
    headers = public_headers(loads_headers(row["headers"]))
    payload = str(row["payload"])
    variants = []
    for kind, body, version in (
        ("invalid JSON", payload[: len(payload) // 2].encode(), None),
        ("wrong schema", json.dumps(_wrong_types(json.loads(payload))).encode(), None),
        ("unknown major", payload.encode(), "99.0.0"),
    ):
        poisoned = {**headers, MESSAGE_ID: str(uuid.uuid4())}
        if version:
            poisoned[MESSAGE_VERSION] = version
        variants.append((kind, poisoned, body))
    return variants


def dlq_list(data_dir: Path, database_url: str | None) -> list[dict[str, Any]]:
    """`acme dlq list --json`, run as an operator would, against the platform's data dir (and
    its database server, when the stores are there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    env.update({"ACME_DATA_DIR": str(data_dir), "COLUMNS": "400"})
    if database_url:
        env["ACME_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "acme.cli", "dlq", "list", "--json", "--limit", "1000"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    letters: list[dict[str, Any]] = json.loads(done.stdout)
    return letters


async def test_poison_messages_are_dead_lettered_and_others_flow(
    faults: FaultPlatform, shop: Shop
) -> None:
    expect = Expectations()
    # A first, small burst provides real messages of each kind (one checkout runs out of stock).
    product = await shop.product(expect, price=900, stock=2 + CHECKOUTS)
    warmup = await shop.burst(expect, await shop.carts(expect, product, 2))
    scarce = await shop.product(expect, price=900, stock=0)
    warmup += await shop.burst(expect, await shop.carts(expect, scarce, 1))
    rows: dict[str, dict[str, Any]] = {}
    for _ in range(300):
        rows = real_messages(faults.stores)
        if len(rows) == len(TARGETS):
            break
        await asyncio.sleep(0.2)
    assert set(rows) == set(TARGETS), f"no real message of {set(TARGETS) - set(rows)}"

    poison = []
    for message_type, row in sorted(rows.items()):
        services = consumers_of(message_type, row["subject"])
        assert services, f"nobody receives {message_type} on {row['subject']}"
        for kind, headers, body in poison_variants(row):
            poison.append((row["subject"], kind, headers, body))
            expect.dead_letters.update((s, headers[MESSAGE_ID]) for s in services)

    transport = create_transport(faults.broker_url, Settings())
    await transport.connect()
    try:
        prepared = await shop.carts(expect, product, CHECKOUTS)
        burst = asyncio.create_task(shop.burst(expect, prepared))
        for subject, _kind, headers, body in poison:
            await transport.publish(subject, body, headers, dedupe_id=headers[MESSAGE_ID])
            await asyncio.sleep(0.05)  # spread among the checkouts
        attempts = warmup + await burst
    finally:
        await transport.close()

    verdict = await conclude(
        faults,
        "poison messages",
        f"{summary(attempts)}; {len(poison)} poison messages, "
        f"{len(expect.dead_letters)} dead letters expected",
        expect,
    )
    assert verdict.outcomes["COMPLETED"] == len(attempts) - 1, verdict.outcomes
    assert verdict.outcomes["FAILED:OUT_OF_STOCK"] == 1, verdict.outcomes

    listed = {
        (letter["service"], letter["message_id"]): letter
        for letter in dlq_list(faults.data_dir, faults.running.backends.database_url)
    }
    missing = expect.dead_letters - set(listed)
    assert not missing, f"acme dlq list does not show {sorted(missing)}"
    for key in expect.dead_letters:
        letter = listed[key]
        assert letter["reason"] == "invalid", letter
        assert letter["attempts"] == 0, letter  # poison is never retried
    versions = [
        listed[k]
        for k in expect.dead_letters
        if listed[k]["headers"].get(MESSAGE_VERSION) == "99.0.0"
    ]
    assert versions and all("major version 99" in v["error"] for v in versions)
