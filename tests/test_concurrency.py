"""Several processes appending to one ledger at once: no fork, no lost entry, no 'database is locked'."""

from __future__ import annotations

import itertools
import multiprocessing as mp
from pathlib import Path

import pytest
from conftest import ORIGIN

from provchain import KeyPair, Ledger, merkle
from provchain.entries import Event

SEED_OP = bytes(range(32))


def _writer(path: str, seed: bytes, items: list[str], rounds: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Append one warehouse event per item per round; report every acknowledged (index, leaf)."""
    key = KeyPair.from_seed("hz-bonded-wh-3", seed)
    acked = []
    try:
        with Ledger.open(path) as led:
            for _ in range(rounds):
                for item in items:
                    e = led.append(item, "warehouse", key, country="CN", place="Hangzhou")
                    acked.append((e.index, e.leaf_hash))
        out.put(("ok", acked))
    except Exception as exc:  # reported to the parent, which fails the test with it
        out.put(("error", f"{type(exc).__name__}: {exc}"))


@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.parametrize("shared_items", [True, False], ids=["same-items", "different-items"])
def test_concurrent_appends(tmp_path: Path, processes: int, shared_items: bool) -> None:
    path = tmp_path / "ledger.db"
    op = KeyPair.from_seed(ORIGIN, SEED_OP)
    wh_seed, origin_seed, customs_seed = b"w" * 32, b"o" * 32, b"c" * 32
    items_all = [f"ITEM-{i}" for i in range(4 * processes)]
    with Ledger.create(path, origin=ORIGIN, operator=op) as led:
        keys = {
            "warehouse": KeyPair.from_seed("hz-bonded-wh-3", wh_seed),
            "origin": KeyPair.from_seed("grasse-labs", origin_seed),
            "customs": KeyPair.from_seed("sh-customs", customs_seed),
        }
        for role, kp in keys.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, valid_from=0)
        with led.batch():
            for item in items_all:
                led.append(item, "origin", keys["origin"], country="FR")
                led.append(item, "import", keys["customs"], country="CN")
        base = led.size
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    rounds = 6
    procs = []
    for p in range(processes):
        mine = items_all[:4] if shared_items else items_all[4 * p : 4 * p + 4]
        procs.append(ctx.Process(target=_writer, args=(str(path), wh_seed, mine, rounds, out)))
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    errors = [r[1] for r in results if r[0] == "error"]
    assert not errors, errors
    acked = [a for r in results for a in r[1]]
    assert len(acked) == processes * rounds * 4

    with Ledger.open(path) as led:
        # no lost entry: every acknowledged append is in the ledger, where it was acknowledged
        assert led.size == base + len(acked)
        assert len({i for i, _ in acked}) == len(acked)
        for index, leaf in acked:
            assert led.entry(index).leaf_hash == leaf
        # no fork: every item's events form one chain
        for item in items_all:
            hist = led.history(item)
            for prev, cur in itertools.pairwise(hist):
                body = cur.entry.content
                assert isinstance(body, Event) and body.prev == prev.leaf_hash
        # the stored tree matches the entries
        assert led.root() == merkle.root([e.leaf_hash for e in led.entries()])
