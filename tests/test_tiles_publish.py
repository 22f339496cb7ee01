"""Publishing a ledger as static tiles (provchain.tlog.writer, `provchain publish`): the files, their bytes,
incremental runs, the checkpoint written last, and refusals."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import clirun
import pytest
from conftest import ORIGIN, T0, Clock, journey

from provchain import KeyPair, Ledger
from provchain import errors as E
from provchain.tlog import DirFetcher, TiledLog, layout, publish, publish_loop


@pytest.fixture
def big(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    """306 entries (a full bundle and a partial one) and a checkpoint."""
    with ledger.batch():
        for i in range(50):
            journey(ledger, parties, f"item-{i:03d}")
    ledger.checkpoint()
    return ledger


def files_in(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_publish_layout_and_bytes(big: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "pub"
    result = publish(big, out)
    assert result.size == big.size == 306 and result.root == big.root()
    files = files_in(out)
    entries = list(big.entries())
    # Entry bundles and hash tiles: byte for byte what the spec's layout gives for these entry bodies.
    reference = layout.reference_files([e.body for e in entries])
    assert {k: v for k, v in files.items() if not k.startswith(("tile/sigs/", "checkpoint"))} == reference
    assert sorted(reference) == [
        "tile/0/000", "tile/0/001.p/50", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/50"
    ]  # fmt: skip
    # The companion: each bundle's signatures, 64 bytes each, in order.
    assert files["tile/sigs/000"] == b"".join(e.signature for e in entries[:256])
    assert files["tile/sigs/001.p/50"] == b"".join(e.signature for e in entries[256:])
    # The checkpoint: the stored note, verbatim.
    assert files["checkpoint"] == big.latest_checkpoint()
    assert result.files_written == len(files) == 8 and result.files_kept == 0
    assert result.bytes_written == sum(map(len, files.values()))
    assert not [p for p in out.rglob(".*")], "no temporary file is left behind"


def test_publish_is_incremental(big: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    out = tmp_path / "pub"
    publish(big, out)
    full = out / "tile/0/000"
    before = full.stat()
    again = publish(big, out)
    assert again.files_written == 0 and again.files_kept == 8 and again.previous_size == 306
    # Appends without a new checkpoint publish nothing new: only signed sizes are published.
    journey(big, parties, "item-late")
    assert publish(big, out).files_written == 0
    big.checkpoint()
    grown = publish(big, out)
    assert grown.size == 312 and grown.previous_size == 306
    # New: the partial bundle, its signatures and level-0 tile of width 56, and the checkpoint (the level-1
    # tile of width 1 is unchanged); never the full tile.
    assert grown.files_written == 3 + 1 and grown.files_kept == 4
    after = full.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert (out / "tile/0/001.p/50").exists() and (out / "tile/0/001.p/56").exists()
    with TiledLog(DirFetcher(out)) as log:
        cp, _ = log.checkpoint(big.operator_vkey)
        assert cp.size == 312 and log.verify_tree(cp) == 312


def test_publish_grows_across_tile_boundaries(ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    out = tmp_path / "pub"
    sizes = []
    for round_ in range(6):
        with ledger.batch():
            for i in range(9):
                journey(ledger, parties, f"r{round_}-{i}")
        ledger.checkpoint()
        publish(ledger, out)
        sizes.append(ledger.size)
    # every file of the latest tree is what the reference layout gives; earlier partial tiles stay
    files = files_in(out)
    reference = layout.reference_files([e.body for e in ledger.entries()])
    assert all(files[k] == v for k, v in reference.items())
    with TiledLog(DirFetcher(out)) as log:
        assert log.verify_tree(log.checkpoint(ledger.operator_vkey)[0]) == sizes[-1]


def test_publish_needs_a_checkpoint(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(E.LedgerError, match="no signed checkpoint"):
        publish(ledger, tmp_path / "pub")
    assert not (tmp_path / "pub" / "checkpoint").exists()


def test_publish_refuses_another_log(big: Ledger, tmp_path: Path, clock: Clock) -> None:
    out = tmp_path / "pub"
    publish(big, out)
    other_op = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)
    with Ledger.create(tmp_path / "other.db", origin=ORIGIN, operator=other_op, at=T0, clock=clock) as other:
        other.checkpoint()
        with pytest.raises(E.ConsistencyError, match="not this ledger's"):
            publish(other, out)
    assert (out / "checkpoint").read_bytes() == big.latest_checkpoint()


def test_publish_refuses_a_directory_ahead(big: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    src, dst = sqlite3.connect(tmp_path / "ledger.db"), sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.close()
    out = tmp_path / "pub"
    journey(big, parties, "item-late")
    big.checkpoint()
    publish(big, out)
    with pytest.raises(E.ConsistencyError, match="larger than the ledger's latest"):
        publish(copy, out)


def test_publish_refuses_a_damaged_store(big: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    big.close()
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT hashes FROM tiles WHERE block = 3").fetchone()[0]
    conn.execute("UPDATE tiles SET hashes = ? WHERE block = 3", (bytes([row[0] ^ 1]) + row[1:],))
    conn.commit()
    conn.close()
    out = tmp_path / "pub"
    with pytest.raises(E.DamagedLedgerError):
        publish(path, out)
    assert not (out / "checkpoint").exists()  # the checkpoint is written last: nothing was published


def test_publish_reads_one_snapshot(big: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    # A writer appends and signs a new checkpoint while a publisher runs: the publisher's tree is the one
    # of the checkpoint it read, whole (every file it wrote verifies against the checkpoint it wrote).
    path = tmp_path / "ledger.db"
    out = tmp_path / "pub"
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            with Ledger.open(path, big.operator) as w:
                n = 0
                while not stop.is_set() and n < 40:
                    journey(w, parties, f"conc-{n}")
                    w.checkpoint()
                    n += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(8):
            publish(path, out, fsync=False)
            with TiledLog(DirFetcher(out)) as log:
                cp, _ = log.checkpoint(big.operator_vkey)
                assert log.verify_tree(cp) == cp.size
    finally:
        stop.set()
        t.join()
    assert not errors


def test_publish_loop(big: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    path, out = tmp_path / "ledger.db", tmp_path / "pub"
    seen = []

    def grow(_: float) -> None:  # between rounds, the ledger grows and is checkpointed
        journey(big, parties, f"loop-{len(seen)}")
        big.checkpoint()

    assert publish_loop(path, out, interval=0.01, rounds=3, on_round=seen.append, sleep=grow) == 3
    assert [r.size for r in seen] == [306, 312, 318]
    with pytest.raises(E.InputError):
        publish_loop(path, out, interval=0)


def test_cli_publish(big: Ledger, tmp_path: Path) -> None:
    path, out = tmp_path / "ledger.db", tmp_path / "pub"
    res = clirun.ok("publish", str(path), str(out))
    assert "published size 306" in res.output and "8 files written" in res.output
    res = clirun.ok("publish", str(path), str(out), "--watch", "--rounds", "2", "--interval", "0.1")
    assert res.output.count("0 files written") == 2
    clirun.fails(2, "--rounds needs --watch", "publish", str(path), str(out), "--rounds", "2")
    (tmp_path / "afile").write_text("x")
    clirun.fails(2, "not a directory", "publish", str(path), str(tmp_path / "afile"))
    clirun.fails(2, "no ledger at", "publish", str(tmp_path / "missing.db"), str(out))


def test_files_are_readable_by_a_web_server(big: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "pub"
    publish(big, out)
    for p in out.rglob("*"):
        if p.is_file():
            assert os.stat(p).st_mode & 0o444 == 0o444


def test_one_publisher_at_a_time(big: Ledger, tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "pub"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another publisher holds the directory
        with pytest.raises(E.LedgerBusyError, match="another provchain publish"):
            publish(big, out)
    finally:
        os.close(fd)
    assert publish(big, out).files_written == 8
