"""Files -> documents with source positions: the only module that reads the catalog folder.

Every Markdown/MDX file is read once and split into YAML frontmatter (converted with the line and
column of every key and list item) and body. Then the files pages point to are read once each:
message schemas (``schemaPath``, ``schemas``), specifications, a container's ``schema.sql``, and,
transitively, the files their ``$ref``s name. Nothing below this module touches the file system.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from generator._model import Document, KeyPath, SourceFile
from generator._problems import Problem

__all__ = [
    "Loaded",
    "classify",
    "locate",
    "paused_gc",
    "parse_markdown",
    "read_catalog",
    "yaml_to_python",
]

# Folders EventCatalog's own build never looks into (tool state, dependencies, build output).
_SKIP_DIRS = frozenset({"node_modules", "dist", "public"})
_MARKDOWN = (".md", ".mdx")
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster
_MAX_NODES = 200_000  # alias expansion guard ("billion laughs")
_MAX_DEPTH = 200


class _Loader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader with memoised tags of plain scalars.

    Resolving a plain scalar's tag tries regular expressions in Python for every scalar of every
    page; the answer depends on the text alone (safe loaders have no path resolvers), and
    catalogs repeat the same short values (versions, ids, keys) thousands of times. Quoted
    scalars, sequences and mappings get the default tags directly, as the base class would.
    """

    _plain_tags: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if kind is ScalarNode and isinstance(implicit, tuple):
            if not implicit[0]:  # quoted: a string, as the base class decides without resolvers
                return self.DEFAULT_SCALAR_TAG
            if len(value) > 64:
                return super().resolve(kind, value, implicit)
            tag = self._plain_tags.get(value)
            if tag is None:
                if len(self._plain_tags) > 100_000:  # a bound, not a working-set limit
                    self._plain_tags.clear()
                tag = self._plain_tags[value] = super().resolve(kind, value, implicit)
            return tag
        if kind is SequenceNode:
            return self.DEFAULT_SEQUENCE_TAG
        if kind is MappingNode:
            return self.DEFAULT_MAPPING_TAG
        return super().resolve(kind, value, implicit)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Hold Python's cycle collector while a catalog is loaded, linted or rendered.

    These steps allocate millions of objects that all stay alive (the model), so each automatic
    full collection walks everything for nothing: a third of the time on a large catalog.
    Reference counting still frees what they drop. When the outermost pause ends, the objects
    made meanwhile are frozen (`gc.freeze`) rather than walked by the next collection, which
    would cost as much again for a process that is about to exit; the next pause unfreezes
    them, so nothing stays out of the collector's reach for more than one run. A collector
    that was already off is left alone.
    """
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
        gc.unfreeze()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


# --- which collection loads a file --------------------------------------------------------------

_EXT = r"\.mdx?$"
_SEG = r"[^/]+"
_ANY = r"(?:[^/]+/)*"  # "**/" in picomatch: zero or more folders
_FED = r"(?:federated/[^/]+/)?"  # collections EventCatalog also loads from federated/<name>/
_NESTED_IN_SYSTEMS = (
    "agents|services|events|commands|queries|flows|channels|entities|containers|diagrams|"
    "data-products|adrs|docs"
)
_DOC_TYPES = (
    "agents|events|commands|queries|services|flows|containers|channels|entities|data-products|"
    "systems"
)


def _patterns() -> dict[str, re.Pattern[str]]:
    def one_level(folder: str) -> str:  # **/<folder>/*/index, **/<folder>/*/versioned/*/index
        return rf"^{_ANY}{folder}/{_SEG}/(?:versioned/{_SEG}/)?index{_EXT}"

    def any_level(folder: str) -> str:  # **/<folder>/**/index
        return rf"^{_ANY}{folder}/{_ANY}index{_EXT}"

    service_roots = (
        r"services",
        rf"domains/{_SEG}/services",
        rf"domains/{_SEG}/subdomains/{_SEG}/services",
        rf"systems/{_SEG}/services",
        rf"domains/{_SEG}/systems/{_SEG}/services",
    )
    return {
        "domains": re.compile(
            rf"^{_FED}domains/{_SEG}/(?:subdomains/{_SEG}/)?(?:versioned/{_SEG}/)?index{_EXT}"
        ),
        "systems": re.compile(
            rf"^(?!{_ANY}systems/{_ANY}(?:{_NESTED_IN_SYSTEMS})/){_ANY}systems/{_ANY}index{_EXT}"
        ),
        "services": re.compile(
            rf"^{_FED}(?:{'|'.join(service_roots)})/{_SEG}/(?:versioned/{_SEG}/)?index{_EXT}"
        ),
        "events": re.compile(one_level("events")),
        "commands": re.compile(one_level("commands")),
        "queries": re.compile(one_level("queries")),
        "entities": re.compile(one_level("entities")),
        "agents": re.compile(one_level("agents")),
        "adrs": re.compile(one_level("adrs")),
        "data-products": re.compile(one_level("data-products")),
        "channels": re.compile(any_level("channels")),
        "flows": re.compile(any_level("flows")),
        "containers": re.compile(any_level("containers")),
        "diagrams": re.compile(any_level("diagrams")),
        "users": re.compile(rf"^{_FED}users/{_SEG}{_EXT}"),
        "teams": re.compile(rf"^{_FED}teams/{_SEG}{_EXT}"),
        "ubiquitous-languages": re.compile(
            rf"^{_FED}domains/{_SEG}/(?:subdomains/{_SEG}/)?ubiquitous-language{_EXT}"
        ),
        "changelogs": re.compile(rf"^{_ANY}changelog{_EXT}"),
        "docs": re.compile(rf"^docs/{_ANY}{_SEG}{_EXT}"),
        "resource-docs": re.compile(
            rf"^{_FED}(?:(?:{_DOC_TYPES})/{_ANY}|domains/{_ANY})docs/{_ANY}{_SEG}{_EXT}"
        ),
        "pages": re.compile(rf"^{_ANY}pages/{_SEG}{_EXT}"),
        "examples": re.compile(
            rf"^{_ANY}(?:events|commands|queries)/{_SEG}/(?:versioned/{_SEG}/)?examples/"
        ),
    }


_COLLECTIONS = _patterns()


def classify(path: str) -> tuple[str, ...]:
    """Names of the EventCatalog collections whose globs match ``path`` (relative, with '/')."""
    return tuple(name for name, pattern in _COLLECTIONS.items() if pattern.match(path))


# --- YAML with positions ------------------------------------------------------------------------

_YAML11_ONLY_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


class YamlError(ValueError):
    """A YAML problem at a 0-based (line, column) of the YAML text."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class _Walk:
    constructor: SafeConstructor
    positions: dict[KeyPath, tuple[int, int]]
    line_offset: int
    duplicates: list[tuple[KeyPath, int, int]] = field(default_factory=list)
    nodes: int = 0


