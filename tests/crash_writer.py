"""A ledger writer for the crash tests (tests/test_crash.py): it appends until it is killed.

Usage::

    python crash_writer.py LEDGER MODE BATCH DURABILITY SEED

``MODE`` is ``single`` (one durable append per call) or ``batch`` (``BATCH`` appends per
``Ledger.batch()``, one commit). The writer prints ``ready`` once the ledger is open, then one line
``INDEX LEAF_HASH_HEX`` per *acknowledged* append, flushed: after ``Ledger.append`` returned (single) or
after the batch committed (batch). A line on stdout is therefore a promise that the entry is in the
ledger; the test kills the writer with SIGKILL at a random moment and checks every promise.

The journeys are valid under the default policy: each append picks an item (mostly one of a few long
chains, sometimes a new item) and records the stage its head allows (origin, then import, then
warehouse again and again). The keys are derived from the fixed seeds below, which the test registers.
"""

from __future__ import annotations

import random
import sys

from provchain import KeyPair, Ledger

ORIGIN = "example.com/crash-ledger"
OPERATOR_SEED = bytes(range(32))
PARTY_SEEDS = {
    "origin": ("grasse-labs", b"\x01" * 32),
    "customs": ("shanghai-customs-broker", b"\x02" * 32),
    "warehouse": ("hz-bonded-wh-3", b"\x03" * 32),
}
CHAINS = 6  # long-lived items that every run extends


def party_keys() -> dict[str, KeyPair]:
    """The parties' key pairs, by role."""
    return {role: KeyPair.from_seed(name, seed) for role, (name, seed) in PARTY_SEEDS.items()}


def next_step(led: Ledger, item: str) -> tuple[str, str]:
    """The (stage, role) that may come next for ``item``."""
    head = led.head(item)
    if head is None:
        return "origin", "origin"
    if head.stage == "origin":
        return "import", "customs"
    return "warehouse", "warehouse"


def main(argv: list[str]) -> None:
    path, mode, batch_size, durability, seed = argv[1], argv[2], int(argv[3]), argv[4], int(argv[5])
    rng = random.Random(seed)
    keys = party_keys()
    out = sys.stdout
    with Ledger.open(path, durability=durability) as led:
        out.write("ready\n")
        out.flush()
        n = 0
        while True:
            acked = []
            items = [_pick(rng, seed, n + k) for k in range(1 if mode == "single" else batch_size)]
            n += len(items)
            if mode == "single":
                stage, role = next_step(led, items[0])
                e = led.append(items[0], stage, keys[role], country="CN", place="Hangzhou")
                acked.append(e)
            else:
                with led.batch():
                    for item in items:
                        stage, role = next_step(led, item)
                        acked.append(led.append(item, stage, keys[role], country="CN", place="Hangzhou"))
            # acknowledged: the call returned (single) or the batch committed (batch)
            out.write("".join(f"{e.index} {e.leaf_hash.hex()}\n" for e in acked))
            out.flush()


def _pick(rng: random.Random, seed: int, n: int) -> str:
    if rng.random() < 0.8:
        return f"CHAIN-{rng.randrange(CHAINS)}"
    return f"NEW-{seed}-{n}"


if __name__ == "__main__":
    main(sys.argv)
