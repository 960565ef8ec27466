"""Every implemented host, started in-process, agrees with the catalog (both checks).

A host whose implementation package (or its `create(app)`) does not exist yet is skipped with
the reason; anything else that keeps a host from starting fails. KNOWN_GAPS lists differences
already reported to their owners; `test_known_gaps_are_still_gaps` fails once one is fixed, so
the entry gets removed and the check is strict again.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from acme.runtime.conformance import Difference, check_in_process, normalise_schema
from acme.runtime.errors import ConfigurationError
from acme.runtime.process import load_implementation
from acme.runtime.registry import list_hosts
from acme.runtime.transport.spec import model_schema
from generator.contracts import MessageSpec
from tests.systems import harness

# (message id, JSON path of the payload schema) -> why the generated model differs
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _known(difference: Difference) -> bool:
    if difference.payload is None:
        return False
    message, paths = difference.payload
    return bool(paths) and all((message, path) in KNOWN_GAPS for path in paths)


@pytest.mark.parametrize("host", list_hosts())
async def test_host_agrees_with_the_catalog(
    host: str, documents: dict[str, dict[str, Any]], broker_url: str, tmp_path: Path
) -> None:
    settings = harness.settings_for_tests(tmp_path, broker_url)
    try:
        load_implementation(host, settings.implementation_packages)
    except ConfigurationError as exc:
        pytest.skip(f"{host} is not implemented yet: {exc}")
    report = await check_in_process(host, documents, settings)
    assert report.skipped == {}
    unexpected = [d for d in report.differences if not _known(d)]
    assert not unexpected, "the running code disagrees with the catalog:\n" + "\n".join(
        str(d) for d in unexpected
    )


def _catalog_payload(documents: dict[str, dict[str, Any]], message_id: str) -> Any:
    for doc in documents.values():
        message = doc["components"]["messages"].get(message_id)
        if message is not None and "payload" in message:
            return message["payload"]
    raise LookupError(message_id)


@pytest.mark.parametrize(("message_id", "path"), sorted(KNOWN_GAPS))
def test_known_gaps_are_still_gaps(
    message_id: str, path: str, documents: dict[str, dict[str, Any]]
) -> None:
    module = importlib.import_module(f"generated.messages.{message_id.replace('-', '_')}")
    spec: MessageSpec = module.MESSAGE
    catalog = normalise_schema(_catalog_payload(documents, message_id))
    code = normalise_schema(model_schema(spec.model))
    node_catalog: Any = catalog
    node_code: Any = code
    for part in path.strip("/").split("/"):
        node_catalog = node_catalog.get(part) if isinstance(node_catalog, dict) else None
        node_code = node_code.get(part) if isinstance(node_code, dict) else None
    assert node_catalog != node_code, (
        f"{message_id} {path} now agrees with the catalog: remove it from KNOWN_GAPS"
    )