def _mark(node: Node, walk: _Walk) -> tuple[int, int]:
    return (node.start_mark.line + walk.line_offset, node.start_mark.column + 1)


_STR_TAG = "tag:yaml.org,2002:str"
_BOOL_TAG = "tag:yaml.org,2002:bool"
# Keys flatten_mapping rewrites; a mapping without them is left as it is.
_FLATTENED_TAGS = frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})


def _too_large(node: Node) -> YamlError:
    mark = node.start_mark
    return YamlError("document too large or too deeply nested (aliases?)", mark.line, mark.column)


def _needs_flattening(node: MappingNode) -> bool:
    for key_node, _value in node.value:  # noqa: SIM110 - no generator per mapping: hot path
        if key_node.tag in _FLATTENED_TAGS:
            return True
    return False


def _convert(node: Node, path: KeyPath, walk: _Walk, depth: int) -> Any:
    walk.nodes += 1
    if walk.nodes > _MAX_NODES or depth > _MAX_DEPTH:
        raise _too_large(node)
    if isinstance(node, ScalarNode):
        tag = node.tag
        if tag == _STR_TAG:  # what construct_object returns for a string, without its dispatch
            return node.value
        # js-yaml (what EventCatalog uses) follows YAML 1.2: `yes`/`on` are strings there.
        if tag == _BOOL_TAG and node.value.lower() in _YAML11_ONLY_BOOLS:
            return node.value
        return walk.constructor.construct_object(node, deep=True)
    positions = walk.positions
    offset = walk.line_offset
    inner = depth + 1
    if isinstance(node, SequenceNode):
        items = []
        for i, child in enumerate(node.value):
            mark = child.start_mark
            child_path = (*path, i)
            positions[child_path] = (mark.line + offset, mark.column + 1)
            items.append(_convert(child, child_path, walk, inner))
        return items
    if isinstance(node, MappingNode):
        if _needs_flattening(node):
            walk.constructor.flatten_mapping(node)  # resolves `<<` merge keys
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            # Plain string keys and values (most nodes) are taken here; the same node count
            # and depth limits apply as in `_convert`.
            if type(key_node) is ScalarNode and key_node.tag == _STR_TAG:
                walk.nodes += 1
                if walk.nodes > _MAX_NODES or inner > _MAX_DEPTH:
                    raise _too_large(key_node)
                key: Any = key_node.value
            else:
                key = _convert(key_node, path, walk, inner)
                if isinstance(key, (list, dict)):
                    key = str(key)
            mark = key_node.start_mark
            line, column = mark.line + offset, mark.column + 1
            key_path = (*path, key)
            if key in result:
                walk.duplicates.append((key_path, line, column))
            positions[key_path] = (line, column)
            if type(value_node) is ScalarNode and value_node.tag == _STR_TAG:
                walk.nodes += 1
                if walk.nodes > _MAX_NODES or inner > _MAX_DEPTH:
                    raise _too_large(value_node)
                result[key] = value_node.value
            else:
                result[key] = _convert(value_node, key_path, walk, inner)
        return result
    raise YamlError(f"unsupported YAML node {type(node).__name__}", node.start_mark.line, 0)


