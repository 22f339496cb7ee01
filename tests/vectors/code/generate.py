"""Generate the item-code test vectors in this folder: ``python tests/vectors/code/generate.py``.

Everything is deterministic: keys from fixed seeds, fixed times, Ed25519 signatures. The test suite
regenerates the vectors and checks that the files are up to date.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from provchain import base45, code, digits, encoding
from provchain._internal import bundle2
from provchain.keys import KeyPair
from provchain.ledger import Ledger

HERE = Path(__file__).resolve().parent
ORIGIN = "example.com/acme-ledger"
T0 = 1_760_000_000_000
HOUR = 3_600_000
ISSUED = T0 + 10 * HOUR
VERIFY_AT = T0 + 24 * HOUR
ITEM = "SERUM-0001"
BASE = "https://verify.example/"
PARTIES = {
    "origin": "grasse-labs",
    "customs": "shanghai-customs-broker",
    "warehouse": "hz-bonded-wh-3",
    "appraiser": "cciq-inspection",
    "courier": "sf-express",
}
STEPS: list[tuple[str, str, str, str, dict[str, str | int]]] = [
    ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}),
    ("import", "customs", "CN", "Shanghai Yangshan port", {"declaration": "310120251234567"}),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "A-07"}),
    ("warehouse", "warehouse", "CN", "Hangzhou bonded zone WH3", {"bin": "C-11"}),
    ("appraisal", "appraiser", "CN", "Hangzhou", {"certificate": "CCIQ-2025-0042", "verdict": "genuine"}),
    ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}),
]


def operator() -> KeyPair:
    """The vectors' operator key (seed 00 01 02 ... 1f)."""
    return KeyPair.from_seed(ORIGIN, bytes(range(32)))


def payloads() -> dict[str, str]:
    """The genuine compact and full codes of the six-event journey, and their URL codes ("url_compact",
    "url_full")."""
    op = operator()
    keys = {role: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, (role, name) in enumerate(PARTIES.items())}
    with tempfile.TemporaryDirectory() as tmp:
        led = Ledger.create(Path(tmp) / "ledger.db", origin=ORIGIN, operator=op, at=T0, clock=lambda: ISSUED)
        with led:
            for role, kp in keys.items():
                led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
            for n, (stage, role, country, place, data) in enumerate(STEPS):
                led.append(ITEM, stage, keys[role], country=country, place=place, data=data, at=T0 + (n + 1) * HOUR)
            led.checkpoint()
            out = {p: code.make(led, ITEM, p, at=ISSUED) for p in code.PROFILES}
            out.update({f"url_{p}": code.make(led, ITEM, p, at=ISSUED, url=BASE) for p in code.PROFILES})
            return out


def _reencode(payload: str, change: Callable[[list[Any]], None]) -> str:
    value = encoding.decode(base45.decode(payload[len(code.PREFIX) :]))
    change(value)
    return code.PREFIX + base45.encode(encoding.encode(value))


def _url_parts(url: str) -> tuple[str, bytes, bytes, list[Any]]:
    """A URL code's base, its signature and root, and its body (the inflated version 2 msgpack)."""
    base, _, fragment = url.partition("#")
    raw = digits.decode(fragment[2:])
    return base, raw[:64], raw[64:96], encoding.decode(bundle2._inflate(raw[96:]))


def _url(base: str, signature: bytes, root: bytes, body_bytes: bytes, tail: bytes = b"") -> str:
    return f"{base}#02" + digits.encode(signature + root + bundle2._deflate(body_bytes) + tail)


def _url_reencode(url: str, change: Callable[[list[Any]], None]) -> str:
    base, signature, root, body = _url_parts(url)
    change(body)
    return _url(base, signature, root, encoding.encode(body))


def _url_flip_sig(url: str) -> str:
    base, signature, root, body = _url_parts(url)
    return _url(base, bytes([signature[0] ^ 1]) + signature[1:], root, encoding.encode(body))


