"""The auditor's replay: a clean ledger audits clean; every tamper in the catalogue is caught precisely.

Each tamper is done the way an attacker with write access to the file would do it: with sqlite3 on the
database itself (the test is the attacker; production code never speaks SQL outside the store). The
careful attacker also rebuilds the leaf hashes and the Merkle node rows, so that the finding under test
is the only one.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import clirun
import forge
import pytest
import rawdb
from conftest import HOUR, ORIGIN, T0, Clock, journey

from provchain import KeyPair, Ledger, encoding
from provchain import errors as E
from provchain._internal import replay as replay_mod
from provchain.audit import AuditReport, Finding, audit_entries, audit_path
from provchain.checkpoint import Checkpoint, sign_checkpoint
from provchain.entries import ENTRY_DOMAIN, Entry, Event, PartyRegistration, sign_body

ITEMS = ("BAG-A", "BAG-B", "BAG-C")
FIRST_EVENT = 6  # entries 0..5: the policy and five registrations
LATER = T0 + 50 * HOUR


# --- the attacker's tools -------------------------------------------------------------------------


def db(path: Path) -> sqlite3.Connection:
    return rawdb.connect(path, isolation_level=None)


def rebuild_tree(path: Path) -> None:
    """Recompute every leaf hash and Merkle node from the stored bodies (a careful attacker)."""
    with db(path) as conn:
        conn.execute("BEGIN")
        forge.rebuild_tree(conn, from_bodies=True)
        conn.execute("COMMIT")


def edit_body(path: Path, idx: int, change: Callable[[dict[str, Any]], None], *, careful: bool = True) -> None:
    """Decode entry ``idx``'s body, change it, store it re-encoded canonically (signature untouched)."""
    with db(path) as conn:
        (body,) = conn.execute("SELECT body FROM entries WHERE idx = ?", (idx,)).fetchone()
        m = encoding.decode(bytes(body))
        change(m)
        conn.execute("UPDATE entries SET body = ? WHERE idx = ?", (encoding.encode(m), idx))
    if careful:
        rebuild_tree(path)


def inject(path: Path, entry: Entry) -> int:
    """Append a crafted entry at the end of the file (with a correct tree); return its index."""
    with db(path) as conn:
        (top,) = conn.execute("SELECT MAX(idx) FROM entries").fetchone()
        idx = top + 1
        conn.execute("INSERT INTO entries (idx, body, sig) VALUES (?,?,?)", (idx, entry.body, entry.signature))
    rebuild_tree(path)
    return idx


def entry_at(path: Path, idx: int) -> Entry:
    with db(path) as conn:
        body, sig = conn.execute("SELECT body, sig FROM entries WHERE idx = ?", (idx,)).fetchone()
    return Entry(bytes(body), bytes(sig), idx)


def index_of(path: Path, item: str, stage: str, nth: int = 0) -> int:
    with db(path) as conn:
        rows = conn.execute("SELECT idx, body FROM entries WHERE item = ? ORDER BY idx", (item,)).fetchall()
    found = [idx for idx, body in rows if Entry(bytes(body), b"").content.stage == stage]  # type: ignore[union-attr]
    return int(found[nth])


# --- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture
def built(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path) -> Iterator[Path]:
    """A ledger with three six-event journeys (entries 6..23), closed, ready to be tampered with."""
    for n, item in enumerate(ITEMS):
        journey(ledger, parties, item, start=T0 + HOUR + n * 10 * HOUR)
    ledger.close()
    yield ledger_path


def audit(path: Path, operator: KeyPair, **kw: Any) -> AuditReport:
    kw.setdefault("workers", 1)
    return audit_path(path, operator.vkey, **kw)


def only(report: AuditReport) -> Finding:
    assert report.finding_count == 1, [str(f) for f in report.findings]
    return report.findings[0]


def checks(report: AuditReport) -> list[tuple[int | None, str | None, str]]:
    return [(f.index, f.item, f.check) for f in report.findings]


def event(
    led_head: bytes | None, signer: KeyPair, item: str, stage: str, *, at: int = LATER, origin: str = ORIGIN
) -> Entry:
    ev = Event(origin=origin, at=at, signer=signer.key_id, item=item, stage=stage, country="CN", prev=led_head)
    return sign_body(ev, signer)


