"""EPCIS export and import (issue #17, items 1 and 2): the CBV mapping, the evidence, all-or-nothing import,
round trips, and the ``provchain epcis`` commands. Real ledgers, real signatures, GS1's schema."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from clirun import fails, ok
from conftest import HOUR, ORIGIN, T0, journey

from provchain import epcis, errors
from provchain.keys import KeyPair
from provchain.ledger import Ledger

ITEM = "https://id.gs1.org/01/09506000134352/21/SERUM-0731"
NOW = T0 + 50 * HOUR
ALL_ROLES = ["appraiser", "courier", "customs", "origin", "warehouse"]


def _events(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["epcisBody"]["eventList"]


def _partner_ledger(path: Path) -> tuple[Ledger, KeyPair]:
    op = KeyPair.from_seed("example.org/partner", bytes([7]) * 32)
    led = Ledger.create(path, origin="example.org/partner", operator=op, at=T0)
    kp = KeyPair.from_seed("partner-wms", bytes([8]) * 32)
    led.register_party("partner-wms", roles=ALL_ROLES, public_key=kp.public_key, at=T0, valid_from=T0)
    return led, kp


@pytest.fixture
def full(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    """Two journeys (one GS1 item, one plain id), a checkpoint, then a return not yet in a checkpoint."""
    journey(ledger, parties, ITEM)
    journey(ledger, parties, "SERUM-FR/1", start=T0 + 2 * HOUR)
    ledger.checkpoint()
    ledger.append(ITEM, "return", parties["warehouse"], country="CN", place="Hangzhou", at=T0 + 20 * HOUR,
                  data={"reason": "7-day return"})  # fmt: skip
    return ledger


# --- export -------------------------------------------------------------------------------------------


def test_export_validates_and_maps_every_stage(full: Ledger) -> None:
    doc = epcis.export_document(full, now=NOW)
    epcis.validate(doc)
    assert json.loads(epcis.to_json(doc)) == doc
    events = _events(doc)
    assert len(events) == 13
    mine = [e for e in events if e["epcList"] == [ITEM]]
    steps = [(e["bizStep"], e.get("disposition"), e["action"]) for e in mine]
    assert steps == [
        ("commissioning", "active", "ADD"),
        ("arriving", "in_progress", "OBSERVE"),
        ("storing", "sellable_not_accessible", "OBSERVE"),
        ("storing", "sellable_not_accessible", "OBSERVE"),
        ("inspecting", "conformant", "OBSERVE"),
        ("accepting", "retail_sold", "OBSERVE"),
        ("receiving", "returned", "OBSERVE"),
    ]
    first = mine[0]
    assert first["eventTime"] == "2025-10-09T09:53:20.000Z" and first["eventTimeZoneOffset"] == "+00:00"
    assert first["readPoint"] == first["bizLocation"] == {"id": "urn:provchain:place:Grasse"}
    assert first["provchain:country"] == "FR" and first["provchain:data"] == {"batch": "B-2025-17"}
    assert first["provchain:party"] == "grasse-labs"
    plain = next(e for e in events if e["epcList"] != [ITEM])
    assert plain["epcList"] == ["urn:provchain:item:SERUM-FR%2F1"]
    assert doc["@context"][1] == {"provchain": epcis.NAMESPACE}


def test_export_evidence_comes_from_the_signed_entries(full: Ledger, parties: dict[str, KeyPair]) -> None:
    doc = epcis.export_document(full, [ITEM], now=NOW)
    history = full.history(ITEM)
    for ev, h in zip(_events(doc), history, strict=True):
        assert ev["eventID"] == epcis.event_id(h.leaf_hash)
        assert ev["provchain:leafHash"] == h.leaf_hash.hex() and ev["provchain:logIndex"] == h.index
        assert base64.b64decode(ev["provchain:body"]) == h.entry.body
        assert base64.b64decode(ev["provchain:signature"]) == h.entry.signature
        assert ev["provchain:keyId"] == h.key_id.hex() and ev["provchain:party"] == h.party
    assert "provchain:inclusionProof" not in _events(doc)[-1]  # the return came after the checkpoint
    assert all("provchain:inclusionProof" in e for e in _events(doc)[:-1])


def test_partner_checks_the_evidence(full: Ledger, operator: KeyPair) -> None:
    doc = epcis.export_document(full, now=NOW)
    report = epcis.check_evidence(doc, operator.vkey)
    assert (report.events, report.proven, report.checkpoint_size) == (13, 12, full.size - 1)


@pytest.mark.parametrize(
    ("tamper", "error", "words"),
    [
        (lambda e: e.update(bizStep="shipping"), errors.VerificationError, "bizStep differ"),
        (lambda e: e["provchain:data"].update(batch="B-9"), errors.VerificationError, "provchain:data differ"),
        (lambda e: e.update({"provchain:country": "DE"}), errors.VerificationError, "provchain:country differ"),
        (lambda e: e.update(eventTime="2025-10-09T09:53:21.000Z"), errors.VerificationError, "eventTime"),
        (lambda e: e.update({"provchain:logIndex": 7}), errors.InclusionError, "event 1"),
        (lambda e: e["provchain:inclusionProof"].pop(), errors.InclusionError, "not included"),
        (lambda e: e.update({"provchain:leafHash": "00" * 32}), errors.VerificationError, "leafHash"),
        (lambda e: e.update({"provchain:body": "!!"}), errors.EpcisError, "base64"),
    ],
)
def test_tampered_exports_fail_the_evidence_check(
    full: Ledger, operator: KeyPair, tamper: Any, error: type[Exception], words: str
) -> None:
    doc = epcis.export_document(full, now=NOW)
    tamper(_events(doc)[0])
    with pytest.raises(error, match=words):
        epcis.check_evidence(doc, operator.vkey)


def test_evidence_check_needs_the_right_operator(full: Ledger) -> None:
    doc = epcis.export_document(full, now=NOW)
    with pytest.raises(errors.VerificationError):
        epcis.check_evidence(doc, KeyPair.from_seed(ORIGIN, bytes([99]) * 32).vkey)


def test_export_of_unknown_item_and_bad_arguments(full: Ledger) -> None:
    with pytest.raises(errors.InputError, match="no events for item"):
        epcis.export_document(full, ["NOPE"])
    with pytest.raises(errors.InputError, match="list of item ids"):
        epcis.export_document(full, "SERUM")  # type: ignore[arg-type]
    with pytest.raises(errors.InputError):
        epcis.export_document("ledger.db")  # type: ignore[arg-type]


# --- round trip and import ----------------------------------------------------------------------------


def test_round_trip_export_import_export_gives_the_same_events(full: Ledger, tmp_path: Path) -> None:
    doc = epcis.export_document(full, now=NOW)
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    written = epcis.import_document(partner, epcis.to_json(doc), kp)
    assert len(written) == 13
    again = epcis.export_document(partner, now=NOW)
    assert [epcis.strip_evidence(e) for e in _events(again)] == [epcis.strip_evidence(e) for e in _events(doc)]
    assert [e["provchain:party"] for e in _events(again)] == ["partner-wms"] * 13


def test_round_trip_keeps_time_zones_and_fields_that_differ_from_the_defaults(tmp_path: Path) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    doc = _doc(
        _ev("commissioning", eventTime="2025-10-09T18:00:00.000+08:00", eventTimeZoneOffset="+08:00",
            readPoint={"id": "urn:epc:id:sgln:0614141.07346.1234"}),
        _ev("arriving", disposition="in_progress"),
        _ev("receiving", disposition="in_progress", readPoint={"id": "urn:epc:id:sgln:0012345.11111.400"},
            bizLocation={"id": "urn:epc:id:sgln:0012345.11111.0"}, certificationInfo="https://cert.example/C-1"),
    )  # fmt: skip
    epcis.import_document(partner, json.dumps(doc).encode(), kp, country="CN")
    history = partner.history("https://id.gs1.org/01/09506000134352/21/A1")
    assert [h.stage for h in history] == ["origin", "import", "warehouse"]
    assert history[0].at == T0 + 4_000_000  # 18:00 at +08:00 is 10:00 UTC
    assert dict(history[0].data) == {"epcis.tz": "+08:00"} and dict(history[1].data) == {}
    assert dict(history[2].data) == {
        "epcis.bizstep": "receiving",
        "epcis.disposition": "in_progress",
        "epcis.bizlocation": "urn:epc:id:sgln:0012345.11111.0",
        "certificate": "https://cert.example/C-1",
    }
    out = _events(epcis.export_document(partner, now=NOW))
    for sent, got in zip(_events(doc), out, strict=True):
        got = epcis.strip_evidence(got)
        assert got["epcList"] == ["https://id.gs1.org/01/09506000134352/21/A1"]  # the URN, canonicalised
        for key, value in sent.items():
            assert key == "epcList" or got[key] == value, key


def _ev(biz_step: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "ADD" if biz_step == "commissioning" else "OBSERVE",
        "eventTime": "2025-10-09T10:00:00.000Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": ["urn:epc:id:sgtin:9506000.013435.A1"],
        "bizStep": biz_step,
        **fields,
    }


def _doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"provchain": epcis.NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-10-09T10:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def test_epc_urns_become_canonical_digital_links_and_one_event_fans_out(tmp_path: Path) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    ev = _ev("commissioning", epcList=["urn:epc:id:sgtin:9506000.013435.A1", "https://brand.example/01/09506000134352/21/A2"])
    epcis.import_document(partner, json.dumps(_doc(ev)).encode(), kp, country="FR")
    for serial in ("A1", "A2"):
        assert [h.stage for h in partner.history(f"https://id.gs1.org/01/09506000134352/21/{serial}")] == ["origin"]


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (_ev("shipping"), "event 2: field 'bizStep': 'shipping' has no provchain stage"),
        (_ev("storing", epcList=["urn:epc:id:sgtin:9506000.013435.A1", "urn:epc:id:sgtin:9506000.01343.A1"]),
         "event 2: field 'epcList[1]': * 13 digits"),
        (_ev("storing", action="DELETE"), "event 2: field 'action': DELETE is refused"),
        (_ev("storing", bizTransactionList=[{"type": "po", "bizTransaction": "urn:x:1"}]),
         "event 2: field 'bizTransactionList' cannot be recorded"),
        (_ev("storing", epcList=[]), "event 2: field 'epcList'"),
        (_ev("storing", **{"provchain:data": {"epcis.tz": "+01:00"}}), "reserved"),
        (_ev("storing", **{"provchain:data": {"ok": 1.5}}), "text or an integer"),
        (_ev("storing", certificationInfo=["https://c.example/1", "https://c.example/2"]), "one certificate"),
        (_ev("storing", readPoint={"id": "urn:provchain:place:%FF"}), "field readPoint"),
        ({"type": "AggregationEvent", "action": "OBSERVE", "eventTime": "2025-10-09T10:00:00Z",
          "eventTimeZoneOffset": "+00:00", "parentID": "urn:epc:id:sscc:0614141.1234567890",
          "childEPCs": ["urn:epc:id:sgtin:9506000.013435.A1"]},
         "event 2: field 'type': 'AggregationEvent' is not imported; provchain records ObjectEvents"),
        (_ev("https://vocab.example/step", eventID="urn:uuid:1"),
         "event 2 (eventID urn:uuid:1): field 'bizStep': 'https://vocab.example/step' has no provchain"),
    ],
)  # fmt: skip
def test_a_bad_event_is_refused_by_number_and_field_and_nothing_is_written(
    tmp_path: Path, event: dict[str, Any], words: str
) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    size = partner.size
    doc = _doc(_ev("commissioning"), event)
    pattern = words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("*", ".*")
    with pytest.raises(errors.EpcisError, match=pattern):
        epcis.import_document(partner, json.dumps(doc).encode(), kp, country="FR")
    assert partner.size == size


def test_a_ledger_refusal_mid_document_rolls_everything_back(tmp_path: Path) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    size = partner.size
    doc = _doc(_ev("commissioning"), _ev("storing"), _ev("arriving", eventTime="2025-10-09T11:00:00Z"))
    with pytest.raises(errors.StageOrderError, match=r"event 2: stage 'warehouse' may not follow 'origin'.*nothing"):
        epcis.import_document(partner, json.dumps(doc).encode(), kp, country="FR")
    assert partner.size == size and partner.history("https://id.gs1.org/01/09506000134352/21/A1") == []


def test_import_needs_the_role_and_the_country(tmp_path: Path) -> None:
    partner, _ = _partner_ledger(tmp_path / "partner.db")
    courier = KeyPair.from_seed("courier", bytes([5]) * 32)
    partner.register_party("courier", roles=["courier"], public_key=courier.public_key, at=T0, valid_from=T0)
    data = json.dumps(_doc(_ev("commissioning"))).encode()
    with pytest.raises(errors.RoleError, match="event 1"):
        epcis.import_document(partner, data, courier, country="FR")
    with pytest.raises(errors.EpcisError, match="provchain:country' is missing"):
        epcis.import_document(partner, data, courier)
    with pytest.raises(errors.CountryError):
        epcis.import_document(partner, data, courier, country="XX")


def test_stage_mapping_table_and_custom_stages(tmp_path: Path) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    doc = _doc(_ev("commissioning"), _ev("shipping", eventTime="2025-10-09T11:00:00Z"))
    epcis.import_document(partner, json.dumps(doc).encode(), kp, country="FR", stages={"shipping": "export"})
    [_, second] = partner.history("https://id.gs1.org/01/09506000134352/21/A1")
    assert second.stage == "export" and dict(second.data) == {"epcis.bizstep": "shipping"}
    with pytest.raises(errors.EncodingError):
        epcis.parse_document(doc, stages={"shipping": "Not A Stage"})


def test_receiving_returned_is_the_return_stage(full: Ledger) -> None:
    doc = epcis.export_document(full, [ITEM], now=NOW)
    parsed = epcis.parse_document(doc)
    assert [p.stage for _, p in parsed][-1] == "return"
    assert [n for n, _ in parsed] == list(range(1, 8))


def test_provchain_fields_need_the_namespace_declared(full: Ledger) -> None:
    doc = epcis.export_document(full, [ITEM], now=NOW)
    doc["@context"] = [epcis.CONTEXT, {"provchain": "https://elsewhere.example/"}]
    with pytest.raises(errors.EpcisError, match="without declaring provchain"):
        epcis.parse_document(doc)


def test_a_document_without_events_is_refused(tmp_path: Path) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    with pytest.raises(errors.EpcisError, match="no event"):
        epcis.import_document(partner, json.dumps(_doc()).encode(), kp)


# --- the command line ------------------------------------------------------------------------------


def test_cli_export_validate_check_import(full: Ledger, tmp_path: Path, operator: KeyPair) -> None:
    full.close()
    led = str(tmp_path / "ledger.db")
    out = str(tmp_path / "events.json")
    res = ok("epcis", "export", led, "-o", out, "--at", "2025-10-12T00:00:00Z")
    assert res.output == f"wrote 13 EPCIS events to {out}\n"
    assert ok("epcis", "validate", out).output == f"{out}: valid EPCIS 2.0 (13 events)\n"
    res = ok("epcis", "check", out, "--operator", operator.vkey)
    assert res.output.startswith("13 events match their signed bodies; 12 proven included in the checkpoint of size")
    fails(2, "already exists", "epcis", "export", led, "-o", out)
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    partner.close()
    kp.save(tmp_path / "partner.key", None)
    res = ok("epcis", "import", out, str(tmp_path / "partner.db"), "--key", str(tmp_path / "partner.key"))
    assert res.output.startswith("imported 13 events as entries 2 to 14")
    again = ("epcis", "import", out, str(tmp_path / "partner.db"), "--key", str(tmp_path / "partner.key"))
    fails(1, "event 1 (eventID ni:///sha-256;", *again)  # the same events again: before the items' heads


def test_cli_refusals_are_one_line(tmp_path: Path, operator: KeyPair) -> None:
    bad = tmp_path / "bad.json"
    doc = _doc(_ev("storing", bizStep="urn:epcglobal:cbv:bizstep:storing"))
    bad.write_text(json.dumps(doc))
    words = "is not valid EPCIS 2.0: epcisBody.eventList[0].bizStep: 'urn:epcglobal:cbv:bizstep:storing' does not"
    fails(1, words, "epcis", "validate", str(bad))
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 1000 + b"]" * 1000)
    fails(2, "nests 1000 levels", "epcis", "check", str(deep), "--operator", operator.vkey)
    fails(2, "more than the limit of 100", "epcis", "validate", str(deep), "--max-bytes", "100")
    fails(2, "--stage takes BIZSTEP=STAGE", "epcis", "import", str(bad), "x.db", "--key", "k", "--stage", "x")
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps(_doc(_ev("storing"))).replace('"action"', '"action": "ADD", "action"', 1))
    res = ok("epcis", "validate", str(dup))
    assert "note: the key 'action' appears twice" in res.output


def test_exported_json_round_trips_through_a_file(full: Ledger, tmp_path: Path) -> None:
    doc = epcis.export_document(full, now=NOW)
    copy_doc = copy.deepcopy(doc)
    assert epcis.read_document(epcis.to_json(doc)) == copy_doc


def test_parse_document_checks_the_schema_itself() -> None:
    with pytest.raises(errors.EpcisError, match="not valid EPCIS"):
        epcis.parse_document({"type": "EPCISDocument", "epcisBody": {"eventList": [{"type": "ObjectEvent"}]}})


def test_a_time_epcis_cannot_write_is_refused_at_export(
    ledger: Ledger, parties: dict[str, KeyPair], clock: Any
) -> None:
    far = 300_000_000_000_000  # about the year 11,500
    clock.now = far + HOUR
    ledger.append("FAR-1", "origin", parties["origin"], country="FR", at=far)
    with pytest.raises(errors.EpcisError, match="beyond the year 9999"):
        epcis.export_document(ledger, ["FAR-1"], now=NOW)


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"provchain:country": 7}, errors.CountryError, "event 1"),
        ({"provchain:data": {"k": "x" * 300}}, errors.DataError, "event 1"),
        ({"provchain:data": {"BAD KEY": "x"}}, errors.DataError, "event 1"),
        ({"eventTime": "1969-12-31T23:59:59Z"}, errors.InputError, "event 1"),
    ],
)
def test_hostile_values_are_refused_by_the_ledger_and_named(
    tmp_path: Path, fields: dict[str, Any], error: type[Exception], words: str
) -> None:
    partner, kp = _partner_ledger(tmp_path / "partner.db")
    size = partner.size
    with pytest.raises(error, match=words):
        epcis.import_document(partner, json.dumps(_doc(_ev("commissioning", **fields))).encode(), kp, country="FR")
    assert partner.size == size


def test_cli_refuses_a_file_over_the_cap_before_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * 5000)
    fails(2, "has 5000 bytes, more than the limit of 4096", "epcis", "import", str(big), "x.db", "--key", "k",
          "--max-bytes", "4096")  # fmt: skip


def test_proofs_from_the_in_memory_tree_are_the_ledgers(full: Ledger) -> None:
    """A full export computes proofs from the entries' hashes (checked against the signed root); an export of
    chosen items reads them from the ledger: the same proofs."""
    every = {e["provchain:logIndex"]: e for e in _events(epcis.export_document(full, now=NOW))}
    for e in _events(epcis.export_document(full, [ITEM], now=NOW)):
        assert every[e["provchain:logIndex"]] == e
