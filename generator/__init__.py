"""EventCatalog folder -> validated model -> generated Python package.

The library API behind ``python -m generator``::

    from generator import lint, load_catalog

    catalog = load_catalog("catalog")      # never raises on bad content
    for problem in lint(catalog):          # sorted Problems, loading problems included
        print(problem)                     # path:line:col: severity rule-id: message

Attributes load lazily, so generated code importing ``generator.contracts`` pays only for that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from generator._asyncapi import AsyncApiError
    from generator._asyncapi import export as export_asyncapi
    from generator._breaking import latest_by_id
    from generator._build import load_catalog
    from generator._lint import RULES, Rule, lint
    from generator._model import (
        Catalog,
        Channel,
        ChannelParameter,
        ChannelUse,
        Container,
        Doc,
        Document,
        Domain,
        Entity,
        EntityProperty,
        Flow,
        FlowLink,
        FlowStep,
        HttpOperation,
        Message,
        MessageUse,
        Pointer,
        Relationship,
        Resource,
        Service,
        Source,
        SourceFile,
        Specification,
        System,
        Team,
    )
    from generator._problems import Problem, Severity
    from generator._render._view import CatalogView
    from generator._resolve import satisfies, valid_range

__all__ = [
    "RULES",
    "AsyncApiError",
    "Catalog",
    "CatalogView",
    "Channel",
    "ChannelParameter",
    "ChannelUse",
    "Container",
    "Doc",
    "Document",
    "Domain",
    "Entity",
    "EntityProperty",
    "Flow",
    "FlowLink",
    "FlowStep",
    "HttpOperation",
    "Message",
    "MessageUse",
    "Pointer",
    "Problem",
    "Relationship",
    "Resource",
    "Rule",
    "Service",
    "Severity",
    "Source",
    "SourceFile",
    "Specification",
    "System",
    "Team",
    "check",
    "export_asyncapi",
    "generate",
    "latest_by_id",
    "lint",
    "load_catalog",
    "satisfies",
    "valid_range",
]

_HOMES = {
    "AsyncApiError": "generator._asyncapi",
    "export_asyncapi": "generator._asyncapi",
    "generate": "generator._generate",
    "check": "generator._generate",
    "load_catalog": "generator._build",
    "latest_by_id": "generator._breaking",
    "CatalogView": "generator._render._view",
    "lint": "generator._lint",
    "RULES": "generator._lint",
    "Rule": "generator._lint",
    "Problem": "generator._problems",
    "Severity": "generator._problems",
    "satisfies": "generator._resolve",
    "valid_range": "generator._resolve",
}

# Public names that differ from the name in their home module.
_ATTRIBUTES = {"export_asyncapi": "export"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'generator' has no attribute {name!r}")
    home = importlib.import_module(_HOMES.get(name, "generator._model"))
    value = getattr(home, _ATTRIBUTES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
