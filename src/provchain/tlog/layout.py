"""The C2SP tlog-tiles layout: resource paths, tile shapes and entry bundles. Pure functions, no I/O.

A tree of ``size`` leaves is published as (docs/spec/tiles.md):

* ``checkpoint``: the operator's signed checkpoint note, verbatim;
* ``tile/<L>/<N>[.p/<W>]``: hash tiles, 256 consecutive hashes of level ``8L`` (the last one of a level
  may be partial, ``W`` < 256 hashes wide);
* ``tile/entries/<N>[.p/<W>]``: entry bundles, the leaves (entry bodies) of the level-0 tile ``N``, each
  preceded by its length as a big-endian uint16;
* ``tile/sigs/<N>[.p/<W>]``: provchain's companion to each entry bundle, the entries' 64-byte signatures
  in the same order (the signature is not part of the leaf, so it cannot be in the entry bundle).

``<N>`` is written in 3-digit path elements, every one but the last prefixed with ``x``
(``1234067`` -> ``x001/x234/067``).
"""

from __future__ import annotations

import re
import struct

from ..errors import InputError, TileFormatError
from ..merkle import leaf_hash, root
from ..tree.hashing import HASH_SIZE
from ..tree.tlog_tiles import TILE_HEIGHT, TILE_WIDTH, tile_width, tiles_for

__all__ = [
    "CHECKPOINT_PATH",
    "MAX_BUNDLE_BYTES",
    "MAX_ENTRY",
    "SIGNATURE_SIZE",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "decode_bundle",
    "decode_signatures",
    "decode_tile",
    "encode_bundle",
    "entries_path",
    "index_path",
    "parse_path",
    "reference_files",
    "sigs_path",
    "tile_path",
    "tile_width",
    "tiles_for",
]

MAX_ENTRY = 0xFFFF
"""The largest entry an entry bundle can hold: its length is a uint16."""
MAX_BUNDLE_BYTES = TILE_WIDTH * (2 + MAX_ENTRY)
"""The largest possible entry bundle (256 entries of 65,535 bytes)."""
SIGNATURE_SIZE = 64
"""Every entry's Ed25519 signature in a ``tile/sigs`` bundle."""
CHECKPOINT_PATH = "checkpoint"

_LEN = struct.Struct(">H")
_MAX_LEVEL = 63
_ELEMENT = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_NUMBER = re.compile(r"0|[1-9][0-9]*")


def _need_index(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"{what} must be a non-negative integer, not {n!r}")
    return n


def _need_width(width: object) -> int:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise InputError(f"a tile width must be an integer from 1 to {TILE_WIDTH}, not {width!r}")
    return width


def index_path(n: int) -> str:
    """``n`` as 3-digit path elements, all but the last prefixed with ``x``.

    >>> index_path(1234067)
    'x001/x234/067'
    >>> tile_path(1, 3, 17), entries_path(0), sigs_path(1000, 5)
    ('tile/1/003.p/17', 'tile/entries/000', 'tile/sigs/x001/000.p/5')
    """
    _need_index(n, "a tile index")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def _suffix(width: int) -> str:
    return "" if _need_width(width) == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    """The path of hash tile ``n`` of tile level ``level``, ``width`` hashes wide (256: a full tile)."""
    if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= _MAX_LEVEL:
        raise InputError(f"a tile level must be an integer from 0 to {_MAX_LEVEL}, not {level!r}")
    return f"tile/{level}/{index_path(n)}{_suffix(width)}"


def entries_path(n: int, width: int = TILE_WIDTH) -> str:
    """The path of entry bundle ``n``, ``width`` entries wide."""
    return f"tile/entries/{index_path(n)}{_suffix(width)}"


def sigs_path(n: int, width: int = TILE_WIDTH) -> str:
    """The path of the signature bundle that goes with entry bundle ``n`` (provchain's companion)."""
    return f"tile/sigs/{index_path(n)}{_suffix(width)}"


