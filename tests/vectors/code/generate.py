"""Generate the item-code test vectors in this folder: ``python tests/vectors/code/generate.py``.

Everything is deterministic: keys from fixed seeds, fixed times, Ed25519 signatures. The test suite
regenerates the vectors and checks that the files are up to date.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from provchain import base45, code, digits, encoding
from provchain._internal import bundle2
from provchain.checkpoint import Checkpoint
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.tlog import publish
from provchain.witness import WitnessKey, WitnessPolicy, split_note

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


COSIGNED_AT = (T0 + 8 * HOUR) // 1000  # when the witnesses cosigned the checkpoint (POSIX seconds)


def operator() -> KeyPair:
    """The vectors' operator key (seed 00 01 02 ... 1f)."""
    return KeyPair.from_seed(ORIGIN, bytes(range(32)))


def witnesses() -> list[WitnessKey]:
    """The vectors' witness keys: witness.example/w1 to w4 (seeds 41 41 .., 42 42 .., ...); w4 cosigns nothing."""
    return [WitnessKey(KeyPair.from_seed(f"witness.example/w{i}", bytes([0x40 + i]) * 32)) for i in range(1, 5)]


def _policy(keys: list[WitnessKey], quorum: int) -> dict[str, Any]:
    return {"keys": [k.vkey for k in keys], "quorum": quorum}


def _cosigned(note: bytes, keys: list[WitnessKey], timestamp: int) -> bytes:
    text, _ = split_note(note)
    return note + "".join(k.cosign(text, timestamp).line() for k in keys).encode()


def _record(led: Ledger, keys: dict[str, KeyPair], verdict: str = "genuine") -> None:
    for role, kp in keys.items():
        led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
    for n, (stage, role, country, place, data) in enumerate(STEPS):
        data = {**data, "verdict": verdict} if "verdict" in data else data
        led.append(ITEM, stage, keys[role], country=country, place=place, data=data, at=T0 + (n + 1) * HOUR)


LOGS = ("log-a", "log-b", "log-no-tiles")
"""The published logs beside the vectors (``provchain publish`` of the vectors' ledgers): log-a the genuine
ledger, log-b its fork, log-no-tiles log-a's checkpoint alone (its tiles missing)."""


def payloads() -> dict[str, str]:
    """The genuine compact, full and witnessed codes of the six-event journey, and their URL codes
    ("url_compact", ...); "fork_compact": the code of a fork of the ledger whose appraisal says
    "counterfeit", at the same tree size, which no witness cosigned."""
    return _build()[0]


def published_logs() -> dict[str, dict[str, bytes]]:
    """The files of each published log of :data:`LOGS`, by path."""
    return _build()[1]


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@functools.cache
def _build() -> tuple[dict[str, str], dict[str, dict[str, bytes]]]:
    op = operator()
    keys = {role: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, (role, name) in enumerate(PARTIES.items())}
    with tempfile.TemporaryDirectory() as tmp:
        led = Ledger.create(Path(tmp) / "ledger.db", origin=ORIGIN, operator=op, at=T0, clock=lambda: ISSUED)
        with led:
            _record(led, keys)
            note = led.checkpoint()
            # The witnesses w1 to w3 cosign it (stored as the operator's collection stores a cosigned note).
            led.add_cosignatures(_cosigned(note, witnesses()[:3], COSIGNED_AT), [w.vkey for w in witnesses()[:3]])
            out = {p: code.make(led, ITEM, p, at=ISSUED) for p in code.PROFILES}
            out.update({f"url_{p}": code.make(led, ITEM, p, at=ISSUED, url=BASE) for p in code.PROFILES})
        publish(Path(tmp) / "ledger.db", Path(tmp) / "log-a")
        fork = Ledger.create(Path(tmp) / "fork.db", origin=ORIGIN, operator=op, at=T0, clock=lambda: ISSUED)
        with fork:
            _record(fork, keys, verdict="counterfeit")
            fork.checkpoint()
            out["fork_compact"] = code.make(fork, ITEM, "compact", at=ISSUED)
        publish(Path(tmp) / "fork.db", Path(tmp) / "log-b")
        logs = {name: _files(Path(tmp) / name) for name in LOGS[:2]}
        logs["log-no-tiles"] = {"checkpoint": logs["log-a"]["checkpoint"]}
        return out, logs


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
    for profile in ("compact", "full"):
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


