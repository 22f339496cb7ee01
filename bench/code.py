"""Item codes: the size of a URL code step by step, the size of each profile, and the time to build,
render, decode and verify.

    python bench/code.py [--repeat N] [--filler N] [--base URL]

First, the steps from a version 1 code (``PC1:`` + Base45) to a version 2 URL code, each measured on the
docs' serum journey (``provchain.demo``: six events, times on the hour), the same journey with times at
millisecond precision, and a three-event journey with short fields: bytes of the bundle, characters of the
code, QR version at level M (zxing-cpp's encoder, and in brackets the version of explicit segments built
with the ``qrcode`` package when it differs: alphanumeric base, byte ``#``, numeric digits; a base with a
lower-case letter goes whole into a byte segment there, which zint's segmentation beats), then the URL
code with other base addresses.

For each profile and a journey of 1, 6 and 12 events (the six-event journey is the cross-border one of
the tests: origin, import, warehouse twice, appraisal with a certificate, delivery), it prints the
bundle's bytes, the code's characters and the QR version at level M. For the six-event journey it then
prints the median milliseconds of: build (``code.make``), render (``qr.render_png``), decode
(``qr.read_image`` of that PNG, zxing-cpp) and verify (``code.verify``). Goals: render <= 30 ms and
decode + verify <= 30 ms. ``--filler`` records that many other items' events first, so the tree is
larger (the compact size does not depend on it; the full profile's proof grows with log2 of it).

Then the witnessed profile: the checkpoint is cosigned by 1, 2, 3 and 5 witnesses (stored with
Ledger.add_cosignatures, as the operator's collection stores a cosigned note), and for the 1- and 6-event
journeys it prints the
witnessed code's bytes, characters and QR version as ``PC1:`` and as a URL code, the bytes each
cosignature adds, and the cost of the inclusion proof (the witnessed code with one cosignature, less
the compact code and that cosignature). The same for the witnessed-published profile (profile 3: the
witnessed anchor without the proof, which the verifier builds from the published tiles): its size must not
depend on the ledger's size but through the digits of the head index and tree size; for its six-event URL
code the bench measures how many bytes it has to spare before the next QR version. ``--cosigned-ago``
(default 60 s) sets how long before the code the witnesses cosigned: the first cosignature's time is
written as a difference from the code's issue time (1 to 9 bytes). The timings include
the witnessed codes, verified with a policy of all their witnesses (witnessed-published: with its proof
built from the ledger published to a local directory, ``provchain publish``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from provchain import base45, code, demo, digits, encoding, qr
from provchain._internal import bundle2
from provchain.errors import InputError
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.tlog import publish
from provchain.witness import WitnessKey, WitnessPolicy, split_note

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


# (stage, role, country, place, data, hours after the start): three events with short fields
SHORT = [
    ("origin", "origin", "FR", "Grasse", {"lot": "L17"}, 0),
    ("import", "customs", "CN", "Shanghai", {}, 14 * 24),
    ("warehouse", "warehouse", "CN", "Hangzhou", {"bin": "A7"}, 15 * 24),
]
SHORT_PARTIES = {"origin": "grasse-labs", "customs": "sh-customs", "warehouse": "hz-wh-3"}


def _journey_codes(folder: Path, base: str) -> dict[str, tuple[str, str]]:
    """The PC1 and URL codes of the serum (on the hour, and at ms precision) and of the short journey."""
    op = KeyPair.from_seed(demo.ORIGIN, bytes(range(32)))
    out: dict[str, tuple[str, str]] = {}
    cases = {
        "serum": (demo.PARTIES, demo.JOURNEY, 0),
        "serum, ms times": (demo.PARTIES, demo.JOURNEY, 1),
        "3 events": (SHORT_PARTIES, SHORT, 0),
    }
    for n, (name, (names, steps, jitter)) in enumerate(cases.items()):
        keys = {role: KeyPair.from_seed(party, bytes([i + 1]) * 32) for i, (role, party) in enumerate(names.items())}
        registered = demo.START - 48 * HOUR + 7 * jitter
        with Ledger.create(folder / f"j{n}.db", origin=demo.ORIGIN, operator=op, at=registered) as led:
            for role, kp in keys.items():
                led.register_party(kp.name, [role], kp.public_key, at=registered, valid_from=registered)
            for i, (stage, role, country, place, data, hours) in enumerate(steps):
                at = demo.START + hours * HOUR + jitter * (1 + 7919 * i)
                led.append("SERUM-FR-0731", stage, keys[role], country=country, place=place, data=data, at=at)
            issued = demo.START + 21 * 24 * HOUR + HOUR + 13 * jitter
            out[name] = (
                code.make(led, "SERUM-FR-0731", at=issued),
                code.make(led, "SERUM-FR-0731", at=issued, url=base),
            )
    return out


def _explicit_version(text: str) -> int:
    """The QR version of explicit segments (alphanumeric base, byte '#', numeric digits), by ``qrcode``."""
    import qrcode
    from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, MODE_NUMBER, QRData

    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    if text.startswith(code.PREFIX):
        symbol.add_data(QRData(text.encode(), MODE_ALPHA_NUM))
    else:
        head, _, fragment = text.partition("#")
        alnum = all(c in base45.ALPHABET for c in head)
        symbol.add_data(QRData(head.encode(), MODE_ALPHA_NUM if alnum else MODE_8BIT_BYTE))
        symbol.add_data(QRData(b"#", MODE_8BIT_BYTE))
        symbol.add_data(QRData(fragment.encode(), MODE_NUMBER))
    symbol.make(fit=True)
    return int(symbol.version)


def _qr(text: str) -> str:
    zxing, explicit = qr.qr_version(text), _explicit_version(text)
    return f"v{zxing}" if zxing == explicit else f"v{zxing} (v{explicit})"


def _steps(pc1: str, url: str) -> list[tuple[str, int, str]]:
    """(step, bytes, code text) from the PC1 code to the URL code of one journey."""
    head = url.partition("#")[0] + "#" + code.FRAGMENT_VERSION
    b1 = code.parse(pc1, demo.ORIGIN)
    b2 = code.parse(url, demo.ORIGIN)
    v1 = b1.to_bytes()
    body = encoding.encode(bundle2.body_value(b2))
    plain = b2.signature + b2.anchor.root + body
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    no_dict = b2.signature + b2.anchor.root + deflater.compress(body) + deflater.flush()
    final = b2.to_bytes()
    return [
        ("1 PC1: Base45, alphanumeric", len(v1), pc1),
        ("2 the same bytes as URL digits", len(v1), head + digits.encode(v1)),
        ("3 + tagged times, roles, countries", len(plain), head + digits.encode(plain)),
        ("4 + raw DEFLATE, no dictionary", len(no_dict), head + digits.encode(no_dict)),
        ("5 + preset dictionary (= v2)", len(final), url),
    ]


def size_steps(base: str) -> None:
    """Print the table of steps, and the URL code's version with other bases."""
    with tempfile.TemporaryDirectory() as tmp:
        codes = _journey_codes(Path(tmp), base)
    names = list(codes)
    print(f"URL code steps (base {code.check_base(base)}): bytes / characters / QR version at level M")
    print(f"{'step':<34}" + "".join(f"{name:>27}" for name in names))
    table = {name: _steps(*codes[name]) for name in names}
    for i, (step, _, _) in enumerate(table[names[0]]):
        cells = []
        for name in names:
            _, size, text = table[name][i]
            cells.append(f"{size} B / {len(text)} / {_qr(text)}")
        print(f"{step:<34}" + "".join(f"{cell:>27}" for cell in cells))
    print()
    print("the URL code with other bases: QR version at level M")
    for other in ("https://verify.example/", "https://verify.example/V/", "https://verify.example/v/", "https://pc.example"):
        cells = []
        for name in names:
            fragment = codes[name][1].partition("#")[2]
            text = code.check_base(other) + "#" + fragment
            cells.append(f"{len(text)} / {_qr(text)}")
        print(f"{code.check_base(other):<34}" + "".join(f"{cell:>27}" for cell in cells))
    print()


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
    parser.add_argument("--base", default="https://verify.example/")
    parser.add_argument("--cosigned-ago", type=int, default=60, help="seconds between the cosignatures and the code")
    args = parser.parse_args()
    size_steps(args.base)
    with tempfile.TemporaryDirectory() as tmp:
        led, op = _ledger(Path(tmp), args.filler)
        with led:
            at = T0 + 100 * HOUR
            witness_sizes(led, op, at, args.base, args.cosigned_ago)  # leaves the checkpoint cosigned by 5 witnesses
            policy = WitnessPolicy.from_witnesses([k.vkey for k in _witness_keys(5)])
            log = Path(tmp) / "log"
            publish(Path(tmp) / "ledger.db", log)  # where witnessed-published codes' proofs are read
            print(f"ledger: {led.size} entries")
            print(f"{'profile':<19} {'events':>6} {'bytes':>6} {'chars':>6} {'QR (M)':>7}")
            for profile in code.PROFILES:
                for events in JOURNEYS:
                    bundle = _bundle(led, f"ITEM-{events}", profile, at)  # witnessed: 5 cosignatures
                    if bundle is None:
                        print(f"{profile:<19} {events:>6}  does not fit a QR code (version 40, level M)")
                        continue
                    raw, text = bundle
                    version = "v" + str(qr.qr_version(text))
                    print(f"{profile:<19} {events:>6} {len(raw):>6} {len(text):>6} {version:>7}")
            print()
            print(f"six-event journey, median of {args.repeat} runs (ms)")
            print(f"{'profile':<19} {'build':>7} {'render':>7} {'decode':>7} {'verify':>7} {'dec+ver':>8}")
            for profile in code.PROFILES:
                text = code.make(led, "ITEM-6", profile, at=at)
                png = qr.render_png(text)
                assert qr.read_image(png) == text
                build = _median_ms(lambda p=profile: code.make(led, "ITEM-6", p, at=at), args.repeat)  # type: ignore[misc]
                render = _median_ms(lambda t=text: qr.render_png(t), args.repeat)  # type: ignore[misc]
                decode = _median_ms(lambda p=png: qr.read_image(p), args.repeat)  # type: ignore[misc]
                w = policy if profile.startswith("witnessed") else None
                lg = log if profile == "witnessed-published" else None
                verify = _median_ms(
                    lambda t=text, w=w, lg=lg: code.verify(t, op.vkey, at=at, witnesses=w, log=lg),  # type: ignore[misc]
                    args.repeat,
                )
                print(
                    f"{profile:<19} {build:>7.2f} {render:>7.2f} {decode:>7.2f} {verify:>7.2f} {decode + verify:>8.2f}"
                )


