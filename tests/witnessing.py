"""Test helpers for witnessed checkpoints: fixed witness keys and cosigned notes stored in a ledger.

A cosigned note is made here with :meth:`WitnessKey.cosign` (no witness process) and stored with
:meth:`Ledger.add_cosignatures`, as ``provchain checkpoint --witness`` stores what witnesses return.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import WitnessKey, WitnessPolicy, split_note

COSIGNED_AT = 1_760_030_000  # POSIX seconds: 2025-10-09T17:13:20Z, after the test journeys' checkpoint


def witness_keys(n: int = 3) -> list[WitnessKey]:
    """``n`` witness keys from fixed seeds (``witness.example/w1``, seed ``41 41 ..``, ...)."""
    return [WitnessKey(KeyPair.from_seed(f"witness.example/w{i}", bytes([0x40 + i]) * 32)) for i in range(1, n + 1)]


def policy(keys: Sequence[WitnessKey], quorum: int | None = None) -> WitnessPolicy:
    """The policy of ``keys`` with ``quorum`` (default: all)."""
    return WitnessPolicy.from_witnesses([k.vkey for k in keys], quorum)


def cosign(note: bytes, keys: Sequence[WitnessKey], timestamp: int = COSIGNED_AT) -> bytes:
    """``note`` with a cosignature line by each of ``keys`` appended."""
    text, _ = split_note(note)
    return note + "".join(k.cosign(text, timestamp).line() for k in keys).encode()


def store_cosigned(
    ledger: Ledger, keys: Sequence[WitnessKey], timestamp: int = COSIGNED_AT, note: bytes | None = None
) -> bytes:
    """Cosign ``note`` (default: the ledger's latest checkpoint, signed first if there is none) by ``keys``
    and store the cosigned note in place of the stored one. Returns it."""
    if note is None:
        note = ledger.latest_checkpoint() or ledger.checkpoint()
    return ledger.add_cosignatures(cosign(note, keys, timestamp), [k.vkey for k in keys])


def two_forks(
    directory: Path, operator: KeyPair, parties: dict[str, KeyPair], item: str, clock_at: int
) -> tuple[Ledger, Ledger]:
    """Two ledgers of one operator, ``a.db`` and ``b.db`` in ``directory``, each with ``item``'s journey, fork B's
    a minute later: the same size, other events, so another root (a forking operator's two histories)."""
    from conftest import HOUR, ORIGIN, T0, Clock, journey

    forks = []
    for name, start in (("a", T0 + HOUR), ("b", T0 + HOUR + 60_000)):
        led = Ledger.create(directory / f"{name}.db", origin=ORIGIN, operator=operator, at=T0, clock=Clock(clock_at))
        for role, kp in parties.items():
            led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
        journey(led, parties, item, start=start)
        forks.append(led)
    return forks[0], forks[1]