def _witnessed_vectors(p: dict[str, str], op: KeyPair) -> dict[str, dict[str, Any]]:
    """The witnessed-profile vectors: a policy of witnesses in each ("witnesses": keys and quorum)."""
    w = witnesses()
    two_of_three = _policy(w[:3], 2)
    out: dict[str, dict[str, Any]] = {}

    def vector(
        name: str, desc: str, payload: str, policy: dict[str, Any] | None, want: str | None, log: str | None = None
    ) -> None:
        at = VERIFY_AT
        v: dict[str, Any] = {"desc": desc, "payload": payload, "operator_vkey": op.vkey, "at": at}
        if policy is not None:
            v["witnesses"] = policy
        if log is not None:
            v["log"] = log
        v["want_error"] = want
        if want is None:
            pol = None if policy is None else WitnessPolicy.from_witnesses(policy["keys"], policy["quorum"])
            v["bundle_hex"] = (
                digits.decode(payload.partition("#")[2][2:]) if code.is_url(payload) else base45.decode(payload[4:])
            ).hex()
            v["want_report"] = code.verify(payload, op.vkey, at=at, witnesses=pol, log=_log_dir(log)).to_json()
        out[name] = v

    wc, uw = p["witnessed"], p["url_witnessed"]
    bundle = code.parse(wc, ORIGIN)
    a = bundle.anchor
    cases: list[tuple[str, str, str, dict[str, Any] | None, str | None]] = [
        ("valid_witnessed_2_of_3", "the genuine witnessed code, cosigned by w1, w2, w3; 2 of them required", wc,
         two_of_three, None),
        ("valid_witnessed_one_known", "the genuine witnessed code; the verifier trusts w2 and w4 and needs 1: "
         "w1 and w3 are unknown to it and ignored", wc, _policy([w[1], w[3]], 1), None),
        ("valid_witnessed_no_policy", "the genuine witnessed code, verified without a witness policy: its proof is "
         "checked, its cosignatures are not counted", wc, None, None),
        ("url_valid_witnessed", "the genuine witnessed URL code (version 2), 2 of 3 required", uw, two_of_three, None),
        ("witnessed_quorum_unmet", "the genuine witnessed code; the verifier needs w1 to w4, all four", wc,
         _policy(w, 4), "QuorumError"),
        ("witnessed_unknown_witness", "the genuine witnessed code; the verifier trusts only w4, which did not cosign",
         wc, _policy([w[3]], 1), "QuorumError"),
        ("compact_requires_witnesses", "the genuine compact code, on a verifier that requires 2 of 3 witnesses",
         p["compact"], two_of_three, "QuorumError"),
        ("url_compact_requires_witnesses", "the genuine compact URL code, on a verifier that requires witnesses",
         p["url_compact"], two_of_three, "QuorumError"),
        ("full_requires_witnesses", "the genuine full code (no cosignatures), on a verifier that requires witnesses",
         p["full"], two_of_three, "QuorumError"),
    ]
    # Re-signed by the operator, so that only the witnesses' part is wrong.
    flipped = list(a.cosignatures)
    c0 = flipped[0]
    flipped[0] = replace(c0, signature=bytes([c0.signature[0] ^ 1]) + c0.signature[1:])
    bad_cosig = code.sign_bundle(replace(bundle, anchor=replace(a, cosignatures=tuple(flipped))), op).payload()
    later = replace(c0, timestamp=c0.timestamp + 1)
    moved = code.sign_bundle(
        replace(bundle, anchor=replace(a, cosignatures=(later, *a.cosignatures[1:]))), op
    ).payload()
    future_ts = VERIFY_AT // 1000 + 86400 + 1
    text = Checkpoint(ORIGIN, a.tree_size, a.root).format()
    future_cosigs = sorted(
        (code.CodeCosignature(k.key_id, future_ts, k.cosign(text, future_ts).signature) for k in w[:3]),
        key=lambda c: c.key_id,
    )
    future = code.sign_bundle(replace(bundle, anchor=replace(a, cosignatures=tuple(future_cosigs))), op).payload()
    on_time_ts = VERIFY_AT // 1000 + 86400
    on_time_cosigs = sorted(
        (code.CodeCosignature(k.key_id, on_time_ts, k.cosign(text, on_time_ts).signature) for k in w[:3]),
        key=lambda c: c.key_id,
    )
    on_time = code.sign_bundle(replace(bundle, anchor=replace(a, cosignatures=tuple(on_time_cosigs))), op).payload()
    proof = list(a.proof)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    bad_proof = code.sign_bundle(replace(bundle, anchor=replace(a, proof=tuple(proof))), op).payload()
    short_proof = code.sign_bundle(replace(bundle, anchor=replace(a, proof=a.proof[:-1])), op).payload()
    # The security point: the operator forks its ledger (fork B: the appraisal says "counterfeit") and anchors
    # B's code on A's cosigned checkpoint (same size, A's root and cosignatures). B's head is not in A's tree.
    fork = code.parse(p["fork_compact"], ORIGIN)
    fa = fork.anchor
    forged_anchor = replace(fa, root=a.root, proof=a.proof, cosignatures=a.cosignatures)
    forked = code.sign_bundle(replace(fork, profile="witnessed", anchor=forged_anchor), op).payload()
    assert fa.tree_size == a.tree_size and fa.root != a.root
    cases += [
        ("witnessed_bad_cosignature", "one bit of w1's cosignature flipped, the code re-signed by the operator",
         bad_cosig, two_of_three, "CosignatureError"),
        ("witnessed_cosignature_time_moved", "a cosignature's timestamp moved by one second (its signature kept), "
         "re-signed by the operator", moved, two_of_three, "CosignatureError"),
        ("witnessed_cosignature_future", "cosignatures (genuinely signed) dated 24 hours and 1 second after the "
         "verifier's clock", future, two_of_three, "CosignatureError"),
        ("witnessed_cosignature_24h_ahead", "cosignatures dated exactly 24 hours after the verifier's clock: "
         "accepted", on_time, two_of_three, None),
        ("witnessed_bad_proof", "one bit of the inclusion proof flipped, re-signed by the operator", bad_proof,
         two_of_three, "InclusionError"),
        ("witnessed_short_proof", "the inclusion proof without its last hash, re-signed by the operator",
         short_proof, two_of_three, "InclusionError"),
        ("witnessed_fork_on_cosigned_checkpoint", "a fork's journey (appraisal: counterfeit) anchored by the "
         "operator on the cosigned checkpoint of the other fork, with its cosignatures and proof", forked,
         two_of_three, "InclusionError"),
        ("witnessed_fork_no_policy", "the same forged fork code without a witness policy: the proof still fails",
         forked, None, "InclusionError"),
    ]
    value = encoding.decode(base45.decode(wc[4:]))
    swapped = copy.deepcopy(value)
    swapped[5][7] = swapped[5][7][::-1]
    empty = copy.deepcopy(value)
    empty[5][7] = []
    short = copy.deepcopy(value)
    short[5][7][0] = short[5][7][0][:-1]
    cases += [
        ("witnessed_unsorted_cosignatures", "the cosignatures in reverse key id order",
         code.PREFIX + base45.encode(encoding.encode(swapped)), two_of_three, "BundleFormatError"),
        ("witnessed_no_cosignatures", "an empty cosignature array", code.PREFIX + base45.encode(encoding.encode(empty)),
         two_of_three, "BundleFormatError"),
        ("witnessed_short_cosignature", "a cosignature of 75 bytes",
         code.PREFIX + base45.encode(encoding.encode(short)), two_of_three, "BundleFormatError"),
    ]
    for name, desc, payload, policy, want in cases:
        vector(name, desc, payload, policy, want)
    # The witnessed-published profile: no proof in the code; the verifier builds it from a published log.
    pc, upc = p["witnessed-published"], p["url_witnessed-published"]
    pa = code.parse(pc, ORIGIN).anchor
    fork_published = code.sign_bundle(
        replace(fork, profile="witnessed-published", anchor=replace(fa, root=pa.root, cosignatures=pa.cosignatures)),
        op,
    ).payload()
    published: list[tuple[str, str, str, dict[str, Any] | None, str | None, str | None]] = [
        ("valid_published_2_of_3", "the genuine witnessed-published code, its proof built from the published log "
         "log-a; 2 of 3 witnesses required", pc, two_of_three, None, "log-a"),
        ("valid_published_no_policy", "the genuine witnessed-published code without a witness policy: the proof "
         "from the log is checked, the cosignatures are not counted", pc, None, None, "log-a"),
        ("url_valid_published", "the genuine witnessed-published URL code (version 2), proof from log-a", upc,
         two_of_three, None, "log-a"),
        ("published_no_log", "the genuine witnessed-published code verified without the published log: it cannot "
         "be checked offline, and is refused", pc, two_of_three, "ProofUnavailableError", None),
        ("url_published_no_log", "the genuine witnessed-published URL code without the published log", upc, None,
         "ProofUnavailableError", None),
        ("published_log_lacks_tiles", "the genuine witnessed-published code; the log holds its checkpoint but not "
         "its tiles", pc, two_of_three, "ProofUnavailableError", "log-no-tiles"),
        ("published_quorum_unmet", "the genuine witnessed-published code; the verifier needs w1 to w4", pc,
         _policy(w, 4), "QuorumError", "log-a"),
        ("published_fork_on_cosigned_checkpoint", "a fork's journey (appraisal: counterfeit) as a "
         "witnessed-published code anchored by the operator on the cosigned checkpoint of the other fork: the "
         "proof from that fork's published log does not lead to its root", fork_published, two_of_three,
         "InclusionError", "log-a"),
        ("published_fork_with_fork_log", "the same forged code, checked against the log of the fork it comes from "
         "(what the forking operator would publish): its proof leads to the fork's root, not the cosigned one",
         fork_published, two_of_three, "InclusionError", "log-b"),
    ]
    for name, desc, payload, policy, want, log in published:
        vector(name, desc, payload, policy, want, log)
    return out


