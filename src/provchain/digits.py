"""Bytes as decimal digits: the text form of a URL item code's bundle (docs/spec/item-code.md, *Digits*).

A QR code writes decimal digits in numeric mode, 10 bits for 3 digits. The bytes are cut into chunks of
:data:`CHUNK_BYTES` (22) bytes; each chunk, read as a big-endian unsigned integer, is written as exactly
:data:`CHUNK_DIGITS` (53) decimal digits, leading zeros included; a last, shorter chunk of ``n`` bytes is
written with ``digits_for(n)`` digits, the number of digits of ``256**n - 1``. That costs 8.03 bits of QR
data per byte, less than Base45 in alphanumeric mode (8.25), and digits pass every URL parser unchanged
(Base45's space and ``%`` do not: a browser rewrites them in a fragment).

>>> encode(b"\\x01\\x02")
'00258'
>>> decode("00258")
b'\\x01\\x02'

The decoder is strict, so that every byte string has exactly one accepted text. It rejects, with a
:class:`DigitsError` naming the position (never a character of the text): a character other than ``0-9``,
a length that no byte count gives, and a chunk whose value does not fit its bytes. A ``text`` that is not a
``str`` (or ``data`` that is not bytes) is an :class:`~provchain.errors.InputError`.
"""

from __future__ import annotations

from typing import Final

from .errors import DigitsError, InputError

__all__ = ["CHUNK_BYTES", "CHUNK_DIGITS", "DigitsError", "decode", "digits_for", "encode"]

CHUNK_BYTES: Final = 22
"""Bytes per full chunk. 22 bytes in 53 digits is the best ratio of any chunk up to 38 bytes (8.030 bits
per byte in numeric mode)."""

CHUNK_DIGITS: Final = 53
"""Digits per full chunk: the number of digits of ``256**22 - 1``."""


def digits_for(n: int) -> int:
    """The number of digits that a chunk of ``n`` bytes (0 to :data:`CHUNK_BYTES`) is written with."""
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= CHUNK_BYTES:
        raise InputError(f"a chunk has 0 to {CHUNK_BYTES} bytes")
    return len(str(256**n - 1)) if n else 0


_BYTES_FOR: Final = {digits_for(n): n for n in range(CHUNK_BYTES)}  # a last chunk's digits -> its bytes


def encode(data: bytes) -> str:
    """Return the decimal text of ``data``; ``b""`` encodes to ``""``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"the decimal form encodes bytes, not {type(data).__name__}")
    data = bytes(data)
    out: list[str] = []
    for i in range(0, len(data), CHUNK_BYTES):
        chunk = data[i : i + CHUNK_BYTES]
        out.append(str(int.from_bytes(chunk, "big")).zfill(digits_for(len(chunk))))
    return "".join(out)


def decode(text: str, offset: int = 0) -> bytes:
    """Return the bytes whose :func:`encode` is ``text``, or raise :class:`DigitsError`.

    ``offset`` is added to every position named in a message (the position of ``text`` in a longer text).
    """
    if not isinstance(text, str):
        raise InputError(f"the decimal form is a str, not {type(text).__name__}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InputError("offset is a non-negative integer")
    for position, char in enumerate(text, offset):
        if not "0" <= char <= "9":
            raise DigitsError(f"character {position} of the code is not a decimal digit")
    rest = len(text) % CHUNK_DIGITS
    if rest not in _BYTES_FOR:
        raise DigitsError(f"the code's digits have a length ({len(text)}) that no bundle gives: it was cut or altered")
    out = bytearray()
    for start in range(0, len(text), CHUNK_DIGITS):
        chunk = text[start : start + CHUNK_DIGITS]
        n = CHUNK_BYTES if len(chunk) == CHUNK_DIGITS else _BYTES_FOR[len(chunk)]
        value = int(chunk)
        if value >> (8 * n):
            raise DigitsError(f"the digits from character {offset + start} of the code are out of range")
        out += value.to_bytes(n, "big")
    return bytes(out)