def _convert_plain(node: Node, walk: _Walk, depth: int) -> Any:
    """`_convert` without positions or duplicates, for files nobody reports positions in."""
    walk.nodes += 1
    if walk.nodes > _MAX_NODES or depth > _MAX_DEPTH:
        mark = node.start_mark
        raise YamlError(
            "document too large or too deeply nested (aliases?)", mark.line, mark.column
        )
    if isinstance(node, ScalarNode):
        tag = node.tag
        if tag == _STR_TAG:
            return node.value
        if tag == _BOOL_TAG and node.value.lower() in _YAML11_ONLY_BOOLS:
            return node.value
        return walk.constructor.construct_object(node, deep=True)
    if isinstance(node, SequenceNode):
        return [_convert_plain(child, walk, depth + 1) for child in node.value]
    if isinstance(node, MappingNode):
        if _needs_flattening(node):
            walk.constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert_plain(key_node, walk, depth + 1)
            if isinstance(key, (list, dict)):
                key = str(key)
            result[key] = _convert_plain(value_node, walk, depth + 1)
        return result
    raise YamlError(f"unsupported YAML node {type(node).__name__}", node.start_mark.line, 0)


def yaml_to_python(
    text: str, *, line_offset: int = 1, positions: bool = True
) -> tuple[Any, dict[KeyPath, tuple[int, int]], list[tuple[KeyPath, int, int]]]:
    """Parse YAML into Python values plus the (line, column) of every key and list item.

    ``line_offset`` is added to YAML's 0-based lines (1 makes them 1-based). Returns the value,
    the positions and duplicate keys (which js-yaml rejects and PyYAML silently accepts); with
    ``positions=False`` both come back empty and the value is built faster.
    Raises `YamlError` with the offending 0-based line and column.
    """
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlError(
            message or str(exc), mark.line if mark else 0, mark.column if mark else 0
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlError(str(exc), 0, 0) from exc
    walk = _Walk(SafeConstructor(), {}, line_offset)
    if node is None:
        return None, {}, []
    try:
        if not positions:
            return _convert_plain(node, walk, 0), {}, []
        walk.positions[()] = _mark(node, walk)
        value = _convert(node, (), walk, 0)
    except ConstructorError as exc:
        mark = exc.problem_mark
        raise YamlError(
            str(exc.problem or exc), mark.line if mark else 0, mark.column if mark else 0
        ) from exc
    except RecursionError as exc:
        raise YamlError("document nested too deeply", 0, 0) from exc
    return value, walk.positions, walk.duplicates


def locate(text: str, pointer: KeyPath) -> tuple[int, int]:
    """(line, column), 1-based, of the value at ``pointer`` inside a JSON or YAML text.

    Used only when a problem must be reported, so files are not parsed twice on the happy path.
    Falls back to the nearest ancestor, and to (1, 1) when the text cannot be composed.
    """
    try:
        _value, positions, _dups = yaml_to_python(text)
    except (YamlError, ValueError):
        return (1, 1)
    key = tuple(pointer)
    while key:
        if key in positions:
            return positions[key]
        # JSON pointers carry list indexes as strings
        fixed = tuple(int(k) if isinstance(k, str) and k.isdigit() else k for k in key)
        if fixed in positions:
            return positions[fixed]
        key = key[:-1]
    return positions.get((), (1, 1))


# --- Markdown files -----------------------------------------------------------------------------


def parse_markdown(path: str, text: str) -> tuple[Document, list[Problem]]:
    """Split one page into frontmatter (with positions) and body; YAML errors become problems."""
    collections = classify(path)
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return Document(path, collections, {}, {(): (1, 1)}, text, 1, False), []
    close = next(
        (i for i in range(1, len(lines)) if lines[i].rstrip("\r\n").rstrip() == "---"), None
    )
    if close is None:
        problem = Problem(
            path,
            1,
            1,
            "error",
            "frontmatter/invalid-yaml",
            "frontmatter opened with '---' is never closed",
        )
        return Document(path, collections, None, {(): (1, 1)}, "", 1, True), [problem]
    yaml_text = "".join(lines[1:close])
    body = "".join(lines[close + 1 :])
    problems: list[Problem] = []
    try:
        value, positions, duplicates = yaml_to_python(yaml_text, line_offset=2)
    except YamlError as exc:
        problem = Problem(
            path, exc.line + 2, exc.column + 1, "error", "frontmatter/invalid-yaml", str(exc)
        )
        return Document(path, collections, None, {(): (1, 1)}, body, close + 2, True), [problem]
    for key_path, line, column in duplicates:
        dotted = ".".join(str(k) for k in key_path)
        problems.append(
            Problem(
                path,
                line,
                column,
                "error",
                "frontmatter/duplicate-key",
                f"key '{dotted}' appears twice (EventCatalog's YAML parser rejects duplicate keys)",
            )
        )
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.append(
            Problem(
                path,
                2,
                1,
                "error",
                "frontmatter/invalid-yaml",
                f"frontmatter is a {_yaml_type(value)}, not a mapping",
            )
        )
        return Document(path, collections, None, {(): (1, 1)}, body, close + 2, True), problems
    positions[()] = (1, 1)
    return Document(path, collections, value, positions, body, close + 2, True), problems


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


# --- side files ----------------------------------------------------------------------------------

_FORMATS = {
    ".json": "json",
    ".yml": "yaml",
    ".yaml": "yaml",
    ".avsc": "avro",
    ".avro": "avro",
    ".proto": "protobuf",
    ".sql": "sql",
    ".graphql": "graphql",
    ".gql": "graphql",
}


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", text))


def join(folder: str, relative: str) -> str | None:
    """Catalog-relative path of ``relative`` seen from ``folder``; None if it leaves the catalog."""
    if relative.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(folder, relative))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def _read_text(root: Path, path: str) -> str:
    # os.path, not pathlib: called for every file of the catalog
    with open(os.path.join(root, path), "rb") as handle:
        return handle.read().decode("utf-8-sig")