def head_leaf(path: Path, item: str) -> bytes:
    with Ledger.open(path, readonly=True) as led:
        h = led.head(item)
        assert h is not None
        return h.leaf_hash


# --- clean ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_clean_ledger(built: Path, operator: KeyPair, workers: int) -> None:
    with Ledger.open(built, operator=operator) as led:
        led.checkpoint()
        root, size = led.root(), led.size
    report = audit(built, operator, workers=workers)
    assert report.clean and report.finding_count == 0 and report.findings == ()
    assert report.size == size == 24 and report.root == root
    assert report.signatures_checked == 24 and report.checkpoints_checked == 1
    assert report.signed_checkpoint is not None and report.checkpoint_to_save == report.signed_checkpoint
    assert "CLEAN" in report.summary()
    js = report.to_json()
    assert js["clean"] is True and js["root"] == root.hex() and js["findings"] == []


def test_checkpoint_to_save_is_unsigned_text_when_no_checkpoint_covers_all(built: Path, operator: KeyPair) -> None:
    report = audit(built, operator)
    assert report.signed_checkpoint is None
    cp = Checkpoint.parse(report.checkpoint_to_save.encode())
    assert (cp.origin, cp.size, cp.root) == (ORIGIN, 24, report.root)
    # and it works as --since
    again = audit(built, operator, since=report.checkpoint_to_save.encode())
    assert again.clean and again.since == cp


def test_audit_entries_is_pure(built: Path, operator: KeyPair) -> None:
    with Ledger.open(built, readonly=True) as led:
        entries = list(led.entries())
    report = audit_entries(entries, operator.vkey, workers=1)
    assert report.clean and report.size == 24
    assert audit_entries([], operator.vkey).size == 0


# --- the tamper catalogue --------------------------------------------------------------------------


def test_01_edited_event_field(built: Path, operator: KeyPair) -> None:
    idx = index_of(built, "BAG-B", "import")
    edit_body(built, idx, lambda m: m.update(place="Ningbo port"))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-B", "signature")
    assert "shanghai-customs-broker" in f.expected


@pytest.mark.parametrize("workers", [1, 2])
def test_02_edited_appraisal_verdict_gives_one_finding(
    built: Path, operator: KeyPair, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_mod, "_CHUNK", 3)  # several jobs: the verdict that explains the break is another job's
    idx = index_of(built, "BAG-A", "appraisal")
    edit_body(built, idx, lambda m: m["data"].update(verdict="counterfeit"))
    # the next event (delivery) names the original appraisal: its chain break is explained by this one
    f = only(audit(built, operator, workers=workers))
    assert (f.index, f.item, f.check) == (idx, "BAG-A", "signature")


def test_03_event_resigned_by_unregistered_key(built: Path, operator: KeyPair) -> None:
    intruder = KeyPair.from_seed("intruder", bytes([99]) * 32)
    idx = inject(built, event(head_leaf(built, "BAG-C"), intruder, "BAG-C", "delivery"))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-C", "unknown-key")
    assert intruder.key_id.hex() in f.found


