"""The cross-border journey: a bottle of serum from Grasse to a buyer in Beijing, end to end.

    python examples/cross_border_journey.py OUTDIR

Five companies, each with its own key, record the six steps of the journey in the operator's ledger; the
operator signs a checkpoint and prints the item's code as a QR image; a buyer's phone reads the image and
verifies it offline with nothing but the operator's verifier key. Exits 0 when the code verified.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provchain import KeyPair, Ledger, qr
from provchain import code as item_code

ORIGIN = "example.com/acme-ledger"
ITEM = "SERUM-FR-0731"
START = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)

# role -> the party that holds it
PARTIES = {
    "origin": "grasse-labs",
    "customs": "shanghai-customs-broker",
    "warehouse": "hz-bonded-wh-3",
    "appraiser": "cciq-inspection",
    "courier": "sf-express",
}
# (stage, role, country, place, data, days after START)
JOURNEY: list[tuple[str, str, str, str, dict[str, str | int], float]] = [
    ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}, 0),
    ("export", "origin", "FR", "Marseille Fos port", {"container": "MSCU-4411230"}, 2),
    ("import", "customs", "CN", "Shanghai Yangshan port", {"declaration": "310120251234567"}, 14),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "A-07"}, 15),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "C-11"}, 18),
    ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": "CCIQ-2025-0042", "verdict": "grade-b"}, 19),
    ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}, 21),
]


def main(outdir: str | Path | None = None) -> int:
    out = Path(outdir) if outdir is not None else Path(tempfile.mkdtemp(prefix="provchain-journey-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"The cross-border journey of {ITEM}, in {out}")

    # 1. Keys: the operator's, named after the ledger's origin, and one per party.
    operator = KeyPair.generate(ORIGIN)
    parties = {role: KeyPair.generate(name) for role, name in PARTIES.items()}
    print(f"\n1. The operator's verifier key (pinned by every phone): {operator.vkey}")

    # 2. The ledger, with the default cross-border policy, and the parties' registrations.
    registered = START - timedelta(days=2)
    with Ledger.create(out / "ledger.db", origin=ORIGIN, operator=operator, at=registered) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, [role], kp.public_key, at=registered, valid_from=registered)
        print(f"2. Ledger created; {len(led.parties())} parties registered")

        # 3. Each party records its step, signed with its own key.
        print("3. The journey, one signed and chained entry per step:")
        for stage, role, country, place, data, days in JOURNEY:
            entry = led.append(ITEM, stage, parties[role], country=country, place=place, data=data,
                               at=START + timedelta(days=days))
            print(f"   entry {entry.index:>2}  {stage:<10} {parties[role].name:<24} {country}  {place}")

        # 4. The operator signs a checkpoint and makes the item's code.
        note = led.checkpoint()
        size = note.decode().splitlines()[1]
        payload = item_code.make(led, ITEM)
    png = out / f"{ITEM}.png"
    qr.write(payload, png)
    print(f"4. Checkpoint signed at size {size}; code written to {png.name}: {len(payload)} characters, "
          f"QR version {qr.qr_version(payload)}")

    # 5. The buyer's phone: read the image, verify offline with the pinned key only.
    report = item_code.verify(qr.read_image(png), operator.vkey)
    print("5. The buyer scans the label:")
    for e in report.events:
        print(f"   {e.stage:<10} {e.party:<24} {e.country}  {e.place}")
    print(f"VERIFIED: {len(report.events)} events of {report.item}, checks: {', '.join(report.checks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
