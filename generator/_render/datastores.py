"""datastores/<container>.py: a data store's DDL and its SQLAlchemy Core tables.

`DDL` keeps the statements of the container's schema.sql in order, comments removed, so the
runtime can create the schema on SQLite and PostgreSQL alike. `metadata` mirrors each CREATE TABLE
(parsed with sqlglot) so that code and tests can query the tables without restating them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator._model import Catalog, Container
from generator._render._artifact import Artifact, as_texts
from generator._render._cache import Cache, dist_version, key_of
from generator._render._env import TEMPLATES_DIR, render_template, sentence
from generator._render._errors import RenderError
from generator._render._names import check_identifier, module_name
from generator._render._view import CatalogView

if TYPE_CHECKING:  # sqlglot is imported when a script is parsed: a tenth of a second
    from sqlglot import exp

_RESERVED = frozenset({"DDL", "metadata", "annotations", "text", "Column", "MetaData", "Table"})
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+(?:\w+\s+)*TABLE\b", re.IGNORECASE)


@functools.cache
def _sql_types() -> tuple[dict[Any, str], frozenset[Any]]:
    """SQLAlchemy type of each sqlglot data type, and the sized string types."""
    from sqlglot import exp

    types = {
        exp.DType.UUID: "Uuid(as_uuid=False)",
        exp.DType.TEXT: "String",
        exp.DType.INT: "Integer",
        exp.DType.SMALLINT: "Integer",
        exp.DType.TINYINT: "Integer",
        exp.DType.SERIAL: "Integer",
        exp.DType.BIGINT: "BigInteger",
        exp.DType.BIGSERIAL: "BigInteger",
        exp.DType.BOOLEAN: "Boolean",
        exp.DType.TIMESTAMPTZ: "DateTime(timezone=True)",
        exp.DType.TIMESTAMP: "DateTime()",
        exp.DType.DATE: "Date",
        exp.DType.TIME: "Time",
        exp.DType.JSON: "JSON",
        exp.DType.JSONB: "JSON",
        exp.DType.DOUBLE: "Float",
        exp.DType.FLOAT: "Float",
        exp.DType.VARBINARY: "LargeBinary",
        exp.DType.BINARY: "LargeBinary",
    }
    sized = frozenset({exp.DType.CHAR, exp.DType.VARCHAR, exp.DType.NCHAR, exp.DType.NVARCHAR})
    return types, sized


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str  # SQLAlchemy type expression
    primary_key: bool
    nullable: bool
    unique: bool
    server_default: str | None  # SQL text


@dataclass(frozen=True)
class TableInfo:
    name: str
    variable: str
    columns: tuple[ColumnInfo, ...]


def split_statements(sql: str) -> list[str]:
    """Statements of a SQL script in order, without comments or the closing ``;``.

    Quotes are respected, so ``--`` or ``;`` inside a string literal stay where they are. Each
    statement keeps its own line breaks and indentation, with blank lines removed.
    """
    return list(_split_statements(sql))


@functools.lru_cache(maxsize=256)
def _split_statements(sql: str) -> tuple[str, ...]:  # cached: every script is split twice
    statements: list[str] = []
    current: list[str] = []
    i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote escapes itself
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end == -1 else end + 2
        elif ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    out: list[str] = []
    for statement in statements:
        lines = [line.rstrip() for line in statement.splitlines()]
        text = "\n".join(line for line in lines if line.strip())
        if text.strip():
            out.append(_dedent_first(text))
    return tuple(out)


def _dedent_first(text: str) -> str:
    lines = text.splitlines()
    lines[0] = lines[0].lstrip()
    return "\n".join(lines)


def _column_type(column: exp.ColumnDef, notes: list[str]) -> str:
    from sqlglot import exp

    types, sized = _sql_types()
    kind = column.args.get("kind")
    if not isinstance(kind, exp.DataType):
        notes.append(f"column {column.name} has no type; mapped to String")
        return "String"
    dtype = kind.this
    sizes = [e.sql() for e in kind.expressions]
    if dtype in sized:
        return f"String({int(sizes[0])})" if sizes and sizes[0].isdigit() else "String"
    if dtype == exp.DType.DECIMAL:
        digits = [s for s in sizes if s.isdigit()]
        return f"Numeric({', '.join(digits)})" if digits else "Numeric"
    mapped = types.get(dtype)
    if mapped is None:
        notes.append(f"column {column.name}: type {kind.sql()} has no mapping; using String")
        return "String"
    return mapped


def _table(create: exp.Create, notes: list[str], taken: set[str]) -> TableInfo:
    from sqlglot import exp

    schema = create.this
    table = schema.this if isinstance(schema, exp.Schema) else schema
    name = table.name
    variable = check_identifier(name, what="table name")
    if variable in _RESERVED or variable in taken:
        variable = f"{variable}_table"
    taken.add(variable)
    table_pk: set[str] = set()
    for item in schema.expressions if isinstance(schema, exp.Schema) else []:
        if isinstance(item, exp.PrimaryKey):
            table_pk.update(e.name for e in item.expressions)
    columns: list[ColumnInfo] = []
    for item in schema.expressions if isinstance(schema, exp.Schema) else []:
        if not isinstance(item, exp.ColumnDef):
            continue
        kinds = [c.args.get("kind") for c in item.constraints]
        primary = item.name in table_pk or any(
            isinstance(k, exp.PrimaryKeyColumnConstraint) for k in kinds
        )
        not_null = any(
            isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null")
            for k in kinds
        )
        default = next((k for k in kinds if isinstance(k, exp.DefaultColumnConstraint)), None)
        columns.append(
            ColumnInfo(
                name=item.name,
                type=_column_type(item, notes),
                primary_key=primary,
                nullable=not (primary or not_null),
                unique=any(isinstance(k, exp.UniqueColumnConstraint) for k in kinds),
                server_default=default.this.sql(dialect="postgres") if default else None,
            )
        )
    return TableInfo(name, variable, tuple(columns))


def tables_of(container: Container, view: CatalogView) -> list[TableInfo]:
    """The tables a container's schema.sql creates (empty when it has none)."""
    if not container.sql:
        return []
    where = container.sql_path or container.source.path
    try:
        parsed = view.memo.get(("tables", container.sql))
        if parsed is None:
            parsed = view.memo[("tables", container.sql)] = _tables_cached(
                container.sql, view.cache
            )
        tables, notes = parsed
    except RenderError as exc:
        raise RenderError(f"{where}: {exc}") from exc
    for note in notes:
        view.warn(where, note)
    return list(tables)


