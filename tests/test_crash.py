"""Crash safety: a real writer process is killed with SIGKILL at random moments, again and again.

After every kill the ledger must open, audit clean (every signature, rule, chain link and stored Merkle
node), pass SQLite's integrity check, and hold every append the writer acknowledged before it died, at
the index and with the leaf hash it acknowledged. The writer (tests/crash_writer.py) prints an
acknowledgement only after ``Ledger.append`` returned or the batch committed.

What is tested is a *process* crash: the operating system survives, so whatever SQLite handed to it is
kept. With ``durability="full"`` (``synchronous=FULL``) an acknowledged append is also fsynced and
survives power loss; with ``"normal"`` it survives a process crash but the last commits may be lost on
power loss. Power loss is not simulated here (docs/security.md, "Durability").

Default run: 20 kills (8 single appends, 8 batches, 4 with durability normal). ``-m slow``: 240 kills.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import crash_writer as cw
import pytest
import rawdb

from provchain import KeyPair, Ledger, merkle
from provchain.audit import audit_path

WRITER = Path(__file__).with_name("crash_writer.py")


@pytest.fixture
def slow_selected(request: pytest.FixtureRequest) -> None:
    """Skip unless slow tests were asked for (``-m slow``), whatever the default marker expression is."""
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("many kills: run with -m slow")


def new_ledger(path: Path) -> str:
    """Create the crash ledger with the writer's parties registered; return the operator's vkey."""
    op = KeyPair.from_seed(cw.ORIGIN, cw.OPERATOR_SEED)
    with Ledger.create(path, origin=cw.ORIGIN, operator=op) as led:
        for role, kp in cw.party_keys().items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, valid_from=0)
    return op.vkey


@dataclass
class Kill:
    """What one run of the writer acknowledged before it was killed."""

    acked: list[tuple[int, bytes]]
    ready: bool
    delay: float


def run_and_kill(path: Path, mode: str, batch: int, durability: str, rng: random.Random, seed: int) -> Kill:
    """Start the writer, SIGKILL it at a random moment, return what it acknowledged."""
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), mode, str(batch), durability, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    ready = False
    if rng.random() < 0.2:
        # sometimes kill it while it starts or opens the ledger (WAL recovery, pragmas)
        delay = rng.uniform(0.0, 0.6)
        time.sleep(delay)
    else:
        first = proc.stdout.readline()
        if first != b"ready\n":
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"the writer did not start: {first!r} {err.decode(errors='replace')}")
        ready = True
        delay = rng.uniform(0.0, 0.15)
        time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, err.decode(errors="replace"))
    acked = []
    lines = out.split(b"\n")
    for line in lines[:-1]:  # the last piece has no newline: empty, or a line cut by the kill (not an ack)
        if line == b"ready":
            ready = True
            continue
        idx, leaf = line.split(b" ")
        acked.append((int(idx), bytes.fromhex(leaf.decode())))
    return Kill(acked, ready, delay)


def check_ledger(path: Path, vkey: str, acked: dict[int, bytes]) -> int:
    """Everything a crashed ledger file must satisfy; returns its size."""
    size = check_acknowledged(path, vkey, acked)
    conn = rawdb.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    return size


def check_acknowledged(location: Path | str, vkey: str, acked: dict[int, bytes]) -> int:
    """What any crashed ledger (a file or a database URL) must satisfy: every acknowledged entry there and
    unchanged, the stored tree the entries' tree, the audit clean; returns its size."""
    with Ledger.open(location) as led:
        size = led.size
        for index, leaf in acked.items():
            assert index < size, f"acknowledged entry {index} is lost (the ledger holds {size})"
            assert led.entry(index).leaf_hash == leaf, f"acknowledged entry {index} was replaced"
        leaves = [e.leaf_hash for e in led.entries()]
        assert len(leaves) == size
        assert led.root() == merkle.root(leaves)  # the stored tree matches the entries
        if size > 1:
            proof = led.inclusion_proof(size - 1)
            merkle.verify_inclusion(leaves[-1], size - 1, size, proof, led.root())
    report = audit_path(location, vkey, workers=1)
    assert report.clean, report.summary()
    assert report.size == size
    return size


def kill_many(tmp_path: Path, mode: str, batch: int, durability: str, kills: int, seed: int) -> None:
    path = tmp_path / f"{mode}-{durability}-{seed}.db"
    vkey = new_ledger(path)
    rng = random.Random(seed)
    acked: dict[int, bytes] = {}
    progressed = 0
    for n in range(kills):
        k = run_and_kill(path, mode, batch, durability, rng, seed * 1000 + n)
        for index, leaf in k.acked:
            assert acked.setdefault(index, leaf) == leaf, f"index {index} acknowledged twice with different entries"
        progressed += bool(k.acked)
        size = check_ledger(path, vkey, acked)
        assert size >= len(acked)
    assert acked, "the writer never acknowledged an append: the kills came too early to test anything"
    assert progressed >= kills // 3
    # after all the kills the ledger still takes appends (from a fresh writer), and checkpoints
    op = KeyPair.from_seed(cw.ORIGIN, cw.OPERATOR_SEED)
    with Ledger.open(path, operator=op) as led:
        e = led.append("AFTER-CRASHES", "origin", cw.party_keys()["origin"], country="FR")
        assert e.index == led.size - 1
        led.checkpoint()
    assert audit_path(path, vkey, workers=1).clean


# --- default run ----------------------------------------------------------------------------------


def test_single_durable_appends_survive_sigkill(tmp_path: Path) -> None:
    kill_many(tmp_path, "single", 1, "full", kills=8, seed=1)


def test_batches_survive_sigkill(tmp_path: Path) -> None:
    kill_many(tmp_path, "batch", 25, "full", kills=8, seed=2)


def test_durability_normal_survives_a_process_crash(tmp_path: Path) -> None:
    # synchronous=NORMAL: a commit is in the WAL (in the OS) when acknowledged, not yet fsynced. A process
    # crash keeps it; a power loss may lose the last commits (not tested here).
    kill_many(tmp_path, "single", 1, "normal", kills=4, seed=3)


def test_writer_acknowledges_only_what_is_stored(tmp_path: Path) -> None:
    """The harness itself: a writer that is not killed early acknowledges entries that are all there."""
    path = tmp_path / "ledger.db"
    vkey = new_ledger(path)
    k = run_and_kill(path, "batch", 10, "full", _AlwaysReady(), seed=9)
    assert k.ready and k.acked
    assert [i for i, _ in k.acked] == list(range(k.acked[0][0], k.acked[0][0] + len(k.acked)))
    check_ledger(path, vkey, dict(k.acked))


class _AlwaysReady(random.Random):
    """An rng that makes run_and_kill wait for 'ready' and then about 0.3 s."""

    def random(self) -> float:
        return 0.99

    def uniform(self, a: float, b: float) -> float:
        return 0.3


# --- slow: many more kills ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("mode", "batch", "durability"),
    [("single", 1, "full"), ("batch", 50, "full"), ("batch", 7, "normal")],
    ids=["single-full", "batch50-full", "batch7-normal"],
)
def test_many_kills(slow_selected: None, tmp_path: Path, mode: str, batch: int, durability: str, seed: int) -> None:
    kill_many(tmp_path, mode, batch, durability, kills=20, seed=100 + seed)
