"""Run datamodel-code-generator's Python API over many JSON Schemas at once.

All schemas go into one temporary folder and through one `generate()` call, which returns one
module per schema file. If that call fails, each schema is generated alone to name the culprit.
That call runs in one process: a forked worker (see `_worker`) when the caller asks for one, so
it overlaps the rest of rendering on a second core, or this process (the fallback, and the
default of `generate_models`); the code is the same.
The returned code is split (with `ast`) into its import lines and its class definitions so the
templates can place our header, docstring and `MESSAGE` spec around them.

The models enforce their schemas exactly, by three means: `strict_types` (a JSON integer,
number, string or boolean must be one: no "5" for 5, no true for 1), `strict_nullable` (a
property with a default is not nullable unless its schema says so), and our class template
(`model_templates/`), which marks an optional property that is not nullable `NotNull()` and
an array with `uniqueItems` `UniqueItems()` and a date or date-time `FromString()` (see
`generator.contracts`; null is refused in JSON, while None in Python still means "absent").
Formats that parse from strings (uuid, date-time, email) keep Pydantic's types, so code that
passes `UUID` or `datetime` objects still validates.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator._render._cache import Cache, dist_version, key_of
from generator._render._errors import RenderError
from generator._render._worker import Worker, WorkerFailed

# Class name prefix schemas are prepared with; `generate_models` replaces it with the real name.
MARKER = "Zzgeneratormarker"


@dataclass(frozen=True)
class Module:
    """Generated model code, split so a template can wrap it."""

    imports: tuple[str, ...]  # import statements (without ``from __future__``)
    body: str  # class definitions, in generation order
    classes: tuple[str, ...]  # names of the classes defined in `body`


# Options of every call; the three enums are named here and looked up when generating, so the
# cache key can be computed without importing datamodel-code-generator (a third of a second).
_ENUM_OPTIONS = {
    "input_file_type": "InputFileType.JsonSchema",
    "output_model_type": "DataModelType.PydanticV2BaseModel",
    "target_python_version": "PythonVersion.PY_311",
}
_PLAIN_OPTIONS: dict[str, Any] = {
    "use_annotated": True,
    "field_constraints": True,
    "snake_case_field": True,
    "allow_population_by_field_name": True,
    "use_standard_collections": True,
    "use_union_operator": True,
    "enum_field_as_literal": "all",
    "use_schema_description": True,
    "use_single_line_docstring": True,
    "use_double_quotes": True,
    "disable_timestamp": True,
    "formatters": [],  # ruff formats everything afterwards, once
    "strict_nullable": True,
    "strict_types": ["str", "int", "float", "bool"],
}
# Our class template; its text (not its path) is part of the cache key.
MODEL_TEMPLATES = Path(__file__).resolve().parent / "model_templates"
_CLASS_TEMPLATE = MODEL_TEMPLATES / "pydantic_v2" / "BaseModel.jinja2"
# The names the class template writes, and the imports a module needs once it uses them.
_MARKER_IMPORTS = {
    "NotNull()": "from generator.contracts import NotNull",
    "UniqueItems()": "from generator.contracts import UniqueItems",
    "FromString()": "from generator.contracts import FromString",
}


def _options(parent_scoped: bool) -> dict[str, Any]:
    from datamodel_code_generator.enums import DataModelType, InputFileType
    from datamodel_code_generator.format import PythonVersion

    enums = {
        "InputFileType": InputFileType,
        "DataModelType": DataModelType,
        "PythonVersion": PythonVersion,
    }
    options: dict[str, Any] = {}
    for name, spelled in _ENUM_OPTIONS.items():
        enum, _, member = spelled.partition(".")
        options[name] = getattr(enums[enum], member)
    plain = {k: list(v) if isinstance(v, list) else v for k, v in _PLAIN_OPTIONS.items()}
    return {
        **options,
        **plain,
        "parent_scoped_naming": parent_scoped,
        "custom_template_dir": MODEL_TEMPLATES,
    }


def _cache_key(schema_json: str, parent_scoped: bool) -> str:
    """Everything a module's code depends on: schema, tool version, options."""
    options = json.dumps(
        {**_ENUM_OPTIONS, **_PLAIN_OPTIONS, "parent_scoped_naming": parent_scoped},
        sort_keys=True,
    )
    tool = dist_version("datamodel_code_generator", "datamodel-code-generator")
    template = _class_template_text()
    return key_of("models", (tool, options, template, MARKER, schema_json))