def test_04_event_signed_by_another_key_under_a_registered_id(
    built: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    idx = index_of(built, "BAG-C", "delivery")
    forged = KeyPair.from_seed("sf-express", bytes([77]) * 32)  # same name, other key
    original = entry_at(built, idx)
    sig = forged.sign(original.signed_message)
    with db(built) as conn:
        conn.execute("UPDATE entries SET sig = ? WHERE idx = ?", (sig, idx))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-C", "signature")


def test_second_key_under_a_party_name(built: Path, operator: KeyPair) -> None:
    """A registration that gives a live party's name to another key (written past the ledger's checks)."""
    second = KeyPair.from_seed("sf-express", bytes([78]) * 32)
    reg = PartyRegistration(
        origin=ORIGIN, at=LATER, signer=operator.key_id, name="sf-express", roles=("courier",),
        key=second.public_key, valid_from=LATER,
    )
    idx = inject(built, sign_body(reg, operator))
    report = audit(built, operator)
    assert report.finding_count >= 1
    f = report.findings[0]
    assert f.index == idx
    assert "already held by key 6c4aced3" in f.found


def test_05_event_by_revoked_key(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    with Ledger.open(built, operator=operator, clock=Clock(LATER)) as led:
        led.revoke_party("sf-express", at=LATER - HOUR)
        # an item whose journey stops before delivery
        for stage, role in (("origin", "origin"), ("import", "customs"), ("warehouse", "warehouse")):
            led.append("BAG-D", stage, parties[role], country="CN", at=LATER - HOUR)
        leaf = led.head("BAG-D").leaf_hash  # type: ignore[union-attr]
    idx = inject(built, event(leaf, parties["courier"], "BAG-D", "delivery"))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-D", "revoked-key")
    assert "revoked by entry 24" in f.found


def test_06_wrong_role(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    with Ledger.open(built, clock=Clock(LATER)) as led:
        led.append("BAG-E", "origin", parties["origin"], country="FR", at=LATER - HOUR)
        leaf = led.head("BAG-E").leaf_hash  # type: ignore[union-attr]
    # the warehouse signs a customs import
    idx = inject(built, event(leaf, parties["warehouse"], "BAG-E", "import"))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-E", "role")
    assert f.expected == "role customs" and f.found == "roles warehouse"


def test_07_stage_out_of_order(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    # customs records an import after the delivery
    idx = inject(built, event(head_leaf(built, "BAG-A"), parties["customs"], "BAG-A", "import"))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-A", "stage-order")
    assert f.found == "import" and "delivery" in f.expected


def test_07a_stage_the_policy_does_not_define(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    # a well-formed stage name that the policy lacks, validly signed and chained: a finding of the rules
    idx = inject(built, event(head_leaf(built, "BAG-A"), parties["courier"], "BAG-A", "teleport"))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-A", "stage")
    res = clirun.run("audit", str(built), "--operator", operator.vkey, "--workers", "1")
    assert res.exit_code == 1, res.output


def test_07b_stage_that_is_not_a_name(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    # a stored body whose stage is not a well-formed name is not an entry body at all: an encoding finding
    # (where the API refuses such a stage as a bad argument before anything is signed)
    good = event(head_leaf(built, "BAG-A"), parties["courier"], "BAG-A", "teleport")
    m = encoding.decode(good.body)
    m["stage"] = "Tele Port!"
    body = encoding.encode(m)
    idx = inject(built, Entry(body, parties["courier"].sign(ENTRY_DOMAIN + body)))
    f = only(audit(built, operator))
    assert (f.index, f.check) == (idx, "encoding")
    assert "not a valid stage name" in f.message
    res = clirun.run("audit", str(built), "--operator", operator.vkey, "--workers", "1")
    assert res.exit_code == 1, res.output


def test_08_middle_entry_deleted(built: Path, operator: KeyPair) -> None:
    idx = index_of(built, "BAG-B", "warehouse")
    with db(built) as conn:
        conn.execute("DELETE FROM entries WHERE idx = ?", (idx,))
    rebuild_tree(built)
    report = audit(built, operator)
    assert checks(report) == [(idx + 1, None, "index"), (idx + 1, "BAG-B", "chain")]


def test_09_middle_entry_deleted_and_renumbered(built: Path, operator: KeyPair) -> None:
    idx = index_of(built, "BAG-B", "warehouse")
    with db(built) as conn:
        conn.execute("DELETE FROM entries WHERE idx = ?", (idx,))
        (top,) = conn.execute("SELECT MAX(idx) FROM entries").fetchone()
        for i in range(idx + 1, top + 1):
            conn.execute("UPDATE entries SET idx = ? WHERE idx = ?", (i - 1, i))
    rebuild_tree(built)
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-B", "chain")


def test_10_two_entries_swapped(built: Path, operator: KeyPair) -> None:
    a = index_of(built, "BAG-C", "warehouse", 0)
    b = a + 1
    with db(built) as conn:
        conn.execute("UPDATE entries SET idx = -1 WHERE idx = ?", (a,))
        conn.execute("UPDATE entries SET idx = ? WHERE idx = ?", (a, b))
        conn.execute("UPDATE entries SET idx = ? WHERE idx = -1", (b,))
    rebuild_tree(built)
    report = audit(built, operator)
    # the appraisal after them names the entry now at a, not its log predecessor at b: also a break
    assert checks(report) == [(a, "BAG-C", "chain"), (b, "BAG-C", "chain"), (b + 1, "BAG-C", "chain")]


def test_11_entry_duplicated(built: Path, operator: KeyPair) -> None:
    src = index_of(built, "BAG-A", "warehouse", 1)
    idx = inject(built, entry_at(built, src))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-A", "chain")


def test_12_tail_truncated_against_saved_checkpoint(built: Path, operator: KeyPair) -> None:
    with Ledger.open(built, operator=operator) as led:
        saved = led.checkpoint()
    assert audit(built, operator, since=saved).clean
    with db(built) as conn:
        conn.execute("DELETE FROM entries WHERE idx >= 21")
        conn.execute("DELETE FROM checkpoints")
    rebuild_tree(built)
    assert audit(built, operator).clean  # nothing left inside the file betrays it...
    f = only(audit(built, operator, since=saved))  # ...but the auditor's saved checkpoint does
    assert (f.index, f.check, f.expected, f.found) == (None, "since", "at least 24 entries", "21 entries")


def test_13_history_rewritten_under_new_checkpoint(
    built: Path, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    with Ledger.open(built, operator=operator) as led:
        saved = led.checkpoint()
    # the operator rebuilds the ledger with a different appraisal, and signs a fresh, consistent checkpoint
    forged_path = tmp_path / "rewritten.db"
    with Ledger.create(forged_path, origin=ORIGIN, operator=operator, at=T0, clock=Clock(LATER)) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
        for n, item in enumerate(ITEMS):  # the same journeys, but BAG-B's events one millisecond later
            journey(led, parties, item, start=T0 + HOUR + n * 10 * HOUR + (n == 1))
        led.append("BAG-Z", "origin", parties["origin"], country="IT", at=LATER)  # and longer
        led.checkpoint()
    assert audit(forged_path, operator).clean  # self-consistent
    report = audit(forged_path, operator, since=saved)
    f = only(report)
    assert f.check == "since" and "rewritten" in f.message


def test_14_forged_checkpoint_signature(built: Path, operator: KeyPair) -> None:
    with Ledger.open(built, operator=operator) as led:
        note = led.checkpoint()
    text, sig_line = note.rsplit(b"\n\xe2\x80\x94 ", 1)
    name, b64 = sig_line.rstrip(b"\n").split(b" ")
    raw = bytearray(base64.b64decode(b64))
    raw[10] ^= 1
    forged = text + b"\n\xe2\x80\x94 " + name + b" " + base64.b64encode(bytes(raw)) + b"\n"
    with db(built) as conn:
        conn.execute("UPDATE checkpoints SET note = ?", (forged,))
    f = only(audit(built, operator))
    assert f.check == "checkpoint-signature" and "24" in f.message


def test_15_altered_party_registration(built: Path, operator: KeyPair) -> None:
    # give the courier the origin role too
    edit_body(built, 5, lambda m: m.update(roles=["courier", "origin"]))
    report = audit(built, operator)
    first = report.findings[0]
    assert (first.index, first.item, first.check) == (5, None, "signature")
    # the forged registration registered nothing: the courier's events are by an unknown key
    assert checks(report)[1:] == [(index_of(built, i, "delivery"), i, "unknown-key") for i in ITEMS]


def test_16_altered_policy_entry(built: Path, operator: KeyPair) -> None:
    edit_body(built, 0, lambda m: m["stages"]["delivery"].update(roles=["courier", "origin"]))
    report = audit(built, operator)
    assert (report.findings[0].index, report.findings[0].check) == (0, "signature")
    assert {f.check for f in report.findings[1:]} == {"policy"}  # no policy was ever in force
    assert report.finding_count == 1 + 18


def test_17_non_canonical_body(built: Path, operator: KeyPair) -> None:
    idx = index_of(built, "BAG-A", "origin")
    body = entry_at(built, idx).body
    assert body[1:4] == b"\xa2at"
    bad = body[:1] + b"\xd9\x02" + body[2:]  # the key "at" as str8: same value, not the shortest form
    with db(built) as conn:
        conn.execute("UPDATE entries SET body = ? WHERE idx = ?", (bad, idx))
    rebuild_tree(built)
    report = audit(built, operator)
    assert (report.findings[0].index, report.findings[0].check) == (idx, "encoding")


def test_18_naive_edit_leaves_stored_tree_stale(built: Path, operator: KeyPair) -> None:
    idx = index_of(built, "BAG-B", "origin")
    edit_body(built, idx, lambda m: m.update(country="IT"), careful=False)
    report = audit(built, operator)
    assert sorted(checks(report), key=str) == [(idx, "BAG-B", "signature"), (idx, None, "leaf-hash")]


def test_19_damaged_merkle_node(built: Path, operator: KeyPair) -> None:
    with db(built) as conn:
        forge.set_node(conn, 2, 1, bytes(32))
    f = only(audit(built, operator))
    assert (f.index, f.check, f.found) == (4, "merkle-node", "00" * 32)


def test_20_checkpoint_with_a_wrong_root(built: Path, operator: KeyPair) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 10, bytes(32)), operator)
    with db(built) as conn:
        conn.execute("INSERT INTO checkpoints (size, note) VALUES (10, ?)", (note,))
    f = only(audit(built, operator))
    assert f.check == "checkpoint" and f.found == "00" * 32


def test_21_checkpoint_beyond_the_ledger(built: Path, operator: KeyPair) -> None:
    with Ledger.open(built, operator=operator) as led:
        led.checkpoint()
    with db(built) as conn:
        conn.execute("DELETE FROM entries WHERE idx >= 20")
    rebuild_tree(built)
    f = only(audit(built, operator))
    assert (f.check, f.expected, f.found) == ("checkpoint", "at least 24 entries", "20 entries")


def test_22_event_outside_key_validity(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    idx = inject(built, event(None, parties["origin"], "BAG-F", "origin", at=T0 - HOUR))
    f = only(audit(built, operator))
    assert (f.index, f.item, f.check) == (idx, "BAG-F", "key-validity")


def test_23_entry_from_another_ledger(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    idx = inject(built, event(None, parties["origin"], "BAG-G", "origin", origin="example.org/other"))
    f = only(audit(built, operator))
    assert (f.index, f.check, f.expected, f.found) == (idx, "origin", ORIGIN, "example.org/other")


def test_24_future_event(built: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    idx = inject(built, event(None, parties["origin"], "BAG-H", "origin", at=T0 + 1000 * HOUR))
    assert audit(built, operator).clean  # without a clock, the future cannot be judged
    f = only(audit(built, operator, now=T0 + 100 * HOUR))
    assert (f.index, f.check) == (idx, "time")


def test_25_wrong_pinned_operator(built: Path) -> None:
    other = KeyPair.from_seed(ORIGIN, bytes([5]) * 32)
    report = audit_path(built, other.vkey, workers=1)
    assert report.findings[0].check == "ledger-meta"
    assert (report.findings[1].index, report.findings[1].check) == (0, "operator-key")


def test_findings_are_capped_but_counted(built: Path, operator: KeyPair) -> None:
    edit_body(built, 0, lambda m: m.update(at=T0 + 1))
    report = audit_path(built, operator.vkey, workers=1, max_findings=5)
    assert len(report.findings) == 5 and report.finding_count == 19
    js = report.to_json()
    assert js["findings_truncated"] is True and js["finding_count"] == 19
    assert "more" in report.summary()


def test_cannot_run(tmp_path: Path, operator: KeyPair) -> None:
    with pytest.raises(E.LedgerNotFoundError):
        audit_path(tmp_path / "missing.db", operator.vkey)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello, not a ledger")
    with pytest.raises(E.ForeignLedgerError):
        audit_path(junk, operator.vkey)
    with pytest.raises(E.InputError):
        audit_path(junk, "not-a-key")
    with pytest.raises(E.InputError):
        audit_entries([], "not-a-key")


def test_saved_checkpoint_must_be_readable(built: Path, operator: KeyPair) -> None:
    with pytest.raises(E.InputError):
        audit(built, operator, since=b"garbage")
    stranger = KeyPair.from_seed("example.org/other", bytes(32))
    other = sign_checkpoint(Checkpoint("example.org/other", 1, bytes(32)), stranger)
    with pytest.raises(E.InputError):
        audit(built, operator, since=other)


def test_progress_is_reported(built: Path, operator: KeyPair) -> None:
    seen: list[tuple[int, int | None]] = []
    audit_path(built, operator.vkey, workers=1, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (24, 24)
