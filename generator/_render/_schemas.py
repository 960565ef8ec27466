"""Prepare JSON Schemas for datamodel-code-generator so the classes get the names we promise.

- the root is titled with the message's class name (``OrderCreated``), whatever its own title;
- ``$defs``/``definitions`` are renamed with that prefix (``money`` -> ``OrderCreatedMoney``);
- ``$ref``s to other files are bundled into ``$defs`` (the schemas are generated from copies in
  a temporary folder, where relative file references would no longer resolve).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from generator._render._errors import RenderError

Reader = Callable[[str], Any]  # catalog-relative path -> parsed document
_DEF_KEYS = ("$defs", "definitions")
_WORDS = re.compile(r"[^0-9A-Za-z]+")


def read_from(root: Path, files: Mapping[str, Any] | None = None) -> Reader:
    """A reader of the files `$ref`s name, never outside `root`.

    It takes what the loader already parsed (`files`, the catalog's ``path -> SourceFile``) and
    reads JSON from disk only for catalogs built without it (tests).
    """
    base = root.resolve()

    def read(relative: str) -> Any:
        known = (files or {}).get(relative)
        if known is not None and getattr(known, "data", None) is not None:
            return known.data
        target = (base / relative).resolve()
        if not target.is_relative_to(base):
            raise RenderError(f"$ref {relative!r} points outside the catalog")
        try:
            text = target.read_text(encoding="utf-8")
        except OSError as exc:
            raise RenderError(f"$ref target {relative} cannot be read: {exc.strerror}") from exc
        try:
            return json.loads(text)
        except ValueError as exc:
            raise RenderError(f"$ref target {relative} is not valid JSON: {exc}") from exc

    return read


def pascal(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in _WORDS.split(text) if w)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _walk_refs(node: Any, rewrite: Callable[[str], str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            node["$ref"] = rewrite(ref)
        for value in node.values():
            _walk_refs(value, rewrite)
    elif isinstance(node, list):
        for value in node:
            _walk_refs(value, rewrite)


def _rename_defs(schema: dict[str, Any], prefix: str) -> None:
    renames: dict[str, str] = {}
    for key in _DEF_KEYS:
        defs = schema.get(key)
        if not isinstance(defs, dict):
            continue
        renamed: dict[str, Any] = {}
        for name, sub in defs.items():
            new = pascal(str(name))
            if not new.startswith(prefix):
                new = prefix + new
            while new in renamed:
                new += "_"
            renamed[new] = sub
            renames[f"#/{key}/{_escape(str(name))}"] = f"#/{key}/{new}"
        schema[key] = renamed

    def rewrite(ref: str) -> str:
        for old, new in renames.items():
            if ref == old or ref.startswith(old + "/"):
                return new + ref[len(old) :]
        return ref

    _walk_refs(schema, rewrite)


def _bundle(schema: dict[str, Any], path: str, read: Reader) -> None:
    """Replace file references with local ``$defs`` entries, recursively."""
    bundled: dict[tuple[str, str], str] = {}  # (file, fragment) -> local ref
    defs = schema.setdefault("$defs", {})
    if not isinstance(defs, dict):
        raise RenderError(f"{path}: $defs must be an object")

    def local_name(file: str) -> str:
        base = pascal(PurePosixPath(file).stem) or "Ref"
        name = base
        n = 2
        while name in defs:
            name = f"{base}{n}"
            n += 1
        return name

    def include(file: str) -> str:
        key = (file, "")
        if key in bundled:
            return bundled[key]
        document = copy_json(read(file))
        name = local_name(file)
        bundled[key] = f"#/$defs/{name}"
        defs[name] = document
        here = str(PurePosixPath(file).parent)

        def inner(ref: str) -> str:
            if ref.startswith("#"):
                return f"#/$defs/{name}{ref[1:]}"
            return outer(ref, here)

        _walk_refs(document, inner)
        return bundled[key]

    def outer(ref: str, folder: str) -> str:
        if ref.startswith("#"):
            return ref
        if "://" in ref or ref.startswith("urn:"):
            raise RenderError(f"{path}: remote $ref {ref!r} is not supported; bundle the schema")
        file, _, fragment = ref.partition("#")
        target = str(PurePosixPath(folder) / file)
        normalised = str(PurePosixPath(*_normalise(PurePosixPath(target).parts)))
        return include(normalised) + fragment

    folder = str(PurePosixPath(path).parent)
    # Snapshot before walking: bundling adds entries to $defs, already rewritten by `inner`.
    originals = [value for key, value in schema.items() if key not in _DEF_KEYS]
    for key in _DEF_KEYS:
        if isinstance(schema.get(key), dict):
            originals.extend(list(schema[key].values()))
    if isinstance(schema.get("$ref"), str):
        schema["$ref"] = outer(schema["$ref"], folder)
    for node in originals:
        _walk_refs(node, lambda ref: outer(ref, folder))
    if not defs:
        schema.pop("$defs", None)


def _normalise(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if part == "..":
            if not out:
                raise RenderError("a $ref climbs above the catalog root")
            out.pop()
        elif part not in (".", ""):
            out.append(part)
    return out


def has_file_refs(schema: Any) -> bool:
    """True when some ``$ref`` names another file (anything not starting with ``#``)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def copy_json(node: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` for parsed JSON/YAML, several times faster.

    Dicts and lists are copied (shared ones once, as deepcopy does: YAML aliases share them);
    strings, numbers, booleans and None are immutable and kept; anything else goes to
    `copy.deepcopy`.
    """
    memo = {} if memo is None else memo
    kind = type(node)
    if kind is dict:
        found = memo.get(id(node))
        if found is None:
            found = memo[id(node)] = {}
            for key, value in node.items():
                found[copy_json(key, memo)] = copy_json(value, memo)
        return found
    if kind is list:
        found = memo.get(id(node))
        if found is None:
            found = memo[id(node)] = []
            found.extend(copy_json(value, memo) for value in node)
        return found
    if kind in (str, int, float, bool) or node is None:
        return node
    return copy.deepcopy(node, memo)


def prepare(schema: dict[str, Any], class_name: str, path: str, read: Reader) -> dict[str, Any]:
    """A copy of `schema` ready for generation under the class name `class_name`."""
    prepared: dict[str, Any] = copy_json(schema)
    if has_file_refs(prepared):
        _bundle(prepared, path, read)
    prepared["title"] = class_name
    prepared.pop("$id", None)  # a urn: base URI only confuses reference resolution
    _rename_defs(prepared, class_name)
    return prepared
