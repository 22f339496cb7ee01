"""Item codes: time to build, render, decode and verify, and the size of each profile.

    python bench/code.py [--repeat N] [--filler N]

For each profile and a journey of 1, 6 and 12 events (the six-event journey is the cross-border one of
the tests: origin, import, warehouse twice, appraisal with a certificate, delivery), it prints the
bundle's bytes, the code's characters and the QR version at level M. For the six-event journey it then
prints the median milliseconds of: build (``code.make``), render (``qr.render_png``), decode
(``qr.read_image`` of that PNG, zxing-cpp) and verify (``code.verify``). Goals: render <= 30 ms and
decode + verify <= 30 ms. ``--filler`` records that many other items' events first, so the tree is
larger (the compact size does not depend on it; the full profile's proof grows with log2 of it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from provchain import base45, code, qr
from provchain.errors import InputError
from provchain.keys import KeyPair
from provchain.ledger import Ledger

ORIGIN = "example.com/acme-ledger"
T0 = 1_760_000_000_000
HOUR = 3_600_000
ROLES = {
    "origin": "grasse-labs",
    "customs": "shanghai-customs-broker",
    "warehouse": "hz-bonded-wh-3",
    "appraiser": "cciq-inspection",
    "courier": "sf-express",
}
SIX = [
    ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}),
    ("import", "customs", "CN", "Shanghai Yangshan port", {"declaration": "310120251234567"}),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "A-07"}),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "C-11"}),
    ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": "CCIQ-2025-0042", "verdict": "genuine"}),
    ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}),
]
TWELVE = [
    *SIX[:2],
    *[("warehouse", "warehouse", "CN", f"Hangzhou bonded zone WH{n}", {"bin": f"A-{n:02d}"}) for n in range(1, 7)],
    *[
        ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": f"CCIQ-2025-004{n}", "verdict": "genuine"})
        for n in range(3)
    ],
    SIX[5],
]
JOURNEYS = {1: SIX[:1], 6: SIX, 12: TWELVE}


def _ledger(folder: Path, filler: int) -> tuple[Ledger, KeyPair]:
    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    keys = {role: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, (role, name) in enumerate(ROLES.items())}
    led = Ledger.create(folder / "ledger.db", origin=ORIGIN, operator=op, at=T0, durability="normal")
    for role, kp in keys.items():
        led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
    with led.batch():
        for n in range(filler):
            led.append(f"FILLER-{n}", "origin", keys["origin"], country="FR", at=T0 + 1)
    for events, steps in JOURNEYS.items():
        for n, (stage, role, country, place, data) in enumerate(steps):
            at = T0 + (n + 1) * HOUR
            led.append(f"ITEM-{events}", stage, keys[role], country=country, place=place, data=data, at=at)
    led.checkpoint()
    return led, op


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--filler", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        led, op = _ledger(Path(tmp), args.filler)
        with led:
            at = T0 + 100 * HOUR
            print(f"ledger: {led.size} entries")
            print(f"{'profile':<8} {'events':>6} {'bytes':>6} {'chars':>6} {'QR (M)':>7}")
            for profile in code.PROFILES:
                for events in JOURNEYS:
                    bundle = _bundle(led, f"ITEM-{events}", profile, at)
                    if bundle is None:
                        print(f"{profile:<8} {events:>6}  does not fit a QR code (version 40, level M)")
                        continue
                    raw, text = bundle
                    print(f"{profile:<8} {events:>6} {len(raw):>6} {len(text):>6} {'v' + str(qr.qr_version(text)):>7}")
            print()
            print(f"six-event journey, median of {args.repeat} runs (ms)")
            print(f"{'profile':<8} {'build':>7} {'render':>7} {'decode':>7} {'verify':>7} {'dec+ver':>8}")
            for profile in code.PROFILES:
                text = code.make(led, "ITEM-6", profile, at=at)
                png = qr.render_png(text)
                assert qr.read_image(png) == text
                build = _median_ms(lambda p=profile: code.make(led, "ITEM-6", p, at=at), args.repeat)  # type: ignore[misc]
                render = _median_ms(lambda t=text: qr.render_png(t), args.repeat)  # type: ignore[misc]
                decode = _median_ms(lambda p=png: qr.read_image(p), args.repeat)  # type: ignore[misc]
                verify = _median_ms(lambda t=text: code.verify(t, op.vkey, at=at), args.repeat)  # type: ignore[misc]
                print(
                    f"{profile:<8} {build:>7.2f} {render:>7.2f} {decode:>7.2f} {verify:>7.2f} {decode + verify:>8.2f}"
                )


def _bundle(led: Ledger, item: str, profile: str, at: int) -> tuple[bytes, str] | None:
    try:
        text = code.make(led, item, profile, at=at)
    except InputError:
        return None
    return base45.decode(text[4:]), text


if __name__ == "__main__":
    main()
