"""The C2SP tlog-tiles arithmetic: which hash tiles a tree has, how wide each is, and where a node sits.

A hash tile of tile level ``L`` holds up to 256 consecutive complete nodes of tree level ``8L``; the nodes
of the 7 levels between two tile levels are not stored, they are hashed from the tile below. The paths
and the file formats are in :mod:`provchain.tlog.layout`.
"""

from __future__ import annotations

from ..errors import InputError
from .hashing import is_count
from .nodes import NodeKey

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "tile_nodes", "tile_place", "tile_root", "tile_width", "tiles_for"]

TILE_HEIGHT = 8
"""Every tile spans 8 levels of the tree."""
TILE_WIDTH = 1 << TILE_HEIGHT
"""A full tile holds 256 hashes (8,192 bytes); a full bundle 256 entries."""


def tile_width(level: int, n: int, size: int) -> int:
    """How many hashes tile ``n`` of tile level ``level`` holds in a tree of ``size`` leaves (0: none)."""
    count = size >> (TILE_HEIGHT * level)  # complete nodes of level 8 * level
    return max(0, min(TILE_WIDTH, count - n * TILE_WIDTH))


def tiles_for(size: int) -> list[tuple[int, int, int]]:
    """Every hash tile ``(level, n, width)`` of a tree of ``size`` leaves, level by level."""
    if not is_count(size):
        raise InputError(f"a tree size must be a non-negative integer, not {size!r}")
    out = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        for n in range((count + TILE_WIDTH - 1) // TILE_WIDTH):
            out.append((level, n, min(TILE_WIDTH, count - n * TILE_WIDTH)))
        level += 1
    return out


def tile_place(level: int, index: int) -> tuple[NodeKey, int, int]:
    """Where node ``(level, index)`` is found: ``((tile level, n), r, j)``: tile ``n`` of that tile level,
    then ``r`` levels up inside the tile (0: one of its own hashes), ``j``-th from the left there."""
    tl, r = divmod(level, TILE_HEIGHT)
    n = index >> (TILE_HEIGHT - r)
    return (tl, n), r, index - (n << (TILE_HEIGHT - r))


def tile_nodes(level: int, n: int, width: int = TILE_WIDTH) -> list[NodeKey]:
    """The nodes whose hashes tile ``n`` of tile level ``level`` holds, ``width`` of them, in order."""
    first = n * TILE_WIDTH
    return [(TILE_HEIGHT * level, first + j) for j in range(width)]


def tile_root(level: int, n: int) -> NodeKey:
    """The node the hashes of a full tile ``n`` of tile level ``level`` fold to: a hash of the tile above."""
    return TILE_HEIGHT * (level + 1), n

