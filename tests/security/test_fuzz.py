"""Schemathesis against every HTTP API of the catalog, each system in-process.

For each OpenAPI document (the catalog's openapi.yml, file references inlined) schemathesis
generates requests per operation: the documented examples, its coverage phase (boundary and
schema-violating values) and up to MAX_EXAMPLES fuzzed ones, deterministically
(derandomize). Each runs once with a staff token and once with a shopper's; the shopper acts in
their own name where a request names a customer, so owner-only paths are reached too. The
requests reach the system's FastAPI app through tests/security/fuzzing.py (no sockets).

Checked on every response: no 5xx; status code, content type, headers and body as the
document says; and every schema-violating request refused (`negative_data_rejection`), since
the generated models enforce their schemas exactly (TOLERATED_DEVIATIONS is empty).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.security.apis import ROOT, HttpApi, http_apis
from tests.security.fuzzing import BASE_URL, BackgroundPlatform

pytestmark = pytest.mark.e2e

# CI runs the fixed, derandomised search; to explore further, raise the count and/or give a
# seed (e.g. ACME_FUZZ_EXAMPLES=200 ACME_FUZZ_SEED=7).
MAX_EXAMPLES = int(os.environ.get("ACME_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ["ACME_FUZZ_SEED"]) if os.environ.get("ACME_FUZZ_SEED") else None
ADMIN = str(uuid.uuid4())
SHOPPER = str(uuid.uuid4())

# Schema-violating requests the APIs are known to accept, each with an example, until fixed;
# while one is listed, negative_data_rejection is off. The last three (null for optional
# properties, lax coercion between JSON types and of numbers to date-times, uniqueItems) were
# fixed in the generated models.
TOLERATED_DEVIATIONS: tuple[str, ...] = ()

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
if not TOLERATED_DEVIATIONS:
    CHECKS.append(checks.negative_data_rejection)


def act_as(case: schemathesis.Case[Any], subject: str) -> None:
    """Let a shopper's request name the shopper where it names a customer. Only values that
    are already valid are replaced, so a schema-violating case stays one."""
    containers: list[MutableMapping[str, Any] | None] = [case.path_parameters, case.query]
    if isinstance(case.body, dict):
        containers.append(case.body)
        flagged = case.body.get("flaggedBy")
        if isinstance(flagged, str) and len(flagged) <= 200:
            case.body["flaggedBy"] = subject
    for container in containers:
        if container is not None and _is_uuid(container.get("customerId")):
            container["customerId"] = subject


def _is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundPlatform]:
    running = BackgroundPlatform(tmp_path_factory.mktemp("fuzz"))
    try:
        yield running
    finally:
        running.close()


@pytest.fixture(params=["admin", "shopper"])
def role(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fuzz(api: HttpApi) -> Callable[..., None]:
    document = dict(api.document)
    schema = schemathesis.openapi.from_dict(document)
    schema.config.generation.update(
        # Tokens are the test's to give: no generated Authorization header to override.
        with_security_parameters=False,
        # FastAPI ignores unknown query parameters, as HTTP APIs commonly do.
        allow_extra_parameters=False,
    )

    def test(case: schemathesis.Case[Any], systems: BackgroundPlatform, role: str) -> None:
        if role == "admin":
            token = systems.platform.token(ADMIN, "admin")
        else:
            token = systems.platform.token(SHOPPER, "customer")
            act_as(case, SHOPPER)
        case.call_and_validate(
            base_url=BASE_URL,
            session=systems.session(api.host_id),
            headers={"Authorization": f"Bearer {token}"},
            checks=CHECKS,
        )

    if SEED is not None:
        test = hypothesis.seed(SEED)(test)
    test = settings(
        max_examples=MAX_EXAMPLES,
        derandomize=SEED is None,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(test)
    test = schema.parametrize()(test)
    test.__doc__ = f"Fuzz {api.service_id} ({api.source.relative_to(ROOT)})."
    return test


for _api in http_apis():
    globals()[f"test_fuzz_{_api.service_id.replace('-', '_')}"] = _fuzz(_api)