def _log_dir(log: str | None) -> Path | None:
    """A directory holding published log ``log`` as :func:`published_logs` makes it (None: no log)."""
    if log is None:
        return None
    return _written_logs() / log


@functools.cache
def _written_logs() -> Path:
    """:func:`published_logs` written to a temporary directory (``main`` writes them here)."""
    out = Path(tempfile.mkdtemp(prefix="provchain-vector-logs-"))
    write_logs(out)
    return out


def write_logs(directory: Path) -> None:
    """Write every published log of :func:`published_logs` under ``directory``, replacing what was there."""
    for name, files in published_logs().items():
        shutil.rmtree(directory / name, ignore_errors=True)
        for path, data in files.items():
            (directory / name / path).parent.mkdir(parents=True, exist_ok=True)
            (directory / name / path).write_bytes(data)


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
    for profile in ("compact", "full"):
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
    out.update(_witnessed_vectors(p, op))
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
    policy = vector.get("witnesses")
    try:
        pol = None if policy is None else WitnessPolicy.from_witnesses(policy["keys"], policy["quorum"])
        log = _log_dir(vector.get("log"))
        code.verify(vector["payload"], vector["operator_vkey"], at=vector["at"], witnesses=pol, log=log)
        got = None
    except Exception as exc:
        got = type(exc).__name__
    if got != vector["want_error"]:
        raise SystemExit(f"vector {name}: expected {vector['want_error']}, got {got}")


def main() -> int:
    write_logs(HERE)
    for name, vector in vectors().items():
        _check(name, vector)
        (HERE / f"{name}.json").write_text(json.dumps(vector, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
