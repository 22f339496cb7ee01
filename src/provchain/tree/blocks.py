"""The block layout a store keeps the tree's nodes in: pure arithmetic, no I/O.

Every complete node is stored once (docs/design.md, *Storage*):

* levels 0 to :data:`TILE_LEVELS`: one *tile* per block of 16 leaves, written with the block's 16th entry:
  its 16 leaf hashes, then its 8 + 4 + 2 inner nodes, each level left to right (:data:`TILE_BYTES`);
* higher levels (a sixteenth of the nodes): *rows* of 16 siblings of one level, keyed
  ``level << 40 | index >> 4``, each node at byte ``32 * (index % 16)``; a row grows by 32 bytes as each
  of its nodes completes;
* the newest block, while it is incomplete, has no tile: its leaves and the nodes over them are computed
  from its stored entries (:func:`block_nodes`).

The SQLite store keeps tiles in table ``tiles`` and rows in table ``nodes`` (:func:`node_place`); these
functions are the whole of that mapping, so a store only fetches and keeps opaque rows.
"""

from __future__ import annotations

from collections.abc import Iterable

from .hashing import HASH_SIZE, levels
from .nodes import NodeKey

__all__ = [
    "BLOCK_LEAVES",
    "BLOCK_SHIFT",
    "MAX_LEAVES",
    "ROW_SHIFT",
    "TILE_BYTES",
    "TILE_LEVELS",
    "block_nodes",
    "entry_nodes",
    "high_rows",
    "node_place",
    "read_plan",
    "row_length",
    "row_nodes",
    "tile_edge",
    "tile_from_entries",
    "tile_from_leaves",
    "tile_nodes",
    "tile_offset",
]

TILE_LEVELS = 3
"""Nodes of levels 0 to 3 are kept in tiles, one per block of 16 leaves; higher ones in rows of 16."""
BLOCK_SHIFT = TILE_LEVELS + 1
"""A block covers ``2**4`` leaves."""
BLOCK_LEAVES = 1 << BLOCK_SHIFT
"""16 leaves per block, and 16 siblings per row of high nodes."""
TILE_BYTES = HASH_SIZE * (2 * BLOCK_LEAVES - 2)
"""A tile: 16 leaves and 8 + 4 + 2 inner nodes, 30 hashes (960 bytes)."""
ROW_SHIFT = 40
"""A row of high nodes is keyed ``level << 40 | index >> 4``."""
MAX_LEAVES = 1 << ROW_SHIFT
"""The layout keys trees of fewer than ``2**40`` leaves."""

_TOP = 2 * BLOCK_LEAVES  # offsets in a tile: level L starts at hash 32 - (32 >> L)
_ROW_MASK = (1 << ROW_SHIFT) - 1


def tile_offset(level: int, index: int) -> int:
    """Byte offset of node ``(level, index)``, ``0 <= level <= 3``, in its block's tile: the leaves, then
    level 1, 2, 3, each left to right."""
    return HASH_SIZE * (_TOP - (_TOP >> level) + (index & ((BLOCK_LEAVES >> level) - 1)))


def node_place(level: int, index: int) -> tuple[str, int, int]:
    """Where the store keeps the hash of node ``(level, index)``: ``(table, key, byte offset)``.

    * levels 0 to :data:`TILE_LEVELS`: ``("tiles", b, offset)``, in the tile of block
      ``b = index >> (4 - level)``: the 16 leaf hashes of entries ``16b`` to ``16b + 15`` and the 14 inner
      nodes over them, each level left to right; a proof's four lowest nodes are one row;
    * higher levels: ``("nodes", level << 40 | index >> 4, 32 * (index % 16))``, in a row that holds 16
      siblings of one level, left to right: one row read gives a node and its 15 neighbours.
    """
    if level <= TILE_LEVELS:
        return "tiles", index >> (BLOCK_SHIFT - level), tile_offset(level, index)
    return "nodes", (level << ROW_SHIFT) | (index >> BLOCK_SHIFT), HASH_SIZE * (index & (BLOCK_LEAVES - 1))


def read_plan(keys: Iterable[NodeKey]) -> tuple[dict[int, list[tuple[NodeKey, int]]], dict[int, None]]:
    """What to read for the nodes ``keys``: the tiles (block -> each wanted node and its offset) and the
    rows of high nodes (in order of first need), as :func:`node_place` places them."""
    tiles: dict[int, list[tuple[NodeKey, int]]] = {}
    rows: dict[int, None] = {}
    for key in keys:
        level, index = key
        if level <= TILE_LEVELS:
            # node_place, inlined for the proof path (tests/test_tree.py holds the two to each other)
            block = index >> (BLOCK_SHIFT - level)
            spot = (key, HASH_SIZE * (_TOP - (_TOP >> level) + (index & (15 >> level))))
            at = tiles.get(block)
            if at is None:
                tiles[block] = [spot]
            else:
                at.append(spot)
        else:
            rows[(level << ROW_SHIFT) | (index >> BLOCK_SHIFT)] = None
    return tiles, rows


