"""Base45 (RFC 9285), the text form of an item code's binary bundle.

Base45 writes every two bytes ``[a, b]`` as three characters ``c d e`` with ``a * 256 + b = c + 45 * d +
45 * 45 * e``, and a final odd byte as two characters ``c d`` with ``byte = c + 45 * d``. Its 45
characters are exactly the QR code alphanumeric set, so a Base45 text fits a QR code in alphanumeric
mode (5.5 bits per character).

This decoder is strict, so that every byte string has exactly one accepted text and
``encode(decode(text)) == text`` for every text :func:`decode` accepts. It rejects, with a
:class:`~provchain.errors.Base45Error` naming the position:

* a character outside the 45-character alphabet (lowercase letters included);
* a text whose length leaves a single character after the last full triplet (length ``3k + 1``);
* a triplet whose value is above 65535 (RFC 9285 section 6, for example ``"GGW"`` = 65536);
* a final pair whose value is above 255 (for example ``"V5"`` = 256), which no byte encodes to.
"""

from __future__ import annotations

from .errors import Base45Error, InputError

__all__ = ["ALPHABET", "decode", "encode"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
"""The 45 characters of RFC 9285 Table 1, in value order (``"0"`` is 0, ``":"`` is 44)."""

_VALUE: dict[str, int] = {char: value for value, char in enumerate(ALPHABET)}


def encode(data: bytes) -> str:
    """Return the Base45 text of ``data`` (RFC 9285 section 4).

    The text is ``3 * (len(data) // 2) + 2 * (len(data) % 2)`` characters long; ``b""`` encodes to ``""``.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"Base45 encodes bytes, not {type(data).__name__}")
    out: list[str] = []
    append = out.append
    even = len(data) - len(data) % 2
    for i in range(0, even, 2):
        rest, c = divmod(data[i] << 8 | data[i + 1], 45)
        e, d = divmod(rest, 45)
        append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    if even != len(data):
        d, c = divmod(data[-1], 45)
        append(ALPHABET[c] + ALPHABET[d])
    return "".join(out)


def decode(text: str) -> bytes:
    """Return the bytes that ``text`` encodes, or raise :class:`Base45Error` if it is not canonical Base45.

    See the module docstring for what is rejected. The message says what is wrong and at which position
    (0-based, in characters); the length is checked first, then the characters, then the values.
    """
    if not isinstance(text, str):
        raise InputError(f"Base45 text is a str, not {type(text).__name__}")
    length = len(text)
    if length % 3 == 1:
        raise Base45Error(
            f"Base45 text of length {length} ends with a single character at position {length - 1}; "
            "a valid length is a multiple of 3, or a multiple of 3 plus 2"
        )
    values = _values(text)
    out = bytearray()
    full = length - length % 3
    for i in range(0, full, 3):
        value = values[i] + 45 * values[i + 1] + 2025 * values[i + 2]
        if value > 0xFFFF:
            raise Base45Error(f"Base45 triplet {text[i : i + 3]!r} at position {i} has value {value}, above 65535")
        out.append(value >> 8)
        out.append(value & 0xFF)
    if full != length:
        value = values[full] + 45 * values[full + 1]
        if value > 0xFF:
            raise Base45Error(f"Base45 final pair {text[full:]!r} at position {full} has value {value}, above 255")
        out.append(value)
    return bytes(out)


def _values(text: str) -> list[int]:
    """Return the alphabet value of every character of ``text``, or raise for the first foreign one."""
    values: list[int] = []
    for position, char in enumerate(text):
        value = _VALUE.get(char)
        if value is None:
            raise Base45Error(
                f"character {char!r} at position {position} is not in the Base45 alphabet "
                "(0-9, A-Z, space and $%*+-./:)"
            )
        values.append(value)
    return values
