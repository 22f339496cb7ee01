"""Hostile input for every parser of provchain: fuzzing with hypothesis, and huge or deeply nested input.

Parsers: canonical msgpack (``encoding.decode``), entry bodies and their signatures, signed notes
(``note.open``), checkpoints (``Checkpoint.parse``, ``open_checkpoint``, the auditor's saved checkpoint),
tlog-proofs (``parse_tlog_proof``, ``verify_tlog_proof``), item codes (``base45.decode``, ``code.parse``,
``code.verify``), export files (``ExportReader`` and the audit of an export), key files
(``KeyPair.from_bytes``) and key strings (``parse_vkey``, ``note.new_signer``).

Properties, on random input and on mutations of valid, signed input:

* nothing but a :class:`~provchain.errors.ProvchainError` escapes (no ``KeyError``, ``IndexError``, ...);
* no false accept: a mutation of a signed input never verifies unless it says exactly what the original
  said (same entry, same checkpoint, same journey, same ledger root);
* what parses re-formats to the very same bytes (one value, one encoding) where the format promises it;
* no secret (key seed, passphrase, PEM body) in any error message;
* bounded memory on huge input (a 50 MB string, length claims of 4 GB, 100,000 levels of nesting),
  measured with tracemalloc peaks, never with timings.

Each property runs with a small budget by default and with 10,000 examples under ``-m slow``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain import KeyPair, Ledger, base45, code, encoding, merkle
from provchain import note as notes
from provchain.audit import audit_path, read_saved_checkpoint
from provchain.checkpoint import Checkpoint, open_checkpoint
from provchain.entries import ENTRY_DOMAIN, Entry, decode_body
from provchain.errors import (
    EncodingError,
    ExportFormatError,
    InputError,
    KeyFileError,
    KeyFormatError,
    NoteFormatError,
    ProvchainError,
    SignatureError,
)
from provchain.export import MAGIC, ExportReader, export_ledger
from provchain.keys import parse_vkey, verify_signature
from provchain.proof import parse_tlog_proof, verify_tlog_proof

ORIGIN = "example.com/fuzz-ledger"
T0 = 1_760_000_000_000
HOUR = 3_600_000
AT = T0 + 100 * HOUR
PASSPHRASE = "correct horse battery staple"

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LARGE = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def slow_selected(request: pytest.FixtureRequest) -> None:
    """Skip unless slow tests were asked for (``-m slow``), whatever the default marker expression is."""
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("large fuzzing budget: run with -m slow")


# --- valid, signed samples --------------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    operator: KeyPair
    keys: dict[bytes, bytes]  # key id -> public key, for every signer of the ledger
    entries: list[Entry]
    notes: list[bytes]  # signed notes: checkpoints, one with two signatures
    checkpoint_texts: list[bytes]
    proofs: list[bytes]
    proof_facts: dict[bytes, tuple[int, bytes, Checkpoint]]  # proof -> (index, leaf hash, checkpoint)
    codes: list[str]
    code_reports: dict[str, dict[str, Any]]
    export: bytes
    export_facts: tuple[int, bytes]  # size, root
    key_files: list[tuple[bytes, str | None]]  # (file contents, passphrase)
    secrets: list[str]  # text that must never appear in an error message
    signer_keys: list[str]
    workdir: Path


def _build() -> Samples:
    workdir = Path(tempfile.mkdtemp(prefix="provchain-fuzz-"))
    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    names = ["grasse-labs", "shanghai-customs-broker", "hz-bonded-wh-3", "cciq-inspection", "sf-express"]
    roles = ["origin", "customs", "warehouse", "appraiser", "courier"]
    parties = {r: KeyPair.from_seed(n, bytes([i + 1]) * 32) for i, (r, n) in enumerate(zip(roles, names, strict=True))}
    path = workdir / "ledger.db"
    led = Ledger.create(path, origin=ORIGIN, operator=op, at=T0, clock=lambda: AT)
    for role, kp in parties.items():
        led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    steps = [
        ("origin", "origin", "FR", "Grasse", {"batch": "B-2025-17"}),
        ("import", "customs", "CN", "Shanghai", {"declaration": "310120251234567"}),
        ("warehouse", "warehouse", "CN", "Hangzhou", {"bin": "A-07"}),
        ("appraisal", "appraiser", "CN", "Hangzhou", {"verdict": "genuine", "amount": "129.50"}),
        ("delivery", "courier", "CN", "Beijing", {"waybill": "SF1234567890"}),
    ]
    for item in ("BAG-1", "BAG-2"):
        for n, (stage, role, country, place, data) in enumerate(steps):
            led.append(item, stage, parties[role], country=country, place=place, data=data, at=T0 + (n + 1) * HOUR)
    led.checkpoint()
    led.revoke_party("sf-express", reason="lost the key", at=T0 + 20 * HOUR)
    cp_note = led.checkpoint()
    entries = list(led.entries())
    proofs = [led.prove("BAG-1"), led.prove("BAG-2")]
    facts = {}
    for p in proofs:
        parsed = parse_tlog_proof(p)
        assert parsed.extra is not None
        facts[p] = (
            parsed.index,
            merkle.leaf_hash(parsed.extra),
            Checkpoint.parse(cp_note[: cp_note.rfind(b"\n\n") + 1]),
        )
    codes = [code.make(led, "BAG-1", "compact", at=AT), code.make(led, "BAG-2", "full", at=AT)]
    reports = {c: code.verify(c, op.vkey, at=AT).to_json() for c in codes}
    export_path = workdir / "ledger.export"
    export_ledger(led, export_path)
    size, root = led.size, led.root()
    led.close()
    witness = KeyPair.from_seed("witness.example", b"\x09" * 32)
    text = cp_note[: cp_note.rfind(b"\n\n") + 1]
    two_sigs = notes.sign(text, [op, witness])
    plain_path, enc_path = workdir / "plain.key", workdir / "enc.key"
    parties["origin"].save(plain_path)
    parties["customs"].save(enc_path, PASSPHRASE)
    secrets = [PASSPHRASE]
    for kp in (parties["origin"], parties["customs"]):
        skey = kp.unsafe_private_skey()
        seed = base64.b64decode(skey.split("+", 4)[4])[1:]
        secrets += [seed.hex(), base64.b64encode(seed).decode(), skey.split("+", 4)[4]]
    for f in (plain_path, enc_path):
        pem_body = f.read_text().split("-----\n", 1)[1].split("\n-----", 1)[0]  # between BEGIN and END
        secrets += [line for line in pem_body.splitlines() if len(line) > 20]
    return Samples(
        operator=op,
        keys={kp.key_id: kp.public_key for kp in [op, *parties.values()]},
        entries=entries,
        notes=[cp_note, two_sigs],
        checkpoint_texts=[text, Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT, ("ext line",)).format()],
        proofs=proofs,
        proof_facts=facts,
        codes=codes,
        code_reports=reports,
        export=export_path.read_bytes(),
        export_facts=(size, root),
        key_files=[(plain_path.read_bytes(), None), (enc_path.read_bytes(), PASSPHRASE)],
        secrets=secrets,
        signer_keys=[parties["origin"].unsafe_private_skey(), op.unsafe_private_skey()],
        workdir=workdir,
    )


_SAMPLES: Samples | None = None


def samples() -> Samples:
    """Built once per test session, on first use."""
    global _SAMPLES
    if _SAMPLES is None:
        _SAMPLES = _build()
    return _SAMPLES


# --- mutations --------------------------------------------------------------------------------------

INTERESTING = [
    0x00,
    0x01,
    0x0A,
    0x20,
    0x2B,
    0x2D,
    0x3D,
    0x7F,
    0x80,
    0x90,
    0xA0,
    0xC0,
    0xC1,
    0xC4,
    0xD9,
    0xDB,
    0xDC,
    0xFF,
]


def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """One to four random edits: bit flips, bytes set, inserted, deleted, truncated, slices or lines moved."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buf:
            buf += draw(st.binary(min_size=1, max_size=8))
            continue
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "dup", "line"]))
        i = draw(st.integers(0, len(buf) - 1))
        if op == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            buf[i] = draw(st.sampled_from(INTERESTING))
        elif op == "insert":
            buf[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del buf[i : i + draw(st.integers(1, 16))]
        elif op == "truncate":
            del buf[i:]
        elif op == "dup":
            j = draw(st.integers(i, min(len(buf), i + 64)))
            k = draw(st.integers(0, len(buf)))
            buf[k:k] = buf[i:j]
        else:  # drop, repeat or swap whole lines: structural edits of the text formats
            lines = bytes(buf).split(b"\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            how = draw(st.sampled_from(["drop", "repeat", "swap"]))
            if how == "drop":
                del lines[a]
            elif how == "repeat":
                lines.insert(b, lines[a])
            else:
                lines[a], lines[b] = lines[b], lines[a]
            buf = bytearray(b"\n".join(lines))
    return bytes(buf)


def mutate_text(draw: st.DrawFn, text: str, alphabet: str) -> str:
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
        c = draw(st.sampled_from(alphabet))
        if op == "replace" and i < len(text):
            text = text[:i] + c + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + c + text[i:]
        elif op == "delete":
            text = text[:i] + text[i + 1 :]
        else:
            text = text[:i]
    return text


# --- the properties, one per parser ----------------------------------------------------------------
# Each takes a DataObject and draws its own input: a mutation of a valid sample, or random input.


def prop_msgpack(data: st.DataObject) -> None:
    s = samples()
    raw = data.draw(st.one_of(st.binary(max_size=256), st.sampled_from(s.entries).map(lambda e: e.body)))
    if data.draw(st.booleans()):
        raw = mutate_bytes(data.draw, raw)
    try:
        value = encoding.decode(raw)
    except EncodingError:
        return
    assert encoding.encode(value) == raw


def prop_entry(data: st.DataObject) -> None:
    """A mutated body or signature never verifies under the original signer's key."""
    s = samples()
    e = data.draw(st.sampled_from(s.entries))
    pub = s.keys[e.content.signer]
    body, sig = e.body, e.signature
    if data.draw(st.booleans()):
        body = mutate_bytes(data.draw, body)
    else:
        sig = mutate_bytes(data.draw, sig)
    if (body, sig) == (e.body, e.signature):
        return
    try:
        parsed = decode_body(body)
    except EncodingError:
        parsed = None
    if parsed is not None:
        assert parsed.encode() == body
    with pytest.raises(SignatureError):
        verify_signature(pub, ENTRY_DOMAIN + body, sig)


def prop_note(data: st.DataObject) -> None:
    """A mutated note opens only if its signed text is unchanged."""
    s = samples()
    original = data.draw(st.sampled_from(s.notes))
    msg = mutate_bytes(data.draw, original) if data.draw(st.integers(0, 9)) else data.draw(st.binary(max_size=300))
    verifier = notes.new_verifier(s.operator.vkey)
    try:
        opened = notes.open(msg, [verifier])
    except ProvchainError:
        return
    assert opened.text == original[: original.rfind(b"\n\n") + 1]


def prop_checkpoint_text(data: st.DataObject) -> None:
    s = samples()
    if data.draw(st.booleans()):
        text = mutate_bytes(data.draw, data.draw(st.sampled_from(s.checkpoint_texts)))
    else:
        text = data.draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    try:
        cp = Checkpoint.parse(text)
    except NoteFormatError:
        return
    assert cp.format() == text


def prop_open_checkpoint(data: st.DataObject) -> None:
    s = samples()
    original = s.notes[0]
    msg = mutate_bytes(data.draw, original)
    try:
        cp, _ = open_checkpoint(msg, ORIGIN, notes.new_verifier(s.operator.vkey))
    except ProvchainError:
        pass
    else:
        assert cp == Checkpoint.parse(original[: original.rfind(b"\n\n") + 1])
    try:
        saved = read_saved_checkpoint(msg, ORIGIN, s.operator.vkey)
    except InputError:
        return
    if b"\n\n" in msg:  # a signed note: it must say what the operator signed
        want = Checkpoint.parse(original[: original.rfind(b"\n\n") + 1])
        assert (saved.origin, saved.size, saved.root) == (want.origin, want.size, want.root)
    else:  # the auditor's own unsigned record (trusted as such): parsed exactly
        assert saved == Checkpoint.parse(msg)


def prop_tlog_proof(data: st.DataObject) -> None:
    """A mutated proof verifies only for the same entry, index and checkpoint."""
    s = samples()
    original = data.draw(st.sampled_from(s.proofs))
    raw = mutate_bytes(data.draw, original) if data.draw(st.integers(0, 9)) else data.draw(st.binary(max_size=400))
    try:
        parsed = parse_tlog_proof(raw)
    except ProvchainError:
        return
    assert raw.startswith(b"c2sp.org/tlog-proof@v1\n")
    try:
        cp = verify_tlog_proof(raw, None if parsed.extra is not None else bytes(32), s.operator.vkey, ORIGIN)
    except ProvchainError:
        return
    index, leaf, want = s.proof_facts[original]
    assert (parsed.index, cp) == (index, want)
    assert parsed.extra is not None and merkle.leaf_hash(parsed.extra) == leaf


def prop_code(data: st.DataObject) -> None:
    """A mutated item code verifies only if it tells exactly the original journey."""
    s = samples()
    original = data.draw(st.sampled_from(s.codes))
    how = data.draw(st.integers(0, 9))
    if how == 0:
        text = code.PREFIX + data.draw(st.text(alphabet=base45.ALPHABET, max_size=400))
    elif how == 1:
        text = code.PREFIX + base45.encode(mutate_bytes(data.draw, base45.decode(original[len(code.PREFIX) :])))
    else:
        text = mutate_text(data.draw, original, base45.ALPHABET + "a:\n")
    with contextlib.suppress(ProvchainError):
        code.parse(text, ORIGIN)
    try:
        report = code.verify(text, s.operator.vkey, at=AT)
    except ProvchainError:
        return
    assert report.to_json() == s.code_reports[original]


def prop_base45(data: st.DataObject) -> None:
    text = data.draw(st.text(alphabet=base45.ALPHABET + "a\u00e9", max_size=300))
    try:
        raw = base45.decode(text)
    except ProvchainError:
        return
    assert base45.encode(raw) == text


def prop_export(data: st.DataObject) -> None:
    """A mutated export reads as a container, or fails with ExportFormatError; audited clean, it is the ledger."""
    s = samples()
    if data.draw(st.integers(0, 9)):
        raw = mutate_bytes(data.draw, s.export)
    else:
        raw = MAGIC + data.draw(st.binary(max_size=300))
    try:
        reader = ExportReader(io.BytesIO(raw))
        for _ in reader.entries():
            pass
    except ExportFormatError:
        return
    path = s.workdir / "fuzzed.export"
    path.write_bytes(raw)
    try:
        report = audit_path(path, s.operator.vkey, workers=1, now=AT)
    except ProvchainError:
        return
    if report.clean:
        assert (report.size, report.root) == s.export_facts


def _no_secret(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {exc.__cause__!r} {exc.__context__!r}"
    for secret in samples().secrets:
        assert secret not in text, "an error message shows secret key material"


def prop_key_file(data: st.DataObject) -> None:
    s = samples()
    contents, passphrase = data.draw(st.sampled_from(s.key_files))
    raw = mutate_bytes(data.draw, contents) if data.draw(st.integers(0, 9)) else data.draw(st.binary(max_size=400))
    given_pass = data.draw(st.sampled_from([passphrase, None, PASSPHRASE[:-1]]))
    try:
        kp = KeyPair.from_bytes(raw, given_pass)
    except KeyFileError as exc:
        _no_secret(exc)
        return
    assert isinstance(kp, KeyPair) and len(kp.public_key) == 32
    assert not any(secret in repr(kp) for secret in s.secrets)


def prop_key_strings(data: st.DataObject) -> None:
    s = samples()
    alphabet = "abcdef0123456789+/=ACEKPRIVTY.-:"
    vkey = mutate_text(data.draw, s.operator.vkey, alphabet)
    try:
        name, kid, pub = parse_vkey(vkey)
    except KeyFormatError:
        pass
    else:
        assert (name, kid, pub) == parse_vkey(s.operator.vkey) or vkey != s.operator.vkey
    skey = mutate_text(data.draw, data.draw(st.sampled_from(s.signer_keys)), alphabet)
    try:
        notes.new_signer(skey)
    except KeyFormatError as exc:
        _no_secret(exc)


PROPERTIES: dict[str, Callable[[st.DataObject], None]] = {
    "msgpack": prop_msgpack,
    "entry-body-and-signature": prop_entry,
    "signed-note": prop_note,
    "checkpoint-text": prop_checkpoint_text,
    "open-checkpoint": prop_open_checkpoint,
    "tlog-proof": prop_tlog_proof,
    "item-code": prop_code,
    "base45": prop_base45,
    "export": prop_export,
    "key-file": prop_key_file,
    "key-strings": prop_key_strings,
}


def run(prop: Callable[[st.DataObject], None], data: st.DataObject) -> None:
    """Run one property: a ProvchainError that escapes its checks is fine, anything else fails."""
    with contextlib.suppress(ProvchainError):
        prop(data)


@pytest.mark.parametrize("name", list(PROPERTIES))
@FAST
@given(data=st.data())
def test_fuzz(name: str, data: st.DataObject) -> None:
    run(PROPERTIES[name], data)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROPERTIES))
@LARGE
@given(data=st.data())
def test_fuzz_large(slow_selected: None, name: str, data: st.DataObject) -> None:
    run(PROPERTIES[name], data)


def test_samples_are_valid() -> None:
    """The seeds of the mutations are accepted as they are (else the no-false-accept checks prove nothing)."""
    s = samples()
    for e in s.entries:
        verify_signature(s.keys[e.content.signer], e.signed_message, e.signature)
    for n in s.notes:
        notes.open(n, [notes.new_verifier(s.operator.vkey)])
    for p in s.proofs:
        verify_tlog_proof(p, None, s.operator.vkey, ORIGIN)
    for c in s.codes:
        code.verify(c, s.operator.vkey, at=AT)
    report = audit_path(s.workdir / "ledger.export", s.operator.vkey, workers=1, now=AT)
    assert report.clean and (report.size, report.root) == s.export_facts
    for contents, passphrase in s.key_files:
        KeyPair.from_bytes(contents, passphrase)
    assert len(s.secrets) >= 8


# --- huge and deeply nested input: bounded memory ---------------------------------------------------

MB50 = 50 * 1024 * 1024
FOUR_GB = b"\xff\xff\xff\xff"


def _claims() -> dict[str, bytes]:
    return {
        "str32 claiming 50 MB": b"\xdb" + struct.pack(">I", MB50) + b"abc",
        "str32 claiming 4 GB": b"\xdb" + FOUR_GB + b"abc",
        "map with a 4 GB place": bytes.fromhex("81a5706c616365") + b"\xdb" + FOUR_GB + b"Grasse",
        "100k nested arrays": b"\x91" * 100_000 + b"\x01",
        "100k nested maps": b"\x81\xa1a" * 100_000 + b"\x01",
    }


def peak_of(fn: Callable[[], object]) -> tuple[int, BaseException | None]:
    """Peak memory allocated while ``fn`` runs (bytes), and what it raised."""
    raised: BaseException | None = None
    tracemalloc.start()
    try:
        try:
            fn()
        except Exception as exc:
            raised = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, raised


@dataclass(frozen=True)
class Huge:
    name: str
    parse: Callable[[Any], object]
    arg: Any  # built before the measurement
    limit: int  # allowed peak, in bytes, beyond the input itself
    may_accept: bool = False  # formats without a size limit of their own (the input is valid, only large)


def _huge_inputs() -> list[Huge]:
    """Each parser fed something huge or deeply nested."""
    s = samples()
    vkey = s.operator.vkey
    verifier = notes.new_verifier(vkey)
    big = b"a" * MB50
    small = 8 << 20  # parsers with a size limit must refuse before touching the bulk
    linear = 4 * MB50 + (8 << 20)  # parsers without one: a few copies of the input at most
    out = []
    for name, raw in _claims().items():
        out.append(Huge(f"encoding.decode: {name}", encoding.decode, raw, small))
        out.append(Huge(f"decode_body: {name}", decode_body, raw, small))
    str_of_50mb = b"\xdb" + struct.pack(">I", MB50) + big
    out += [
        Huge("encoding.decode: a 50 MB string", encoding.decode, str_of_50mb, small),
        Huge("decode_body: a 50 MB string", decode_body, str_of_50mb, small),
        Huge("parse_tlog_proof: 50 MB", parse_tlog_proof, b"c2sp.org/tlog-proof@v1\nindex 1\n" + big, small),
        # code.parse copies the text once before it checks its length (reported; a one-line fix in code.py)
        Huge("code.verify: 50 MB", lambda t: code.verify(t, vkey, at=AT), code.PREFIX + "A" * MB50, MB50 + small),
        Huge(
            "code.parse: nested arrays",
            lambda t: code.parse(t, ORIGIN),
            code.PREFIX + base45.encode(b"\x91" * 2000),
            small,
        ),
        Huge("KeyPair.from_bytes: 50 MB", KeyPair.from_bytes, big, small),
        Huge("KeyPair.from_bytes: nested DER", KeyPair.from_bytes, _nested_der_key_file(), small),
        Huge("parse_vkey: 50 MB", parse_vkey, "n+00000000+" + "A" * MB50, small),
        Huge("new_signer: 50 MB", notes.new_signer, "PRIVATE+KEY+n+00000000+" + "A" * MB50, small),
        Huge("ExportReader: frame claiming 4 GB", _read_export, MAGIC + FOUR_GB + big, small),
        Huge("ExportReader: nesting in a frame", _read_export, _export_with_header(b"\x91" * 60_000 + b"\x01"), small),
        Huge("ExportReader: 50 MB of checkpoint frames", _read_export, _export_of_checkpoints(s.export, MB50), linear),
        Huge(
            "note.open: 50 MB text", lambda m: notes.open(m, [verifier]), big + "\n\n\u2014 x AAAA\n".encode(), linear
        ),
        Huge(
            "note.open: 50 MB of signature lines",
            lambda m: notes.open(m, [verifier]),
            b"t\n\n" + "\u2014 x AAAAAAAA\n".encode() * (MB50 // 16),
            linear,
        ),
        Huge(
            "Checkpoint.parse: 50 MB origin",
            Checkpoint.parse,
            big + b"\n1\n" + base64.b64encode(bytes(32)) + b"\n",
            linear,
            may_accept=True,
        ),
        Huge(
            "open_checkpoint: 50 MB extension line",
            lambda m: open_checkpoint(m, ORIGIN, verifier),
            s.notes[0][: s.notes[0].rfind(b"\n\n")] + b"\n" + big + s.notes[0][s.notes[0].rfind(b"\n\n") :],
            linear,
        ),
    ]
    return out


def _read_export(raw: bytes) -> None:
    reader = ExportReader(io.BytesIO(raw))
    for _ in reader.entries():
        pass


def _export_of_checkpoints(export: bytes, size: int) -> bytes:
    """A valid export's magic and header, then ``size`` bytes of checkpoint records (no entries, no trailer)."""
    header_len = struct.unpack(">I", export[len(MAGIC) : len(MAGIC) + 4])[0]
    head = export[: len(MAGIC) + 4 + header_len]
    out = bytearray(head)
    n = 1
    while len(out) < size:
        frame = encoding.encode(["c", n, b"x" * 16000])
        out += struct.pack(">I", len(frame)) + frame
        n += 1
    return bytes(out)


def _export_with_header(payload: bytes) -> bytes:
    return MAGIC + struct.pack(">I", len(payload)) + payload


def _nested_der_key_file() -> bytes:
    der = b"\x05\x00"
    for _ in range(3000):  # SEQUENCE { SEQUENCE { ... } }, as deep as fits in a key file
        n = len(der)
        der = b"\x30" + (bytes([n]) if n < 128 else b"\x82" + n.to_bytes(2, "big")) + der
        if len(der) > 9000:
            break
    pem = base64.encodebytes(der).decode()
    return f"provchain-key-name: x\n-----BEGIN PRIVATE KEY-----\n{pem}-----END PRIVATE KEY-----\n".encode()


def test_huge_and_nested_input_is_refused_in_bounded_memory() -> None:
    """Only ProvchainErrors, and a peak far below what the input claims (a bounded multiple of its size)."""
    problems = {}
    for h in _huge_inputs():
        peak, raised = peak_of(lambda h=h: h.parse(h.arg))  # type: ignore[misc]
        if peak > h.limit:
            problems[h.name] = f"peak {peak} bytes > {h.limit}"
        if raised is None and not h.may_accept:
            problems[h.name] = "accepted"
        elif raised is not None and not isinstance(raised, ProvchainError):
            problems[h.name] = f"{type(raised).__name__}: {raised}"
    assert not problems, problems


def test_key_file_is_read_with_a_bound(tmp_path: Path) -> None:
    """KeyPair.load reads at most a little more than a key file's limit, whatever the file's size."""
    path = tmp_path / "huge.key"
    with path.open("wb") as f:
        f.truncate(MB50)  # sparse: 50 MB of zeros
    path.chmod(0o600)
    peak, raised = peak_of(lambda: KeyPair.load(path))
    assert peak < (1 << 20)
    assert isinstance(raised, KeyFileError) and "too large" in str(raised)
