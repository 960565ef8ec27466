"""datastores/: schema.sql as ordered DDL statements and SQLAlchemy Core tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
import sqlalchemy as sa
from render_fixture import imported, rendered, write_package

from generator._render.datastores import split_statements

Load = Callable[[str], ModuleType]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    parent = tmp_path_factory.mktemp("stores")
    write_package(rendered(), parent)
    with imported(parent) as load:
        yield load("datastores.order_database")


def test_split_statements_drops_comments_but_not_quoted_text() -> None:
    sql = (
        "-- header\n"
        "CREATE TABLE t (\n"
        "    a TEXT DEFAULT 'x;--y', -- trailing comment\n"
        "    b TEXT DEFAULT 'it''s'\n"
        ");\n"
        "/* block; comment */\n"
        "CREATE INDEX i ON t (a);\n"
        "\n"
    )
    assert split_statements(sql) == [
        "CREATE TABLE t (\n    a TEXT DEFAULT 'x;--y',\n    b TEXT DEFAULT 'it''s'\n)",
        "CREATE INDEX i ON t (a)",
    ]


def test_ddl_keeps_statement_order_and_runs_on_sqlite(store: ModuleType) -> None:
    assert [s.split("(")[0].strip() for s in store.DDL] == [
        "CREATE TABLE IF NOT EXISTS orders",
        "CREATE INDEX IF NOT EXISTS orders_customer ON orders",
        "CREATE TABLE IF NOT EXISTS message_inbox",
    ]
    assert not any("--" in statement for statement in store.DDL)
    with sqlite3.connect(":memory:") as connection:
        for statement in store.DDL:
            connection.execute(statement)
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    assert {"orders", "message_inbox", "orders_customer"} <= tables


def test_tables_mirror_create_table(store: ModuleType) -> None:
    orders = store.metadata.tables["orders"]
    assert [c.name for c in orders.columns] == [
        "id",
        "customer_id",
        "status",
        "total",
        "note",
        "created_at",
    ]
    assert [c.name for c in orders.primary_key] == ["id"]
    assert isinstance(orders.c.id.type, sa.Uuid) and orders.c.id.type.as_uuid is False
    assert isinstance(orders.c.total.type, sa.BigInteger)
    assert isinstance(orders.c.note.type, sa.String) and orders.c.note.type.length == 200
    assert isinstance(orders.c.created_at.type, sa.DateTime) and orders.c.created_at.type.timezone
    assert orders.c.customer_id.nullable is False and orders.c.note.nullable is True
    assert str(orders.c.status.server_default.arg) == "'CREATED'"
    inbox = store.metadata.tables["message_inbox"]
    assert [c.name for c in inbox.primary_key] == ["consumer", "message_id"]


def test_tables_work_against_the_ddl_schema(store: ModuleType) -> None:
    engine = sa.create_engine("sqlite://")
    with engine.begin() as connection:
        for statement in store.DDL:
            connection.exec_driver_sql(statement)
        connection.execute(
            store.orders.insert().values(
                id="3f1e4a52-8c4b-4f7e-9a51-0f9b3d2c1a00", customer_id="c1", total=10
            )
        )
        row = connection.execute(sa.select(store.orders.c.status, store.orders.c.total)).one()
    assert tuple(row) == ("CREATED", 10)


def test_only_containers_with_sql_get_a_module() -> None:
    assert sorted(p for p in rendered().files if p.startswith("datastores/")) == [
        "datastores/__init__.py",
        "datastores/order_database.py",
    ]
