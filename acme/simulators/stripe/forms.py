"""Decoding of Stripe's form encoding and typed access to the decoded parameters.

The SDK sends `application/x-www-form-urlencoded` bodies (and query strings for GET) where nested
values use brackets: `metadata[order_id]=o_1`, `expand[0]=latest_charge`. Every value arrives as a
string; the endpoint decides which type it expects and reports a Stripe-style 400 otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from acme.simulators.stripe.errors import invalid, missing_param

Params = dict[str, Any]

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
MAX_FIELDS = 1000
MAX_BODY_BYTES = 256 * 1024


def decode_form(raw: bytes | str) -> Params:
    """Turn a form body or query string into nested dicts and lists."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise invalid(f"Request body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid(f"Request body is not valid UTF-8 (byte {exc.start}).") from exc
    else:
        text = raw
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as exc:
        raise invalid(f"Could not decode the form parameters: {exc}.") from exc
    return decode_pairs(pairs)


def decode_pairs(pairs: Iterable[tuple[str, str]]) -> Params:
    root: Params = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            raise invalid(f"Invalid parameter name: {name!r}.", param=name)
        path = [match.group(1), *_SEGMENT.findall(match.group(2))]
        _assign(root, path, value, name)
    decoded = _listify(root)
    if not isinstance(decoded, dict):
        raise invalid("Invalid parameters: top-level names cannot all be array indexes.")
    return decoded


def _assign(node: Params, path: list[str], value: str, name: str) -> None:
    for depth, segment in enumerate(path[:-1]):
        if segment == "":
            # `a[]=x` style: every occurrence is a new list entry.
            segment = str(_next_index(node))
        child = node.get(segment)
        if child is None:
            child = {}
            node[segment] = child
        elif not isinstance(child, dict):
            where = path[0] + "".join(f"[{s}]" for s in path[1 : depth + 1])
            raise invalid(f"Invalid parameter {name!r}: {where} is both a value and a hash.")
        node = child
    last = path[-1] if path[-1] != "" else str(_next_index(node))
    if isinstance(node.get(last), dict):
        raise invalid(f"Invalid parameter {name!r}: it is both a value and a hash.", param=name)
    node[last] = value


def _next_index(node: Params) -> int:
    return sum(1 for key in node if key.isdigit())


def _listify(value: Any) -> Any:
    """Hashes whose keys are exactly 0..n-1 are arrays (`expand[0]`, `expand[1]`)."""
    if not isinstance(value, dict):
        return value
    converted = {key: _listify(item) for key, item in value.items()}
    if converted and all(key.isdigit() for key in converted):
        indexes = sorted(int(key) for key in converted)
        if indexes == list(range(len(indexes))):
            return [converted[str(i)] for i in indexes]
    return converted


# --- typed getters -------------------------------------------------------------------------------


def reject_unknown(params: Mapping[str, Any], allowed: Iterable[str]) -> None:
    known = set(allowed)
    for name in params:
        if name not in known:
            raise invalid(
                f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
            )


def get_str(
    params: Mapping[str, Any], name: str, *, required: bool = False, max_length: int = 5000
) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise missing_param(name)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {name} must be a plain value, not a hash.", param=name)
    if len(value) > max_length:
        raise invalid(
            f"Invalid string: {name} is longer than {max_length} characters.",
            param=name,
            code="string_length_exceeds_maximum",
        )
    return value


def get_int(
    params: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = get_str(params, name, required=required, max_length=40)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise invalid(f"Invalid integer: {raw}", param=name, code="parameter_invalid_integer")
    value = int(raw)
    if minimum is not None and value < minimum:
        raise invalid(
            f"Invalid {name}: must be at least {minimum}.",
            param=name,
            code="parameter_invalid_integer",
        )
    if maximum is not None and value > maximum:
        raise invalid(
            f"Invalid {name}: must be at most {maximum}.",
            param=name,
            code="parameter_invalid_integer",
        )
    return value


def get_bool(params: Mapping[str, Any], name: str, *, default: bool = False) -> bool:
    raw = get_str(params, name, max_length=10)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise invalid(f"Invalid boolean: {raw}", param=name, code="parameter_invalid_boolean")
    return raw == "true"


def get_enum(
    params: Mapping[str, Any], name: str, choices: Iterable[str], *, default: str | None = None
) -> str | None:
    raw = get_str(params, name, max_length=100)
    if raw is None:
        return default
    options = list(choices)
    if raw not in options:
        raise invalid(f"Invalid {name}: must be one of {', '.join(options)}", param=name)
    return raw


def get_metadata(params: Mapping[str, Any]) -> dict[str, str] | None:
    """Metadata as sent; an empty value removes a key and `metadata=` clears them all."""
    raw = params.get("metadata")
    if raw is None:
        return None
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid("Invalid metadata: must be a hash of keys to values.", param="metadata")
    if len(raw) > 50:
        raise invalid("Invalid metadata: at most 50 keys are allowed.", param="metadata")
    result: dict[str, str] = {}
    for key, value in raw.items():
        param = f"metadata[{key}]"
        if len(key) > 40:
            raise invalid(
                f"Invalid metadata: key {key!r} is longer than 40 characters.", param=param
            )
        if not isinstance(value, str):
            raise invalid(f"Invalid metadata: {param} must be a string, not a hash.", param=param)
        if len(value) > 500:
            raise invalid(f"Invalid metadata: {param} is longer than 500 characters.", param=param)
        result[key] = value
    return result


def merge_metadata(current: Mapping[str, str], update: Mapping[str, str] | None) -> dict[str, str]:
    if update is None:
        return dict(current)
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def get_expand(params: Mapping[str, Any]) -> list[str]:
    raw = params.get("expand")
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise invalid("Invalid expand: must be a list of field names.", param="expand")
    return list(raw)
