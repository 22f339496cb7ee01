"""Interop with Tessera's golden log (tests/vectors/tessera, see its SOURCE.md): provchain's reader verifies
its checkpoints, tiles, entries and proofs, and provchain's layout gives the same bytes for the same entries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provchain import errors as E
from provchain import merkle
from provchain.checkpoint import open_checkpoint
from provchain.keys import format_vkey
from provchain.note import new_verifier
from provchain.tlog import DirFetcher, TiledLog, layout

LOG = Path(__file__).parent / "vectors" / "tessera" / "log"
VKEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
ORIGIN = "example.com/log/testdata"
WORDS = "one two three four five six seven eit nain ten ileven twelf threeten fourten fivten"  # build_log.sh
ENTRIES = [w.encode() for w in WORDS.split(" ")]


def golden_files() -> dict[str, bytes]:
    return {p.relative_to(LOG).as_posix(): p.read_bytes() for p in LOG.rglob("*") if p.is_file()}


def test_every_checkpoint_verifies() -> None:
    v = new_verifier(VKEY)
    for size in range(16):
        cp, _ = open_checkpoint((LOG / f"checkpoint.{size}").read_bytes(), ORIGIN, v)
        assert cp.size == size
        assert cp.root == merkle.root([merkle.leaf_hash(e) for e in ENTRIES[:size]])
    assert (LOG / "checkpoint").read_bytes() == (LOG / "checkpoint.15").read_bytes()


def test_reader_verifies_the_golden_log() -> None:
    with TiledLog(DirFetcher(LOG), parallel=2) as log:
        cp, _ = log.checkpoint(VKEY)
        assert cp.size == 15
        assert log.verify_tree(cp) == 15
        assert [e for _, bundle, _ in log.bundles(15) for e in bundle] == ENTRIES
        # every inclusion and consistency proof built from the tiles verifies against the signed checkpoints
        v = new_verifier(VKEY)
        older = {s: open_checkpoint((LOG / f"checkpoint.{s}").read_bytes(), ORIGIN, v)[0] for s in range(1, 16)}
        for index, e in enumerate(ENTRIES):
            log.verify_inclusion(merkle.leaf_hash(e), index, cp)
            with pytest.raises(E.InclusionError):
                log.verify_inclusion(merkle.leaf_hash(e + b"!"), index, cp)
        for size, old in older.items():
            assert log.root(size, 15) == old.root
            log.verify_older_root(size, old.root, cp)
            with pytest.raises(E.ConsistencyError):
                log.verify_older_root(size, merkle.leaf_hash(b"x"), cp)


def test_each_size_is_a_verifiable_tree(tmp_path: Path) -> None:
    # The golden log keeps the partial tiles of every size it had: each older checkpoint is a whole tree.
    for size in range(1, 16):
        d = tmp_path / str(size)
        shutil.copytree(LOG, d)
        shutil.copy(LOG / f"checkpoint.{size}", d / "checkpoint")
        with TiledLog(DirFetcher(d)) as log:
            cp, _ = log.checkpoint(VKEY)
            assert log.verify_tree(cp) == size


def test_same_entries_same_bytes() -> None:
    golden = golden_files()
    ours: dict[str, bytes] = {}
    for size in range(1, 16):
        ours.update(layout.reference_files(ENTRIES[:size]))
    assert ours == {k: v for k, v in golden.items() if k.startswith("tile/")}


def test_golden_log_tampered(tmp_path: Path) -> None:
    d = tmp_path / "log"
    shutil.copytree(LOG, d)
    tile = d / "tile/0/000.p/15"
    data = bytearray(tile.read_bytes())
    data[100] ^= 1
    tile.write_bytes(bytes(data))
    with TiledLog(DirFetcher(d)) as log:
        cp, _ = log.checkpoint(VKEY)
        with pytest.raises(E.PublishedLogError, match="does not hash to its leaf hash"):
            log.verify_tree(cp)
    (d / "tile/0/000.p/15").unlink()
    with TiledLog(DirFetcher(d)) as log, pytest.raises(E.PublishedLogError, match=r"000\.p/15 is missing"):
        log.verify_tree(log.checkpoint(VKEY)[0])
    with TiledLog(DirFetcher(d)) as log, pytest.raises(E.PublishedLogError, match="does not verify"):
        log.checkpoint(format_vkey(ORIGIN, bytes(32)))
