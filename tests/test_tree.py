"""provchain.tree: the one incremental tree against the RFC's recursion, node ids, and the layouts.

The frontier is held to :mod:`merkle_reference` (RFC 9162 read literally) for random sizes; the block layout
(tiles of 16 leaves, rows of 16 high siblings) and the C2SP tile arithmetic are held to their definitions
and round-tripped; hostile rows and arguments are refused or ignored, never misread.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import merkle_reference as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain import merkle
from provchain.errors import InputError
from provchain.tree import EMPTY_ROOT, Frontier, NodeID, blocks, parent_nodes, subtree_nodes, tlog_tiles
from provchain.tree.hashing import HASH_SIZE, levels
from provchain.tree.nodes import left_siblings, path_shape

FAST = settings(deadline=None, max_examples=60)


def _data(n: int, seed: int = 0) -> list[bytes]:
    """``n`` distinct leaf inputs."""
    return [f"leaf {seed} {i}".encode() for i in range(n)]


def _leaves(n: int, seed: int = 0) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in _data(n, seed)]


def _node(data: list[bytes], level: int, index: int) -> bytes:
    """The reference hash of the complete node ``(level, index)``: MTH of the leaves it covers."""
    return ref.mth(data[index << level : (index + 1) << level])


# --- the frontier ---------------------------------------------------------------------------------


@FAST
@given(st.integers(0, 300), st.integers(0, 5))
def test_frontier_root_and_new_nodes_match_the_rfc(n: int, seed: int) -> None:
    data = _data(n, seed)
    tree = Frontier()
    assert tree.root() == EMPTY_ROOT == ref.mth([])
    for i, d in enumerate(data):
        made = tree.append(merkle.leaf_hash(d))
        assert [(lv, j) for lv, j, _ in made] == parent_nodes(i)
        for level, j, h in made:
            assert h == _node(data, level, j)
        assert tree.size == i + 1
    assert tree.root() == ref.mth(data)


@FAST
@given(st.integers(1, 200), st.integers(0, 200), st.integers(0, 5))
def test_a_resumed_frontier_goes_on_as_the_whole_one(size: int, more: int, seed: int) -> None:
    data = _data(size + more, seed)
    nodes = {(lv, j): _node(data, lv, j) for lv, j in subtree_nodes(0, size)}
    resumed = Frontier.resume(size, nodes)
    whole = Frontier()
    for d in data[:size]:
        whole.append(merkle.leaf_hash(d))
    assert resumed.root() == whole.root() == ref.mth(data[:size])
    for d in data[size:]:
        assert resumed.append(merkle.leaf_hash(d)) == whole.append(merkle.leaf_hash(d))
    assert resumed.root() == ref.mth(data)


@FAST
@given(st.integers(0, 300), st.integers(0, 5))
def test_add_at_an_index_fetches_what_a_fresh_frontier_lacks_in_one_call(n: int, seed: int) -> None:
    # A ledger reopened at size n: its frontier knows nothing; the left siblings come from the store.
    data = _data(n + 2, seed)
    leaf = merkle.leaf_hash(data[n])
    calls: list[list[tuple[int, int]]] = []

    def fetch(keys: object) -> dict[tuple[int, int], bytes]:
        assert isinstance(keys, list)
        calls.append(list(keys))
        return {k: _node(data, *k) for k in keys}

    fresh = Frontier()
    assert fresh.missing(n) == left_siblings(n)
    got = fresh.add(n, leaf, fetch)
    assert len(calls) == (1 if left_siblings(n) else 0)
    want = b"".join(_node(data, lv, j) for lv, j in parent_nodes(n))
    assert got == want
    assert fresh.size == n + 1
    # what it learnt or made is not asked again: the next leaf fetches only the rest
    lacking = fresh.missing(n + 1)
    assert not set(lacking) & {*left_siblings(n), *parent_nodes(n), (0, n)}
    assert fresh.add(n + 1, merkle.leaf_hash(data[n + 1]), fetch) == b"".join(
        _node(data, lv, j) for lv, j in parent_nodes(n + 1)
    )
    assert len(calls) == (1 if left_siblings(n) else 0) + (1 if lacking else 0)


def test_add_without_fetch_refuses_and_changes_nothing() -> None:
    leaves = _leaves(8)
    tree = Frontier()
    for h in leaves[:6]:
        tree.append(h)
    before = tree.root()
    with pytest.raises(InputError, match=r"lacks node \(0, 2\)"):
        tree.add(3, leaves[3])  # leaf 3 needs leaf 2, which the frontier no longer holds
    assert tree.size == 6 and tree.root() == before
    with pytest.raises(InputError):
        Frontier().add(1, leaves[1])  # a fresh frontier holds nothing


def test_a_fetch_that_lacks_a_node_is_refused() -> None:
    leaves = _leaves(4)
    with pytest.raises(InputError, match="32 bytes"):
        Frontier().add(3, leaves[3], lambda keys: {})
    with pytest.raises(InputError, match="32 bytes"):
        Frontier().add(1, leaves[1], lambda keys: {(0, 0): b"short"})


@pytest.mark.parametrize("leaf", [b"x" * 31, b"x" * 33, "x" * 32, None, bytearray(32)])
def test_a_leaf_that_is_no_hash_is_refused(leaf: object) -> None:
    tree = Frontier()
    with pytest.raises(InputError):
        tree.add(0, leaf)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        tree.append(leaf)  # type: ignore[arg-type]
    assert tree.size == 0


@pytest.mark.parametrize("index", [-1, True, 1.0, "1", None])
def test_a_leaf_index_that_is_no_count_is_refused(index: object) -> None:
    with pytest.raises(InputError):
        Frontier().add(index, b"\x00" * 32)  # type: ignore[arg-type]


def test_resume_checks_its_arguments() -> None:
    leaves = _leaves(6)
    nodes = {(2, 0): merkle.root(leaves[:4]), (1, 2): merkle.root(leaves[4:6])}
    assert Frontier.resume(6, nodes).root() == merkle.root(leaves)
    with pytest.raises(InputError, match=r"node \(1, 2\)"):
        Frontier.resume(6, {(2, 0): nodes[(2, 0)]})
    with pytest.raises(InputError, match="32 bytes"):
        Frontier.resume(6, {**nodes, (1, 2): b"short"})
    for size in (-1, True, 2.0):
        with pytest.raises(InputError):
            Frontier.resume(size, nodes)  # type: ignore[arg-type]
    assert Frontier.resume(0, {}).root() == EMPTY_ROOT


def test_clear_forgets_and_learn_teaches() -> None:
    leaves = _leaves(4)
    tree = Frontier()
    for h in leaves[:3]:
        tree.append(h)
    tree.clear()
    assert tree.size == 0 and tree.missing(3) == [(0, 2), (1, 0)]
    tree.learn({(0, 2): leaves[2], (1, 0): merkle.root(leaves[:2])})
    assert tree.missing(3) == []
    assert tree.add(3, leaves[3]) == merkle.root(leaves[2:4]) + merkle.root(leaves)
    with pytest.raises(InputError):
        tree.learn({(0, 0): b"short"})


def test_the_export_frontier_is_the_one_frontier() -> None:
    from provchain.export import MerkleFrontier

    assert MerkleFrontier is Frontier


# --- node ids and shapes --------------------------------------------------------------------------


@FAST
@given(st.integers(0, 40), st.integers(0, 2**40))
def test_node_ids_name_their_family(level: int, index: int) -> None:
    node = NodeID(level, index)
    assert node == (level, index) and hash(node) == hash((level, index))
    begin, end = node.leaves()
    assert (begin, end) == (index << level, (index + 1) << level)
    parent = node.parent()
    assert node in parent.children() and node.sibling() in parent.children() and node.sibling() != node
    left, right = parent.children()
    assert left.leaves()[0] == parent.leaves()[0] and right.leaves()[1] == parent.leaves()[1]
    assert left.leaves()[1] == right.leaves()[0]


def test_a_leaf_has_no_children() -> None:
    with pytest.raises(InputError):
        NodeID(0, 5).children()


@FAST
@given(st.integers(0, 2**48))
def test_parent_nodes_are_the_trailing_ones(index: int) -> None:
    nodes = parent_nodes(index)
    ones = (~index & (index + 1)).bit_length() - 1  # trailing 1 bits of index
    assert [lv for lv, _ in nodes] == list(range(1, ones + 1))
    for lv, j in nodes:
        assert ((j + 1) << lv) == index + 1  # the node ends at the new leaf
    assert left_siblings(index) == [(lv - 1, 2 * j) for lv, j in nodes]


@FAST
@given(st.integers(1, 2**20).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))))
def test_path_shape_is_the_length_of_the_rfc_path(args: tuple[int, int]) -> None:
    index, size = args
    inner, border = path_shape(index, size)
    assert inner + border == len(ref.path_ranges(index, 0, size))


# --- the block layout -----------------------------------------------------------------------------


def test_a_tile_packs_30_hashes_at_distinct_offsets() -> None:
    offsets = sorted(
        blocks.tile_offset(level, j) for level in range(blocks.TILE_LEVELS + 1) for j in range(16 >> level)
    )
    assert offsets == list(range(0, blocks.TILE_BYTES, HASH_SIZE))
    assert blocks.TILE_BYTES == 960


@FAST
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2**36)), max_size=40))
def test_read_plan_places_every_key_where_node_place_says(keys: list[tuple[int, int]]) -> None:
    tiles, rows = blocks.read_plan(keys)
    placed: dict[tuple[int, int], tuple[str, int, int]] = {}
    for block, spots in tiles.items():
        for key, offset in spots:
            placed[key] = ("tiles", block, offset)
    for level, index in keys:
        table, key, offset = blocks.node_place(level, index)
        if table == "tiles":
            assert level <= blocks.TILE_LEVELS and placed[(level, index)] == (table, key, offset)
        else:
            assert level > blocks.TILE_LEVELS and key in rows
            assert key == (level << blocks.ROW_SHIFT) | (index >> 4) and offset == 32 * (index % 16)
    assert len(rows) == len({blocks.node_place(*k)[1] for k in keys if k[0] > blocks.TILE_LEVELS})


@FAST
@given(st.integers(0, 5), st.integers(0, 2**20))
def test_a_tile_round_trips_its_nodes(seed: int, block: int) -> None:
    data = _data(16, seed)
    leaves = [merkle.leaf_hash(d) for d in data]
    tile = blocks.tile_from_leaves(leaves)
    assert len(tile) == blocks.TILE_BYTES
    computed = blocks.block_nodes(0, leaves)
    assert blocks.block_nodes(block, leaves) == {
        (lv, (block << (4 - lv)) + j): h for (lv, j), h in computed.items()
    }  # the same nodes, at the block's place
    # from the hashes the 16 appends gave, as the store packs them, the same tile
    assert blocks.tile_from_entries(blocks.entry_nodes(block, leaves, blocks.block_nodes(block, leaves))) == tile
    frontier = Frontier()
    given_nodes = [frontier.add(r, h) for r, h in enumerate(leaves)]
    low = [(h, n[: 3 * HASH_SIZE]) for h, n in zip(leaves, given_nodes, strict=True)]  # levels 1 to 3
    assert blocks.entry_nodes(0, leaves, computed) == low
    assert blocks.tile_edge(tile) == leaves[15] + given_nodes[15][: 3 * HASH_SIZE]
    # read back through the plan, at the block's place in a large tree
    keys = [
        (level, (block << (4 - level)) + j) for level in range(blocks.TILE_LEVELS + 1) for j in range(16 >> level)
    ]
    tiles, rows = blocks.read_plan(keys)
    assert list(tiles) == [block] and not rows
    out: dict[tuple[int, int], bytes] = {}
    blocks.tile_nodes(tile, tiles[block], out)
    for level, index in keys:
        assert out[(level, index)] == _node(data, level, index - (block << (4 - level)))


def test_entry_nodes_of_an_open_block() -> None:
    leaves = _leaves(11)
    parts = blocks.entry_nodes(7, leaves, blocks.block_nodes(7, leaves))
    frontier = Frontier()
    assert parts == [(h, frontier.add(r, h)) for r, h in enumerate(leaves)]
    assert blocks.tile_from_entries(parts) is None  # not a whole block


@FAST
@given(st.integers(0, 600), st.integers(0, 3))
def test_high_rows_and_row_nodes_round_trip(n: int, seed: int) -> None:
    # Every node above level 3 of a tree of n leaves, written as the store writes rows and read back.
    data = _data(n, seed)
    frontier = Frontier()
    rows: dict[int, bytes] = {}
    for i, d in enumerate(data):
        nodes = frontier.add(i, merkle.leaf_hash(d))
        for row, h, offset in blocks.high_rows(i, nodes):
            assert len(rows.get(row, b"")) == offset  # a row grows in order
            rows[row] = rows.get(row, b"") + h
    out: dict[tuple[int, int], bytes] = {}
    for row, value in rows.items():
        _, first, length = blocks.row_length(row, n)
        assert len(value) == length and first % 16 == 0
        blocks.row_nodes(row, value, out)
    want = {(lv, j) for lv in range(4, n.bit_length()) for j in range(n >> lv)}
    assert set(out) == want
    for (lv, j), h in out.items():
        assert h == _node(data, lv, j)
        table, row, offset = blocks.node_place(lv, j)
        assert table == "nodes" and rows[row][offset : offset + HASH_SIZE] == h


def test_row_length_of_rows_a_tree_does_not_have() -> None:
    assert blocks.row_length((4 << blocks.ROW_SHIFT) | 5, 100)[2] == 0  # level 4 of 100 leaves: 6 nodes, one row
    assert blocks.row_length(4 << blocks.ROW_SHIFT, 100)[2] == 6 * HASH_SIZE
    assert blocks.row_length(2 << blocks.ROW_SHIFT, 100)[2] == 0  # a tile level: no rows
    assert blocks.row_length(70 << blocks.ROW_SHIFT, 2**39)[2] == 0


@FAST
@given(st.binary(max_size=1100), st.integers(0, 2**50))
def test_hostile_rows_are_read_whole_or_not_at_all(value: bytes, row: int) -> None:
    out: dict[tuple[int, int], bytes] = {}
    tiles, _ = blocks.read_plan([(0, 3), (3, 1)])
    blocks.tile_nodes(value, tiles[0], out)
    assert (out != {}) == (len(value) == blocks.TILE_BYTES)
    blocks.row_nodes(row, value, out)
    assert all(len(h) == HASH_SIZE for h in out.values())
    whole = len(value) % HASH_SIZE == 0 and len(value) <= 16 * HASH_SIZE
    assert len([k for k in out if k not in ((0, 3), (3, 1))]) <= (len(value) // HASH_SIZE if whole else 0)


# --- the C2SP tile arithmetic ---------------------------------------------------------------------


@FAST
@given(st.integers(0, 40), st.integers(0, 2**40))
def test_tile_place_finds_the_node_in_its_tile(level: int, index: int) -> None:
    (tl, n), r, j = tlog_tiles.tile_place(level, index)
    assert level == 8 * tl + r and 0 <= r < 8
    assert 0 <= j < 256 >> r and index == (n << (8 - r)) + j


def test_tile_place_matches_the_levels_of_a_reference_tile() -> None:
    data = _data(600)
    leaves = [merkle.leaf_hash(d) for d in data]
    rows = levels(leaves[256:512])  # tile (0, 1): leaves 256 to 511 and the levels above them
    for level in range(8):
        for index in range(256 >> level, 512 >> level):
            (tl, n), r, j = tlog_tiles.tile_place(level, index)
            assert (tl, n, r) == (0, 1, level) and rows[r][j] == _node(data, level, index)


@FAST
@given(st.integers(0, 2**26))
def test_tiles_for_lists_each_tile_at_its_width(size: int) -> None:
    tiles = tlog_tiles.tiles_for(size)
    for level, n, width in tiles:
        assert width == tlog_tiles.tile_width(level, n, size) > 0
    assert tlog_tiles.tile_width(0, len([t for t in tiles if t[0] == 0]), size) == 0
    assert sum(w for lv, _, w in tiles if lv == 0) == size


@FAST
@given(st.integers(0, 5), st.integers(0, 2**20), st.integers(1, 256))
def test_a_tile_holds_its_nodes_and_folds_to_its_root(level: int, n: int, width: int) -> None:
    nodes = tlog_tiles.tile_nodes(level, n, width)
    assert len(nodes) == width
    for j, key in enumerate(nodes):
        assert tlog_tiles.tile_place(*key) == ((level, n), 0, j)
    top = tlog_tiles.tile_root(level, n)
    assert tlog_tiles.tile_place(*top) == ((level + 1, n >> 8), 0, n & 255)
    if width == 256:  # a full tile's hashes are exactly the nodes 8 levels below its root
        lo, hi = NodeID(*top).leaves()
        assert NodeID(*nodes[0]).leaves()[0] == lo and NodeID(*nodes[-1]).leaves()[1] == hi


def test_tiles_for_refuses_a_size_that_is_no_count() -> None:
    for size in (-1, True, 1.5):
        with pytest.raises(InputError):
            tlog_tiles.tiles_for(size)  # type: ignore[arg-type]


def test_tlog_layout_names_are_the_trees() -> None:
    from provchain.tlog import layout

    assert layout.tiles_for is tlog_tiles.tiles_for and layout.TILE_WIDTH == tlog_tiles.TILE_WIDTH


# --- hashing and imports --------------------------------------------------------------------------


def test_levels_are_the_complete_nodes() -> None:
    data = _data(13)
    rows = levels([merkle.leaf_hash(d) for d in data])
    assert [len(r) for r in rows] == [13, 6, 3, 1]
    for lv, row in enumerate(rows):
        for j, h in enumerate(row):
            assert h == _node(data, lv, j)
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT


def test_the_tree_imports_no_store_and_no_ledger() -> None:
    probe = "import json, sys, provchain.tree; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "provchain.tree.frontier" in loaded
    heavy = {"provchain.ledger", "provchain.store", "provchain.store.sqlite", "sqlite3", "provchain.export"}
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)
