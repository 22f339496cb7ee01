"""EPCIS export and import of N events, next to raw limits measured in the same run.

* export: ``export_document`` (read every entry, verify its signature, map it, attach its inclusion proof)
  then ``to_json``; the raw limit reads the same entries, verifies the same signatures and JSON-encodes a
  dict of the same fields, without the mapping or the proofs.
* validation: GS1's JSON Schema with format checking over the whole document (import does it too).
* import: ``import_document`` into a fresh ledger (parse, schema, map, then one batch of appends); the raw
  limit parses the same JSON and appends the same events in one batch, nothing else.

    python bench/epcis.py [--events N]     # default 2,000; --events 100000 for the figure in the report

Prints events/s for each and the ratios provchain / raw.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from pathlib import Path

from common import ORIGIN, STEPS, T0

from provchain import epcis
from provchain.entries import ENTRY_DOMAIN, Event
from provchain.keys import KeyPair, verify_signature
from provchain.ledger import Ledger

ROLES = sorted({role for _, role, _, _ in STEPS})


def build(path: Path, n: int) -> tuple[Ledger, KeyPair]:
    """A ledger of ``n`` events: six-step journeys of GS1 items, one party per role, a checkpoint at the end."""
    op = KeyPair.generate(ORIGIN)
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=lambda: T0 + 10**10)
    parties = {role: KeyPair.generate(f"party-{role}") for role in ROLES}
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
    for start in range(0, n, 1000):
        with led.batch():
            for k in range(start, min(n, start + 1000)):
                stage, role, country, data = STEPS[k % 6]
                item = f"https://id.gs1.org/01/09506000134352/21/S{k // 6:08d}"
                led.append(item, stage, parties[role], country=country, place="Hangzhou", data=data, at=T0 + k)
    led.checkpoint()
    return led, op


def raw_export(led: Ledger) -> float:
    keys = {r.key_id: r.public_key for r in led.parties()}
    t = time.perf_counter()
    rows = []
    for e in led.entries():
        ev = e.content
        if not isinstance(ev, Event):
            continue
        verify_signature(keys[ev.signer], ENTRY_DOMAIN + e.body, e.signature)
        rows.append(
            {
                "item": ev.item, "stage": ev.stage, "at": ev.at, "country": ev.country, "place": ev.place,
                "data": dict(ev.data), "body": base64.b64encode(e.body).decode(),
                "sig": base64.b64encode(e.signature).decode(), "leaf": e.leaf_hash.hex(), "index": e.index,
            }
        )  # fmt: skip
    json.dumps(rows, separators=(",", ":")).encode()
    return time.perf_counter() - t


def raw_import(path: Path, data: bytes, parsed: list[epcis.Imported]) -> float:
    op = KeyPair.generate("bench.example/raw")
    led = Ledger.create(path, origin="bench.example/raw", operator=op, at=T0, clock=lambda: T0 + 10**10)
    kp = KeyPair.generate("partner")
    led.register_party("partner", roles=ROLES, public_key=kp.public_key, at=T0)
    t = time.perf_counter()
    json.loads(data)
    with led.batch():
        for imp in parsed:
            led.append(imp.item, imp.stage, kp, country=imp.country, place=imp.place, data=imp.data, at=imp.at)
    elapsed = time.perf_counter() - t
    led.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000, help="events to export and import (default 2,000)")
    n = ap.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        led, _ = build(folder / "source.db", n)
        print(f"built a ledger of {n} events in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        doc = epcis.export_document(led, now=T0)
        data = epcis.to_json(doc)
        export_s = time.perf_counter() - t
        raw_s = raw_export(led)
        led.close()
        print(f"export:   {n / export_s:9,.0f} events/s ({export_s:.2f} s, {len(data) / 1e6:.1f} MB); "
              f"raw {n / raw_s:9,.0f}/s; ratio {raw_s / export_s:.2f}")  # fmt: skip

        t = time.perf_counter()
        epcis.validate(doc)
        schema_s = time.perf_counter() - t
        print(f"validate: {n / schema_s:9,.0f} events/s ({schema_s:.2f} s), GS1's schema with format checking")

        op = KeyPair.generate("bench.example/partner")
        target = Ledger.create(folder / "target.db", origin="bench.example/partner", operator=op, at=T0,
                               clock=lambda: T0 + 10**10)  # fmt: skip
        kp = KeyPair.generate("partner")
        target.register_party("partner", roles=ROLES, public_key=kp.public_key, at=T0)
        t = time.perf_counter()
        written = epcis.import_document(target, data, kp, max_bytes=len(data))
        import_s = time.perf_counter() - t
        target.close()
        assert len(written) == n
        parsed = [imp for _, imp in epcis.parse_document(doc)]
        raw_s = raw_import(folder / "raw.db", data, parsed)
        print(f"import:   {n / import_s:9,.0f} events/s ({import_s:.2f} s); raw {n / raw_s:9,.0f}/s; "
              f"ratio {raw_s / import_s:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
