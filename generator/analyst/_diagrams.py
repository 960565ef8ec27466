"""Diagrams as plain data, drawn to SVG by graphviz's ``dot`` or written as mermaid text.

A `Diagram` holds nodes, edges and clusters. `svg()` renders it with the graphviz Python
package and the ``dot`` binary; when either is missing or fails, it returns None and the
Jupyter representation falls back to a mermaid block, so an analyst's notebook never fails
because graphviz is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

__all__ = ["Diagram", "Edge", "Node", "dot_available"]

Shape = Literal["box", "rounded", "cylinder", "ellipse", "note", "folder", "hexagon", "component"]

# graphviz shape and style for each of our shapes.
_DOT_SHAPES: dict[str, tuple[str, str]] = {
    "box": ("box", "filled"),
    "rounded": ("box", "rounded,filled"),
    "cylinder": ("cylinder", "filled"),
    "ellipse": ("ellipse", "filled"),
    "note": ("note", "filled"),
    "folder": ("folder", "filled"),
    "hexagon": ("hexagon", "filled"),
    "component": ("component", "filled"),
}

# mermaid brackets for each shape: (open, close).
_MERMAID_SHAPES: dict[str, tuple[str, str]] = {
    "box": ("[", "]"),
    "rounded": ("(", ")"),
    "cylinder": ("[(", ")]"),
    "ellipse": ("([", "])"),
    "note": (">", "]"),
    "folder": ("[/", "/]"),
    "hexagon": ("{{", "}}"),
    "component": ("[[", "]]"),
}


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    shape: Shape = "box"
    color: str = "#e8eef7"
    dashed: bool = False
    cluster: str | None = None  # title of the group box the node sits in


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str | None = None
    dashed: bool = False


def _graphviz() -> Any:
    """The graphviz package, or None when it is not installed."""
    try:
        import graphviz  # type: ignore[import-untyped]
    except ImportError:
        return None
    return graphviz


def dot_available() -> bool:
    """True when the graphviz Python package imports and the ``dot`` binary is on PATH."""
    return _graphviz() is not None and shutil.which("dot") is not None


@dataclass
class Diagram:
    """A directed graph to draw. ``direction`` is graphviz's rankdir (LR or TB)."""

    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    direction: Literal["LR", "TB"] = "LR"
    _svg: str | None = field(default=None, init=False, repr=False)
    _rendered: bool = field(default=False, init=False, repr=False)

    # --- graphviz ---------------------------------------------------------------------

    def dot_source(self) -> str:
        """The DOT text of the diagram (needs the graphviz Python package, not the binary)."""
        graphviz = _graphviz()
        if graphviz is None:
            raise RuntimeError("the graphviz Python package is not installed")

        # Catalog ids may hold ':' (a port separator in DOT edges), so nodes get neutral names.
        ids = {node.id: f"n{i}" for i, node in enumerate(self.nodes)}
        graph = graphviz.Digraph(name=_dot_name(self.title))
        graph.attr(rankdir=self.direction, fontname="Helvetica", fontsize="11", label=self.title)
        graph.attr("node", fontname="Helvetica", fontsize="10")
        graph.attr("edge", fontname="Helvetica", fontsize="9")
        clusters: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            clusters.setdefault(node.cluster, []).append(node)
        for number, (cluster, members) in enumerate(
            sorted(clusters.items(), key=lambda kv: kv[0] or "")
        ):
            if cluster is None:
                for node in members:
                    _dot_node(graph, ids[node.id], node)
                continue
            with graph.subgraph(name=f"cluster_{number}") as sub:
                sub.attr(label=cluster, style="rounded", color="#9aa5b1")
                for node in members:
                    _dot_node(sub, ids[node.id], node)
        for edge in self.edges:
            if edge.source not in ids or edge.target not in ids:
                continue
            graph.edge(
                ids[edge.source],
                ids[edge.target],
                label=edge.label or "",
                style="dashed" if edge.dashed else "solid",
            )
        return str(graph.source)

    def svg(self) -> str | None:
        """The diagram as an SVG document, or None when graphviz cannot draw it here."""
        if not self._rendered:
            self._rendered = True
            self._svg = self._render_svg()
        return self._svg

    def _render_svg(self) -> str | None:
        if not dot_available():
            return None
        graphviz = _graphviz()

        try:
            source = graphviz.Source(self.dot_source())
            svg = source.pipe(format="svg", encoding="utf-8")
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, OSError):
            return None
        except subprocess.SubprocessError:
            return None
        # Inline SVG in HTML must not carry the XML prolog and DOCTYPE.
        start = svg.find("<svg")
        return svg[start:] if start >= 0 else None

    # --- mermaid ---------------------------------------------------------------------

    @property
    def mermaid(self) -> str:
        """The diagram as mermaid flowchart text (ids replaced by n0, n1, ...)."""
        ids = {node.id: f"n{i}" for i, node in enumerate(self.nodes)}
        out = [f"flowchart {self.direction}"]
        clusters: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            clusters.setdefault(node.cluster, []).append(node)
        for number, (cluster, members) in enumerate(
            sorted(clusters.items(), key=lambda kv: kv[0] or "")
        ):
            indent = "  "
            if cluster is not None:
                out.append(f'  subgraph c{number}["{_mermaid_text(cluster)}"]')
                indent = "    "
            for node in members:
                left, right = _MERMAID_SHAPES[node.shape]
                out.append(f'{indent}{ids[node.id]}{left}"{_mermaid_text(node.label)}"{right}')
            if cluster is not None:
                out.append("  end")
        for edge in self.edges:
            if edge.source not in ids or edge.target not in ids:
                continue
            arrow = "-.->" if edge.dashed else "-->"
            label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
            out.append(f"  {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
        return "\n".join(out)

    # --- Jupyter ---------------------------------------------------------------------

    def _repr_svg_(self) -> str | None:
        return self.svg()

    def _repr_html_(self) -> str:
        svg = self.svg()
        if svg is not None:
            return f"<div>{svg}</div>"
        return f'<pre class="mermaid">{escape(self.mermaid)}</pre>'

    def _repr_markdown_(self) -> str | None:
        if self.svg() is not None:
            return None
        return f"```mermaid\n{self.mermaid}\n```"

    def __repr__(self) -> str:
        return f"{self.title}\n{self.mermaid}"


def _dot_node(graph: Any, name: str, node: Node) -> None:
    shape, style = _DOT_SHAPES[node.shape]
    if node.dashed:
        style += ",dashed"
    graph.node(name, label=node.label, shape=shape, style=style, fillcolor=node.color)


def _dot_name(title: str) -> str:
    return re.sub(r"\W+", "_", title).strip("_") or "diagram"


def _mermaid_text(text: str) -> str:
    # mermaid reads entity codes inside quoted labels; quotes and angle brackets would break it.
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", "<br/>")
    )
