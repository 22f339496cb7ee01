"""Storage faults: a full disk, read-only files and directories, and writes that bypass the ledger.

* A ledger that cannot grow (SQLite ``max_page_count``, as a full disk behaves): an append, alone or in
  a batch, fails with :class:`StorageError` saying so, and the ledger is exactly as before (size, root,
  histories, checkpoints); once there is room again it takes appends and audits clean.
* A read-only ledger file, in a writable or a read-only directory, cleanly closed or left by a crashed
  writer: appends fail with a clear :class:`StorageError`; history, proofs, export and the audit work.
  File permissions do not bind root, so when the tests run as root these run in a forked child that
  drops to an unprivileged user (``nobody``) first.
* An attacker with file access writes a validly signed entry straight into the store, past the
  ledger's checks (dated in the future, or before its signer's key is valid): the auditor flags it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import HOUR, ORIGIN, T0, Clock, journey

import provchain.export
import provchain.proof  # Ledger.prove imports it lazily: load it before dropping privileges
from provchain import KeyPair, Ledger, merkle
from provchain.audit import audit_path
from provchain.entries import Event, sign_body
from provchain.errors import ExpiredKeyError, LedgerError, ProvchainError, StorageError, TimeError
from provchain.rules import Head
from provchain.store.base import StoredEntry
from provchain.store.sqlite import SqliteStore

NOBODY = 65534


# --- helpers ----------------------------------------------------------------------------------------


def snapshot(led: Ledger, items: list[str]) -> tuple[Any, ...]:
    """Everything an append could have changed."""
    return (
        led.size,
        led.root(),
        [e.leaf_hash for e in led.entries()],
        {item: [h.leaf_hash for h in led.history(item)] for item in items},
        led.latest_checkpoint(),
        len(led.parties()),
    )


def sqlite_store(led: Ledger) -> SqliteStore:
    store = led.store
    assert isinstance(store, SqliteStore)
    return store


BIG = {f"k{i:02d}": "x" * 200 for i in range(16)}  # about 3.5 kB per event: pages fill fast


def fill(led: Ledger, parties: dict[str, KeyPair], prefix: str, limit: int = 5000) -> Iterator[int]:
    """Append big origin events until the storage refuses one; yield before each append."""
    for n in range(limit):
        yield n
        led.append(f"{prefix}-{n}", "origin", parties["origin"], country="FR", data=BIG, at=T0 + HOUR)
    raise AssertionError(f"{limit} appends fitted under the size limit")


# --- full disk ----------------------------------------------------------------------------------


def test_full_disk_single_append(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    journey(ledger, parties, "BAG-1")
    ledger.checkpoint()
    items = ["BAG-1"]
    sqlite_store(ledger).set_max_pages(1)  # SQLite caps it at the current size: no page may be added
    before = snapshot(ledger, items)
    with pytest.raises(StorageError, match="full") as info:
        for _ in fill(ledger, parties, "FULL"):
            before = snapshot(ledger, items)
    assert "nothing was written" in str(info.value)
    assert snapshot(ledger, items) == before
    # still full: the next append fails the same way, and an operator write too
    with pytest.raises(StorageError, match="full"):
        ledger.append("FULL-X", "origin", parties["origin"], country="FR", data=BIG, at=T0 + HOUR)
    assert snapshot(ledger, items) == before
    # room again: the ledger goes on where it was
    sqlite_store(ledger).set_max_pages(1 << 30)
    e = ledger.append("FULL-X", "origin", parties["origin"], country="FR", data=BIG, at=T0 + HOUR)
    assert e.index == before[0]
    ledger.checkpoint()
    report = audit_path(sqlite_store(ledger).path, operator.vkey, workers=1)
    assert report.clean, report.summary()


def test_full_disk_inside_a_batch(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    journey(ledger, parties, "BAG-1")
    items = ["BAG-1", "B-0", "B-1"]
    sqlite_store(ledger).set_max_pages(1)
    before = snapshot(ledger, items)
    with pytest.raises(StorageError, match="full"), ledger.batch():
        for _ in fill(ledger, parties, "B"):
            pass
    assert snapshot(ledger, items) == before  # the whole batch rolled back, nothing of it is left

    # a caller that catches the error inside the batch cannot go on writing into a broken batch
    with pytest.raises(LedgerError, match="rolled back"), ledger.batch():
        with pytest.raises(StorageError, match="full"):
            for _ in fill(ledger, parties, "C"):
                pass
        with pytest.raises(LedgerError, match="failed"):
            ledger.append("C-late", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    assert snapshot(ledger, items) == before

    sqlite_store(ledger).set_max_pages(1 << 30)
    with ledger.batch():
        for n in range(30):
            ledger.append(f"B-{n}", "origin", parties["origin"], country="FR", data=BIG, at=T0 + HOUR)
    assert ledger.size == before[0] + 30
    assert audit_path(sqlite_store(ledger).path, operator.vkey, workers=1).clean


def test_full_disk_found_by_a_read_inside_a_batch(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    """A batch's rows are queued and written before the next read: if that read is where the full disk shows,
    the batch must still be doomed, even when the caller catches the error and leaves the block normally."""
    journey(ledger, parties, "BAG-1")
    sqlite_store(ledger).set_max_pages(1)
    before = snapshot(ledger, ["BAG-1", "Q-3"])

    def queue_then_read() -> None:
        with pytest.raises(StorageError, match="full"):
            for n in range(10):  # fewer than a queue's worth: none has to reach SQLite yet
                ledger.append(f"Q-{n}", "origin", parties["origin"], country="FR", data=BIG, at=T0 + HOUR)
            # The read writes the queue first, into a full disk. (After a failed batch the tree has
            # forgotten its frontier, and reading it back already writes the queue: then an append fails.)
            ledger.history("Q-3")

    with pytest.raises(StorageError, match="rolled back because a write in it failed"), ledger.batch():
        queue_then_read()  # and leave the block as if all went well
    assert snapshot(ledger, ["BAG-1", "Q-3"]) == before

    with pytest.raises(LedgerError, match="rolled back"), ledger.batch():
        queue_then_read()
        with pytest.raises(StorageError, match="earlier write"):  # no going on after the failure
            ledger.append("Q-late", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    assert snapshot(ledger, ["BAG-1", "Q-3"]) == before
    sqlite_store(ledger).set_max_pages(1 << 30)
    ledger.append("Q-3", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    assert audit_path(sqlite_store(ledger).path, operator.vkey, workers=1).clean


def test_savepoint_undoes_only_its_own_queued_rows(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    """SqliteStore.transaction nests as a savepoint: rows queued inside a failed savepoint are dropped,
    rows queued before it are kept and committed."""
    store = sqlite_store(ledger)
    start = ledger.size
    entries = []
    for n in range(3):
        ev = Event(origin=ORIGIN, at=T0 + n, signer=parties["origin"].key_id, item=f"SP-{n}", stage="origin",
                   country="FR")  # fmt: skip
        entries.append(sign_body(ev, parties["origin"], start + n))

    def stored(k: int) -> StoredEntry:
        return StoredEntry(entries[k], b"")

    with store.transaction():
        store.add_entry(start, stored(0))  # queued
        assert store.head("SP-0") == Head(start, entries[0].leaf_hash, "origin", T0)  # read from the queue
        assert store.head("SP-1") is None
        with pytest.raises(RuntimeError), store.transaction():
            store.add_entry(start + 1, stored(1))
            raise RuntimeError("undo the savepoint")
        with store.transaction():
            store.add_entry(start + 1, stored(2))
    assert store.size() == start + 2
    assert store.entry(start).body == entries[0].body
    assert store.entry(start + 1).body == entries[2].body
    assert store.head("SP-0") == Head(start, entries[0].leaf_hash, "origin", T0)
    assert store.head("SP-2") == Head(start + 1, entries[2].leaf_hash, "origin", T0 + 2)


def test_full_disk_checkpoint_and_registration(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    journey(ledger, parties, "BAG-1")
    sqlite_store(ledger).set_max_pages(1)
    with pytest.raises(StorageError):
        for _ in fill(ledger, parties, "FULL"):
            pass
    before = snapshot(ledger, ["BAG-1"])
    newcomer = KeyPair.from_seed("newcomer", b"\x42" * 32)
    for _ in range(3):  # a registration or a checkpoint may still fit in a page's free space: push until full
        try:
            ledger.register_party(newcomer.name, ["courier"], newcomer.public_key, at=T0)
            ledger.checkpoint()
            newcomer = KeyPair.generate(f"newcomer-{os.urandom(2).hex()}")
            before = snapshot(ledger, ["BAG-1"])
        except StorageError as exc:
            assert "full" in str(exc)
            break
    assert snapshot(ledger, ["BAG-1"]) == before
    sqlite_store(ledger).set_max_pages(1 << 30)
    ledger.checkpoint()
    assert audit_path(sqlite_store(ledger).path, operator.vkey, workers=1).clean


# --- read-only files and directories ------------------------------------------------------------


def _child(fn: Callable[[Path], None], workdir: Path, out: Any) -> None:
    try:
        if os.geteuid() == 0:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        fn(workdir)
        out.put(None)
    except BaseException:
        out.put(traceback.format_exc())


def run_unprivileged(fn: Callable[[Path], None]) -> None:
    """Run ``fn(workdir)`` where file permissions bind: as this user, or (as root) forked as nobody."""
    workdir = Path(tempfile.mkdtemp(prefix="provchain-ro-"))
    try:
        if os.geteuid() != 0:
            fn(workdir)
            return
        os.chown(workdir, NOBODY, NOBODY)
        ctx = mp.get_context("fork")
        out = ctx.Queue()
        proc = ctx.Process(target=_child, args=(fn, workdir, out))
        proc.start()
        error = out.get(timeout=120)
        proc.join(timeout=30)
        if error is not None:
            pytest.fail(f"in the unprivileged child:\n{error}")
    finally:
        for root, dirs, _files in os.walk(workdir):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
        os.chmod(workdir, 0o700)
        shutil.rmtree(workdir, ignore_errors=True)


OPERATOR = KeyPair.from_seed(ORIGIN, bytes(range(32)))
PARTIES = {
    role: KeyPair.from_seed(name, bytes([i + 1]) * 32)
    for i, (role, name) in enumerate(
        {
            "origin": "grasse-labs",
            "customs": "shanghai-customs-broker",
            "warehouse": "hz-bonded-wh-3",
            "appraiser": "cciq-inspection",
            "courier": "sf-express",
        }.items()
    )
}


def build(path: Path) -> Ledger:
    """A ledger with two journeys and a checkpoint, left open."""
    led = Ledger.create(path, origin=ORIGIN, operator=OPERATOR, at=T0, clock=Clock(T0 + 100 * HOUR))
    for role, kp in PARTIES.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    journey(led, PARTIES, "BAG-1")
    journey(led, PARTIES, "BAG-2")
    led.checkpoint()
    return led


def make_read_only(directory: Path, *, directory_too: bool) -> None:
    for f in directory.iterdir():
        f.chmod(0o444)
    if directory_too:
        directory.chmod(0o555)


def check_read_only(path: Path, size: int, *, writable_open: bool) -> None:
    """Reading, proving, exporting and auditing work; appends fail clearly and change nothing."""
    assert not os.access(path, os.W_OK)
    for readonly in (True, False):
        if not readonly and not writable_open:
            with pytest.raises(StorageError, match="directory is read-only"):
                Ledger.open(path)
            continue
        with Ledger.open(path, readonly=readonly) as led:
            assert led.size == size
            hist = led.history("BAG-1")
            assert [h.stage for h in hist] == ["origin", "import", "warehouse", "warehouse", "appraisal", "delivery"]
            root = led.root()
            merkle.verify_inclusion(hist[-1].leaf_hash, hist[-1].index, size, led.inclusion_proof(hist[-1].index), root)
            note = led.latest_checkpoint()
            assert note is not None
            led.check_consistency(note)
            proof = led.prove("BAG-2")
            provchain.proof.verify_tlog_proof(proof, None, OPERATOR.vkey, ORIGIN)
            with pytest.raises(StorageError, match="read-only") as info:
                led.append("BAG-3", "origin", PARTIES["origin"], country="FR", at=T0 + HOUR)
            assert isinstance(info.value, ProvchainError) and "nothing was written" in str(info.value)
            assert led.size == size and led.root() == root
    report = audit_path(path, OPERATOR.vkey, workers=1)
    assert report.clean and report.size == size, report.summary()
    # an export can be written elsewhere, from the read-only ledger
    out = Path(tempfile.mkdtemp()) / "ledger.pcl"
    try:
        summary = provchain.export.export_ledger(path, out)
        assert summary.entries == size
        assert audit_path(out, OPERATOR.vkey, workers=1).clean
    finally:
        shutil.rmtree(out.parent)


def _ro_file_rw_dir(workdir: Path) -> None:
    path = workdir / "ledger.db"
    with build(path) as led:
        size = led.size
    make_read_only(workdir, directory_too=False)
    check_read_only(path, size, writable_open=True)


def _ro_file_ro_dir(workdir: Path) -> None:
    path = workdir / "ledger.db"
    with build(path) as led:
        size = led.size
    assert sorted(p.name for p in workdir.iterdir()) == ["ledger.db"]  # a clean close leaves no -wal, -shm
    make_read_only(workdir, directory_too=True)
    check_read_only(path, size, writable_open=False)


def _crashed_writer_ro_dir(workdir: Path) -> None:
    """A writer killed with its -wal and -shm files in place; then the files and directory go read-only."""
    path = workdir / "ledger.db"
    build(path).close()
    pid = os.fork()
    if pid == 0:  # the writer: append, then die without closing (its commits are in the -wal file)
        try:
            led = Ledger.open(path, operator=OPERATOR, clock=Clock(T0 + 100 * HOUR))
            journey(led, PARTIES, "BAG-9")
            led.checkpoint()
        finally:
            os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    wal = workdir / "ledger.db-wal"
    assert wal.exists() and wal.stat().st_size > 0 and (workdir / "ledger.db-shm").exists()
    make_read_only(workdir, directory_too=True)
    with Ledger.open(path, readonly=True) as led:
        size = led.size
        assert len(led.history("BAG-9")) == 6  # the writes in the -wal file are read, not ignored
    check_read_only(path, size, writable_open=True)


def _wal_without_shm_ro_dir(workdir: Path) -> None:
    """Only the database and its -wal file were copied into a read-only directory: refuse, do not read stale."""
    src = workdir / "src"
    src.mkdir()
    led = build(src / "ledger.db")
    dst = workdir / "dst"
    dst.mkdir()
    shutil.copy(src / "ledger.db", dst / "ledger.db")
    shutil.copy(src / "ledger.db-wal", dst / "ledger.db-wal")
    led.close()
    make_read_only(dst, directory_too=True)
    for readonly in (True, False):
        with pytest.raises(StorageError, match="-shm"):
            Ledger.open(dst / "ledger.db", readonly=readonly)
    with pytest.raises(StorageError, match="-shm"):
        audit_path(dst / "ledger.db", OPERATOR.vkey, workers=1)


def test_read_only_file_in_writable_directory() -> None:
    run_unprivileged(_ro_file_rw_dir)


def test_read_only_file_in_read_only_directory() -> None:
    run_unprivileged(_ro_file_ro_dir)


def test_read_only_after_a_crashed_writer() -> None:
    run_unprivileged(_crashed_writer_ro_dir)


def test_wal_without_shm_in_read_only_directory_is_refused_clearly() -> None:
    run_unprivileged(_wal_without_shm_ro_dir)


def test_readonly_open_refuses_writes(ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair]) -> None:
    """``readonly=True`` binds whatever the file permissions (root included)."""
    journey(ledger, parties, "BAG-1")
    size = ledger.size
    with Ledger.open(ledger_path, readonly=True) as ro:
        with pytest.raises(StorageError, match="read-only"):
            ro.append("BAG-2", "origin", parties["origin"], country="FR", at=T0 + HOUR)
        assert ro.size == size
    assert stat.S_IMODE(ledger_path.stat().st_mode) & 0o200  # the file itself stayed writable


# --- the attacker's way: validly signed entries written past the ledger's checks --------------------


def forge_append(path: Path, content: Event, signer: KeyPair) -> int:
    """Write a signed event straight into the store, with a correct Merkle tree; return its index."""
    store = SqliteStore.open(str(path))
    try:
        with store.transaction():
            index = store.size()
            entry = sign_body(content, signer, index)

            def read(level: int, idx: int) -> bytes:
                return store.nodes([(level, idx)])[(level, idx)]

            parents = merkle.parent_hashes(index, entry.leaf_hash, read)
            nodes = b"".join(h for _, _, h in parents)
            store.add_entry(index, StoredEntry(entry, nodes))
    finally:
        store.close()
    return index


def test_future_event_is_refused_at_append_and_flagged_by_the_audit(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], operator: KeyPair, clock: Clock
) -> None:
    journey(ledger, parties, "BAG-1")
    future = clock.now + 2 * HOUR  # beyond the 5 minute tolerance
    with pytest.raises(TimeError, match="future"):
        ledger.append("BAG-F", "origin", parties["origin"], country="FR", at=future)
    ev = Event(origin=ORIGIN, at=future, signer=parties["origin"].key_id, item="BAG-F", stage="origin", country="FR")
    idx = forge_append(ledger_path, ev, parties["origin"])
    report = audit_path(ledger_path, operator.vkey, workers=1, now=clock.now)
    assert [(f.index, f.check) for f in report.findings] == [(idx, "time")]
    # without a clock the auditor cannot judge the future (the CLI passes the current time)
    assert audit_path(ledger_path, operator.vkey, workers=1).clean
    # within the tolerance it is not a finding
    assert audit_path(ledger_path, operator.vkey, workers=1, now=future - 60_000).clean


def test_event_before_registration_is_refused_at_append_and_flagged_by_the_audit(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], operator: KeyPair, clock: Clock
) -> None:
    late = KeyPair.from_seed("late-courier", b"\x77" * 32)
    registered = T0 + 50 * HOUR
    ledger.register_party(late.name, ["origin"], late.public_key, at=registered)  # valid from its registration
    with pytest.raises(ExpiredKeyError, match="valid from"):
        ledger.append("BAG-E", "origin", late, country="FR", at=registered - HOUR)
    ev = Event(origin=ORIGIN, at=registered - HOUR, signer=late.key_id, item="BAG-E", stage="origin", country="FR")
    idx = forge_append(ledger_path, ev, late)
    report = audit_path(ledger_path, operator.vkey, workers=1, now=clock.now)
    assert [(f.index, f.check) for f in report.findings] == [(idx, "key-validity")]
    # the same event dated after the registration would have been fine
    ok = ledger.append("BAG-OK", "origin", late, country="FR", at=registered + HOUR)
    assert ok.index == idx + 1


def test_event_beyond_the_year_9999_is_judged_not_crashed_on(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], operator: KeyPair, clock: Clock
) -> None:
    """Entries allow times up to 2**53 ms (year ~287,000); messages about them must not crash (found by fuzzing)."""
    far = 2**53 - 1
    with pytest.raises(TimeError, match="beyond the year 9999"):
        ledger.append("BAG-Y", "origin", parties["origin"], country="FR", at=far)
    ev = Event(origin=ORIGIN, at=far, signer=parties["origin"].key_id, item="BAG-Y", stage="origin", country="FR")
    idx = forge_append(ledger_path, ev, parties["origin"])
    report = audit_path(ledger_path, operator.vkey, workers=1, now=clock.now)
    assert [(f.index, f.check) for f in report.findings] == [(idx, "time")]
    assert "beyond the year 9999" in report.summary()
