"""The value checks that several formats share, each written once.

Every check takes the name of what it checks (``what``, the start of the message) and the error to
raise (``error``: an error class, or a function that makes the error from the message), so that each
caller keeps the error its own contract promises: a malformed key string is a
:class:`~provchain.errors.KeyFormatError`, a malformed proof line a
:class:`~provchain.errors.ProofFormatError`, a bad argument an :class:`~provchain.errors.InputError`.
A check returns the value it accepted (decoded where it decodes), typed, so a caller writes
``x = check(...)`` and uses ``x``.

* :func:`canonical_b64decode`: standard, padded base64 that is the one text of its bytes;
* :func:`parse_key_id_hex` / :func:`format_key_id`: a C2SP key id as 8 lowercase hex digits;
* :func:`check_int`: an integer (never a bool) in a closed range;
* :func:`check_time`: integer milliseconds since 1970 in ``[0, MAX_TIME)``;
* :func:`check_path`: a file path given as text or an ``os.PathLike``.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias, TypeGuard

from ..errors import ProvchainError

if TYPE_CHECKING:
    from pathlib import Path

ErrorFactory: TypeAlias = Callable[[str], ProvchainError]
"""What a check raises: an error class such as :class:`~provchain.errors.KeyFormatError`, or a function
that builds one from the message (to add a common prefix)."""

__all__ = [
    "KEY_ID_SIZE",
    "MAX_TIME",
    "ErrorFactory",
    "b64_length",
    "canonical_b64decode",
    "check_int",
    "check_path",
    "check_time",
    "format_key_id",
    "is_key_id_hex",
    "parse_key_id_hex",
]

MAX_TIME = 2**53
"""Times are integer milliseconds since 1970 (UTC) below this bound (about the year 287,000): every
such time is exact as a JavaScript number, so the browser verifier reads the same time."""

KEY_ID_SIZE = 4
"""A C2SP key id is the first 4 bytes of a SHA-256 hash."""

_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}")


def b64_length(size: int) -> int:
    """The length of the padded base64 text of ``size`` bytes."""
    return (size + 2) // 3 * 4


def canonical_b64decode(
    text: object, what: str, error: ErrorFactory, *, length: int | None = None, message: str | None = None
) -> bytes:
    """Decode ``text``, which must be canonical standard base64 (RFC 4648 section 4, padded).

    Canonical means ``base64(decode(text)) == text``: no line breaks or spaces, padding where it
    belongs, and no stray bits in the last character, so that each byte string has exactly one text
    and a parse-then-format round trip gives back the input. With ``length``, the text must decode to
    exactly ``length`` bytes; a text longer than the base64 of ``length`` bytes is refused before it is
    decoded, so that a huge text costs nothing.

    Raises ``error`` naming ``what`` (``"{what} is not valid base64"``, ``"... is not canonical
    base64"``, ``"... is N bytes, not LENGTH"``, ``"... must be base64 of exactly LENGTH bytes, not N
    characters"``); ``message``, when given, replaces every one of these messages.
    """
    if not isinstance(text, str):
        raise error(message or f"{what} must be base64 text")
    if length is not None and len(text) > b64_length(length):  # refused before any work on a long text
        raise error(message or f"{what} must be base64 of exactly {length} bytes, not {len(text)} characters")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):  # ValueError: a character outside ASCII
        raise error(message or f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise error(message or f"{what} is not canonical base64")
    if length is not None and len(raw) != length:
        raise error(message or f"{what} is {len(raw)} bytes, not {length}")
    return raw


def is_key_id_hex(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a key id written as exactly 8 lowercase hex digits."""
    return isinstance(value, str) and _KEY_ID_HEX.fullmatch(value) is not None


def parse_key_id_hex(value: object, what: str, error: ErrorFactory) -> bytes:
    """The 4-byte key id that ``value`` writes as 8 lowercase hex digits (the form of C2SP verifier and
    signer keys); raises ``error`` (``"{what} must be 8 lowercase hex digits"``) for anything else,
    upper case included, since a key string has one spelling."""
    if not is_key_id_hex(value):
        raise error(f"{what} must be 8 lowercase hex digits")
    return bytes.fromhex(value)


def format_key_id(key_id: bytes) -> str:
    """The 4-byte ``key_id`` as the 8 lowercase hex digits :func:`parse_key_id_hex` reads."""
    return key_id.hex()


def check_int(
    value: object, what: str, error: ErrorFactory, low: int, high: int | None = None, *, message: str | None = None
) -> int:
    """``value`` if it is an ``int`` from ``low`` to ``high`` (both included; no upper bound when
    ``high`` is None), else ``error``.

    A bool is refused although Python counts it as an int (``True`` is no count or index), and so is
    any other subclass of int, whose arithmetic or encoding may differ. The message is
    ``"{what} must be an integer from {low} to {high}"`` (``"... of at least {low}"``), or ``message``.
    """
    if type(value) is not int or value < low or (high is not None and value > high):
        bounds = f"of at least {low}" if high is None else f"from {low} to {high}"
        raise error(message or f"{what} must be an integer {bounds}")
    return value


def check_time(value: object, what: str, error: ErrorFactory, *, message: str | None = None) -> int:
    """``value`` if it is a time: an ``int`` (never a bool) of milliseconds since 1970-01-01 UTC, from 0
    to ``MAX_TIME - 1``; else ``error`` (``"{what} must be integer milliseconds since 1970 (UTC)"``, or
    ``message``)."""
    if type(value) is not int or not 0 <= value < MAX_TIME:
        raise error(message or f"{what} must be integer milliseconds since 1970 (UTC)")
    return value


def check_path(value: object, what: str, error: ErrorFactory) -> Path:
    """``value`` as a :class:`~pathlib.Path` if it is a ``str`` or an ``os.PathLike`` of text that the file
    system can take as a name (encodable, no NUL), else ``error`` (``"{what} must be a file path, not
    TYPE"``). Whether the file exists is the caller's question."""
    if isinstance(value, str | os.PathLike):
        name = os.fspath(value)
        if isinstance(name, str):
            try:
                os.fsencode(name)
            except UnicodeEncodeError:
                raise error(f"{what} {name!r} is not a file name this system can encode") from None
            if "\x00" in name:
                raise error(f"{what} {name!r} is not a file name (it holds a NUL character)")
            from pathlib import Path  # here: pathlib (and urllib.parse under it) is no part of a scan's start-up

            return Path(name)
    raise error(f"{what} must be a file path, not {type(value).__name__}")
