"""The tlog-tiles layout (provchain.tlog.layout): paths, widths and bundles, held to the spec's examples,
round trips, and hostile input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provchain import errors as E
from provchain import merkle
from provchain.tlog import layout


@pytest.mark.parametrize(
    ("n", "path"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),  # the spec's example
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_index_path(n: int, path: str) -> None:
    assert layout.index_path(n) == path
    assert layout.parse_path(f"tile/0/{path}") == ("0", n, 256)


def test_paths() -> None:
    assert layout.tile_path(0, 0) == "tile/0/000"
    assert layout.tile_path(2, 1234067, 17) == "tile/2/x001/x234/067.p/17"
    assert layout.entries_path(3, 255) == "tile/entries/003.p/255"
    assert layout.sigs_path(1000) == "tile/sigs/x001/000"
    for path in ("tile/0/000", "tile/63/x001/x234/067.p/17", "tile/entries/003.p/255", "tile/sigs/x001/000"):
        kind, n, width = layout.parse_path(path)
        make = {"entries": layout.entries_path, "sigs": layout.sigs_path}.get(kind)
        rebuilt = make(n, width) if make else layout.tile_path(int(kind), n, width)
        assert rebuilt == path


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/0",  # not 3 digits
        "tile/0/0000",
        "tile/00/000",  # level with a leading zero
        "tile/64/000",  # level above 63
        "tile/-1/000",
        "tile/0/001/002",  # a non-last element without x
        "tile/0/x001",  # the last element with x
        "tile/0/x000/001",  # a leading x000
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/07",
        "tile/0/000.p/",
        "tiles/0/000",
        "tile/data/000",
        "tile/0",
        "checkpoint",
        "tile/0/00a",
        "tile/0/\u0661\u0662\u0663",  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_parse_path_refuses(path: str) -> None:
    with pytest.raises(E.TileFormatError):
        layout.parse_path(path)


@given(st.text(max_size=40))
def test_parse_path_fuzz(text: str) -> None:
    try:
        kind, n, width = layout.parse_path(text)
    except E.TileFormatError:
        return
    make = {"entries": layout.entries_path, "sigs": layout.sigs_path}.get(kind)
    assert (make(n, width) if make else layout.tile_path(int(kind), n, width)) == text


def test_tiles_for_spec_example() -> None:
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0 tile of
    # width 112, one full level 1 tile, one partial level 1 tile of width 17, and one partial level 2 tile
    # of width 1"; "a tree of size 256 [...] a full level 0 tile and a partial level 1 tile of width 1".
    tiles = layout.tiles_for(70_000)
    assert [t for t in tiles if t[0] == 0 and t[2] == 256] == [(0, n, 256) for n in range(273)]
    assert [t for t in tiles if t != (0, t[1], 256)] == [(0, 273, 112), (1, 0, 256), (1, 1, 17), (2, 0, 1)]
    assert layout.tiles_for(256) == [(0, 0, 256), (1, 0, 1)]
    assert layout.tiles_for(0) == []
    assert layout.tile_width(1, 1, 70_000) == 17
    assert layout.tile_width(1, 2, 70_000) == 0


def test_bundle_round_trip() -> None:
    entries = [b"", b"one", bytes(range(256)) * 4, b"\x00" * 65535]
    data = layout.encode_bundle(entries)
    assert data[:2] == b"\x00\x00" and data[2:4] == b"\x00\x03"
    assert layout.decode_bundle(data, 4) == entries
    with pytest.raises(E.InputError):
        layout.encode_bundle([b"\x00" * 65536])
    with pytest.raises(E.InputError):
        layout.encode_bundle([])


@pytest.mark.parametrize(
    ("data", "width", "why"),
    [
        (b"", 1, "ends after 0"),
        (b"\x00", 1, "ends after 0"),
        (b"\x00\x05abc", 1, "claims 5 bytes"),
        (b"\x00\x01a\x00", 1, "after its 1 entries"),
        (b"\x00\x01a", 2, "ends after 1"),
        (b"\x00\x03abc", 1, None),
    ],
)
def test_bundle_refuses(data: bytes, width: int, why: str | None) -> None:
    if why is None:
        assert layout.decode_bundle(data, width) == [b"abc"]
        with pytest.raises(E.TileFormatError, match="more than the 2 allowed"):
            layout.decode_bundle(data, width, max_entry=2)
        return
    with pytest.raises(E.TileFormatError, match=why):
        layout.decode_bundle(data, width)


@given(st.binary(max_size=600), st.integers(1, 256))
def test_bundle_fuzz(data: bytes, width: int) -> None:
    try:
        entries = layout.decode_bundle(data, width)
    except E.TileFormatError:
        return
    assert len(entries) == width and layout.encode_bundle(entries) == data


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=256))
def test_bundle_round_trip_fuzz(entries: list[bytes]) -> None:
    data = layout.encode_bundle(entries)
    assert layout.decode_bundle(data, len(entries)) == entries
    for cut in (1, 2):  # truncated, or one byte too many: never accepted
        if len(data) >= cut:
            with pytest.raises(E.TileFormatError):
                layout.decode_bundle(data[:-cut], len(entries))
    with pytest.raises(E.TileFormatError):
        layout.decode_bundle(data + b"\x00", len(entries))


def test_tiles_and_signatures_exact_length() -> None:
    h = [bytes([i]) * 32 for i in range(3)]
    assert layout.decode_tile(b"".join(h), 3) == h
    for bad in (b"".join(h)[:-1], b"".join(h) + b"\x00", b""):
        with pytest.raises(E.TileFormatError):
            layout.decode_tile(bad, 3)
    sigs = [bytes([i]) * 64 for i in range(2)]
    assert layout.decode_signatures(b"".join(sigs), 2) == sigs
    with pytest.raises(E.TileFormatError):
        layout.decode_signatures(b"".join(sigs) + b"\x00", 2)
    with pytest.raises(E.InputError):
        layout.decode_tile(b"", 0)
    with pytest.raises(E.InputError):
        layout.decode_tile(b"", 257)


def test_reference_files_small_tree() -> None:
    entries = [struct.pack(">I", i) for i in range(300)]
    files = layout.reference_files(entries)
    assert sorted(files) == [
        "tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/44"
    ]  # fmt: skip
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert files["tile/0/000"] == b"".join(leaves[:256])
    assert files["tile/1/000.p/1"] == merkle.root(leaves[:256])
    assert layout.decode_bundle(files["tile/entries/001.p/44"], 44) == entries[256:]


@given(st.binary(max_size=300))
def test_gzip_decoding_fuzz(data: bytes) -> None:
    import gzip

    from provchain.tlog import fetch

    def too_large() -> E.PublishedLogError:
        return E.PublishedLogError("too large")

    for raw in (data, gzip.compress(data), gzip.compress(data)[:-1], gzip.compress(data) + data[:1]):
        try:
            out = fetch._gunzip(raw, 1000, "u", too_large)
        except E.PublishedLogError:
            continue
        assert len(out) <= 1000  # decoded within the bound, or refused: never another exception
    assert fetch._gunzip(gzip.compress(data), 1000, "u", too_large) == data
    with pytest.raises(E.PublishedLogError, match="too large"):
        fetch._gunzip(gzip.compress(b"a" * 1001), 1000, "u", too_large)


def test_reader_arguments() -> None:
    from provchain.tlog import DirFetcher, TiledLog

    for kwargs in ({"parallel": 0}, {"parallel": 65}, {"parallel": True}, {"cache_tiles": 0}):
        with pytest.raises(E.InputError):
            TiledLog(DirFetcher("."), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        TiledLog("not a fetcher")  # type: ignore[arg-type]
