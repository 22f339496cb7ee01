"""Crash safety against a real PostgreSQL 15 server: writer processes killed with SIGKILL in the middle of a
load, and the server itself crashed (``pg_ctl restart -m immediate``: every backend killed, no shutdown
checkpoint, recovery from the WAL) while writers append.

Each writer (this module run as a script) prints ``INDEX LEAF_HASH_HEX`` for an append only after
``Ledger.append`` returned or its batch committed: a printed line is a promise. A writer that loses its
connection (the server crashed) is told so by a :class:`StorageError`, prints nothing for that append, and
tries again (the store connects anew between transactions). After every crash: every promise is kept (the
entry is at its index with its leaf hash), the indexes have no gap, the stored tree is the entries' tree,
and the audit of the URL is clean. The server runs with ``fsync = on``.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

if __name__ != "__main__":
    import crash_writer as cw
    import psycopg
    import pytest
    from test_crash import check_acknowledged

    from provchain import KeyPair, Ledger
    from provchain.store.postgres import SCHEMA

SCRIPT = Path(__file__)


class Writer:
    """One writer process and the acknowledgements it printed (read by a thread as they come)."""

    def __init__(self, url: str, mode: str, batch: int, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), url, mode, str(batch), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.acked: list[tuple[int, bytes]] = []
        self.stderr = ""
        self._err: list[bytes] = []
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        # stderr is read as it comes too: a writer retrying through a long crash recovery (the server syncs its
        # whole data directory first) writes more than a pipe holds, and would block on a full pipe.
        self._err_thread = threading.Thread(target=self._read_err, daemon=True)
        self._err_thread.start()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith(b"\n"):
                break  # cut by the kill: not an acknowledgement
            if line == b"ready\n":
                self.ready.set()
                continue
            idx, leaf = line.split(b" ")
            self.acked.append((int(idx), bytes.fromhex(leaf.strip().decode())))

    def wait_for(self, count: int, timeout: float = 60) -> None:
        """Wait until the writer acknowledged at least ``count`` appends in all."""
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            if self.proc.poll() is not None:
                self._err_thread.join(timeout=30)
                err = b"".join(self._err).decode(errors="replace")
                pytest.fail(f"the writer exited ({self.proc.returncode}): {err[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the writer acknowledged {len(self.acked)} appends, not {count}, in {timeout} s")
            time.sleep(0.02)

    def kill(self) -> list[tuple[int, bytes]]:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._thread.join(timeout=30)
        self._err_thread.join(timeout=30)
        self.stderr = b"".join(self._err).decode(errors="replace")
        return self.acked


def _new_ledger(url: str) -> str:
    op = KeyPair.from_seed(cw.ORIGIN, cw.OPERATOR_SEED)
    with Ledger.create(url, origin=cw.ORIGIN, operator=op) as led:
        for role, kp in cw.party_keys().items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, valid_from=0)
    return op.vkey


def _check(url: str, vkey: str, acked: dict[int, bytes]) -> int:
    size = check_acknowledged(url, vkey, acked)
    with psycopg.connect(url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {SCHEMA}.entries").fetchone() == (size,)  # no gap
    return size


def _merge(into: dict[int, bytes], acked: list[tuple[int, bytes]]) -> None:
    for index, leaf in acked:
        assert into.setdefault(index, leaf) == leaf, f"index {index} acknowledged twice with different entries"


def test_writers_killed_mid_load(postgres_url: str) -> None:
    """Three writers (singles and batches) at once, all killed with SIGKILL at a random moment; four times."""
    vkey = _new_ledger(postgres_url)
    rng = random.Random(15)
    acked: dict[int, bytes] = {}
    for round_ in range(4):
        writers = [
            Writer(postgres_url, mode, batch, seed=100 * round_ + k)
            for k, (mode, batch) in enumerate([("single", 1), ("batch", 20), ("single", 1)])
        ]
        for w in writers:
            w.wait_for(5)
        time.sleep(rng.uniform(0.0, 0.3))
        for w in writers:
            _merge(acked, w.kill())
        size = _check(postgres_url, vkey, acked)
        assert size >= len(acked)
    assert len(acked) >= 4 * 3 * 5


def test_server_crash_mid_load(restartable_postgres: object, postgres_url: str) -> None:
    """``pg_ctl restart -m immediate`` while three writers append, twice: the writers see their connection
    fail, connect again and go on; every append they acknowledged, before or after, is there."""
    server = restartable_postgres
    vkey = _new_ledger(postgres_url)
    writers = [
        Writer(postgres_url, mode, batch, seed=k)
        for k, (mode, batch) in enumerate([("single", 1), ("batch", 15), ("single", 1)])
    ]
    try:
        for crash in range(2):
            for w in writers:
                w.wait_for(len(w.acked) + 10)
            server.restart_immediate()  # type: ignore[attr-defined]
            for w in writers:  # each writer goes on after the crash
                w.wait_for(len(w.acked) + 10, timeout=120)
            del crash
    finally:
        acked: dict[int, bytes] = {}
        for w in writers:
            _merge(acked, w.kill())
    _check(postgres_url, vkey, acked)
    assert len(acked) >= 3 * 40
    # the crashes did hit the writers: they saw their connection fail, and went on after it
    assert any("retry after StorageError" in w.stderr for w in writers), [w.stderr[-500:] for w in writers]
    assert all("Traceback" not in w.stderr for w in writers), [w.stderr[-2000:] for w in writers]


def test_an_acknowledged_append_survives_an_immediate_crash(restartable_postgres: object, postgres_url: str) -> None:
    """An append is acknowledged only once its commit is on disk: crashed right after it returns (before the
    WAL writer would have written an asynchronous commit), the server recovers it, three times over."""
    vkey = _new_ledger(postgres_url)
    keys = cw.party_keys()
    acked: dict[int, bytes] = {}
    for n in range(3):
        with Ledger.open(postgres_url) as led:
            e = led.append(f"QUICK-{n}", "origin", keys["origin"], country="FR")
            acked[e.index or 0] = e.leaf_hash
            restartable_postgres.restart_immediate()  # type: ignore[attr-defined]
        _check(postgres_url, vkey, acked)


# --- the writer -------------------------------------------------------------------------------------


def _writer_main(argv: list[str]) -> None:
    """``test_postgres_crash.py URL MODE BATCH SEED``: append until killed, acknowledging each append."""
    sys.path.insert(0, str(SCRIPT.parent))
    import crash_writer as cw

    from provchain import Ledger
    from provchain.errors import LedgerBusyError, StorageError

    url, mode, batch, seed = argv[1], argv[2], int(argv[3]), int(argv[4])
    rng = random.Random(seed)
    keys = cw.party_keys()
    out = sys.stdout
    led = None
    while led is None:
        try:
            led = Ledger.open(url)
        except StorageError:
            time.sleep(0.05)
    out.write("ready\n")
    out.flush()
    n = 0
    while True:
        items = [cw._pick(rng, seed, n + k) for k in range(1 if mode == "single" else batch)]
        n += len(items)
        try:
            # The writers share items: each reads the next stage inside the write section (a batch, of one
            # append in mode single), where the head it reads is current.
            acked = []
            with led.batch():
                for item in items:
                    stage, role = cw.next_step(led, item)
                    acked.append(led.append(item, stage, keys[role], country="CN", place="Hangzhou"))
        except (StorageError, LedgerBusyError) as exc:
            sys.stderr.write(f"retry after {type(exc).__name__}: {exc}\n")
            sys.stderr.flush()
            time.sleep(0.05)  # the connection failed (a server crash): nothing acknowledged; try again
            continue
        out.write("".join(f"{e.index} {e.leaf_hash.hex()}\n" for e in acked))
        out.flush()


if __name__ == "__main__":
    _writer_main(sys.argv)