def _url_vectors(p: dict[str, str], op: KeyPair, other: KeyPair) -> dict[str, dict[str, Any]]:
    """The URL code (version 2) vectors."""
    u = p["url_compact"]
    out: dict[str, dict[str, Any]] = {}
    for profile in code.PROFILES:
        url = p[f"url_{profile}"]
        out[f"url_valid_{profile}"] = {
            "desc": f"the genuine {profile} URL code (version 2) of the six-event journey",
            "payload": url,
            "bundle_hex": digits.decode(url.partition("#")[2][2:]).hex(),
            "operator_vkey": op.vkey,
            "at": VERIFY_AT,
            "want_error": None,
            "want_report": code.verify(url, op.vkey, at=VERIFY_AT).to_json(),
        }
    base, _, fragment = u.partition("#")
    number = fragment[2:]
    base_, signature, root, body = _url_parts(u)
    body_bytes = encoding.encode(body)
    # the same journey, its first event's time written in milliseconds instead of hours: not canonical
    slow_time = [*body[:4], [[body[4][0][0] // 4 * 3_600_000 * 4, *body[4][0][1:]], *body[4][1:]], body[5]]
    # the version 1 code's signature moved into the version 2 code: the domains differ
    v1_signature = base45.decode(p["compact"][4:])[-64:]
    bad: dict[str, tuple[str, str, str]] = {
        "url_bad_version": ("the fragment's version digits are 03", f"{base}#03{number}", "BadPrefixError"),
        "url_http": ("an http:// address: not a URL code", "http" + u[5:], "BadPrefixError"),
        "url_userinfo": (
            "a user name in the (unsigned) address",
            "HTTPS://ME@" + u[len("HTTPS://") :],
            "BadPrefixError",
        ),
        "url_no_fragment": ("the address without its fragment", base, "BadPrefixError"),
        "url_truncated_digits": ("the last digit cut off", u[:-1], "DigitsError"),
        "url_truncated_chunk": (
            "the last 53 digits (one whole chunk) cut off: the DEFLATE stream ends too early",
            u[:-53],
            "BundleFormatError",
        ),
        "url_chunk_out_of_range": (
            "the first chunk of 53 digits set to 99...9, above 256**22 - 1",
            f"{base}#02" + "9" * 53 + number[53:],
            "DigitsError",
        ),
        "url_non_digit": ("a letter among the digits", f"{base}#02{number[:40]}A{number[41:]}", "DigitsError"),
        "url_rewritten_by_parser": (
            "a space among the digits, percent-encoded by a browser's URL parser (%20)",
            f"{base}#02{number[:40]}%20{number[40:]}",
            "DigitsError",
        ),
        "url_trailing_bytes": (
            "a byte after the DEFLATE stream",
            _url(base_, signature, root, body_bytes, b"\x00"),
            "BundleFormatError",
        ),
        "url_noncanonical_time": (
            "the first event's time in milliseconds instead of hours (same time, another encoding)",
            _url(base_, signature, root, encoding.encode(slow_time)),
            "BundleFormatError",
        ),
        "url_verdict_changed": ("the appraisal verdict changed", _url_reencode(u, _set_verdict), "ChainError"),
        "url_signature_flipped": ("one bit of the operator signature flipped", _url_flip_sig(u), "SignatureError"),
        "url_pc1_signature": (
            "the version 1 code's signature of the same journey: version 2 signs another message",
            _url(base_, v1_signature, root, body_bytes),
            "SignatureError",
        ),
    }
    for name, (desc, payload, error) in bad.items():
        out[name] = {"desc": desc, "payload": payload, "operator_vkey": op.vkey, "at": VERIFY_AT, "want_error": error}
    out["url_other_operator"] = {
        "desc": "a genuine URL code checked against another operator key with the same name",
        "payload": u,
        "operator_vkey": other.vkey,
        "at": VERIFY_AT,
        "want_error": "OperatorKeyError",
    }
    out["url_future"] = {
        "desc": "the genuine URL code, verified on a device whose clock is 25 hours behind its issue time",
        "payload": u,
        "operator_vkey": op.vkey,
        "at": ISSUED - 25 * HOUR,
        "want_error": "TimeError",
    }
    return out


def _set_verdict(v: list[Any]) -> None:
    v[4][4][5]["verdict"] = "counterfeit-approved"


def _flip_sig(v: list[Any]) -> None:
    v[6] = bytes([v[6][0] ^ 1]) + v[6][1:]


def vectors() -> dict[str, dict[str, Any]]:
    """Every vector, by file name."""
    p = payloads()
    op = operator()
    other = KeyPair.from_seed(ORIGIN, bytes([0xEE]) * 32)
    out: dict[str, dict[str, Any]] = {}
    for profile in code.PROFILES:
        payload = p[profile]
        report = code.verify(payload, op.vkey, at=VERIFY_AT).to_json()
        out[f"valid_{profile}"] = {
            "desc": f"the genuine {profile} code of a six-event journey",
            "payload": payload,
            "bundle_hex": base45.decode(payload[4:]).hex(),
            "operator_vkey": op.vkey,
            "at": VERIFY_AT,
            "want_error": None,
            "want_report": report,
        }
    out.update(_url_vectors(p, op, other))
    c = p["compact"]
    bad: dict[str, tuple[str, str, str]] = {
        "bad_prefix_version": ("a wrong version prefix", "PC2:" + c[4:], "BadPrefixError"),
        "bad_prefix_lowercase": ("a lowercase prefix", "pc1:" + c[4:], "BadPrefixError"),
        "bad_base45_char": ("a lowercase letter in the Base45 text", c[:10] + "a" + c[11:], "Base45Error"),
        "bad_base45_length": ("a Base45 text of length 3k+1", c + "0" * ((1 - (len(c) - 4)) % 3 or 3), "Base45Error"),
        "truncated": (
            "the last two bytes of the bundle cut off (Base45 stays well-formed)",
            code.PREFIX + base45.encode(base45.decode(c[4:])[:-2]),
            "BundleFormatError",
        ),
        "trailing_data": (
            "a byte appended to the bundle",
            code.PREFIX + base45.encode(base45.decode(c[4:]) + b"\x00"),
            "BundleFormatError",
        ),
        "verdict_changed": ("the appraisal verdict changed", _reencode(c, _set_verdict), "ChainError"),
        "signature_flipped": ("one bit of the operator signature flipped", _reencode(c, _flip_sig), "SignatureError"),
    }
    for name, (desc, payload, error) in bad.items():
        out[name] = {"desc": desc, "payload": payload, "operator_vkey": op.vkey, "at": VERIFY_AT, "want_error": error}
    out["other_operator"] = {
        "desc": "a genuine code checked against another operator key with the same name",
        "payload": c,
        "operator_vkey": other.vkey,
        "at": VERIFY_AT,
        "want_error": "OperatorKeyError",
    }
    bundle = code.parse(c, ORIGIN)
    rows = list(bundle.events)
    rows[5] = replace(rows[5], stage="import")
    courier = replace(bundle.parties[4], roles=("courier", "customs"))
    resigned = code.sign_bundle(replace(bundle, events=tuple(rows), parties=(*bundle.parties[:4], courier)), op)
    out["stage_order_operator_signed"] = {
        "desc": "the delivery turned into an import after the appraisal, re-signed by the operator: the rules "
        "still refuse it",
        "payload": resigned.payload(),
        "operator_vkey": op.vkey,
        "at": VERIFY_AT,
        "want_error": "StageOrderError",
    }
    slow = ISSUED - 23 * HOUR
    out["clock_slow"] = {
        "desc": "the genuine compact code, verified on a device whose clock is 23 hours behind its issue time: "
        "it verifies, and the report shows the skew",
        "payload": c,
        "bundle_hex": base45.decode(c[4:]).hex(),
        "operator_vkey": op.vkey,
        "at": slow,
        "want_error": None,
        "want_report": code.verify(c, op.vkey, at=slow).to_json(),
    }
    out["future"] = {
        "desc": "the genuine compact code, verified on a device whose clock is 25 hours behind its issue time",
        "payload": c,
        "operator_vkey": op.vkey,
        "at": ISSUED - 25 * HOUR,
        "want_error": "TimeError",
    }
    return out


def _check(name: str, vector: dict[str, Any]) -> None:
    """Refuse to write a vector that does not fail (or pass) the way it says."""
    try:
        code.verify(vector["payload"], vector["operator_vkey"], at=vector["at"])
        got = None
    except Exception as exc:
        got = type(exc).__name__
    if got != vector["want_error"]:
        raise SystemExit(f"vector {name}: expected {vector['want_error']}, got {got}")


def main() -> int:
    for name, vector in vectors().items():
        _check(name, vector)
        (HERE / f"{name}.json").write_text(json.dumps(vector, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
