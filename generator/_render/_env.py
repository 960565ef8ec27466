"""The Jinja2 environment of every template, with the only filters that may print catalog text.

Templates never print a catalog string raw: strings go through `py` (a Python literal built with
`repr`, which cannot be broken out of), names through `ident` (refuses anything that is not an
identifier), prose through `docstring` or `comment`. Together they make a hostile catalog unable
to inject code into the generated package.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from generator._render._cache import Cache, dist_version, key_of
from generator._render._errors import RenderError
from generator._render._names import check_identifier

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LINE_LENGTH = 100
GENERATOR_COMMAND = "python -m generator"


# Control characters (Unicode category Cc) and line/paragraph separators (Zl, Zp).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _clean(text: str) -> str:
    """Blank out control and line-separator characters: they could end a comment or docstring."""
    return _UNSAFE.sub(" ", text)


def one_line(text: str) -> str:
    """Collapse whitespace (catalog summaries are often wrapped YAML)."""
    return " ".join(_clean(text.replace("\n", " ").replace("\t", " ")).split())


_REPR_EXACT = frozenset({str, int, bool, type(None)})  # their repr is their literal


def py_literal(value: Any) -> str:
    """A Python literal for plain data; anything else is a bug in the renderer."""
    if type(value) in _REPR_EXACT:  # most values: skip the checks below
        return repr(value)
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RenderError(f"cannot write {value!r} as a Python literal")
        return repr(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        items = ", ".join(py_literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        pairs = ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items())
        return "{" + pairs + "}"
    raise RenderError(f"cannot write a {type(value).__name__} as a Python literal")


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _record_fields(cls: type) -> tuple[str, ...] | None:
    """Field names of a dataclass, None for any other type (asked once per type)."""
    if cls not in _FIELDS:
        is_record = dataclasses.is_dataclass(cls)
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)) if is_record else None
    return _FIELDS[cls]


def py_record(value: Any) -> str:
    """A dataclass instance as a constructor call with keyword literals (nested records too)."""
    if type(value) in _REPR_EXACT:
        return repr(value)
    names = None if isinstance(value, type) else _record_fields(type(value))
    if names is not None:
        args = ", ".join(f"{name}={py_record(getattr(value, name))}" for name in names)
        return f"{check_identifier(type(value).__name__)}({args})"
    if isinstance(value, tuple) and any(dataclasses.is_dataclass(v) for v in value):
        items = ", ".join(py_record(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    return py_literal(value)


def docstring(text: str, indent: int = 0) -> str:
    """A triple-quoted docstring, safe for any input text, wrapped to the line length.

    Long text gets a summary line (its first sentence, when that fits) and a wrapped body.
    """
    body = one_line(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if body.endswith('"'):
        body = body[:-1] + '\\"'
    if not body:
        body = "(no summary in the catalog)"
    width = LINE_LENGTH - indent
    if len(body) + 6 <= width:
        return f'"""{body}"""'
    pad = " " * indent
    summary, sep, rest = body.partition(". ")
    fits = bool(sep) and len(summary) + 4 <= width
    paragraphs = [summary + ".", rest] if fits else [body]
    lines: list[str] = []
    for number, paragraph in enumerate(paragraphs):
        if number:
            lines.append("")
        first_width = width - 3 if number == 0 else width
        wrapped = textwrap.wrap(
            paragraph, width=first_width, break_long_words=False, break_on_hyphens=False
        )
        lines.extend(wrapped)
    return (
        '"""'
        + "\n".join(pad + line if n and line else line for n, line in enumerate(lines))
        + ("\n" + pad + '"""')
    )


def comment(text: str) -> str:
    """Text safe to place after ``#`` on one line."""
    return one_line(text)


def sentence(text: str) -> str:
    """A summary as a sentence: collapsed, first letter kept, ending with a full stop."""
    text = one_line(text).strip()
    if text and text[-1] not in ".!?":
        text += "."
    return text


def header(source: str) -> str:
    """The first line of every generated Python file."""
    return f"# Code generated by {GENERATOR_COMMAND} from {comment(source)}. DO NOT EDIT."


def ident(value: str) -> str:
    return check_identifier(str(value))


def dotted(value: str) -> str:
    """A dotted module path whose every part is an identifier."""
    return ".".join(check_identifier(part, what="module path part") for part in value.split("."))


@cache
def environment(templates: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=False,  # noqa: S701 - output is Python, every value goes through a filter below
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        py=py_literal,
        record=py_record,
        ident=ident,
        dotted=dotted,
        docstring=docstring,
        comment=comment,
        sentence=sentence,
        one_line=one_line,
    )
    env.globals["header"] = header
    return env


def use_cache(cache: Cache, templates: Path = TEMPLATES_DIR) -> None:
    """Keep the compiled templates of `templates` in `cache` (or stop, when it is off).

    Jinja's own bytecode cache: an entry records the checksum of its template's source and is
    ignored once the template changes. The folder is keyed by the Jinja version and every
    option that shapes the compiled code, so an upgrade or a new option starts afresh.
    """
    env = environment(templates)
    if cache.folder is None:
        env.bytecode_cache = None
        return
    shape = (
        env.block_start_string,
        env.block_end_string,
        env.variable_start_string,
        env.variable_end_string,
        env.comment_start_string,
        env.comment_end_string,
        env.line_statement_prefix,
        env.line_comment_prefix,
        env.trim_blocks,
        env.lstrip_blocks,
        env.newline_sequence,
        env.keep_trailing_newline,
        env.optimized,
        str(env.autoescape),
        sorted(env.extensions),
        str(templates.resolve()),
    )
    key = key_of("jinja", (dist_version("jinja2", "Jinja2"), repr(shape)))
    folder = cache.folder / "jinja" / key[:32]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        env.bytecode_cache = None
        return
    env.bytecode_cache = jinja2.FileSystemBytecodeCache(str(folder))


def render_template(name: str, templates: Path = TEMPLATES_DIR, **context: Any) -> str:
    try:
        template = environment(templates).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {name} not found in {templates}") from exc
    return template.render(**context).strip() + "\n"