def parse_path(path: str) -> tuple[str, int, int]:
    """Parse a tile, entry bundle or signature bundle path into ``(kind, n, width)``; ``kind`` is the tile
    level as text (``"0"``, ``"1"``, ...), ``"entries"`` or ``"sigs"``. Raises :class:`TileFormatError` for
    any other path, or one that is not written the one way the layout allows."""
    if not isinstance(path, str):
        raise InputError(f"a tile path is text, not {type(path).__name__}")
    parts = path.split("/")
    width = TILE_WIDTH
    if len(parts) >= 2 and parts[-2].endswith(".p"):
        if not _NUMBER.fullmatch(parts[-1]) or not 1 <= int(parts[-1]) < TILE_WIDTH:
            raise TileFormatError(f"{path!r}: a partial tile's width must be 1 to 255 without leading zeros")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 3 or parts[0] != "tile":
        raise TileFormatError(f"{path!r} is not a tile path (tile/<L>/<N>[.p/<W>])")
    kind, elements = parts[1], parts[2:]
    if kind not in ("entries", "sigs") and not (_NUMBER.fullmatch(kind) and int(kind) <= _MAX_LEVEL):
        raise TileFormatError(f"{path!r}: the tile level must be 0 to 63 without leading zeros")
    if not _LAST.fullmatch(elements[-1]) or not all(_ELEMENT.fullmatch(e) for e in elements[:-1]):
        raise TileFormatError(f"{path!r}: the tile index must be 3-digit elements, all but the last x-prefixed")
    n = 0
    for e in elements:
        n = n * 1000 + int(e.lstrip("x"))
    if len(elements) > 1 and elements[0] == "x000":
        raise TileFormatError(f"{path!r}: the tile index has a leading x000 element")
    return kind, n, width


def decode_tile(data: bytes, width: int, what: str = "the tile") -> list[bytes]:
    """The ``width`` hashes of a hash tile; it must be exactly ``32 * width`` bytes."""
    _need_width(width)
    if not isinstance(data, bytes):
        raise InputError("a tile is bytes")
    if len(data) != HASH_SIZE * width:
        raise TileFormatError(f"{what} is {len(data)} bytes; {width} hashes are {HASH_SIZE * width}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: list[bytes]) -> bytes:
    """An entry bundle: each entry preceded by its length (big-endian uint16)."""
    if not isinstance(entries, list) or not 1 <= len(entries) <= TILE_WIDTH:
        raise InputError(f"an entry bundle holds 1 to {TILE_WIDTH} entries")
    out = bytearray()
    for i, e in enumerate(entries):
        if not isinstance(e, bytes) or len(e) > MAX_ENTRY:
            raise InputError(f"entry {i} of a bundle must be bytes of at most {MAX_ENTRY} bytes")
        out += _LEN.pack(len(e))
        out += e
    return bytes(out)


def decode_bundle(data: bytes, width: int, what: str = "the entry bundle", max_entry: int = MAX_ENTRY) -> list[bytes]:
    """The ``width`` entries of an entry bundle. Every length prefix must fit the bytes left, each entry is
    at most ``max_entry`` bytes, and nothing may follow the last entry (:class:`TileFormatError`)."""
    _need_width(width)
    if not isinstance(data, bytes):
        raise InputError("an entry bundle is bytes")
    out = []
    pos, end = 0, len(data)
    for i in range(width):
        if end - pos < 2:
            raise TileFormatError(f"{what} ends after {i} entries; it must hold {width}")
        (n,) = _LEN.unpack_from(data, pos)
        pos += 2
        if n > max_entry:
            raise TileFormatError(f"{what}: entry {i} is {n} bytes, more than the {max_entry} allowed")
        if end - pos < n:
            raise TileFormatError(f"{what}: entry {i} claims {n} bytes, but only {end - pos} remain")
        out.append(data[pos : pos + n])
        pos += n
    if pos != end:
        raise TileFormatError(f"{what} holds {end - pos} bytes after its {width} entries")
    return out


def decode_signatures(data: bytes, width: int, what: str = "the signature bundle") -> list[bytes]:
    """The ``width`` 64-byte signatures of a ``tile/sigs`` bundle; it must be exactly ``64 * width`` bytes."""
    _need_width(width)
    if not isinstance(data, bytes):
        raise InputError("a signature bundle is bytes")
    if len(data) != SIGNATURE_SIZE * width:
        raise TileFormatError(f"{what} is {len(data)} bytes; {width} signatures are {SIGNATURE_SIZE * width}")
    return [data[i : i + SIGNATURE_SIZE] for i in range(0, len(data), SIGNATURE_SIZE)]


def reference_files(entries: list[bytes]) -> dict[str, bytes]:
    """Every entry bundle and hash tile of the tree over ``entries`` (all but the checkpoint), computed in
    memory from the entries alone: the reference the publisher and other logs are held to (tests, vectors;
    it hashes each tile's subtrees from the leaves, so it is for small trees)."""
    if not isinstance(entries, list) or not all(isinstance(e, bytes) for e in entries):
        raise InputError("entries must be a list of bytes")
    leaves = [leaf_hash(e) for e in entries]
    files: dict[str, bytes] = {}
    for level, n, width in tiles_for(len(entries)):
        span = 1 << (TILE_HEIGHT * level)
        first = n * TILE_WIDTH
        hashes = [root(leaves[(first + j) * span : (first + j + 1) * span]) for j in range(width)]
        files[tile_path(level, n, width)] = b"".join(hashes)
        if level == 0:
            files[entries_path(n, width)] = encode_bundle(entries[first * span : (first + width) * span])
    return files
