"""The analyst API: explore a catalog from a notebook or a terminal.

    from generator.analyst import open_catalog
    cat = open_catalog()                    # catalog/ of the surrounding git repository
    cat.receivers("order-created")          # who receives a message, on which channels
    cat.flow("place-an-order")              # steps table + diagram
    cat.domain("ordering").owns             # systems, services, messages, data stores...
    cat.messages_changed("HEAD~1")          # what changed since a git revision or folder
    cat.systems_map()                       # systems grouped by domain, with relationships

Every result has a plain ``repr`` and an escaped HTML table for Jupyter; diagrams render to
SVG with graphviz's ``dot`` and fall back to mermaid text when ``dot`` is not installed.
"""

from generator.analyst._diagrams import Diagram, Edge, Node, dot_available
from generator.analyst._explorer import (
    CatalogExplorer,
    DomainView,
    FlowView,
    MessageChanges,
    NotInCatalog,
    SystemsMap,
    open_catalog,
)
from generator.analyst._results import DiagramView, Table

__all__ = [
    "CatalogExplorer",
    "Diagram",
    "DiagramView",
    "DomainView",
    "Edge",
    "FlowView",
    "MessageChanges",
    "Node",
    "NotInCatalog",
    "SystemsMap",
    "Table",
    "dot_available",
    "open_catalog",
]
