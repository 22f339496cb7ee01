"""Opening a ledger: the operator entries below the latest signed checkpoint are vouched for by it (their
bodies are leaves of its signed tree), those after it by their own signatures. Tampering with an operator
entry is caught on either side of the checkpoint.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import forge
import pytest
import rawdb
from conftest import ORIGIN, T0, Clock

from provchain import KeyPair, Ledger, encoding, merkle
from provchain import errors as E
from provchain.audit import audit_path
from provchain.checkpoint import Checkpoint
from provchain.ledger import _root_with_leaves

LATE = [KeyPair.from_seed(f"late-party-{n}", bytes([60 + n]) * 32) for n in range(4)]


@pytest.fixture
def ledger_file(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path) -> Path:
    """Entries 0..5 (policy, five parties) and 20 events, a checkpoint at 26, then four more registrations."""
    for n in range(20):
        ledger.append(f"BOX-{n}", "origin", parties["origin"], country="FR", at=T0 + 1000 + n)
    ledger.checkpoint()
    for kp in LATE:
        ledger.register_party(kp.name, roles=["courier"], public_key=kp.public_key, at=T0 + 5000)
    ledger.close()
    return ledger_path


def _conn(path: Path) -> sqlite3.Connection:
    return rawdb.connect(path, isolation_level=None)


def _parties(path: Path) -> list[str]:
    with Ledger.open(path, readonly=True, clock=Clock(T0 + 10**9)) as led:
        return [p.name for p in led.parties()]


def _edit(path: Path, idx: int, rebuild: bool, **change: object) -> None:
    with _conn(path) as conn:
        conn.execute("BEGIN")
        (body,) = conn.execute("SELECT body FROM entries WHERE idx = ?", (idx,)).fetchone()
        m = encoding.decode(bytes(body))
        m.update(change)
        conn.execute("UPDATE entries SET body = ? WHERE idx = ?", (encoding.encode(m), idx))
        if rebuild:
            forge.rebuild_tree(conn, from_bodies=True)
        conn.execute("COMMIT")


def _damage_signature(path: Path, idx: int) -> None:
    with _conn(path) as conn:
        (sig,) = conn.execute("SELECT sig FROM entries WHERE idx = ?", (idx,)).fetchone()
        flipped = bytearray(sig)
        flipped[3] ^= 1
        conn.execute("UPDATE entries SET sig = ? WHERE idx = ?", (bytes(flipped), idx))


def test_open_applies_every_operator_entry(ledger_file: Path, parties: dict[str, KeyPair]) -> None:
    assert _parties(ledger_file) == [kp.name for kp in parties.values()] + [kp.name for kp in LATE]


@pytest.mark.parametrize("idx", [3, 28])  # a registration below the checkpoint (size 26), one after it
@pytest.mark.parametrize("rebuild", [False, True])  # a naive edit, or one with the tree rebuilt to match
def test_an_edited_registration_is_refused_on_either_side_of_the_checkpoint(
    ledger_file: Path, idx: int, rebuild: bool
) -> None:
    _edit(ledger_file, idx, rebuild, roles=["courier", "origin"])
    with pytest.raises(E.SignatureError):
        _parties(ledger_file)


def test_a_rebuilt_tree_under_a_forged_checkpoint_is_refused(ledger_file: Path) -> None:
    """The attacker edits a registration, rebuilds the tree and stores a checkpoint of the new root that the
    operator did not sign: the checkpoint vouches for nothing, and the edited entry's signature fails."""
    _edit(ledger_file, 2, True, roles=["courier", "origin"])
    with _conn(ledger_file) as conn:
        leaves = [merkle.leaf_hash(bytes(b)) for (b,) in conn.execute("SELECT body FROM entries WHERE idx < 26")]
        (note,) = conn.execute("SELECT note FROM checkpoints WHERE size = 26").fetchone()
        signatures = bytes(note)[bytes(note).index(b"\n\n") + 2 :]  # the operator's line, now over another text
        forged = Checkpoint(ORIGIN, 26, merkle.root(leaves)).format() + b"\n" + signatures
        conn.execute("UPDATE checkpoints SET note = ? WHERE size = 26", (forged,))
    with pytest.raises(E.SignatureError):
        _parties(ledger_file)


def test_below_the_checkpoint_the_signed_tree_vouches_for_the_body(ledger_file: Path, operator: KeyPair) -> None:
    """A registration's stored signature damaged below the checkpoint: its body is a leaf of the operator-signed
    tree, so the ledger applies it without its signature; the audit names the damaged signature. After the
    checkpoint, the same damage refuses the open."""
    _damage_signature(ledger_file, 3)
    assert len(_parties(ledger_file)) == 9
    report = audit_path(ledger_file, operator.vkey, workers=1)
    assert [(f.index, f.check) for f in report.findings] == [(3, "signature")]
    _damage_signature(ledger_file, 28)
    with pytest.raises(E.SignatureError):
        _parties(ledger_file)


def test_a_damaged_tree_falls_back_to_the_signatures(ledger_file: Path) -> None:
    with _conn(ledger_file) as conn:
        forge.set_node(conn, 3, 1, bytes(32))  # over events 8..15: on the path of every registration below 26
    assert len(_parties(ledger_file)) == 9  # every signature verified instead
    _damage_signature(ledger_file, 3)
    with pytest.raises(E.SignatureError):
        _parties(ledger_file)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 16, 31, 33, 64, 100])
def test_root_with_leaves_is_the_root(size: int) -> None:
    rng = random.Random(size)
    leaves = [merkle.leaf_hash(rng.randbytes(8)) for _ in range(size)]
    stored = {}
    for level in range(size.bit_length()):
        for i in range(size >> level):
            stored[(level, i)] = merkle.root(leaves[i << level : (i + 1) << level])
    asked: list[list[tuple[int, int]]] = []

    def read(keys: object) -> dict[tuple[int, int], bytes]:
        asked.append(list(keys))  # type: ignore[call-overload]
        return {k: stored[k] for k in keys}  # type: ignore[attr-defined]

    for count in sorted({1, min(2, size), max(1, size // 2), size}):
        chosen = sorted(rng.sample(range(size), count))
        given = {i: leaves[i] for i in chosen}
        assert _root_with_leaves(size, given, read) == merkle.root(leaves)
        assert not set(asked[-1]) & {(0, i) for i in chosen}  # a given leaf is never read
        other = dict(given)
        other[chosen[0]] = merkle.leaf_hash(b"forged")
        assert _root_with_leaves(size, other, read) != merkle.root(leaves)