def _witness_keys(n: int) -> list[WitnessKey]:
    return [WitnessKey(KeyPair.from_seed(f"witness.example/w{i}", bytes([0x40 + i]) * 32)) for i in range(1, n + 1)]


def _cosign(led: Ledger, note: bytes, n: int, timestamp: int) -> WitnessPolicy:
    """Store ``note`` cosigned by ``n`` witnesses (as the operator's collection stores it); their policy."""
    keys = _witness_keys(n)
    text, _ = split_note(note)
    cosigned = note + "".join(k.cosign(text, timestamp).line() for k in keys).encode()
    led.add_cosignatures(cosigned, [k.vkey for k in keys])
    return WitnessPolicy.from_witnesses([k.vkey for k in keys])


def _sizes(text: str) -> tuple[int, int, int]:
    """(bundle bytes, characters, QR version at level M) of a code text."""
    raw = base45.decode(text[4:]) if text.startswith(code.PREFIX) else digits.decode(text.partition("#")[2][2:])
    return len(raw), len(text), qr.qr_version(text)


def witness_sizes(led: Ledger, op: KeyPair, at: int, base: str, ago: int = 60) -> None:
    """Print the witnessed profiles' sizes with 1, 2, 3 and 5 cosignatures (made ``ago`` seconds before the
    code), per cosignature, and the proof's cost (witnessed) or saving (witnessed-published, whose proof is
    published with the log); for the six-event witnessed-published URL code, the bytes to spare before the
    next QR version."""
    note = led.checkpoint()
    counts = (1, 2, 3, 5)
    profiles = ("witnessed", "witnessed-published")
    table: dict[tuple[str, int, str], list[tuple[int, int, int]]] = {}
    spare_codes: list[str] = []
    for n in counts:
        policy = _cosign(led, note, n, at // 1000 - ago)
        for profile in profiles:
            for events in (1, 6):
                for form, url in (("PC1:", None), ("URL", base)):
                    text = code.make(led, f"ITEM-{events}", profile, at=at, url=url, witnesses=policy)
                    if (profile, events, form) == ("witnessed-published", 6, "URL"):
                        spare_codes.append(text)
                    assert qr.read_image(qr.render_png(text)) == text  # make verified it (witnessed-published:
                    table.setdefault((profile, events, form), []).append(_sizes(text))  # with the ledger's proof)
    for profile in profiles:
        print(f"{profile} profile, ledger of {led.size} entries: bytes / characters / QR version at level M")
        last = "proof" if profile == "witnessed" else "saved"
        header = f"{'code':<22}" + f"{'compact':>20}" + "".join(f"{f'{n} cosig.':>20}" for n in counts)
        print(header + f"{'per cosig.':>12}{last:>8}")
        for events in (1, 6):
            for form, url in (("PC1:", None), ("URL", base)):
                compact = _sizes(code.make(led, f"ITEM-{events}", at=at, url=url))
                rows = table[(profile, events, form)]
                per = (rows[3][0] - rows[0][0]) / (counts[3] - counts[0])
                if profile == "witnessed":
                    proof = rows[0][0] - per - compact[0]  # the proof's bytes in the witnessed code
                else:
                    proof = table[("witnessed", events, form)][0][0] - rows[0][0]  # what leaving it out saves
                cells = "".join(f"{f'{b} B / {c} / v{v}':>20}" for b, c, v in [compact, *rows])
                print(f"{f'{events} event(s), {form}':<22}{cells}{per:>10.1f} B{proof:>6.0f} B")
        print()
    spare = [_headroom(text) for text in spare_codes]
    print(
        "six-event witnessed-published URL code, bytes to spare before the next QR version (level M): "
        + ", ".join(f"{n} cosig. {b} B in v{v}" for n, (b, v) in zip(counts, spare, strict=True))
    )
    print()


def _headroom(url: str) -> tuple[int, int]:
    """How many bytes could be added to the URL code ``url``'s bundle before its QR version (level M) grows,
    and that version: the digits of the bundle with 1, 2, ... more bytes, measured, not estimated."""
    prefix, _, fragment = url.partition("#")
    raw = digits.decode(fragment[2:])
    version = qr.qr_version(url)
    extra = 0
    while qr.qr_version(f"{prefix}#02" + digits.encode(raw + b"\x5a" * (extra + 1))) == version:
        extra += 1
    return extra, version


def _bundle(led: Ledger, item: str, profile: str, at: int) -> tuple[bytes, str] | None:
    try:
        text = code.make(led, item, profile, at=at)
    except InputError:
        return None
    return base45.decode(text[4:]), text


if __name__ == "__main__":
    main()
