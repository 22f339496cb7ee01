"""Canonical msgpack: the one byte encoding of every signed structure in provchain.

Rules (normative text in docs/spec/entries.md):

* maps have text keys, sorted by their UTF-8 bytes, without duplicates;
* integers use their shortest msgpack form and fit in 64 bits;
* text is UTF-8 ``str``, binary is ``bin`` (never ``str``);
* booleans, arrays and maps are allowed; nil, floats and extension types are not;
* nesting is at most :data:`MAX_DEPTH` deep.

:func:`decode` accepts only input that :func:`encode` would produce: it re-encodes what it read and
rejects the input when the bytes differ, so every value has exactly one encoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgpack

from .errors import EncodingError

__all__ = ["MAX_CONTAINER", "MAX_DEPTH", "Value", "decode", "encode", "unpack_unchecked"]

MAX_DEPTH = 8
"""The deepest nesting of maps and arrays that is accepted."""

Value = Any
"""A canonical value: int, bool, str, bytes, list of values, or dict of str to values."""

_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1


def _canonical(value: object, depth: int) -> object:
    if depth > MAX_DEPTH:
        raise EncodingError(f"nesting deeper than {MAX_DEPTH} levels")
    t = type(value)
    if t is str or t is bytes or t is bool:  # the common cases first, by exact type (fast)
        return value
    if t is int:
        if not _INT_MIN <= value <= _INT_MAX:  # type: ignore[operator]
            raise EncodingError(f"integer {value} does not fit in 64 bits")
        return value
    if t is dict or isinstance(value, Mapping):
        keys = list(value)  # type: ignore[call-overload]
        for k in keys:
            if type(k) is not str:
                raise EncodingError(f"map keys must be text, not {type(k).__name__}")
        # UTF-8 preserves code point order, so sorting the str keys sorts their UTF-8 bytes.
        keys.sort()
        out = {}
        for k in keys:
            v = value[k]  # type: ignore[index]
            tv = type(v)
            if tv is str or tv is bytes or tv is bool or (tv is int and _INT_MIN <= v <= _INT_MAX):
                out[k] = v
            else:
                out[k] = _canonical(v, depth + 1)
        return out
    if t is list or t is tuple:
        return [_canonical(v, depth + 1) for v in value]  # type: ignore[attr-defined]
    if value is None:
        raise EncodingError("nil is not allowed: leave an optional field out instead")
    if isinstance(value, float):
        raise EncodingError("floats are not allowed: use integers or decimal strings")
    if isinstance(value, bool | int):  # subclasses of int (IntEnum and the like)
        return _canonical(int(value), depth) if not isinstance(value, bool) else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, Sequence):
        return [_canonical(v, depth + 1) for v in value]
    raise EncodingError(f"values of type {type(value).__name__} cannot be encoded")


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically.

    >>> encode({"b": 1, "a": b"x"}).hex()
    '82a161c40178a16201'
    """
    canonical = _canonical(value, 0)
    try:
        return msgpack.packb(canonical, use_bin_type=True)  # type: ignore[no-any-return]
    except (ValueError, OverflowError, TypeError, UnicodeEncodeError) as exc:
        raise EncodingError(f"cannot encode value: {exc}") from exc


def _no_ext(code: int, data: bytes) -> object:
    raise EncodingError(f"msgpack extension type {code} is not allowed")


MAX_CONTAINER = 1024
"""The most elements an array or map may claim (msgpack pre-allocates what a header claims)."""


def unpack_unchecked(data: bytes, *, max_size: int = 1 << 20, max_container: int = MAX_CONTAINER) -> Value:
    """Unpack msgpack with provchain's limits (size, container length, no extension types), but WITHOUT
    the canonical-form check: a caller MUST re-encode what it built from the value and compare the bytes
    (as :func:`decode` does, and :func:`provchain.entries.decode_body` does through the typed body)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError("expected bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise EncodingError(f"input of {len(data)} bytes exceeds the limit of {max_size} bytes")
    if not data:
        raise EncodingError("empty input")
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,
            ext_hook=_no_ext,
            max_array_len=max_container,
            max_map_len=max_container,
        )
    except msgpack.ExtraData as exc:
        raise EncodingError("trailing bytes after the value") from exc
    except EncodingError:
        raise
    except (ValueError, TypeError, UnicodeDecodeError, msgpack.UnpackException) as exc:
        raise EncodingError(f"malformed msgpack: {exc}") from exc
    except RecursionError as exc:
        raise EncodingError("nesting too deep") from exc
    return value


def decode(data: bytes, *, max_size: int = 1 << 20, max_container: int = MAX_CONTAINER) -> Value:
    """Decode canonical msgpack; raise :class:`EncodingError` unless ``data`` is exactly canonical.

    >>> decode(bytes.fromhex("82a161c40178a16201"))
    {'a': b'x', 'b': 1}
    >>> decode(bytes.fromhex("82a16201a161c40178"))
    Traceback (most recent call last):
    ...
    provchain.errors.EncodingError: not canonical msgpack (map keys out of order, duplicated, or not in shortest form)
    """
    value = unpack_unchecked(data, max_size=max_size, max_container=max_container)
    if encode(value) != data:
        raise EncodingError(
            "not canonical msgpack (map keys out of order, duplicated, or not in shortest form)"
        )
    return value