def tile_nodes(tile: bytes, spots: Iterable[tuple[NodeKey, int]], out: dict[NodeKey, bytes]) -> None:
    """Put the nodes of ``spots`` (from :func:`read_plan`) that ``tile`` holds into ``out``; a tile of any
    length but :data:`TILE_BYTES` holds none (a store writes tiles whole)."""
    if len(tile) == TILE_BYTES:
        for node, offset in spots:
            out[node] = tile[offset : offset + HASH_SIZE]


def row_nodes(row: int, value: bytes, out: dict[NodeKey, bytes]) -> None:
    """Put every node that the row of high nodes keyed ``row`` holds into ``out``; a row whose length is
    not a whole number of hashes, up to 16, holds none (a store extends rows one hash at a time)."""
    if len(value) % HASH_SIZE or len(value) > HASH_SIZE * BLOCK_LEAVES:
        return
    level, first = row >> ROW_SHIFT, (row & _ROW_MASK) << BLOCK_SHIFT
    for j in range(len(value) // HASH_SIZE):
        out[(level, first + j)] = value[HASH_SIZE * j : HASH_SIZE * (j + 1)]


def row_length(row: int, size: int) -> tuple[int, int, int]:
    """``(level, first index, bytes)``: the length of the row keyed ``row`` in a tree of ``size`` leaves
    (0 for a row that tree does not have)."""
    level, first = row >> ROW_SHIFT, (row & _ROW_MASK) << BLOCK_SHIFT
    have = (size >> level) - first if TILE_LEVELS < level < 64 else 0
    return level, first, HASH_SIZE * max(0, min(BLOCK_LEAVES, have))


def high_rows(index: int, nodes: bytes) -> list[tuple[int, bytes, int]]:
    """``(row, hash, offset)`` of each node above :data:`TILE_LEVELS` that leaf ``index`` completes, given
    ``nodes``, the hashes of every node it completes (levels 1, 2, ... concatenated)."""
    return [
        (
            (level << ROW_SHIFT) | (index >> (level + BLOCK_SHIFT)),
            nodes[HASH_SIZE * (level - 1) : HASH_SIZE * level],
            HASH_SIZE * ((index >> level) & (BLOCK_LEAVES - 1)),
        )
        for level in range(TILE_LEVELS + 1, len(nodes) // HASH_SIZE + 1)
    ]


def block_nodes(block: int, leaves: list[bytes]) -> dict[NodeKey, bytes]:
    """The leaves and the complete nodes of levels 1 to 3 over the first leaves (at most 16) of block
    ``block``, keyed by their node ids in the tree."""
    return {
        (level, (block << (BLOCK_SHIFT - level)) + j): h
        for level, row in enumerate(levels(leaves)[: TILE_LEVELS + 1])
        for j, h in enumerate(row)
    }


def entry_nodes(block: int, leaves: list[bytes], computed: dict[NodeKey, bytes]) -> list[tuple[bytes, bytes]]:
    """For each of the first leaves of block ``block``, ``(leaf, nodes)``: its hash and the block's nodes it
    completed (levels 1 to 3, concatenated), from :func:`block_nodes`. Entry ``r`` of a block completed the
    levels ``L`` whose low ``L`` bits of ``r`` are all 1."""
    first = block << BLOCK_SHIFT
    done = [[lv for lv in range(1, TILE_LEVELS + 1) if (r + 1) % (1 << lv) == 0] for r in range(len(leaves))]
    return [(h, b"".join([computed[(lv, (first + r) >> lv)] for lv in done[r]])) for r, h in enumerate(leaves)]


def tile_from_entries(parts: list[tuple[bytes, bytes]]) -> bytes | None:
    """The tile of a block from ``(leaf, nodes)`` of its 16 entries, in order (as :func:`entry_nodes` or the
    appends give them); None unless they make a whole tile."""
    if len(parts) != BLOCK_LEAVES:
        return None
    # entry r completes level 1 when r is odd, level 2 when r % 4 == 3, level 3 when r % 8 == 7
    tile = b"".join(
        [h for h, _ in parts]
        + [parts[r][1][:HASH_SIZE] for r in range(1, 16, 2)]
        + [parts[r][1][HASH_SIZE : 2 * HASH_SIZE] for r in range(3, 16, 4)]
        + [parts[r][1][2 * HASH_SIZE : 3 * HASH_SIZE] for r in range(7, 16, 8)]
    )
    return tile if len(tile) == TILE_BYTES else None


def tile_from_leaves(leaves: list[bytes]) -> bytes:
    """The tile of a block from its 16 leaf hashes."""
    computed = block_nodes(0, leaves)
    return b"".join([computed[(level, j)] for level in range(TILE_LEVELS + 1) for j in range(BLOCK_LEAVES >> level)])


def tile_edge(tile: bytes) -> bytes:
    """What the block's last entry completed, from its tile: its leaf hash and its nodes of levels 1 to 3."""
    return b"".join(
        [tile[tile_offset(level, 15) : tile_offset(level, 15) + HASH_SIZE] for level in range(TILE_LEVELS + 1)]
    )
