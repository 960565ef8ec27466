"""A hostile or careless catalog cannot inject code or paths into the generated package."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from render_fixture import shop_catalog

from generator._model import Catalog, Message, Pointer, Service, Source
from generator._render import RenderError, render_catalog
from generator._render._env import docstring, py_literal
from generator._render._names import class_name, constant_name, method_name, module_name

EVIL = 'x"""\n__import__("os").system("echo pwned")\n"""\\'


def _with_message(catalog: Catalog, **changes: object) -> Catalog:
    messages = tuple(
        dataclasses.replace(m, **changes) if m.id == "create-order" else m for m in catalog.messages
    )
    return dataclasses.replace(catalog, messages=messages)


@pytest.mark.parametrize(
    ("value", "module", "cls", "const"),
    [
        ("order-created", "order_created", "OrderCreated", "ORDER_CREATED"),
        ("product-api", "product_api", "ProductApi", "PRODUCT_API"),
        ("createProduct", "create_product", "CreateProduct", "CREATE_PRODUCT"),
        ("getProductByID", "get_product_by_id", "GetProductById", "GET_PRODUCT_BY_ID"),
        ("catalog.product-events", "catalog_product_events", "CatalogProductEvents", None),
    ],
)
def test_names(value: str, module: str, cls: str, const: str | None) -> None:
    assert module_name(value) == module
    assert method_name(value) == module
    assert class_name(value) == cls
    if const:
        assert constant_name(value) == const


@pytest.mark.parametrize(
    "value", ["../escape", "a/b", "1st", "x y", "import", "class", "a;b", "", "é-x", "{env}.events"]
)
def test_unsafe_ids_are_refused(value: str) -> None:
    with pytest.raises(RenderError):
        module_name(value)


def test_literals_and_docstrings_survive_any_text() -> None:
    assert ast.literal_eval(py_literal(EVIL)) == EVIL
    assert ast.literal_eval(py_literal(("a", 1, None, ("b",)))) == ("a", 1, None, ("b",))
    tree = ast.parse(docstring(EVIL))
    (statement,) = tree.body
    assert isinstance(statement, ast.Expr)
    # Line breaks are folded to spaces; every other character is kept.
    assert ast.literal_eval(statement.value) == EVIL.replace("\n", " ")
    with pytest.raises(RenderError):
        py_literal(object())


def test_hostile_summaries_and_names_stay_data() -> None:
    catalog = _with_message(shop_catalog(), summary=EVIL, name=EVIL)
    catalog = dataclasses.replace(
        catalog,
        services=tuple(
            dataclasses.replace(s, summary=EVIL, name=EVIL) if s.id == "order-service" else s
            for s in catalog.services
        ),
    )
    result = render_catalog(catalog, package_name="evilgen")
    for path, text in result.files.items():
        if path.endswith(".py"):
            ast.parse(text)  # still valid Python
            assert '__import__("os")' not in text.replace('\\"', '"').split("\n")[0]
            for node in ast.walk(ast.parse(text)):
                assert not (isinstance(node, ast.Name) and node.id == "__import__"), path
    service = result.files["services/order_service.py"]
    assert py_literal(EVIL) in service  # the name is a string literal in SERVICE


@pytest.mark.parametrize("bad_id", ['x"); import os; ("', "../../etc/passwd", "a b"])
def test_hostile_message_id_is_refused_with_its_source(bad_id: str) -> None:
    catalog = _with_message(shop_catalog(), id=bad_id)
    with pytest.raises(RenderError, match="cannot become a Python name"):
        render_catalog(catalog)


def test_hostile_service_id_is_refused() -> None:
    evil = Service(
        kind="service", id="../oops", name="Oops", version="1.0.0", source=Source("s.mdx")
    )
    catalog = dataclasses.replace(shop_catalog(), services=(evil,))
    with pytest.raises(RenderError, match="service id"):
        render_catalog(catalog)


def test_hostile_channel_address_is_a_string_literal() -> None:
    catalog = shop_catalog()
    channels = tuple(
        dataclasses.replace(c, address='evil"; raise SystemExit; "{message}')
        if c.id == "ordering.commands"
        else c
        for c in catalog.channels
    )
    result = render_catalog(dataclasses.replace(catalog, channels=channels))
    text = result.files["services/order_service.py"]
    tree = ast.parse(text)
    assert not any(isinstance(node, ast.Raise) for node in ast.walk(tree))
    assert 'evil\\"; raise SystemExit' in text or "'evil\"; raise SystemExit" in text


def test_package_name_must_be_an_identifier() -> None:
    with pytest.raises(RenderError, match="output package name"):
        render_catalog(shop_catalog(), package_name="my-package")


def test_schema_refs_cannot_leave_the_catalog(tmp_path: Path) -> None:
    catalog = _with_message(
        shop_catalog(tmp_path / "catalog"),
        schema={"type": "object", "properties": {"x": {"$ref": "../" * 12 + "secret.json"}}},
    )
    with pytest.raises(RenderError, match="climbs above the catalog root|outside the catalog"):
        render_catalog(catalog)


def test_duplicate_message_versions_render_once_and_warn() -> None:
    catalog = shop_catalog()
    original = next(m for m in catalog.messages if m.id == "create-order")
    copy: Message = dataclasses.replace(
        original, source=Source("domains/Copy/commands/create-order/index.mdx")
    )
    result = render_catalog(dataclasses.replace(catalog, messages=(*catalog.messages, copy)))
    assert "messages/create_order.py" in result.files
    assert any("duplicate command create-order 1.0.0" in w.message for w in result.warnings)


def test_dangling_pointers_are_skipped_with_a_warning() -> None:
    catalog = shop_catalog()
    services = tuple(
        dataclasses.replace(
            s, sends=(*s.sends, dataclasses.replace(s.sends[0], message=Pointer("ghost")))
        )
        if s.id == "order-service"
        else s
        for s in catalog.services
    )
    result = render_catalog(dataclasses.replace(catalog, services=services))
    assert any("message ghost@latest does not resolve" in w.message for w in result.warnings)
