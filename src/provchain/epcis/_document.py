"""Reading an EPCIS 2.0 JSON document safely, and checking it against GS1's JSON Schema.

The order is fixed so that a hostile document costs bounded memory: (1) the size is checked on the
bytes; (2) the nesting depth is counted on the bytes, strings skipped, before any parsing; (3) the JSON is
parsed strictly (UTF-8, no duplicate keys, no NaN or infinities, no number of more than 40 digits);
(4) the result is checked against GS1's EPCIS JSON Schema with format checking (``uri``, ``date-time``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any, Final
from urllib.parse import unquote

from ..errors import EpcisError

__all__ = ["MAX_DEPTH", "MAX_DOCUMENT", "load_json", "schema", "schema_errors", "validate"]

MAX_DOCUMENT: Final = 64 * 1024 * 1024
"""The default cap on a document's size in bytes (about 100,000 events with provchain's evidence)."""

MAX_DEPTH: Final = 32
"""The deepest nesting of arrays and objects accepted (GS1's richest examples nest 8 deep)."""

_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS: Final = bytes(range(256)).translate(None, b"[]{}")  # every byte but the four brackets
_MAX_NUMBER: Final = 40  # digits: a JSON number is a few bytes; a 10,000-digit integer costs quadratic time


def _depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text ``data``, brackets inside strings ignored."""
    brackets = _STRING.sub(b"", data).translate(None, _BRACKETS)
    depth = deepest = 0
    for b in brackets:
        depth += 1 if b in (0x5B, 0x7B) else -1
        if depth > deepest:
            deepest = depth
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        key = _duplicate(pairs)[:80]
        raise EpcisError(f"the document is not valid JSON for EPCIS: the key {key!r} appears twice in one object")
    return out


def _duplicate(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            return k
        seen.add(k)
    raise AssertionError("no duplicate")  # pragma: no cover


class _Duplicates:
    """An object hook that keeps the last value of a repeated key, as JSON parsers commonly do, and
    remembers the first repeated key (for a warning)."""

    def __init__(self) -> None:
        self.first: str | None = None

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs) and self.first is None:
            self.first = _duplicate(pairs)
        return out


def _constant(name: str) -> Any:
    raise EpcisError(f"the document is not valid JSON: {name} is not a JSON number")


def _number(text: str) -> Any:
    if len(text) > _MAX_NUMBER:
        raise EpcisError(f"the document holds a number of {len(text)} characters; at most {_MAX_NUMBER} are accepted")
    return float(text) if any(c in text for c in ".eE") else int(text)


def load_json(
    data: bytes, *, max_bytes: int = MAX_DOCUMENT, max_depth: int = MAX_DEPTH, duplicates: list[str] | None = None
) -> Any:
    """Parse JSON ``data`` after checking its size and nesting depth on the bytes; :class:`EpcisError` if
    it is too large, too deep, not UTF-8, not JSON, or has a duplicate key, NaN, an infinity or a huge number.

    A key repeated in one object is refused (two readers of the document could see two values), unless
    ``duplicates`` is a list: then the last value is kept, as common parsers do, and the first repeated key
    is appended to the list (``provchain epcis validate`` warns about it; import always refuses it)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EpcisError("an EPCIS document is read from bytes")
    if len(data) > max_bytes:
        raise EpcisError(f"the document has {len(data)} bytes, more than the limit of {max_bytes}")
    data = bytes(data)
    depth = _depth(data)
    if depth > max_depth:
        raise EpcisError(f"the document nests {depth} levels of arrays and objects, more than the limit of {max_depth}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EpcisError(f"the document is not UTF-8 text (byte {exc.start})") from None
    try:
        hook = _no_duplicates if duplicates is None else _Duplicates()
        value = json.loads(
            text,
            object_pairs_hook=hook,
            parse_constant=_constant,
            parse_int=_number,
            parse_float=_number,
        )
    except json.JSONDecodeError as exc:
        raise EpcisError(f"the document is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if isinstance(hook, _Duplicates) and hook.first is not None:
        assert duplicates is not None
        duplicates.append(hook.first)
    return value


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every local reference ``{"$ref": "#/definitions/NAME"}`` replaced by the definition
    itself (shared, not copied), in place. The same schema, validated about twice as fast: jsonschema no longer
    resolves a reference at every step. GS1's schema has one ``$id`` (its root) and only such references;
    any other reference is left for jsonschema to resolve."""
    definitions: dict[str, Any] = schema.get("definitions", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/definitions/"):
                name = unquote(ref[len("#/definitions/") :]).replace("~1", "/").replace("~0", "~")
                if name in definitions:
                    return definitions[name]
            for key, value in node.items():
                node[key] = walk(value)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                node[i] = walk(value)
        return node

    for name in list(definitions):
        definitions[name] = walk(definitions[name])
    for key in list(schema):
        if key != "definitions":
            schema[key] = walk(schema[key])
    return schema


def schema() -> dict[str, Any]:
    """GS1's EPCIS 2.0 JSON Schema, as published (a fresh copy)."""
    parsed: dict[str, Any] = json.loads(
        files(__package__).joinpath("EPCIS-JSON-Schema.json").read_text(encoding="utf-8")
    )
    return parsed


@cache
def _validator() -> Any:
    from jsonschema import Draft7Validator, FormatChecker  # type: ignore[import-untyped]

    checker = FormatChecker()
    for needed in ("uri", "date-time"):  # these come from jsonschema's format extras (rfc3986/rfc3339 validators)
        if needed not in checker.checkers:  # pragma: no cover - an install without the extras
            raise EpcisError(f"cannot check the format {needed!r}: install jsonschema[format-nongpl]")
    return Draft7Validator(_inline(schema()), format_checker=checker)


def _where(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(the document)"


def schema_errors(doc: object, limit: int = 10) -> list[str]:
    """Up to ``limit`` messages, each naming where in ``doc`` GS1's EPCIS JSON Schema is broken."""
    out = []
    for err in _validator().iter_errors(doc):
        best = err
        while best.context:  # anyOf/oneOf: the deepest reason reads better than "not valid under any"
            best = max(best.context, key=lambda e: len(e.absolute_path))
        message = best.message if len(best.message) <= 200 else best.message[:200] + "..."
        out.append(f"{_where(best.absolute_path)}: {message}")
        if len(out) >= limit:
            break
    return out


def validate(doc: object) -> None:
    """Check ``doc`` (parsed JSON) against GS1's EPCIS 2.0 JSON Schema with format checking; raise
    :class:`EpcisError` naming the first place it breaks."""
    errors = schema_errors(doc, 1)
    if errors:
        raise EpcisError(f"the document is not valid EPCIS 2.0 (GS1's JSON Schema): {errors[0]}")