@functools.cache
def _class_template_text() -> str:
    return _CLASS_TEMPLATE.read_text(encoding="utf-8")


def with_marker_imports(code: str) -> str:
    """Add the imports of the markers our class template wrote (it cannot add imports).

    They go after the last import datamodel-code-generator wrote; ruff sorts and merges them
    with the rest when the file is formatted.
    """
    needed = [line for marker, line in _MARKER_IMPORTS.items() if marker in code]
    if not needed:
        return code
    needed.append("from typing import Annotated")  # a marked field may have had no Annotated
    lines = code.splitlines()
    imports = [
        node for node in ast.parse(code).body if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    end = max((node.end_lineno or node.lineno for node in imports), default=0)
    return "\n".join([*lines[:end], *needed, *lines[end:]]) + "\n"


def _generate_dir(folder: Path, parent_scoped: bool) -> dict[tuple[str, ...], str] | str:
    from datamodel_code_generator import generate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation chatter is not a catalog problem
        result = generate(folder, **_options(parent_scoped))
    if result is None:  # pragma: no cover - only when an output path is given
        raise RenderError("datamodel-code-generator returned nothing")
    if isinstance(result, str):
        return with_marker_imports(result)
    return {tuple(key): with_marker_imports(str(code)) for key, code in result.items()}


def generate_models(
    schemas: Mapping[str, dict[str, Any]],
    names: Mapping[str, str],
    *,
    parent_scoped: bool = True,
    cache: Cache | None = None,
) -> dict[str, str]:
    """Generate one module per schema, in this process; see `start_models`."""
    return start_models(schemas, names, parent_scoped=parent_scoped, cache=cache).result()


def start_models(
    schemas: Mapping[str, dict[str, Any]],
    names: Mapping[str, str],
    *,
    parent_scoped: bool = True,
    cache: Cache | None = None,
    worker: Worker | bool = False,
) -> PendingModels:
    """Start generating one module per schema; `result()` gives ``{module path: code}``.

    Keys are module paths like ``messages/order_created``. Every schema is prepared with class
    names starting with `MARKER` (see `_schemas.prepare`), and `names[key]` replaces that
    prefix in the generated code. In the batch each distinct schema gets its own prefix
    instead, because datamodel-code-generator makes nested class names unique across the
    modules of one call: unique prefixes keep a module's names independent of the other
    schemas. Identical schemas (copies under other ids) are generated once.

    That independence is also what makes `cache` sound: a module's code (with `MARKER` put back
    in place of its batch prefix) is stored under the schema's bytes, and only schemas without
    an entry go through datamodel-code-generator, which is not even imported when none do.

    `worker` says where that batch runs: a `Worker` already started (see
    `start_model_worker`) gets it, True forks one now when there is a batch, False keeps it in
    this process. With a worker the batch runs while the caller goes on (lint, templates);
    `result()` then waits for it, and runs the batch here if the worker fails. The code is the
    same either way: the same function on the same input, in a fork of this process.
    """
    first_of: dict[str, str] = {}  # schema JSON -> first key with it
    representative: dict[str, str] = {}
    texts: dict[str, str] = {}
    for key, schema in schemas.items():
        text = json.dumps(schema)
        representative[key] = first_of.setdefault(text, key)
        texts[key] = text
    distinct = [key for key in schemas if representative[key] == key]
    cache = cache or Cache.off()
    keys = {key: _cache_key(texts[key], parent_scoped) for key in distinct} if cache.enabled else {}
    code: dict[str, str] = {}  # representative key -> code with MARKER as the class prefix
    for key in keys:
        hit = cache.get("models", keys[key])
        if hit is not None:
            code[key] = hit
    missing = [key for key in distinct if key not in code]
    prefixes = {key: f"Zq{number:06d}x" for number, key in enumerate(missing)}
    batch = {key: _with_prefix(schemas[key], prefixes[key]) for key in missing}
    helper: Worker | None = None
    if isinstance(worker, Worker):
        helper = worker
    elif worker and batch:
        helper = Worker.start()
    if helper is not None and not batch:
        helper.close()  # every module was cached: nothing to hand over
        helper = None
    if helper is not None:
        try:
            helper.submit(_generate_batch, batch, parent_scoped)
        except WorkerFailed:
            helper.close()
            helper = None
    return PendingModels(
        schemas, names, cache, keys, code, representative, prefixes, batch, parent_scoped, helper
    )


class PendingModels:
    """Model code on its way: `result()` waits for the batch (if any) and names the classes."""

    def __init__(
        self,
        schemas: Mapping[str, dict[str, Any]],
        names: Mapping[str, str],
        cache: Cache,
        keys: dict[str, str],
        code: dict[str, str],
        representative: dict[str, str],
        prefixes: dict[str, str],
        batch: dict[str, dict[str, Any]],
        parent_scoped: bool,
        worker: Worker | None,
    ) -> None:
        self._schemas = schemas
        self._names = names
        self._cache = cache
        self._keys = keys
        self._code = code
        self._representative = representative
        self._prefixes = prefixes
        self._batch = batch
        self._parent_scoped = parent_scoped
        self.worker = worker
        self._result: dict[str, str] | None = None

    def _generated(self) -> dict[str, str]:
        worker, self.worker = self.worker, None
        if worker is not None:
            try:
                outcome = worker.result()
                if isinstance(outcome, dict) and set(outcome) == set(self._batch):
                    return outcome
            except RenderError:
                raise  # the batch's own error, found by the worker as it would be here
            except Exception:  # noqa: BLE001, S110 - no outcome: generate here instead
                pass
            finally:
                worker.close()
        return _generate_batch(self._batch, self._parent_scoped)

    def result(self) -> dict[str, str]:
        if self._result is None:
            self._result = self._finish(self._generated())
        return self._result

    def cancel(self) -> None:
        """The models are not needed after all: stop the worker."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.close()

    def _finish(self, generated: dict[str, str]) -> dict[str, str]:
        code, prefixes = self._code, self._prefixes
        direct: dict[str, str] = {}  # representative key -> code still holding its batch prefix
        for key in self._batch:
            if MARKER in generated[key]:
                direct[key] = generated[key]  # cannot tell MARKERs apart: rename it the old way
                continue
            code[key] = rename_prefix(generated[key], prefixes[key], MARKER)
            if key in self._keys:
                self._cache.put("models", self._keys[key], code[key])
        out: dict[str, str] = {}
        for key in self._schemas:
            first = self._representative[key]
            if first in direct:
                out[key] = rename_prefix(direct[first], prefixes[first], self._names[key])
            else:
                out[key] = ModelCode.renamed(code[first], self._names[key])
        return out


# Modules `generate()` imports on its first call (by name, so a renamed one is merely skipped):
# importing them in a worker while the main process is busy takes a third of a second off the
# time the batch itself needs.
_WARM_MODULES = (
    "datamodel_code_generator",
    "datamodel_code_generator.config",
    "datamodel_code_generator.enums",
    "datamodel_code_generator.format",
    "datamodel_code_generator.parser.jsonschema",
    "datamodel_code_generator.model.pydantic_v2",
    "datamodel_code_generator.model.scalar",
    "datamodel_code_generator.model.union",
    "datamodel_code_generator.model._compiled_templates.registry",
    "datamodel_code_generator.model._compiled_templates.pydantic_v2_basemodel",
    "datamodel_code_generator._option_rules",
    "datamodel_code_generator._lock_plan",
    "datamodel_code_generator.parser._python_type_imports",
)


def warm_up() -> None:
    """Import what datamodel-code-generator needs for a batch (output does not depend on it)."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in _WARM_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)


def start_model_worker() -> Worker | None:
    """A worker that imports datamodel-code-generator now, for a batch `start_models` sends."""
    return Worker.start(warm=warm_up)


def _with_prefix(schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(schema).replace(MARKER, prefix))
    return result


def rename_prefix(code: str, prefix: str, replacement: str) -> str:
    """Replace the batch prefix everywhere it occurs.

    Prefixes are artificial (``Zq000012x``), so every occurrence is a generated name: a class,
    or a name datamodel-code-generator also writes into a string (``TypeAliasType("...")``).
    """
    return code.replace(prefix, replacement)


def _generate_batch(schemas: Mapping[str, dict[str, Any]], parent_scoped: bool) -> dict[str, str]:
    if not schemas:
        return {}
    with tempfile.TemporaryDirectory(prefix="generator-models-") as tmp:
        folder = Path(tmp) / "schemas"
        for key, schema in schemas.items():
            target = folder / f"{key}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema), encoding="utf-8")
        try:
            result = _generate_dir(folder, parent_scoped)
        except Exception as exc:  # noqa: BLE001 - find which schema broke the batch
            raise _culprit(schemas, parent_scoped, exc) from exc
    if isinstance(result, str):
        (only,) = schemas
        return {only: result}
    out: dict[str, str] = {}
    for key in schemas:
        parts = tuple(key.split("/"))
        code = result.get(parts[:-1] + (parts[-1] + ".py",))
        if code is None:
            raise RenderError(f"datamodel-code-generator produced no module for {key}")
        out[key] = code
    return out


def _culprit(
    schemas: Mapping[str, dict[str, Any]], parent_scoped: bool, batch_error: Exception
) -> RenderError:
    for key, schema in schemas.items():
        with tempfile.TemporaryDirectory(prefix="generator-model-") as tmp:
            folder = Path(tmp) / "schemas"
            folder.mkdir()
            (folder / "one.json").write_text(json.dumps(schema), encoding="utf-8")
            try:
                _generate_dir(folder, parent_scoped)
            except Exception as exc:  # noqa: BLE001
                return RenderError(f"{key}: datamodel-code-generator cannot read it: {exc}")
    return RenderError(f"datamodel-code-generator failed: {batch_error}")


class ModelCode(str):
    """A module's code that also remembers the `MARKER` form it was renamed from.

    Copies of one schema (other ids, other versions) share that form, so `split_module` parses
    it once and renames the pieces, instead of parsing every copy.
    """

    template: str
    name: str

    @classmethod
    def renamed(cls, template: str, name: str) -> ModelCode:
        code = cls(rename_prefix(template, MARKER, name))
        code.template = template
        code.name = name
        return code


# A top-level statement of generated code: kind, source text, class name (for classes).
_Segment = tuple[str, str, str]


@functools.lru_cache(maxsize=4096)
def _segments(code: str) -> tuple[_Segment, ...]:
    """Top-level statements of `code` (raises SyntaxError)."""
    tree = ast.parse(code)
    lines = code.splitlines()
    out: list[_Segment] = []
    for node in tree.body:
        start = node.lineno - 1
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.decorator_list:
            start = node.decorator_list[0].lineno - 1
        end = node.end_lineno or node.lineno
        segment = "\n".join(lines[start:end])
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.append(("import", segment, ""))
        elif isinstance(node, ast.ClassDef):
            out.append(("class", segment, node.name))
        else:
            out.append(("other", segment, ""))
    return tuple(out)


def split_module(code: str, *, drop_class: str | None = None, where: str = "") -> Module:
    """Split generated code into imports and classes; optionally drop one class (a wrapper)."""
    template = getattr(code, "template", None)
    name = getattr(code, "name", None)
    segments: tuple[_Segment, ...] | None = None
    if isinstance(template, str) and isinstance(name, str):
        # Renaming changes identifiers and strings, never lines or statements.
        with contextlib.suppress(SyntaxError):
            segments = _segments(template)
    if segments is None or not isinstance(name, str):
        try:
            segments = _segments(str(code))
        except SyntaxError as exc:
            raise RenderError(f"{where}: generated model code does not parse: {exc}") from exc

        def rename(text: str) -> str:
            return text
    else:

        def rename(text: str) -> str:
            return rename_prefix(text, MARKER, name)

    imports: list[str] = []
    body: list[str] = []
    classes: list[str] = []
    for kind, segment, class_name in segments:
        if kind == "import":
            imports.append(rename(segment))
            continue
        if kind == "class":
            final = rename(class_name)
            if final == drop_class:
                continue
            classes.append(final)
        body.append(rename(segment))
    return Module(tuple(imports), "\n\n\n".join(body), tuple(classes))