def _parse_side_file(path: str, text: str) -> SourceFile:
    fmt = _FORMATS.get(
        posixpath.splitext(path)[1].lower(), posixpath.splitext(path)[1].lstrip(".").lower()
    )
    if fmt in ("json", "avro"):
        try:
            return SourceFile(path, True, text, fmt, json.loads(text))
        except json.JSONDecodeError as exc:
            return SourceFile(
                path, True, text, fmt, None, f"not valid JSON: {exc.msg}", exc.lineno, exc.colno
            )
    if fmt == "yaml":
        try:
            data, _positions, _dups = yaml_to_python(text, positions=False)
        except YamlError as exc:
            return SourceFile(
                path, True, text, fmt, None, f"not valid YAML: {exc}", exc.line + 1, exc.column + 1
            )
        return SourceFile(path, True, text, fmt, data)
    return SourceFile(path, True, text, fmt)


def iter_refs(data: Any) -> Iterator[tuple[KeyPath, str]]:
    """Every ``$ref`` string in a JSON/YAML document with the key path of the object holding it."""
    stack: list[tuple[KeyPath, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield path, ref
            stack.extend(((*path, k), v) for k, v in node.items() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node) if isinstance(v, (dict, list)))


def ref_file(source_path: str, ref: str) -> str | None:
    """Catalog-relative file a ``$ref`` names, '' for a same-document ref, None for URLs/outside."""
    document = ref.split("#", 1)[0]
    if not document:
        return ""
    if _is_url(document) or urlsplit(document).scheme:
        return None
    return join(posixpath.dirname(source_path), unquote(document))


def referenced_paths(doc: Document) -> Iterator[tuple[KeyPath, str]]:
    """(key path, relative path) of every local file a page points to, as written."""
    fm = doc.frontmatter or {}
    if isinstance(fm.get("schemaPath"), str) and fm["schemaPath"].strip():
        yield ("schemaPath",), fm["schemaPath"]
    schemas = fm.get("schemas")
    if isinstance(schemas, list):
        for i, entry in enumerate(schemas):
            if not isinstance(entry, dict):
                continue
            for key in ("path", "file"):
                if isinstance(entry.get(key), str) and entry[key]:
                    yield ("schemas", i, key), entry[key]
            ref = entry.get("ref")
            if isinstance(ref, str) and ref.startswith("file://"):
                yield ("schemas", i, "ref"), ref[len("file://") :]
    specs = fm.get("specifications")
    if isinstance(specs, list):
        for i, spec in enumerate(specs):
            if (
                isinstance(spec, dict)
                and isinstance(spec.get("path"), str)
                and not _is_url(spec["path"])
            ):
                yield ("specifications", i, "path"), spec["path"]
    elif isinstance(specs, dict):
        for key in ("openapiPath", "asyncapiPath", "graphqlPath"):
            value = specs.get(key)
            if isinstance(value, str) and value and not _is_url(value):
                yield ("specifications", key), value


# --- the whole folder ----------------------------------------------------------------------------


@dataclass
class Loaded:
    """Everything read from one catalog folder."""

    root: Path
    documents: list[Document]
    files: dict[str, SourceFile]
    all_files: frozenset[str]
    config: dict[str, Any]
    problems: list[Problem]


def _scan(root: Path) -> list[str]:
    found: list[str] = []
    stack: list[tuple[str | Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if not (prefix == "" and entry.name in _SKIP_DIRS) and entry.name != "node_modules":
                    stack.append((entry.path, relative + "/"))
            elif entry.is_file():
                found.append(relative)
    return sorted(found)


_CONFIG_KEY = re.compile(
    r"""^\s*(cId|title|organizationName|homepageLink|tagline)\s*:\s*['"]([^'"]*)['"]""", re.M
)


def read_catalog(root: Path) -> Loaded:
    """Read every page and every file they point to, once."""
    all_files = _scan(root)
    present = frozenset(all_files)
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in all_files:
        if not path.endswith(_MARKDOWN):
            continue
        try:
            text = _read_text(root, path)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                Problem(path, 1, 1, "error", "files/unreadable", f"cannot read the file: {exc}")
            )
            documents.append(Document(path, classify(path), None))
            continue
        try:
            document, found = parse_markdown(path, text)
        except Exception as exc:  # never crash on one bad file
            problems.append(
                Problem(path, 1, 1, "error", "internal/error", f"{type(exc).__name__}: {exc}")
            )
            documents.append(Document(path, classify(path), None))
            continue
        documents.append(document)
        problems.extend(found)

    files: dict[str, SourceFile] = {}
    queue: list[str] = []
    for document in documents:
        folder = posixpath.dirname(document.path)
        for _key, relative in referenced_paths(document):
            target = join(folder, relative)
            if target is not None:
                queue.append(target)
        if "containers" in document.collections and posixpath.join(folder, "schema.sql") in present:
            queue.append(posixpath.join(folder, "schema.sql"))
    while queue:
        path = queue.pop()
        if path in files:
            continue
        if path not in present:
            files[path] = SourceFile(path, False, error="no such file")
            continue
        try:
            side = _parse_side_file(path, _read_text(root, path))
        except (OSError, UnicodeDecodeError) as exc:
            side = SourceFile(path, True, None, error=f"cannot read the file: {exc}")
        files[path] = side
        if side.data is not None and side.format in ("json", "yaml"):
            for _where, ref in iter_refs(side.data):
                target = ref_file(path, ref)
                if target:
                    queue.append(target)

    config: dict[str, Any] = {}
    if "eventcatalog.config.js" in present:
        try:
            config = dict(_CONFIG_KEY.findall(_read_text(root, "eventcatalog.config.js")))
        except (OSError, UnicodeDecodeError):
            config = {}
    return Loaded(root, documents, files, present, config, problems)
