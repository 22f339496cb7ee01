"""Test helper: cosign a ledger's latest checkpoint with real witness keys and store the cosigned note."""

from __future__ import annotations

from provchain.ledger import Ledger
from provchain.witness import WitnessKey, split_note


def cosign_latest(led: Ledger, witnesses: list[WitnessKey], timestamp: int) -> bytes:
    """Add each witness's cosignature to ``led``'s latest stored checkpoint; return the cosigned note."""
    note = led.latest_checkpoint()
    assert note is not None
    text, lines = split_note(note)
    lines += [w.cosign(text, timestamp).line() for w in witnesses]
    cosigned = text + b"\n" + "".join(lines).encode("utf-8")
    size = int(text.split(b"\n")[1])
    with led._store.transaction():  # the operator's own write (Ledger.add_cosignatures does it checked)
        led._store.add_checkpoint(size, cosigned)
    return cosigned
