"""What the catalog's OpenAPI documents promise about security, checked without running
anything: every operation has a valid sample request (the HTTP tests build on them), products
and stock are staff-only, path parameters are constrained, and every owner-scoped operation has
an attack in tests/security/attacks.py."""

from __future__ import annotations

import jsonschema
import pytest

from tests.security.apis import Operation, operations
from tests.security.attacks import ATTACKS, owner_scoped
from tests.security.samples import invalid_value, valid_call

OPERATIONS = list(operations())


def test_operation_ids_are_unique() -> None:
    seen = [op.id for op in OPERATIONS]
    assert len(seen) == len(set(seen)), sorted(i for i in seen if seen.count(i) > 1)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_every_operation_has_a_valid_sample(op: Operation) -> None:
    call = valid_call(op, "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b")
    schema = op.body_schema()
    if schema is not None:
        jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(call.body)
    for param in op.parameters("query"):
        if param["name"] in call.query:
            jsonschema.Draft202012Validator(param["schema"]).validate(call.query[param["name"]])


def test_products_and_stock_are_changed_by_staff_only() -> None:
    """The issue's rule as the catalog declares it: every product change, and reading or
    setting stock, needs the admin role (x-roles)."""
    for op in OPERATIONS:
        if op.api.service_id == "inventory-service" or (
            op.api.service_id == "product-api" and op.spec.method != "GET"
        ):
            assert op.secured and op.spec.roles == ("admin",), f"{op} is not staff-only"


def test_every_path_parameter_is_constrained() -> None:
    """A path parameter whose schema accepts anything would reach handlers unchecked."""
    for op in OPERATIONS:
        for param in op.parameters("path"):
            assert invalid_value(param["schema"]) is not None, f"{op}: {param['name']}"


def test_every_owner_scoped_operation_is_attacked() -> None:
    scoped = {op.id for op in OPERATIONS if owner_scoped(op)}
    attacked = {attack.operation for attack in ATTACKS}
    assert scoped - attacked == set(), "add an Attack to tests/security/attacks.py for these"
    assert attacked - scoped == set(), "these are not owner-scoped: the attack list is stale"