_Parsed = tuple[tuple[TableInfo, ...], tuple[str, ...]]


def _tables_cached(sql: str, cache: Cache) -> _Parsed:
    """`_parse_tables`, through the cache when there is one (then sqlglot is not imported)."""
    if not cache.enabled:
        return _parse_tables(sql)
    key = key_of("tables", (dist_version("sqlglot", "sqlglot"), sql))
    hit = cache.get("tables", key)
    if hit is not None:
        try:
            parsed = _from_json(hit)
        except (ValueError, KeyError, TypeError):
            pass  # an entry of another layout: parse again and replace it
        else:
            return parsed
    parsed = _parse_tables(sql)
    cache.put("tables", key, json.dumps(_to_json(parsed), sort_keys=True))
    return parsed


def _to_json(parsed: _Parsed) -> dict[str, Any]:
    tables, notes = parsed
    return {"tables": [asdict(table) for table in tables], "notes": list(notes)}


def _from_json(text: str) -> _Parsed:
    data = json.loads(text)
    tables = tuple(
        TableInfo(
            str(table["name"]),
            str(table["variable"]),
            tuple(ColumnInfo(**column) for column in table["columns"]),
        )
        for table in data["tables"]
    )
    return tables, tuple(str(note) for note in data["notes"])


# Parsed scripts of this process, by text (the same script often serves several containers).
_PARSED: dict[str, _Parsed] = {}


def _parse_tables(sql: str) -> _Parsed:
    """Tables of one SQL script, and notes on columns it could not map (cached by text).

    Only CREATE TABLE statements go to sqlglot: the rest (indexes...) has no table to describe.
    """
    parsed = _PARSED.get(sql)
    if parsed is None:
        if len(_PARSED) >= 256:
            _PARSED.clear()
        parsed = _PARSED[sql] = _parse_new(sql)
    return parsed


def _parse_new(sql: str) -> _Parsed:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    notes: list[str] = []
    taken: set[str] = set()
    tables: list[TableInfo] = []
    for statement in split_statements(sql):
        if not _CREATE_TABLE.match(statement):
            continue
        try:
            parsed = sqlglot.parse_one(statement, read="postgres")
        except SqlglotError as exc:
            first = statement.splitlines()[0]
            raise RenderError(f"SQL does not parse ({first}): {exc}") from exc
        if isinstance(parsed, exp.Create) and str(parsed.args.get("kind")).upper() == "TABLE":
            tables.append(_table(parsed, notes, taken))
    return tuple(tables), tuple(notes)


def _imports(tables: list[TableInfo]) -> list[str]:
    names = {"Column", "MetaData", "Table"}
    for table in tables:
        for column in table.columns:
            names.add(column.type.split("(", 1)[0])
            if column.server_default is not None:
                names.add("text")
    return sorted(names, key=lambda n: (n.lower(), n))


def datastore_file(container: Container) -> str:
    return f"datastores/{module_name(container.id, what=f'container id ({container.source})')}.py"


def build(view: CatalogView, templates: Path = TEMPLATES_DIR) -> list[Artifact]:
    artifacts: list[Artifact] = []
    for container in view.containers:
        if not container.sql:
            continue
        tables = tables_of(container, view)
        source = view.source_path(container.source.path)
        technology = f", {container.technology}" if container.technology else ""
        summary = sentence(container.summary) if container.summary else "no summary."
        text = render_template(
            "datastore.py.j2",
            templates,
            source=source,
            doc=f"{container.name} ({container.container_type}{technology}): {summary}",
            statements=split_statements(container.sql),
            tables=tables,
            imports=_imports(tables),
        )
        sources = [source]
        if container.sql_path:
            sources.append(view.source_path(container.sql_path))
        artifacts.append(Artifact(datastore_file(container), text, tuple(sources)))
    artifacts.append(
        Artifact(
            "datastores/__init__.py",
            render_template(
                "package_init.py.j2",
                templates,
                source=view.source_path(""),
                doc="One module per catalog data store with a schema.sql: its DDL and tables.",
            ),
            (),
        )
    )
    return artifacts


def render(catalog: Catalog) -> dict[str, str]:
    """datastores/ files of `catalog`, unformatted (see `generator._render.render_catalog`)."""
    return as_texts(build(CatalogView(catalog)))
