"""Lint rules: everything EventCatalog 4.x's build rejects, what it silently drops, and what the
generator needs (safe ids, resolvable schemas, flows whose messages someone sends and receives).

Every problem is ``path:line:col: severity rule-id: message`` with the path relative to the catalog
root. A rule that crashes on a file becomes ``internal/error`` naming that file: lint never crashes.

Rules (id, severity: what it catches):

files/unreadable (error): a file cannot be read or is not UTF-8.
files/outside-catalog (error): a path in frontmatter (schemaPath, specifications) leaves the catalog
    folder.
internal/error (error): a rule failed on a file; the message names the exception. Please report it.
layout/not-loaded (error): an index.md(x) that no EventCatalog glob loads: grouped message, entity
    or service folders (``events/Orders/OrderCreated/index.mdx``), services outside the five allowed
    places.
layout/stray-index (error): an index file under flows/, systems/, channels/, containers/ or
    diagrams/ (loaded at any depth) without id, name and version: the build fails on it.
layout/multiple-collections (warning): a file loaded by two collections
    (``docs/events/x/index.mdx``).
frontmatter/invalid-yaml (error): the frontmatter is not valid YAML (reported at the YAML error's
    line), is never closed, or is not a mapping.
frontmatter/duplicate-key (error): a key written twice (js-yaml rejects it; PyYAML keeps the last).
frontmatter/missing-field (error): a required field is absent: id, name, version on every resource;
    steps on flows; status and date on ADRs; id and name on teams and users; title and summary on
    docs.
frontmatter/invalid-type (error): a known field has the wrong type or an unknown enum value; an
    empty value (YAML null) counts as wrong too, as in EventCatalog.
frontmatter/non-string-version (error): a version written as a YAML number (``version: 1.0``; 1.10
    even becomes 1.1). Quote it.
frontmatter/non-semver-version (warning): a version that is not ``MAJOR.MINOR.PATCH``: EventCatalog
    then sorts versions as strings (2 above 10) and ranges never match.
frontmatter/unknown-key (error): a top-level key the kind does not define and without an ``x-``
    prefix.
frontmatter/bare-x (error): the key ``x-`` alone (custom keys need a name after the prefix).
frontmatter/computed-field (warning): a field the build computes and overwrites (producers,
    consumers, messages on channels, services on containers, versions, latestVersion, owned*...).
frontmatter/missing-container-type (error): a container (data store) without container_type.
frontmatter/malformed-badge (error): a badge without content, backgroundColor or textColor.
frontmatter/relative-url (error): an attachment (or a flow node's url) that is not an absolute URL.
ids/unsafe (error): an id that is not safe as a Python module or file name; ids must match
    ``^[a-z][a-z0-9]*([-.][a-z0-9]+)*$`` (no path separators, '..', quotes, spaces or braces) and
    must not become a Python keyword (``class``, ``import``...).
ids/name-collision (error): two ids of one kind that become the same Python name
    (``order-created`` and ``order.created`` are both ``order_created``).
ids/unsafe-version (error): a version with characters other than letters, digits, '.', '+' and '-'.
ids/duplicate-version (error): two files with the same id and version in one collection (a
    duplicated folder or a root not bumped after copying it to versioned/): EventCatalog silently
    keeps one.
ids/duplicate-message-id (error): one id used by more than one of events, commands and queries (they
    share one namespace when pointers resolve).
ids/duplicate-owner (error): two team/user files with the same id (a team shadows a user).
ids/shared-across-kinds (warning): one id used by two kinds of resource (the SDK looks up by id
    only).
versions/root-not-latest (error): the page outside versioned/ is not the highest version, so
    EventCatalog's "latest" (highest) and "current" (root page) disagree.
refs/unknown-<kind> (error): a pointer to an id no resource of that kind has: message (sends,
    receives, triggers, flow steps), channel (to, from, routes), service, container (writesTo,
    readsFrom), entity (also entity property ``references``), system (also relationships), domain,
    flow, agent, data-product, diagram, adr, owner (owners, decisionMakers), user (team members),
    resource (typed resourceGroups/appliesTo items, data-product inputs/outputs).
refs/unresolved-version (error): the id exists but no version matches the pointer's version (exact,
    ``latest`` or a semver range such as ``^1.0.0``, ``~1.2.0``, ``1.x``, ``>=1 <2``).
flows/malformed-step (error): a flow step that is not a mapping or lacks id or title (or has a badly
    typed field).
flows/multiple-node-kinds (error): a step with more than one of message, service, agent, flow,
    container, dataProduct, actor, custom.
flows/next-step-and-next-steps (error): a step with both next_step and next_steps.
flows/numeric-step-id (warning): a numeric step id or next reference: numbers in next_steps are not
    normalised and their edges break. Use strings.
flows/unknown-next-step (error): next_step/next_steps names a step id the flow does not have.
flows/duplicate-step-id (error): two steps of one flow share an id.
flows/message-without-sender (error): a message a flow uses that no (latest) service, domain or
    agent sends.
flows/message-without-receiver (error): a message a flow uses that no (latest) service, domain or
    agent receives.
channels/no-channel (warning): a sends/receives entry without to/from: the generator then invents a
    subject ``<domain>.<kind>s.<message-id>``.
channels/unfilled-parameter (error): a to/from/route to a channel whose address has a ``{param}``
    the entry's parameters do not fill (and the channel declares no default for).
channels/unknown-parameter (error): a to/from/route parameter the channel neither declares nor uses
    in its address.
channels/parameter-not-in-enum (error): a parameter value outside the channel parameter's enum.
channels/undeclared-parameter (warning): a channel address placeholder missing from its parameters,
    or a declared parameter its address does not use.
channels/http-without-operation (warning): a message received from an http/https channel whose page
    has no ``operation`` (method, path, status codes).
messages/legacy-channels (warning): a message-level ``channels`` field: ``eventcatalog build``
    rewrites service files to move it into to/from.
schemas/no-schema (warning): a message without schemaPath or schemas: no typed model can be
    generated.
schemas/empty-path (error): ``schemaPath`` is empty.
schemas/missing-file (error): schemaPath (or a schemas entry) names a file that does not exist.
schemas/invalid-json (error): a schema file that is not valid JSON (or YAML), at the parser's
    position.
schemas/invalid-schema (error): a schema that is not valid for its ``$schema`` draft (metaschema
    errors, with a JSON pointer into the schema).
schemas/unknown-draft (warning): a ``$schema`` naming no known draft; it is checked as 2020-12.
schemas/not-json-schema (warning): a message schema in another format (Avro, Protobuf...): the
    generator cannot build a model from it.
schemas/unresolved-ref (error): a ``$ref`` (local JSON pointer, anchor, relative file, ``$id``) in a
    schema or specification that resolves to nothing.
schemas/remote-ref (warning): a ``$ref`` to a remote URL: not checked, and fetched at generation
    time.
specs/missing-file (error): a specification path that does not exist.
specs/invalid (error): a specification file that cannot be parsed or is not an OpenAPI/AsyncAPI
    document.
body/resource-ref-in-md (warning): ``[[type|id]]`` in a .md file: only .mdx renders it, .md shows
    the literal text.
body/dangling-resource-ref (warning): ``[[type|id]]`` in an .mdx body naming an unknown type or
    resource, or a version with more than digits and dots.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import keyword
import posixpath
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from generator import _fields
from generator._build import COLLECTION_KINDS, schema_format
from generator._load import join, locate, paused_gc, referenced_paths
from generator._model import Catalog, Document, KeyPath, Message, Resource, SourceFile
from generator._problems import Problem, Severity, sort_problems
from generator._resolve import compare_versions, valid_range

__all__ = ["RULES", "SAFE_ID", "Rule", "lint", "python_name"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    summary: str


def _rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    assert __doc__ is not None
    text = __doc__.split("Rules (id, severity: what it catches):", 1)[1]
    for match in re.finditer(r"^(\S+) \((error|warning)\): (.*?)(?=^\S|\Z)", text, re.M | re.S):
        summary = " ".join(match.group(3).split()).replace("``", "`")
        rule_id = match.group(1)
        if rule_id == "refs/unknown-<kind>":
            for kind in _REF_KINDS:
                rules.append(Rule(f"refs/unknown-{kind}", "error", summary))
            continue
        rules.append(Rule(rule_id, match.group(2), summary))  # type: ignore[arg-type]
    return tuple(rules)


_REF_KINDS = (
    "message",
    "channel",
    "service",
    "container",
    "entity",
    "system",
    "domain",
    "flow",
    "agent",
    "data-product",
    "diagram",
    "adr",
    "owner",
    "user",
    "resource",
)
#: every rule, parsed from this module's docstring (the single place they are documented)
RULES: tuple[Rule, ...] = _rules()
_SEVERITY = {rule.id: rule.severity for rule in RULES}

SAFE_ID = re.compile(r"^[a-z][a-z0-9]*(?:[-.][a-z0-9]+)*$")
SAFE_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+-]*$")
_DOTTED = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_NUM = r"(?:0|[1-9]\d*)"
STRICT_SEMVER = re.compile(rf"^{_NUM}\.{_NUM}\.{_NUM}(?:-{_DOTTED})?(?:\+{_DOTTED})?$")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_HTTP = frozenset({"http", "https"})
_ANY_DEPTH = ("channels", "flows", "containers", "diagrams", "systems")
_MESSAGE_COLLECTIONS = ("events", "commands", "queries")
_NODE_KINDS = ("message", "agent", "service", "flow", "container", "dataProduct", "actor", "custom")
_TYPE_KINDS = {
    "agent": "agent",
    "service": "service",
    "event": "event",
    "command": "event",
    "query": "event",
    "flow": "flow",
    "channel": "channel",
    "domain": "domain",
    "container": "container",
    "system": "system",
    "entity": "entity",
    "diagram": "diagram",
    "data-product": "data-product",
    "adr": "adr",
}

# Where pointers live, per collection: key path pattern ("*" = every list item) -> target.
_MESSAGING = [
    (("sends", "*"), "message"),
    (("sends", "*", "to", "*"), "channel"),
    (("receives", "*"), "message"),
    (("receives", "*", "from", "*"), "channel"),
    (("receives", "*", "triggers", "*"), "message"),
    (("writesTo", "*"), "container"),
    (("readsFrom", "*"), "container"),
    (("flows", "*"), "flow"),
]
_COMMON = [
    (("owners", "*"), "owner"),
    (("diagrams", "*"), "diagram"),
    (("resourceGroups", "*", "items", "*"), "typed"),
]
_POINTERS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "services": [*_MESSAGING, (("entities", "*"), "entity")],
    "agents": _MESSAGING,
    "domains": [
        *_MESSAGING,
        (("services", "*"), "service"),
        (("agents", "*"), "agent"),
        (("domains", "*"), "domain"),
        (("systems", "*"), "system"),
        (("entities", "*"), "entity"),
        (("data-products", "*"), "data-product"),
    ],
    "systems": [
        (("services", "*"), "service"),
        (("flows", "*"), "flow"),
        (("entities", "*"), "entity"),
        (("containers", "*"), "container"),
        (("relationships", "*"), "system"),
    ],
    "channels": [(("routes", "*"), "channel"), (("channels", "*"), "channel")],
    "events": [(("channels", "*"), "channel")],
    "commands": [(("channels", "*"), "channel")],
    "queries": [(("channels", "*"), "channel")],
    "flows": [
        (("steps", "*", "message"), "message"),
        (("steps", "*", "service"), "service"),
        (("steps", "*", "agent"), "agent"),
        (("steps", "*", "flow"), "flow"),
        (("steps", "*", "container"), "container"),
        (("steps", "*", "dataProduct"), "data-product"),
    ],
    "adrs": [
        (("decisionMakers", "*"), "owner"),
        (("appliesTo", "*"), "typed"),
        (("supersedes", "*"), "adr"),
        (("supersededBy", "*"), "adr"),
        (("amends", "*"), "adr"),
        (("amendedBy", "*"), "adr"),
        (("related", "*"), "adr"),
    ],
    "data-products": [(("inputs", "*"), "any"), (("outputs", "*"), "any")],
    "teams": [(("members", "*"), "user")],
}


def _walk(node: Any, pattern: tuple[str, ...], path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    if not pattern:
        yield path, node
        return
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _walk(item, rest, (*path, i))
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest, (*path, head))


def _kind_label(kind: str) -> str:
    return "message" if kind in ("event", "command", "query") else kind


class _Context:
    """State shared by the rules of one lint run, with lazily built lookup tables."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.index = catalog.index
        self.problems: list[Problem] = list(catalog.problems)
        self._files_done: set[str] = set()
        # (base URI, fragment) pairs that resolve: documents repeat their local references
        self._resolved: set[tuple[str, str]] = set()
        # body references already judged (the catalog does not change during one lint)
        self.dangling: dict[tuple[str, str], str | None] = {}

    # -- reporting -----------------------------------------------------------------------------
    def report(self, rule: str, path: str, position: tuple[int, int], message: str) -> None:
        self.problems.append(
            Problem(path, position[0], position[1], _SEVERITY[rule], rule, message)
        )

    def at(self, doc: Document, rule: str, key: KeyPath, message: str) -> None:
        self.report(rule, doc.path, doc.position(*key), message)

    def guarded(self, path: str, name: str, check: Callable[[], None]) -> None:
        """Run one check; an unexpected exception becomes `internal/error` naming ``path``."""
        try:
            check()
        except Exception as exc:
            self.report(
                "internal/error", path, (1, 1), f"{name} failed: {type(exc).__name__}: {exc}"
            )

    # -- lookup tables ---------------------------------------------------------------------------
    @cached_property
    def owner_ids(self) -> frozenset[str]:
        return frozenset(o.id for o in (*self.catalog.teams, *self.catalog.users))

    @cached_property
    def user_ids(self) -> frozenset[str]:
        return frozenset(u.id for u in self.catalog.users)

    @cached_property
    def kinds_by_id(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for resource in self.catalog.resources():
            found.setdefault(resource.id, set()).add(_kind_label(resource.kind))
        return found

    @cached_property
    def by_collection_key(self) -> dict[tuple[str, str, str], list[str]]:
        """(collection, id, version) -> paths; (collection, id, "") for teams and users."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for doc in self.catalog.documents:
            fm = doc.frontmatter
            if not fm or not isinstance(fm.get("id"), str):
                continue
            for collection in doc.collections:
                if collection in COLLECTION_KINDS:
                    version = fm.get("version")
                    key = (
                        collection,
                        fm["id"],
                        version if isinstance(version, str) else str(version),
                    )
                elif collection in ("teams", "users"):
                    key = ("owners", fm["id"], "")
                else:
                    continue
                groups.setdefault(key, []).append(doc.path)
        return groups

    @cached_property
    def python_names(self) -> dict[tuple[str, str], set[str]]:
        """(kind namespace, snake_case name) -> ids that produce it."""
        names: dict[tuple[str, str], set[str]] = {}
        for collection, ident, _version in self.by_collection_key:
            kind = _kind_label(COLLECTION_KINDS.get(collection, "owner"))
            names.setdefault((kind, python_name(ident)), set()).add(ident)
        return names

    @cached_property
    def message_collections(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for (collection, id_, _version), _paths in self.by_collection_key.items():
            if collection in _MESSAGE_COLLECTIONS:
                found.setdefault(id_, set()).add(collection)
        return found

    def _latest_users(self) -> Iterator[Resource]:
        for resource in (*self.catalog.services, *self.catalog.domains, *self.catalog.agents):
            if self.index.latest(resource.kind, resource.id) is resource:
                yield resource

    def _message_users(self, key: str) -> dict[tuple[str, str], list[str]]:
        found: dict[tuple[str, str], list[str]] = {}
        for resource in self._latest_users():
            for _path, use in _walk(dict(resource.frontmatter), (key, "*")):
                if isinstance(use, dict) and isinstance(use.get("id"), str):
                    message = self.index.resolve("event", use["id"], _opt_version(use))
                    if message is not None:
                        found.setdefault((message.id, message.version), []).append(resource.id)
        return found

    @cached_property
    def senders(self) -> dict[tuple[str, str], list[str]]:
        return self._message_users("sends")

    @cached_property
    def receivers(self) -> dict[tuple[str, str], list[str]]:
        return self._message_users("receives")

    @cached_property
    def doc_paths(self) -> frozenset[str]:
        return frozenset(d.path for d in self.catalog.documents)

    # -- shared checks -----------------------------------------------------------------------------
    def resolve_pointer(
        self, doc: Document, path: KeyPath, kind: str, value: Any
    ) -> Resource | None:
        """Check one ``{id, version?}`` pointer; report when it resolves to nothing."""
        if isinstance(value, str):
            value = {"id": value}
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            return None  # malformed: the frontmatter rules report it
        ident, version = value["id"], _opt_version(value)
        found = self.index.lookup(kind, ident, version)
        if found.resource is not None:
            return found.resource
        label = _kind_label(kind)
        if found.known_id:
            why = (
                ""
                if version is None or valid_range(version)
                else f" ('{version}' is neither a version nor a semver range)"
            )
            self.at(
                doc,
                "refs/unresolved-version",
                path,
                f"{label} '{ident}' has no version matching '{version}'{why}; "
                f"versions: {', '.join(found.versions)}",
            )
            return None
        others = sorted(self.kinds_by_id.get(ident, set()) - {label})
        hint = (
            f" (a {' and a '.join(others)} has that id)" if others else self._suggest(kind, ident)
        )
        self.at(doc, f"refs/unknown-{label}", path, f"no {label} with id '{ident}'{hint}")
        return None

    def _suggest(self, kind: str, ident: str) -> str:
        close = difflib.get_close_matches(ident, self.index.ids(kind), n=1, cutoff=0.85)
        return f"; did you mean '{close[0]}'?" if close else ""

    @cached_property
    def _registry(self) -> Any:
        from referencing import Registry, Resource, Specification
        from referencing.jsonschema import DRAFT202012

        pairs = []
        for path, source in self.catalog.files.items():
            if source.data is None or source.format not in ("json", "yaml"):
                continue
            contents = source.data
            if isinstance(contents, dict) and not isinstance(contents.get("$id", ""), str):
                contents = {k: v for k, v in contents.items() if k != "$id"}  # invalid-schema tells
            try:
                if isinstance(contents, dict) and ("openapi" in contents or "asyncapi" in contents):
                    resource = Specification.OPAQUE.create_resource(contents)
                else:
                    resource = Resource.from_contents(contents, default_specification=DRAFT202012)
            except Exception:
                resource = Specification.OPAQUE.create_resource(contents)
            pairs.append((_uri(path), resource))
        registry = Registry().with_resources(pairs)
        try:
            return registry.crawl()
        except Exception:
            return registry

    def check_refs_in_file(self, source: SourceFile, *, schema: bool) -> None:
        """Every ``$ref`` of one JSON/YAML file must resolve (reported once per file)."""
        key = f"refs:{source.path}"
        if key in self._files_done or source.data is None or source.text is None:
            return
        self._files_done.add(key)
        from referencing.exceptions import Unresolvable

        base_uri = _uri(source.path)
        resolvers: dict[str, Any] = {}
        for where, base, ref in _refs_with_base(source.data, base_uri, schema=schema):
            resolver = resolvers.get(base)
            if resolver is None:
                resolver = resolvers[base] = self._registry.resolver(base_uri=base)
            if ref.startswith("#"):
                # Fast path: a fragment joins with any base without error, so the URL parsing
                # below only matters for the message; a failure takes the full path again.
                if (base, ref) in self._resolved:
                    continue
                try:
                    resolver.lookup(ref)
                    self._resolved.add((base, ref))
                    continue
                except Exception:  # reported below, by the full path, with the same outcome
                    pass
            target = scheme = ""
            try:
                target = urljoin(base, ref)
                scheme = urlsplit(target).scheme
                self._registry.resolver(base_uri=base).lookup(ref)
            except Unresolvable as exc:
                position = locate(source.text, (*where, "$ref"))
                if scheme in ("http", "https"):
                    self.report(
                        "schemas/remote-ref",
                        source.path,
                        position,
                        f"$ref '{ref}' points to a remote document; it is not checked",
                    )
                    continue
                self.report(
                    "schemas/unresolved-ref",
                    source.path,
                    position,
                    _unresolved(ref, target, exc, self.catalog),
                )
            # malformed URIs and pointers (e.g. "#/a/~2") raise other errors
            except Exception as exc:
                position = locate(source.text, (*where, "$ref"))
                self.report(
                    "schemas/unresolved-ref",
                    source.path,
                    position,
                    f"$ref '{ref}' is malformed: {exc}",
                )

    def check_schema_file(self, source: SourceFile) -> None:
        """A message's schema file: parseable, valid for its draft, every $ref resolvable."""
        key = f"schema:{source.path}"
        if key in self._files_done:
            return
        self._files_done.add(key)
        if source.error is not None:
            rule = (
                "schemas/invalid-json"
                if source.exists and source.text is not None
                else "files/unreadable"
            )
            self.report(rule, source.path, (source.error_line, source.error_column), source.error)
            return
        fmt = schema_format(source.path)
        if fmt not in ("jsonschema", "yaml"):
            return
        data = source.data
        if isinstance(data, bool):
            return
        if not isinstance(data, dict):
            self.report(
                "schemas/invalid-schema",
                source.path,
                (1, 1),
                "a JSON Schema must be an object (or true/false)",
            )
            return
        _check_metaschema(self, source, data)
        self.check_refs_in_file(source, schema=True)

    def check_spec_file(self, source: SourceFile, spec_type: str) -> None:
        key = f"spec:{source.path}"
        if key in self._files_done:
            return
        self._files_done.add(key)
        if source.error is not None:
            self.report(
                "specs/invalid", source.path, (source.error_line, source.error_column), source.error
            )
            return
        if spec_type == "graphql" or source.format not in ("json", "yaml"):
            return
        data = source.data
        marker = {"openapi": ("openapi", "swagger"), "asyncapi": ("asyncapi",)}.get(spec_type, ())
        if not isinstance(data, dict) or not any(isinstance(data.get(m), str) for m in marker):
            self.report(
                "specs/invalid",
                source.path,
                (1, 1),
                f"not an {spec_type} document: no '{marker[0]}' version field at the top"
                if marker
                else "not a mapping",
            )
            return
        self.check_refs_in_file(source, schema=False)


def _opt_version(value: Mapping[str, Any]) -> str | None:
    version = value.get("version")
    if version is None:
        return None
    return version if isinstance(version, str) else str(version)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _uri(path: str) -> str:
    return "file:///" + quote(path)


def _unresolved(ref: str, target: str, exc: Exception, catalog: Catalog) -> str:
    from referencing.exceptions import NoSuchAnchor, PointerToNowhere

    document = target.split("#", 1)[0]
    if isinstance(exc, PointerToNowhere):
        return f"$ref '{ref}' points to nothing: '{exc.ref}' does not exist in the target document"
    if isinstance(exc, NoSuchAnchor):
        return f"$ref '{ref}' names an anchor '{exc.anchor}' that no schema declares"
    if document.startswith("file:///"):
        from urllib.parse import unquote

        path = unquote(document[len("file:///") :])
        source = catalog.files.get(path)
        if source is not None and source.exists and source.data is None:
            return f"$ref '{ref}' points to {path}, which cannot be parsed"
        return f"$ref '{ref}' points to {path}, which does not exist"
    return f"$ref '{ref}' resolves to '{target}', which is no known document or $id"


_DATA_KEYWORDS = frozenset({"enum", "const", "default", "example"})


def _refs_with_base(data: Any, base: str, *, schema: bool) -> Iterator[tuple[KeyPath, str, str]]:
    """(key path of the object, base URI, ref) for every ``$ref``; ``$id`` moves the base."""
    skip = _DATA_KEYWORDS | ({"examples"} if schema else set())
    stack: list[tuple[KeyPath, str, Any]] = [((), base, data)]
    while stack:
        path, current, node = stack.pop()
        if isinstance(node, dict):
            if schema and isinstance(node.get("$id"), str):
                with contextlib.suppress(ValueError):  # a malformed $id keeps the base
                    current = urljoin(current, node["$id"])
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield path, current, ref
            for key, value in node.items():
                if key not in skip and isinstance(value, (dict, list)):
                    stack.append(((*path, key), current, value))
        elif isinstance(node, list):
            stack.extend(
                ((*path, i), current, v) for i, v in enumerate(node) if isinstance(v, (dict, list))
            )


_META_VALIDATORS: dict[type, Any] = {}
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/"
_VOCABULARY_TOP = ("$dynamicAnchor", "$id", "$schema", "$vocabulary", "$defs", "allOf")


def _flatten_ref(node: Any) -> Any:
    if isinstance(node, list):
        return [_flatten_ref(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if isinstance(node.get("$dynamicRef"), str):  # the keyword, not a property named so
        del node["$dynamicRef"]
        node["$ref"] = "#"
    ref = node.get("$ref")
    if isinstance(ref, str) and "#/$defs/" in ref:
        node["$ref"] = "#/$defs/" + ref.split("#/$defs/", 1)[1]
    return {k: _flatten_ref(v) for k, v in node.items()}


def flat_2020_12_metaschema() -> dict[str, Any]:
    """The 2020-12 metaschema as one document without ``$dynamicRef``.

    Its vocabularies are inlined and ``$dynamicRef: "#meta"`` becomes ``$ref: "#"``, which is the
    same thing when no custom vocabulary extends it; checking the catalog's schemas gets ~3x
    faster. A test holds its verdicts equal to the real metaschema's.
    """
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped]

    root = _validators().Draft202012Validator.META_SCHEMA
    vocabularies = [REGISTRY[_DRAFT_2020_12 + part["$ref"]].contents for part in root["allOf"]]

    def body(schema: dict[str, Any]) -> Any:
        return _flatten_ref({k: v for k, v in schema.items() if k not in _VOCABULARY_TOP})

    defs = {
        name: _flatten_ref(definition)
        for vocabulary in vocabularies
        for name, definition in vocabulary.get("$defs", {}).items()
    }
    return {
        "$schema": _DRAFT_2020_12 + "schema",
        "$id": "urn:generator:flat-2020-12-metaschema",
        **body(root),
        "allOf": [body(v) for v in vocabularies],
        "$defs": defs,
    }


def _validators() -> Any:
    import jsonschema.validators

    return jsonschema.validators


def _meta_validator(cls: Any) -> Any:
    validators = _validators()
    meta = _META_VALIDATORS.get(cls)
    if meta is None:
        if cls is validators.Draft202012Validator:
            meta = cls(flat_2020_12_metaschema())
        else:
            meta = validators.validator_for(cls.META_SCHEMA)(cls.META_SCHEMA)
        _META_VALIDATORS[cls] = meta
    return meta


# (key path, message) of the first metaschema errors, or the text of the exception that stopped
# the check.
_Verdict = tuple[tuple[tuple[KeyPath, str], ...], str | None]
# Verdicts by (validator class, schema file text or repr of the schema): copies of one schema
# (versioned folders, large catalogs made of similar services) are validated once. repr keeps
# 1, 1.0, True and "1" apart, and dict order, so equal keys mean identical input.
_META_VERDICTS: dict[tuple[type, str, str], _Verdict] = {}


def _metaschema_verdict(cls: Any, data: dict[str, Any], text: str | None = None) -> _Verdict:
    # The file's text when known (it parses to `data`, so equal texts mean equal schemas, and
    # hashing it is cheaper than writing the repr), else the repr.
    key = (cls, "text", text) if text is not None else (cls, "repr", repr(data))
    verdict = _META_VERDICTS.get(key)
    if verdict is None:
        try:
            errors = sorted(
                _meta_validator(cls).iter_errors(data),
                key=lambda e: list(map(str, e.absolute_path)),
            )
            found = tuple((tuple(e.absolute_path), str(e.message)) for e in errors[:20])
            verdict = (found, None)
        except Exception as exc:  # jsonschema itself trips over some broken schemas
            verdict = ((), str(exc))
        _META_VERDICTS[key] = verdict
    return verdict


def _check_metaschema(ctx: _Context, source: SourceFile, data: dict[str, Any]) -> None:
    validators = _validators()
    latest = validators.Draft202012Validator
    declared = data.get("$schema")
    cls = validators.validator_for(data, default=None) if isinstance(declared, str) else latest
    if cls is None:
        ctx.report(
            "schemas/unknown-draft",
            source.path,
            locate(source.text or "", ("$schema",)),
            f"$schema '{declared}' is no draft this linter knows; checked as 2020-12",
        )
        cls = latest
    errors, failure = _metaschema_verdict(cls, data, source.text)
    if failure is not None:
        position = (1, 1)
        ctx.report("schemas/invalid-schema", source.path, position, f"cannot be checked: {failure}")
        return
    for path, text in errors:
        pointer = "/" + "/".join(str(p) for p in path)
        message = text if len(text) <= 160 else text[:157] + "..."
        position = locate(source.text or "", path)
        ctx.report("schemas/invalid-schema", source.path, position, f"{pointer}: {message}")


# --- rules per document --------------------------------------------------------------------------


def _resource_collections(doc: Document) -> list[str]:
    return [c for c in doc.collections if c in COLLECTION_KINDS]


def _is_stray(doc: Document, collection: str) -> bool:
    fm = doc.frontmatter or {}
    return collection in _ANY_DEPTH and not any(k in fm for k in ("id", "name", "version"))


def check_layout(ctx: _Context, doc: Document) -> None:
    """layout/*: files EventCatalog never loads, stray index files, files loaded twice."""
    name = posixpath.basename(doc.path)
    if not doc.collections and name in ("index.md", "index.mdx"):
        ctx.at(
            doc,
            "layout/not-loaded",
            (),
            f"EventCatalog never loads this file: {_layout_hint(doc.path)}",
        )
    resource = _resource_collections(doc)
    for collection in resource:
        if doc.frontmatter is not None and _is_stray(doc, collection):
            ctx.at(
                doc,
                "layout/stray-index",
                (),
                f"every index file below {collection}/ is loaded as a "
                f"{COLLECTION_KINDS[collection]} "
                "and needs id, name and version; give it frontmatter or move it",
            )
    loaded_by = resource + [c for c in doc.collections if c == "docs"]
    if len(loaded_by) > 1:
        ctx.at(
            doc,
            "layout/multiple-collections",
            (),
            f"loaded as {' and as '.join(loaded_by)}; move it to one place",
        )


def _layout_hint(path: str) -> str:
    parts = path.split("/")[:-1]
    for kind in ("events", "commands", "queries", "entities", "agents", "adrs", "data-products"):
        if kind in parts:
            return (
                f"{kind} load only from '{kind}/<folder>/index.mdx' (or its versioned/<v>/): "
                "folders cannot be grouped"
            )
    if "services" in parts:
        return (
            "services load only from services/*/, domains/*/services/*/, "
            "domains/*/subdomains/*/services/*/, systems/*/services/*/ and "
            "domains/*/systems/*/services/*/"
        )
    if "domains" in parts:
        return "domains load only from domains/*/ and domains/*/subdomains/*/"
    return "no EventCatalog collection matches this path"


def check_frontmatter(ctx: _Context, doc: Document) -> None:
    """frontmatter/*: required fields, types, unknown and computed keys, version strings."""
    fm = doc.frontmatter
    if fm is None:
        return
    for collection in doc.collections:
        shape = _fields.SHAPES.get(collection)
        if shape is None:
            continue
        is_resource = collection in COLLECTION_KINDS
        if is_resource and _is_stray(doc, collection):
            continue  # reported once as layout/stray-index
        if is_resource and not doc.has_frontmatter:
            ctx.at(
                doc,
                "frontmatter/missing-field",
                (),
                f"no frontmatter: a page loaded as {collection} needs id, name and version",
            )
            continue
        for issue in _fields.check(collection, fm):
            ctx.at(doc, issue.rule, issue.path, issue.message)
        if collection in _fields.STRICT:
            for key in fm:
                if key == "x-":
                    ctx.at(doc, "frontmatter/bare-x", (key,), "'x-' needs a name: write x-<name>")
                elif (
                    not (isinstance(key, str) and key.startswith("x-")) and key not in shape.fields
                ):
                    close = difflib.get_close_matches(
                        str(key), list(shape.fields), n=1, cutoff=0.75
                    )
                    hint = (
                        f"; did you mean '{close[0]}'?"
                        if close
                        else "; custom keys must start with 'x-'"
                    )
                    ctx.at(
                        doc,
                        "frontmatter/unknown-key",
                        (key,),
                        f"unknown key '{key}' for {collection}{hint}",
                    )
        for key in _fields.COMPUTED.get(collection, ()):
            if key in fm:
                ctx.at(
                    doc,
                    "frontmatter/computed-field",
                    (key,),
                    f"'{key}' is computed by the build and overwritten; remove it",
                )
        version = fm.get("version")
        if is_resource and isinstance(version, str) and not STRICT_SEMVER.match(version):
            ctx.at(
                doc,
                "frontmatter/non-semver-version",
                ("version",),
                f"version '{version}' is not semver MAJOR.MINOR.PATCH",
            )


def check_ids(ctx: _Context, doc: Document) -> None:
    """ids/* and versions/*: safe ids and versions, duplicates, the root at the highest version."""
    fm = doc.frontmatter
    if not fm or not isinstance(fm.get("id"), str):
        return
    ident = fm["id"]
    collections = [c for c in doc.collections if c in COLLECTION_KINDS or c in ("teams", "users")]
    if not collections:
        return
    if not SAFE_ID.match(ident) or keyword.iskeyword(python_name(ident)):
        ctx.at(
            doc,
            "ids/unsafe",
            ("id",),
            f"id '{ident}' is not safe as a Python or file name: {_why_unsafe(ident)}",
        )
    else:
        for collection in collections:
            namespace = _kind_label(COLLECTION_KINDS.get(collection, "owner"))
            clashes = ctx.python_names.get((namespace, python_name(ident)), set()) - {ident}
            if clashes:
                ctx.at(
                    doc,
                    "ids/name-collision",
                    ("id",),
                    f"id '{ident}' and {', '.join(repr(c) for c in sorted(clashes))} both become "
                    f"the Python name '{python_name(ident)}'",
                )
    version = fm.get("version")
    if isinstance(version, str) and version and not SAFE_VERSION.match(version):
        ctx.at(
            doc,
            "ids/unsafe-version",
            ("version",),
            f"version '{version}' may only hold letters, digits, '.', '+' and '-'",
        )
    for collection in collections:
        if collection in ("teams", "users"):
            others = [
                p for p in ctx.by_collection_key.get(("owners", ident, ""), []) if p != doc.path
            ]
            if others:
                ctx.at(
                    doc,
                    "ids/duplicate-owner",
                    ("id",),
                    f"owner id '{ident}' is also defined in {', '.join(others)}",
                )
            continue
        key = (collection, ident, version if isinstance(version, str) else str(version))
        others = [p for p in ctx.by_collection_key.get(key, []) if p != doc.path]
        if others and version is not None:  # without a version, missing-field already says so
            ctx.at(
                doc,
                "ids/duplicate-version",
                ("version",) if "version" in fm else ("id",),
                f"{COLLECTION_KINDS[collection]} '{ident}' version '{key[2]}' is also defined "
                f"in {', '.join(others)}; EventCatalog silently keeps only one",
            )
        kinds = ctx.message_collections.get(ident, set())
        if collection in _MESSAGE_COLLECTIONS and len(kinds) > 1:
            ctx.at(
                doc,
                "ids/duplicate-message-id",
                ("id",),
                f"message id '{ident}' is used by {' and '.join(sorted(kinds))}; "
                "message ids share one namespace",
            )
        shared = ctx.kinds_by_id.get(ident, set()) - {_kind_label(COLLECTION_KINDS[collection])}
        if shared:
            ctx.at(
                doc,
                "ids/shared-across-kinds",
                ("id",),
                f"id '{ident}' is also used by a {' and a '.join(sorted(shared))}",
            )
        _check_root_is_latest(ctx, doc, collection, ident, version)


def python_name(ident: str) -> str:
    """The snake_case name generated code gives an id (``order-created`` -> ``order_created``)."""
    return re.sub(r"[-.]", "_", ident)


def _why_unsafe(ident: str) -> str:
    if SAFE_ID.match(ident):
        return f"'{python_name(ident)}' is a Python keyword"
    if "/" in ident or "\\" in ident or ".." in ident:
        return "it contains a path separator or '..'"
    if any(c in ident for c in "'\"`"):
        return "it contains a quote"
    if any(c.isspace() for c in ident):
        return "it contains whitespace"
    if ident != ident.lower():
        return "use lower case (kebab-case, e.g. 'order-created')"
    odd = sorted({c for c in ident if not (c.isascii() and (c.isalnum() or c in "-."))})
    rule = (
        "use lower-case letters and digits separated by single '-' or '.', starting with a letter"
    )
    return f"it contains {' '.join(repr(c) for c in odd)}; {rule}" if odd else rule


def _check_root_is_latest(
    ctx: _Context, doc: Document, collection: str, ident: str, version: Any
) -> None:
    if doc.is_historical or not isinstance(version, str):
        return
    kind = COLLECTION_KINDS[collection]
    same_kind = [r for r in ctx.index.versions(kind, ident) if r.kind == kind]
    if not same_kind:
        return
    highest = same_kind[0]
    if compare_versions(highest.version, version) > 0:
        ctx.at(
            doc,
            "versions/root-not-latest",
            ("version",),
            f"this root page has version '{version}' but {highest.source.path} has "
            f"'{highest.version}': "
            "EventCatalog's latest is the highest version while its lists show the root page",
        )


def check_refs(ctx: _Context, doc: Document) -> None:
    """refs/*: every pointer resolves (id exists, version matches), owners and users exist."""
    fm = doc.frontmatter
    if not fm:
        return
    for collection in doc.collections:
        specs = list(_POINTERS.get(collection, []))
        if collection in COLLECTION_KINDS:
            specs += _COMMON
        for pattern, target in specs:
            for path, value in _walk(dict(fm), pattern):
                _check_pointer(ctx, doc, path, target, value)
        if collection == "entities":
            _check_entity_references(ctx, doc, fm.get("properties"), ("properties",))


def _check_pointer(ctx: _Context, doc: Document, path: KeyPath, target: str, value: Any) -> None:
    if target in ("owner", "user"):
        ident = (
            value
            if isinstance(value, str)
            else value.get("id")
            if isinstance(value, dict)
            else None
        )
        known = ctx.owner_ids if target == "owner" else ctx.user_ids
        if isinstance(ident, str) and ident not in known:
            what = "team or user" if target == "owner" else "user"
            ctx.at(doc, f"refs/unknown-{target}", path, f"no {what} with id '{ident}'")
        return
    if target == "typed":
        kind = value.get("type") if isinstance(value, dict) else None
        if kind in ("user", "team"):
            _check_pointer(ctx, doc, path, "owner", value)
        elif isinstance(kind, str) and kind in _TYPE_KINDS:
            ctx.resolve_pointer(doc, path, _TYPE_KINDS[kind], value)
        return
    if target == "any":
        if (
            isinstance(value, dict)
            and isinstance(value.get("id"), str)
            and value["id"] not in ctx.kinds_by_id
        ):
            ctx.at(doc, "refs/unknown-resource", path, f"no resource with id '{value['id']}'")
        return
    ctx.resolve_pointer(doc, path, "event" if target == "message" else target, value)


def _check_entity_references(ctx: _Context, doc: Document, props: Any, path: KeyPath) -> None:
    if not isinstance(props, list):
        return
    for i, prop in enumerate(props):
        if not isinstance(prop, dict):
            continue
        ref = prop.get("references")
        if isinstance(ref, str) and not ctx.index.versions("entity", ref):
            ctx.at(
                doc, "refs/unknown-entity", (*path, i, "references"), f"no entity with id '{ref}'"
            )
        _check_entity_references(ctx, doc, prop.get("properties"), (*path, i, "properties"))
        items = prop.get("items")
        if isinstance(items, dict):
            _check_entity_references(
                ctx, doc, items.get("properties"), (*path, i, "items", "properties")
            )


def check_flows(ctx: _Context, doc: Document) -> None:
    """flows/*: step structure, links between steps, and messages nobody sends or receives."""
    fm = doc.frontmatter
    if not fm or "flows" not in doc.collections or not isinstance(fm.get("steps"), list):
        return
    steps = fm["steps"]
    seen: dict[str, int] = {}
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue  # flows/malformed-step comes from the field shapes
        step_id = step.get("id")
        if isinstance(step_id, (int, float)) and not isinstance(step_id, bool):
            ctx.at(
                doc,
                "flows/numeric-step-id",
                ("steps", i, "id"),
                f"step id {step_id!r} is a number; quote it",
            )
        if step_id is not None:
            if str(step_id) in seen:
                ctx.at(
                    doc,
                    "flows/duplicate-step-id",
                    ("steps", i, "id"),
                    f"step id '{step_id}' is used twice in this flow",
                )
            seen.setdefault(str(step_id), i)
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        kinds = [k for k in _NODE_KINDS if step.get(k)]
        if len(kinds) > 1:
            ctx.at(
                doc,
                "flows/multiple-node-kinds",
                ("steps", i),
                f"a step may be one node kind only, this one has {', '.join(kinds)}",
            )
        if step.get("next_step") and step.get("next_steps"):
            ctx.at(
                doc,
                "flows/next-step-and-next-steps",
                ("steps", i),
                "use next_step or next_steps, not both",
            )
        links: list[tuple[KeyPath, Any]] = []
        if step.get("next_step") is not None:
            links.append((("steps", i, "next_step"), step["next_step"]))
        if isinstance(step.get("next_steps"), list):
            links += [(("steps", i, "next_steps", j), v) for j, v in enumerate(step["next_steps"])]
        for path, link in links:
            target = link.get("id") if isinstance(link, dict) else link
            if isinstance(target, (int, float)) and not isinstance(target, bool):
                ctx.at(
                    doc,
                    "flows/numeric-step-id",
                    path,
                    f"next step {target!r} is a number; quote it (numeric links break)",
                )
            if (
                isinstance(target, (str, int, float))
                and not isinstance(target, bool)
                and str(target) not in seen
            ):
                ctx.at(
                    doc, "flows/unknown-next-step", path, f"no step with id '{target}' in this flow"
                )
        if not doc.is_historical:
            _check_flow_message(ctx, doc, i, step.get("message"))


def _check_flow_message(ctx: _Context, doc: Document, i: int, pointer: Any) -> None:
    if not isinstance(pointer, dict) or not isinstance(pointer.get("id"), str):
        return
    message = ctx.index.resolve("event", pointer["id"], _opt_version(pointer))
    if message is None:
        return  # refs/* reports it
    key = (message.id, message.version)
    label = f"{message.kind} '{message.id}' {message.version}"
    if not ctx.senders.get(key):
        ctx.at(
            doc,
            "flows/message-without-sender",
            ("steps", i, "message"),
            f"{label} is used by this flow but nothing sends it",
        )
    if not ctx.receivers.get(key):
        ctx.at(
            doc,
            "flows/message-without-receiver",
            ("steps", i, "message"),
            f"{label} is used by this flow but nothing receives it",
        )


def _check_channel_entry(
    ctx: _Context, doc: Document, path: KeyPath, entry: Any
) -> Resource | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return None
    channel = ctx.index.resolve("channel", entry["id"], _opt_version(entry))
    if channel is None:
        return None
    cfm = channel.frontmatter
    address = _text(cfm.get("address"))
    declared = _mapping(cfm.get("parameters"))
    given = _mapping(entry.get("parameters"))
    placeholders = _PLACEHOLDER.findall(address)
    for name in placeholders:
        spec = declared.get(name)
        has_default = isinstance(spec, dict) and spec.get("default") is not None
        if name not in given and not has_default:
            ctx.at(
                doc,
                "channels/unfilled-parameter",
                path,
                f"channel '{channel.id}' has address '{address}': give parameters: {{{name}: ...}}",
            )
    for name, value in given.items():
        if name not in placeholders and name not in declared:
            ctx.at(
                doc,
                "channels/unknown-parameter",
                (*path, "parameters", name),
                f"channel '{channel.id}' has no parameter '{name}'",
            )
            continue
        spec = declared.get(name)
        allowed = spec.get("enum") if isinstance(spec, dict) else None
        if isinstance(allowed, list) and allowed and value not in allowed:
            ctx.at(
                doc,
                "channels/parameter-not-in-enum",
                (*path, "parameters", name),
                f"'{value}' is not one of {', '.join(map(str, allowed))} "
                f"for parameter '{name}' of channel '{channel.id}'",
            )
    return channel


def check_channels(ctx: _Context, doc: Document) -> None:
    """channels/* and messages/legacy-channels: parameters, missing channels, HTTP operations."""
    fm = doc.frontmatter
    if not fm:
        return
    collections = set(doc.collections)
    if collections & {"services", "domains", "agents"}:
        for key, channel_key in (("sends", "to"), ("receives", "from")):
            for path, use in _walk(dict(fm), (key, "*")):
                if not isinstance(use, dict) or not isinstance(use.get("id"), str):
                    continue
                message = ctx.index.resolve("event", use["id"], _opt_version(use))
                legacy = isinstance(message, Message) and bool(message.channels)
                entries = use.get(channel_key)
                if not entries and not legacy:
                    ctx.at(
                        doc,
                        "channels/no-channel",
                        path,
                        f"{key[:-1]} of '{use['id']}' names no channel ({channel_key}); "
                        "the generator will invent a subject",
                    )
                http = False
                for j, entry in enumerate(entries if isinstance(entries, list) else []):
                    channel = _check_channel_entry(ctx, doc, (*path, channel_key, j), entry)
                    protocols = (
                        channel.frontmatter.get("protocols") if channel is not None else None
                    )
                    http = http or (
                        isinstance(protocols, list) and bool(_HTTP & set(map(str, protocols)))
                    )
                if (
                    key == "receives"
                    and http
                    and message is not None
                    and not message.frontmatter.get("operation")
                ):
                    ctx.at(
                        doc,
                        "channels/http-without-operation",
                        path,
                        f"'{message.id}' arrives over HTTP but its page has no operation "
                        "(method, path, statusCodes)",
                    )
    if "channels" in collections:
        for path, entry in _walk(dict(fm), ("routes", "*")):
            _check_channel_entry(ctx, doc, path, entry)
        address = _text(fm.get("address"))
        declared = _mapping(fm.get("parameters"))
        used = set(_PLACEHOLDER.findall(address))
        for name in sorted(used - set(declared)):
            ctx.at(
                doc,
                "channels/undeclared-parameter",
                ("address",),
                f"placeholder '{{{name}}}' is not declared in parameters",
            )
        for name in declared:
            if name not in used:
                ctx.at(
                    doc,
                    "channels/undeclared-parameter",
                    ("parameters", name),
                    f"parameter '{name}' does not appear in the address",
                )
    if collections & set(_MESSAGE_COLLECTIONS) and "channels" in fm:
        ctx.at(
            doc,
            "messages/legacy-channels",
            ("channels",),
            "message-level channels are legacy: eventcatalog build moves them into the "
            "to/from of services; do it yourself",
        )


def check_schemas(ctx: _Context, doc: Document) -> None:
    """schemas/*: each message's schema file exists, parses, is valid and its $refs resolve."""
    fm = doc.frontmatter
    if not fm or not set(doc.collections) & set(_MESSAGE_COLLECTIONS):
        return
    folder = posixpath.dirname(doc.path)
    schema_path = fm.get("schemaPath")
    if isinstance(schema_path, str) and not schema_path.strip():
        ctx.at(
            doc,
            "schemas/empty-path",
            ("schemaPath",),
            "schemaPath is empty; name the schema file or remove the key",
        )
    if "schemaPath" not in fm and not fm.get("schemas"):
        ctx.at(
            doc,
            "schemas/no-schema",
            (),
            "no schemaPath or schemas: the generator cannot type this message",
        )
    for key, relative in referenced_paths(doc):
        if key[0] not in ("schemaPath", "schemas"):
            continue
        target = join(folder, relative)
        if target is None:
            ctx.at(
                doc, "files/outside-catalog", key, f"'{relative}' points outside the catalog folder"
            )
            continue
        source = ctx.catalog.files.get(target)
        if source is None or not source.exists:
            ctx.at(doc, "schemas/missing-file", key, f"schema file {target} does not exist")
            continue
        if schema_format(target) not in ("jsonschema", "yaml"):
            ctx.at(
                doc,
                "schemas/not-json-schema",
                key,
                f"{target} is {schema_format(target)}, not JSON Schema: no model can be generated",
            )
        ctx.guarded(target, "schema check", functools.partial(ctx.check_schema_file, source))


def check_specifications(ctx: _Context, doc: Document) -> None:
    """specs/*: specification files exist, parse, are OpenAPI/AsyncAPI, and their $refs resolve."""
    fm = doc.frontmatter
    if not fm or not _resource_collections(doc):
        return
    folder = posixpath.dirname(doc.path)
    specs = fm.get("specifications")
    for key, relative in referenced_paths(doc):
        if key[0] != "specifications":
            continue
        if isinstance(key[1], int):
            spec = specs[key[1]] if isinstance(specs, list) else {}
            spec_type = spec.get("type") if isinstance(spec, dict) else ""
        else:
            spec_type = str(key[1]).removesuffix("Path")
        target = join(folder, relative)
        if target is None:
            ctx.at(
                doc, "files/outside-catalog", key, f"'{relative}' points outside the catalog folder"
            )
            continue
        source = ctx.catalog.files.get(target)
        if source is None or not source.exists:
            ctx.at(doc, "specs/missing-file", key, f"specification file {target} does not exist")
            continue
        ctx.guarded(
            target,
            "specification check",
            functools.partial(ctx.check_spec_file, source, str(spec_type)),
        )


_CODE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`", re.S)
_RESOURCE_REF = re.compile(r"\[\[([A-Za-z][\w-]*)\\?\|([^\]\n]+?)\]\]")
_DOC_VERSION = re.compile(r"^[0-9.]+$")


def _blank(match: re.Match[str]) -> str:
    """The matched text with every character but line breaks turned into a space."""
    return "\n".join(" " * len(part) for part in match.group(0).split("\n"))


def check_body(ctx: _Context, doc: Document) -> None:
    """body/*: ``[[type|id]]`` references (literal in .md; must resolve in .mdx)."""
    if "[[" not in doc.body:
        return
    body = _CODE.sub(_blank, doc.body)
    counted, newlines = 0, 0  # newlines before `counted`: matches come in order
    for match in _RESOURCE_REF.finditer(body):
        newlines += body.count("\n", counted, match.start())
        counted = match.start()
        line = doc.body_line + newlines
        column = match.start() - (body.rfind("\n", 0, match.start()) + 1) + 1
        text = match.group(0)
        if not doc.is_mdx:
            ctx.report(
                "body/resource-ref-in-md",
                doc.path,
                (line, column),
                f"{text} renders as literal text in .md; rename the file to .mdx",
            )
            continue
        target = (match.group(1), match.group(2).strip())
        problem = ctx.dangling.get(target, "")
        if problem == "":  # not asked yet ("" is never an answer)
            problem = ctx.dangling[target] = _dangling(ctx, *target)
        if problem:
            ctx.report("body/dangling-resource-ref", doc.path, (line, column), f"{text}: {problem}")


def _dangling(ctx: _Context, kind: str, target: str) -> str | None:
    ident, _, version = target.partition("@")
    if kind == "doc":
        candidates = (
            f"docs/{ident}.mdx",
            f"docs/{ident}.md",
            f"docs/{ident}/index.mdx",
            f"docs/{ident}/index.md",
        )
        return (
            None if any(c in ctx.doc_paths for c in candidates) else f"no custom doc docs/{ident}"
        )
    if kind in ("user", "team"):
        return None if ident in ctx.owner_ids else f"no {kind} '{ident}'"
    if kind not in _TYPE_KINDS:
        return f"unknown type '{kind}' (types are lower case: service, event, system, ...)"
    if version and not _DOC_VERSION.match(version):
        return f"version '{version}' may hold only digits and dots"
    found = ctx.index.lookup(_TYPE_KINDS[kind], ident, version or None)
    if found.resource is None:
        return f"no {kind} '{ident}'" + (f" at version {version}" if found.known_id else "")
    return None


_CHECKS: tuple[Callable[[_Context, Document], None], ...] = (
    check_layout,
    check_frontmatter,
    check_ids,
    check_refs,
    check_flows,
    check_channels,
    check_schemas,
    check_specifications,
    check_body,
)


def lint(catalog: Catalog) -> list[Problem]:
    """Every problem of a loaded catalog (loading problems included), sorted by path and line."""
    with paused_gc():
        ctx = _Context(catalog)
        for doc in catalog.documents:
            for check in _CHECKS:
                ctx.guarded(doc.path, check.__name__, functools.partial(check, ctx, doc))
        return sort_problems(ctx.problems)
