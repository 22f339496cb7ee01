"""The portable ledger file: round trips, strict reading, and a reader that never crashes on junk."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
from pathlib import Path

import pytest
from conftest import HOUR, ORIGIN, T0, journey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain import KeyPair, Ledger, encoding
from provchain import errors as E
from provchain.audit import audit_path
from provchain.entries import Entry
from provchain.export import (
    MAGIC,
    ExportHeader,
    ExportReader,
    export_ledger,
    import_ledger,
    write_export,
)
from provchain.merkle import EMPTY_ROOT

# docs/spec/ledger-file.md, test vector 1: an export with no entry and no checkpoint
EMPTY_VKEY = "example.com/acme-ledger+ce664fde+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
EMPTY_EXPORT_HEX = (
    "50434c4544474552310a"  # magic: PCLEDGER1\n
    "00000089"  # header frame: 137 bytes
    "84a7656e747269657300a6666f726d617401a86f70657261746f72d94d6578616d706c652e636f6d2f61636d652d6c65"
    "646765722b63653636346664652b41514f6842372f7a7a68432b48584464474f644c774a6c6e354e59776d36554e5878"
    "3363686d515356544734a66f726967696eb76578616d706c652e636f6d2f61636d652d6c6564676572"
    "00000027"  # trailer frame: 39 bytes
    "94a1740000c420e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)
# test vector 2: SHA-256 of the export of the conftest ledger (policy + five registrations, fixed keys/times)
SIX_ENTRY_EXPORT_SHA256 = "e20877ecf148ca8fdb9de5e5fc41c8189f3c8c89c51db5a50d411bdf592b2da0"
SIX_ENTRY_ROOT = "86eebfb8168bd5def404faa8d54b615ddee74d86735af9099efd083759526204"


def small_export(ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path, operator: KeyPair) -> Path:
    journey(ledger, parties, "BAG-1")
    ledger.checkpoint()
    journey(ledger, parties, "BAG-2", start=T0 + 20 * HOUR)
    out = tmp_path / "ledger.export"
    export_ledger(ledger, out)
    return out


def frames(data: bytes) -> list[tuple[int, object]]:
    """(offset, decoded value) of every frame after the magic."""
    out = []
    pos = len(MAGIC)
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((pos, encoding.decode(data[pos + 4 : pos + 4 + n])))
        pos += 4 + n
    return out


def assemble(values: list[object]) -> bytes:
    out = MAGIC
    for v in values:
        payload = encoding.encode(v)
        out += struct.pack(">I", len(payload)) + payload
    return out


# --- round trip ---------------------------------------------------------------------------------------


def test_round_trip(
    ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path, operator: KeyPair
) -> None:
    out = small_export(ledger, parties, tmp_path, operator)
    root, size = ledger.root(), ledger.size
    report = audit_path(out, operator.vkey, workers=1)
    assert report.clean and report.root == root and report.size == size and report.checkpoints_checked == 1
    with import_ledger(out, tmp_path / "copy.db") as copy:
        assert copy.size == size and copy.root() == root
        assert [e.stage for e in copy.history("BAG-2")] == [e.stage for e in ledger.history("BAG-2")]
        assert copy.latest_checkpoint() == ledger.latest_checkpoint()
        assert copy.inclusion_proof(7) == ledger.inclusion_proof(7)
        assert copy.consistency_proof(10) == ledger.consistency_proof(10)
        # export(import(x)) == x
        export_ledger(copy, tmp_path / "again.export")
    assert (tmp_path / "again.export").read_bytes() == out.read_bytes()
    again = audit_path(tmp_path / "copy.db", operator.vkey, workers=1)
    assert again.clean and again.root == root


def test_export_from_path_and_cli_parity(ledger: Ledger, ledger_path: Path, tmp_path: Path) -> None:
    ledger.close()
    s = export_ledger(ledger_path, tmp_path / "x.export")
    assert s.entries == 6 and s.checkpoints == 0
    assert not (tmp_path / "x.export.partial").exists()


def test_reader_exposes_header_and_trailer(ledger: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    out = tmp_path / "x.export"
    export_ledger(ledger, out)
    with ExportReader.open(out) as r:
        assert r.header == ExportHeader(1, ORIGIN, operator.vkey, 6)
        entries = list(r.entries())
        assert [e.index for e in entries] == list(range(6))
        assert r.trailer is not None and r.trailer.root == ledger.root() and r.trailer.entries == 6
        with pytest.raises(E.InputError):
            list(r.entries())


def test_vector_empty_export() -> None:
    buf = io.BytesIO()
    s = write_export(buf, ExportHeader(1, ORIGIN, EMPTY_VKEY, 0), [], [])
    assert s.root == EMPTY_ROOT
    assert buf.getvalue().hex() == EMPTY_EXPORT_HEX
    r = ExportReader(io.BytesIO(buf.getvalue()))
    assert list(r.entries()) == [] and r.trailer is not None and r.trailer.root == EMPTY_ROOT


def test_vector_six_entries(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "six.export"
    export_ledger(ledger, out)
    assert ledger.root().hex() == SIX_ENTRY_ROOT
    assert len(out.read_bytes()) == 1907
    assert hashlib.sha256(out.read_bytes()).hexdigest() == SIX_ENTRY_EXPORT_SHA256


# --- tampered but well-formed exports: the audit reports them -----------------------------------------


def test_edited_export_entry_is_a_finding(
    ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path, operator: KeyPair
) -> None:
    out = small_export(ledger, parties, tmp_path, operator)
    data = out.read_bytes()
    values = [v for _, v in frames(data)]
    rec = values[2 + 8]  # header, 1 checkpoint, then entries: entry 8 is BAG-1's warehouse
    assert isinstance(rec, list) and rec[0] == "e" and rec[1] == 8
    body = encoding.decode(rec[2])
    body["data"] = {"bin": "Z-99"}
    rec[2] = encoding.encode(body)
    out.write_bytes(assemble(values))
    report = audit_path(out, operator.vkey, workers=1)
    got = sorted((f.index if f.index is not None else -1, f.check) for f in report.findings)
    # the entry's signature; the checkpoint over it; the trailer written before the edit
    assert got == [(-1, "checkpoint"), (-1, "export-trailer"), (8, "signature")]


def test_repeated_and_missing_indices_in_an_export(ledger: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    entries = list(ledger.entries())
    shuffled = [entries[0], entries[1], entries[1], entries[3], entries[4], entries[5]]
    buf = io.BytesIO()
    write_export(buf, ExportHeader(1, ORIGIN, operator.vkey, 6), [], shuffled)
    out = tmp_path / "x.export"
    out.write_bytes(buf.getvalue())
    report = audit_path(out, operator.vkey, workers=1)
    assert [(f.index, f.check) for f in report.findings if f.check == "index"] == [(1, "index"), (3, "index")]
    # such a file cannot be imported: it says what is wrong and where to look for the rest
    with pytest.raises(E.VerificationError, match=r"3 findings; the first: entry 1: index: .*provchain audit"):
        import_ledger(out, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_import_refuses_bad_body_and_existing_target(ledger: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    entries = list(ledger.entries())
    entries[3] = Entry(b"\x80", entries[3].signature, 3)  # an empty map: not an entry
    buf = io.BytesIO()
    write_export(buf, ExportHeader(1, ORIGIN, operator.vkey, 6), [], entries)
    out = tmp_path / "x.export"
    out.write_bytes(buf.getvalue())
    with pytest.raises(E.VerificationError, match="the first: entry 3: encoding"):
        import_ledger(out, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()
    report = audit_path(out, operator.vkey, workers=1)
    assert [(f.index, f.check) for f in report.findings] == [(3, "encoding")]
    (tmp_path / "taken.db").write_bytes(b"")
    with pytest.raises(E.LedgerExistsError):
        import_ledger(out, tmp_path / "taken.db")


# --- malformed files: ExportFormatError with the byte offset ------------------------------------------


def read_all(data: bytes) -> None:
    r = ExportReader(io.BytesIO(data), "x")
    for _ in r.entries():
        pass


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "bad magic"),
        (b"hello world, not an export", "bad magic"),
        (b"PCLEDGER2\n", "unsupported export version"),
        (MAGIC, "truncated"),
        (MAGIC + b"\x00\x00", "truncated"),
        (MAGIC + b"\x00\x00\x00\x00", "frame length 0"),
        (MAGIC + b"\xff\xff\xff\xff", "frame length"),
        (MAGIC + b"\x00\x00\x00\x05abc", "truncated"),
        (MAGIC + b"\x00\x00\x00\x01\xc1", "not canonical msgpack"),
    ],
)
def test_garbage(data: bytes, words: str) -> None:
    with pytest.raises(E.ExportFormatError, match=words):
        read_all(data)


def test_every_truncation_is_detected(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "x.export"
    export_ledger(ledger, out)
    data = out.read_bytes()
    for cut in range(len(data)):
        with pytest.raises(E.ExportFormatError, match=r"at byte \d+"):
            read_all(data[:cut])
    read_all(data)
    with pytest.raises(E.ExportFormatError, match="bytes after the trailer"):
        read_all(data + b"\x00")


def test_structural_errors(ledger: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    out = tmp_path / "x.export"
    export_ledger(ledger, out)
    values = [v for _, v in frames(out.read_bytes())]
    header, *records = values
    trailer = records[-1]

    def bad(vals: list[object], words: str) -> None:
        with pytest.raises(E.ExportFormatError, match=words):
            read_all(assemble(vals))

    assert isinstance(header, dict)
    bad([{**header, "format": 2}, *records], "unsupported entry format")
    bad([{**header, "extra": 1}, *records], "header must be a map")
    bad([{**header, "operator": "nope"}, *records], "operator key is malformed")
    bad([{**header, "entries": 7}, *records], "announces 7")
    bad([header, *records[:-1]], "truncated")  # no trailer
    bad([header, *records[:3], *records[4:]], "trailer counts")  # a middle entry dropped
    bad([header, *records[:-1], ["c", 3, b"note"], trailer], "checkpoint record after the entries")
    bad([header, ["x", 1], *records], "unknown record type")
    bad([header, ["e", 0, b"", b""], *records], "entry body")
    bad([header, ["e", -1, b"\x80", b""], *records], "entry record")
    bad([header, ["c", 5, b"n"], ["c", 5, b"n"], *records], "increasing size")
    bad([header, *records[:-1], ["t", 6, 0, b"short"]], "trailer is")
    bad([header, "not a list", *records], "array")


def test_audit_path_on_broken_export(ledger: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    out = tmp_path / "x.export"
    export_ledger(ledger, out)
    out.write_bytes(out.read_bytes()[:-10])
    with pytest.raises(E.ExportFormatError, match="truncated"):
        audit_path(out, operator.vkey, workers=1)


# --- fuzzing: the reader raises ExportFormatError or succeeds, nothing else -------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_after_magic(tail: bytes) -> None:
    with contextlib.suppress(E.ExportFormatError):
        read_all(MAGIC + tail)


_VALID: list[bytes] = []


def _valid_export() -> bytes:
    if not _VALID:
        op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
        entries = []
        from provchain.entries import PolicyEntry, sign_body
        from provchain.policy import DEFAULT_POLICY

        for i in range(3):
            pe = PolicyEntry(origin=ORIGIN, at=T0 + i, signer=op.key_id, policy=DEFAULT_POLICY)
            e = sign_body(pe, op)
            entries.append(Entry(e.body, e.signature, i))
        buf = io.BytesIO()
        write_export(buf, ExportHeader(1, ORIGIN, op.vkey, 3), [(2, b"x\n")], entries)
        _VALID.append(buf.getvalue())
    return _VALID[0]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutations(data: st.DataObject) -> None:
    raw = bytearray(_valid_export())
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del raw[pos:]
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del raw[pos : pos + data.draw(st.integers(1, 8))]
    with contextlib.suppress(E.ExportFormatError):
        read_all(bytes(raw))


def test_import_is_atomic_on_a_bad_export(tmp_path: Path) -> None:
    """A failed import leaves nothing at the destination, not even a temporary file."""
    bad = tmp_path / "bad.export"
    bad.write_bytes(b"PCLEDGER1\n" + b"\x00" * 64)
    with pytest.raises(E.ProvchainError):
        import_ledger(bad, tmp_path / "copy.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.export"]


# --- import verifies before it builds -----------------------------------------------------------------


def test_import_refuses_a_tampered_export_and_leaves_nothing(
    ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path, operator: KeyPair
) -> None:
    out = small_export(ledger, parties, tmp_path, operator)
    good = out.read_bytes()
    values = [v for _, v in frames(good)]
    # one entry's body edited, everything else kept (the trailer too)
    rec = values[2 + 8]
    assert isinstance(rec, list)
    body = encoding.decode(rec[2])
    body["data"] = {"bin": "Z-99"}
    rec[2] = encoding.encode(body)
    out.write_bytes(assemble(values))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(E.VerificationError, match="does not verify"):
        import_ledger(out, tmp_path / "copy.db", operator_vkey=operator.vkey)
    # the trailer's root alone changed
    values = [v for _, v in frames(good)]
    trailer = values[-1]
    assert isinstance(trailer, list) and trailer[0] == "t"
    trailer[3] = bytes(32)
    out.write_bytes(assemble(values))
    with pytest.raises(E.CheckpointError, match="trailer states the root"):
        import_ledger(out, tmp_path / "copy.db")
    # a checkpoint whose signature was altered (one base64 character of it)
    values = [v for _, v in frames(good)]
    cp = values[1]
    assert isinstance(cp, list) and cp[0] == "c" and cp[2].endswith(b"=\n")
    note = bytearray(cp[2])
    note[-20] = ord("A") if note[-20] != ord("A") else ord("B")
    cp[2] = bytes(note)
    out.write_bytes(assemble(values))
    with pytest.raises(E.CheckpointError, match="the first: ledger: checkpoint-signature"):
        import_ledger(out, tmp_path / "copy.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_import_never_follows_a_planted_link(ledger: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    out = tmp_path / "x.export"
    export_ledger(ledger, out)
    victim = tmp_path / "victim"
    victim.write_bytes(b"mine")
    # the temporary name an earlier version used, and the target itself
    (tmp_path / f".copy.db.importing-{os.getpid()}").symlink_to(victim)
    (tmp_path / "link.db").symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(E.LedgerExistsError):
        import_ledger(out, tmp_path / "link.db")
    assert not (tmp_path / "elsewhere.db").exists()
    with import_ledger(out, tmp_path / "copy.db", operator_vkey=operator.vkey) as copy:
        assert copy.root() == ledger.root()
    assert victim.read_bytes() == b"mine"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".importing")]


def test_import_of_the_empty_export(tmp_path: Path) -> None:
    exp = tmp_path / "empty.export"
    exp.write_bytes(bytes.fromhex(EMPTY_EXPORT_HEX))
    with import_ledger(exp, tmp_path / "empty.db", operator_vkey=EMPTY_VKEY) as led:
        assert led.size == 0 and led.root() == EMPTY_ROOT
    with pytest.raises(E.OperatorKeyError):
        import_ledger(exp, tmp_path / "other.db", operator_vkey=KeyPair.from_seed(ORIGIN, bytes(32)).vkey)
    assert not (tmp_path / "other.db").exists()


def test_export_refuses_existing_files_and_ledgers(ledger: Ledger, ledger_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.export"
    out.write_bytes(b"notes")
    with pytest.raises(E.InputError, match="already exists"):
        export_ledger(ledger, out)
    assert out.read_bytes() == b"notes"
    export_ledger(ledger, out, force=True)
    with pytest.raises(E.LedgerExistsError):
        export_ledger(ledger, out, force=True)  # now an export: a ledger file
    with pytest.raises(E.LedgerExistsError):
        export_ledger(ledger, ledger_path, force=True)
    assert ledger.size == 6 and ledger.root().hex() == SIX_ENTRY_ROOT
