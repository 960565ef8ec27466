"""Search rules without I/O: merging product events into a document, the searchable text,
visibility, and the translation of a web-search style query into an SQLite FTS5 expression.

Convergence: every field of a document remembers the `occurredAt` of the event that last set
it, and only a strictly newer event overwrites it. Whatever order product events arrive in
(redelivery, retries, concurrent consumers), the document ends up with each field's latest
value, and a redelivered event changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DOCUMENT_FIELDS",
    "REQUIRED_FIELDS",
    "Merge",
    "ParsedQuery",
    "SearchRuleError",
    "document_id",
    "fts5_expression",
    "merge_fields",
    "parse_query",
    "searchable_text",
    "visible_statuses",
]

# Product fields a search document keeps (names as in the product events).
DOCUMENT_FIELDS = (
    "sku",
    "name",
    "description",
    "price",
    "currency",
    "category",
    "status",
    "variants",
)
# A document cannot exist without these (NOT NULL columns).
REQUIRED_FIELDS = ("sku", "name", "status")


class SearchRuleError(ValueError):
    """A search request contradicts itself (-> 400)."""


def document_id(product_id: str) -> str:
    return f"product:{product_id}"


@dataclass(frozen=True)
class Merge:
    """The outcome of applying one event's fields to a document."""

    fields: dict[str, Any]
    times: dict[str, datetime]
    applied: tuple[str, ...]  # fields the event was newer for (empty: stale or duplicate)

    @property
    def changed(self) -> bool:
        return bool(self.applied)

    @property
    def complete(self) -> bool:
        return all(self.fields.get(name) is not None for name in REQUIRED_FIELDS)

    @property
    def newest(self) -> datetime:
        return max(self.times.values())


def merge_fields(
    current: Mapping[str, Any],
    times: Mapping[str, datetime],
    incoming: Mapping[str, Any],
    occurred_at: datetime,
) -> Merge:
    """Apply `incoming` (None = not carried) where the event is newer than the field's value."""
    fields = dict(current)
    new_times = dict(times)
    applied = []
    for name in DOCUMENT_FIELDS:
        value = incoming.get(name)
        if value is None:
            continue
        last = times.get(name)
        if last is not None and occurred_at <= last:
            continue  # a newer event (or this very one) already set this field
        fields[name] = value
        new_times[name] = occurred_at
        applied.append(name)
    return Merge(fields, new_times, tuple(applied))


def searchable_text(fields: Mapping[str, Any]) -> str:
    """Name, SKU, category, description, and the SKUs and attribute values of the variants."""
    parts = [
        fields.get("name"),
        fields.get("sku"),
        fields.get("category"),
        fields.get("description"),
    ]
    parts.append(variant_text(fields))
    return " ".join(str(p) for p in parts if p)


def variant_text(fields: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for variant in fields.get("variants") or ():
        parts.append(str(variant.get("sku") or ""))
        parts.extend(str(v) for v in (variant.get("attributes") or {}).values())
    return " ".join(p for p in parts if p)


def visible_statuses(requested: str | None, *, staff: bool) -> tuple[str, ...] | None:
    """Statuses a caller may find: None = any (staff without a filter), () = nothing."""
    if staff:
        return (requested,) if requested else None
    if requested is None or requested == "ACTIVE":
        return ("ACTIVE",)
    return ()  # drafts and archived products are not shown to shoppers


def check_price_range(min_price: int | None, max_price: int | None) -> None:
    if min_price is not None and max_price is not None and min_price > max_price:
        raise SearchRuleError(f"minPrice ({min_price}) is greater than maxPrice ({max_price})")


# -- query text ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedQuery:
    """`groups`: all must match; each group matches when one of its terms does.
    `excluded`: terms that must not match. Terms are words or phrases."""

    groups: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = field(default=())


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_query(text: str) -> ParsedQuery:
    """Web-search conventions, like PostgreSQL's websearch_to_tsquery: words are ANDed,
    "quoted words" form a phrase, a leading '-' excludes, `or` between terms accepts either."""
    groups: list[list[str]] = []
    excluded: list[str] = []
    join_next = False
    for match in _TOKEN.finditer(text):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if word is not None:
            if word.lower() == "or" and groups:
                join_next = True
                continue
            negated = "-" if word.startswith("-") and len(word) > 1 else ""
            term = word[1:] if negated else word
        else:
            term = phrase or ""
        if not re.search(r"\w", term):
            continue  # punctuation only: nothing to match
        if negated:
            excluded.append(term)
            join_next = False
        elif join_next:
            groups[-1].append(term)
            join_next = False
        else:
            groups.append([term])
    return ParsedQuery(tuple(tuple(g) for g in groups), tuple(excluded))


def _fts5_string(term: str) -> str:
    # An FTS5 string is tokenised like the indexed text, so punctuation inside is harmless;
    # only the double quote needs escaping (doubled).
    return '"' + term.replace('"', '""') + '"'


def fts5_expression(query: ParsedQuery) -> str | None:
    """The FTS5 MATCH expression, or None when nothing can match (no positive term)."""
    if not query.groups:
        return None
    clauses = []
    for group in query.groups:
        terms = [_fts5_string(t) for t in group]
        clauses.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    expression = " AND ".join(clauses)
    if query.excluded:
        expression = f"({expression})" + "".join(f" NOT {_fts5_string(t)}" for t in query.excluded)
    return expression
