"""Small result objects: a plain `repr` for terminals and an escaped HTML table for Jupyter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from html import escape
from typing import Any

from generator.analyst._diagrams import Diagram

__all__ = ["Table", "DiagramView"]

_MAX_CELL = 60  # plain repr only: long summaries would wrap every row in a terminal


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


class Table:
    """Rows with named columns. Iterating yields one dict per row.

    Args:
        title: shown above the table.
        columns: column names, in display order.
        rows: one sequence of values per row, in column order.
    """

    def __init__(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.title = title
        self.columns: tuple[str, ...] = tuple(columns)
        for row in rows:
            if len(row) != len(self.columns):
                raise ValueError(f"{title}: row {row!r} does not have {len(self.columns)} values")
        self.rows: tuple[tuple[Any, ...], ...] = tuple(tuple(r) for r in rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records())

    def __getitem__(self, index: int) -> dict[str, Any]:
        return dict(zip(self.columns, self.rows[index], strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return (self.title, self.columns, self.rows) == (other.title, other.columns, other.rows)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking container: not hashable

    def records(self) -> list[dict[str, Any]]:
        """Every row as a dict (column name -> value)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        """The values of one column, top to bottom."""
        try:
            index = self.columns.index(name)
        except ValueError:
            raise KeyError(
                f"{self.title}: no column {name!r}; columns are {self.columns}"
            ) from None
        return [row[index] for row in self.rows]

    def __repr__(self) -> str:
        cells = [[_clip(_text(v)) for v in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

        def line(values: Sequence[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        out = [f"{self.title} ({len(self.rows)} rows)", line(self.columns)]
        out.append(line(["-" * w for w in widths]))
        out.extend(line(row) for row in cells)
        return "\n".join(out)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(_text(v))}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        return (
            f"<table><caption>{escape(self.title)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def _repr_markdown_(self) -> str:
        def cell(value: Any) -> str:
            return _text(value).replace("|", "\\|").replace("\n", " ")

        out = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |"]
        out.append("|" + "---|" * len(self.columns))
        out.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows)
        return "\n".join(out)


class DiagramView:
    """A diagram with the table(s) it was drawn from.

    In Jupyter it shows the SVG (graphviz ``dot``) followed by the tables; without ``dot`` it
    shows the mermaid source instead, so a notebook never fails for want of graphviz.
    """

    def __init__(self, title: str, diagram: Diagram, tables: Sequence[Table]) -> None:
        self.title = title
        self.diagram = diagram
        self.tables = tuple(tables)

    def __repr__(self) -> str:
        parts = [self.title, "", self.diagram.mermaid, ""]
        parts.extend(repr(t) for t in self.tables)
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        tables = "".join(t._repr_html_() for t in self.tables)
        return f"<div><h4>{escape(self.title)}</h4>{self.diagram._repr_html_()}{tables}</div>"

    def _repr_markdown_(self) -> str | None:
        if self.diagram.svg() is not None:
            return None  # the HTML form carries the SVG
        tables = "\n\n".join(t._repr_markdown_() for t in self.tables)
        return f"#### {self.title}\n\n{self.diagram._repr_markdown_()}\n\n{tables}"

    def _repr_svg_(self) -> str | None:
        return self.diagram.svg()


def mapping_table(title: str, values: Mapping[str, Any]) -> Table:
    """A two-column (name, value) table."""
    return Table(title, ("name", "value"), [(k, v) for k, v in values.items()])
