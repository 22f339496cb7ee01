"""GS1 EPCIS 2.0 events in and out of a ledger (docs/spec/epcis.md).

* :func:`export_document`: an EPCISDocument with one ObjectEvent per provchain event, its CBV business step
  and disposition from the stage (:data:`CBV`), and provchain's evidence (party, key id, body, signature,
  leaf hash, log index, inclusion proof against the latest signed checkpoint) as ``provchain:`` fields.
* :func:`import_document`: a partner's EPCISDocument recorded as events signed by one party, all or nothing.
* :func:`read_document`: size and depth caps on the bytes, strict JSON, then GS1's JSON Schema.
* :func:`check_evidence`: a partner's check of an export against the operator's key.

>>> from provchain.epcis import CBV
>>> CBV["return"].biz_step, CBV["return"].disposition
('receiving', 'returned')
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from .. import merkle
from .._internal.validate import check_time
from ..checkpoint import Checkpoint, open_checkpoint
from ..entries import ENTRY_DOMAIN, Entry, Event, check_country, check_item, decode_body
from ..errors import DamagedLedgerError, EpcisError, InclusionError, InputError, ProvchainError, VerificationError
from ..keys import Signer, is_signer, verify_signature
from ..note import new_verifier
from ..policy import check_name
from ..tree.hashing import levels as tree_levels
from ._document import MAX_DEPTH, MAX_DOCUMENT, load_json, schema, schema_errors, validate
from ._mapping import CBV, IMPORT_STAGES, NAMESPACE, PREFIX, Imported, StageCbv, business_fields, parse_event

if TYPE_CHECKING:  # the ledger is imported where it is used: loading the CLI does not open SQLite
    from ..ledger import Ledger, Time

__all__ = [
    "CBV",
    "CONTEXT",
    "IMPORT_STAGES",
    "MAX_DEPTH",
    "MAX_DOCUMENT",
    "NAMESPACE",
    "EvidenceReport",
    "Imported",
    "StageCbv",
    "business_fields",
    "check_evidence",
    "event_id",
    "export_document",
    "import_document",
    "load_json",
    "parse_document",
    "read_document",
    "schema",
    "schema_errors",
    "strip_evidence",
    "to_json",
    "validate",
]

CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
"""GS1's JSON-LD context of EPCIS 2.0, the first element of every exported ``@context``."""

_EVIDENCE_KEYS: Final = ("party", "keyId", "body", "signature", "leafHash", "logIndex", "inclusionProof")


def event_id(leaf_hash: bytes) -> str:
    """The ``eventID`` of an exported event: its entry's leaf hash as an RFC 6920 ``ni`` URI."""
    return "ni:///sha-256;" + base64.urlsafe_b64encode(leaf_hash).rstrip(b"=").decode("ascii")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise EpcisError(f"{what} must be base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EpcisError(f"{what} is not valid base64") from None


def strip_evidence(event: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` without what names its ledger entry (``eventID`` and the ``provchain:`` evidence): the
    business content, equal across ledgers for the same events."""
    drop = {"eventID", *(PREFIX + k for k in _EVIDENCE_KEYS)}
    return {k: v for k, v in event.items() if k not in drop}


def _checkpoint(ledger: Ledger) -> tuple[bytes, Checkpoint] | None:
    note = ledger.latest_checkpoint()
    if note is None:
        return None
    cp, _ = open_checkpoint(note, ledger.origin, new_verifier(ledger.operator_vkey))
    return note, cp


def _chosen(ledger: Ledger, items: Sequence[str]) -> list[tuple[Entry, Event, str]]:
    """The events of ``items`` in log order (``history`` verifies each signature)."""
    chosen: list[tuple[Entry, Event, str]] = []
    for item in dict.fromkeys(check_item(i) for i in items):
        history = ledger.history(item)
        if not history:
            raise InputError(f"the ledger has no events for item {item!r}")
        chosen += [(h.entry, h.entry.content, h.party) for h in history]  # type: ignore[misc]
    chosen.sort(key=lambda t: t[0].index or 0)
    return chosen


def _all_events(ledger: Ledger, leaves: list[bytes], size: int) -> list[tuple[Entry, Event, str]]:
    """Every event in log order, each signature verified by its signer's registered key; the leaf hashes of
    the first ``size`` entries (events or not) are appended to ``leaves``."""
    keys = {r.key_id: r for r in ledger.parties()}
    out = []
    for entry in ledger.entries():
        assert entry.index is not None
        if entry.index < size:
            leaves.append(entry.leaf_hash)
        content = entry.content
        if not isinstance(content, Event):
            continue
        rec = keys.get(content.signer)
        if rec is None:
            raise VerificationError(f"entry {entry.index} is signed by the unregistered key {content.signer.hex()}")
        verify_signature(rec.public_key, ENTRY_DOMAIN + entry.body, entry.signature)
        out.append((entry, content, rec.name))
    return out


def _tree(leaves: list[bytes], cp: Checkpoint) -> merkle.NodeReader:
    """A node reader over the tree of ``leaves`` (every complete subtree, computed once in memory), checked
    to give the checkpoint's signed root: proofs then derive from the entries' bytes alone."""
    levels = tree_levels(leaves)

    def read(level: int, index: int) -> bytes:
        return levels[level][index]

    if len(leaves) != cp.size or merkle.root_from(cp.size, read) != cp.root:
        raise DamagedLedgerError(f"the ledger's entries do not give the root of its checkpoint of size {cp.size}")
    return read


def export_document(
    ledger: Ledger,
    items: Sequence[str] | None = None,
    *,
    proofs: bool = True,
    now: Time | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """An EPCISDocument of the events of ``items`` (default: every event), in log order.

    Every field derives from the entries' signed bodies (:func:`business_fields`), each signature verified
    first. With ``proofs``, each event covered by the latest signed checkpoint carries its inclusion proof,
    and the document carries the checkpoint. ``now`` is the ``creationDate`` (default: the clock).
    ``progress(done, None)`` is called as events are written.
    """
    from ..ledger import Ledger, now_ms, to_ms

    if not isinstance(ledger, Ledger):
        raise InputError("export_document takes a Ledger")
    if items is not None and (isinstance(items, str) or not isinstance(items, Sequence)):
        raise InputError("items must be a list of item ids")
    created = check_time(now_ms() if now is None else to_ms(now), "now", InputError)
    events: list[dict[str, Any]] = []
    with ledger.snapshot():
        signed = _checkpoint(ledger) if proofs else None
        size = signed[1].size if signed is not None else 0
        read: merkle.NodeReader | None = None
        if items is None:  # every entry is read anyway: the proofs come from an in-memory tree of their hashes
            leaves: list[bytes] = []
            chosen = _all_events(ledger, leaves, size)
            if signed is not None:
                read = _tree(leaves, signed[1])
        else:
            chosen = _chosen(ledger, items)
        for entry, ev, party in chosen:
            assert entry.index is not None
            out = {"eventID": event_id(entry.leaf_hash), **business_fields(ev)}
            out[PREFIX + "party"] = party
            out[PREFIX + "keyId"] = ev.signer.hex()
            out[PREFIX + "body"] = _b64(entry.body)
            out[PREFIX + "signature"] = _b64(entry.signature)
            out[PREFIX + "leafHash"] = entry.leaf_hash.hex()
            out[PREFIX + "logIndex"] = entry.index
            if entry.index < size:
                proof = (
                    merkle.inclusion_proof_from(entry.index, size, read)
                    if read is not None
                    else ledger.inclusion_proof(entry.index, size)
                )
                out[PREFIX + "inclusionProof"] = [_b64(h) for h in proof]
            events.append(out)
            if progress is not None and len(events) % 1000 == 0:
                progress(len(events), None)
    doc: dict[str, Any] = {
        "@context": [CONTEXT, {"provchain": NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.fromtimestamp(created // 1000, UTC).isoformat().replace("+00:00", "Z"),
        PREFIX + "origin": ledger.origin,
        PREFIX + "operator": ledger.operator_vkey,
    }
    if signed is not None:
        doc[PREFIX + "checkpoint"] = signed[0].decode("utf-8")
    doc["epcisBody"] = {"eventList": events}
    return doc


def to_json(doc: Mapping[str, Any]) -> bytes:
    """A document as UTF-8 JSON text, one event a line (what ``provchain epcis export`` writes)."""
    events = doc["epcisBody"]["eventList"]
    head = {k: v for k, v in doc.items() if k != "epcisBody"}
    parts = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events]
    body = ",\n".join(parts)
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "epcisBody": {"eventList": [\n' + body + "\n]}}\n"
    return text.encode("utf-8")


def read_document(data: bytes, *, max_bytes: int = MAX_DOCUMENT, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """Parse and check an EPCISDocument: size and nesting caps on the bytes, strict JSON, GS1's schema."""
    doc = load_json(data, max_bytes=max_bytes, max_depth=max_depth)
    validate(doc)
    if not isinstance(doc, dict) or doc.get("type") != "EPCISDocument":
        raise EpcisError("the document is valid EPCIS but not an EPCISDocument (a query document is not imported)")
    return doc


def _context_has_namespace(doc: Mapping[str, Any]) -> bool:
    ctx = doc.get("@context")
    entries = ctx if isinstance(ctx, list) else [ctx]
    return any(isinstance(c, dict) and c.get("provchain") == NAMESPACE for c in entries)


def _uses_prefix(value: Mapping[str, Any]) -> bool:
    return any(k.startswith(PREFIX) for k in value)


def _name(n: int, event: Mapping[str, Any]) -> str:
    eid = event.get("eventID")
    return f"event {n}" + (f" (eventID {str(eid)[:100]})" if eid is not None else "")


def parse_document(
    doc: Mapping[str, Any], *, country: str | None = None, stages: Mapping[str, str] | None = None
) -> list[tuple[int, Imported]]:
    """The provchain events of an EPCISDocument (parsed JSON, checked here against GS1's schema), each with
    its event's number (from 1); nothing is written. ``country`` is the default for events without
    ``provchain:country``; ``stages`` maps further business steps to stages. :class:`EpcisError` names the
    event and the field."""
    validate(doc)
    if not isinstance(doc, Mapping) or doc.get("type") != "EPCISDocument":
        raise EpcisError("the document is valid EPCIS but not an EPCISDocument")
    return _parse(doc, country, stages)


def _parse(
    doc: Mapping[str, Any], country: str | None, stages: Mapping[str, str] | None
) -> list[tuple[int, Imported]]:
    if country is not None:
        check_country(country)
    table = dict(stages or {})
    for biz_step, stage in table.items():
        if not isinstance(biz_step, str) or not biz_step:
            raise InputError("a business step to map must be non-empty text")
        check_name(stage, "stage")
    events = doc["epcisBody"]["eventList"]
    if not events:
        raise EpcisError("the document holds no event")
    if not _context_has_namespace(doc) and (_uses_prefix(doc) or any(_uses_prefix(e) for e in events)):
        raise EpcisError(f"the document uses provchain: fields without declaring provchain = {NAMESPACE} in @context")
    out: list[tuple[int, Imported]] = []
    for n, event in enumerate(events, 1):
        try:
            out += [(n, imp) for imp in parse_event(event, country=country, stages=table)]
        except EpcisError as exc:
            raise EpcisError(f"{_name(n, event)}: {exc}") from None
    return out


def import_document(
    ledger: Ledger,
    data: bytes,
    signer: Signer,
    *,
    country: str | None = None,
    stages: Mapping[str, str] | None = None,
    max_bytes: int = MAX_DOCUMENT,
    progress: Callable[[int, int | None], None] | None = None,
) -> list[Entry]:
    """Record every event of the EPCISDocument ``data`` as an event signed by ``signer``, all or nothing.

    The whole document is read and checked (:func:`read_document`, :func:`parse_document`) before anything
    is written; then every event is appended in document order inside one batch, under the ledger's policy.
    Any refusal (an invalid field, a stage out of order, a role the signer lacks) raises an error naming
    the event, and the ledger is left unchanged. ``progress(done, total)`` is called as events are appended.
    """
    from ..ledger import Ledger

    if not isinstance(ledger, Ledger):
        raise InputError("import_document takes a Ledger")
    if not is_signer(signer):
        raise InputError("signer must be a Signer such as a KeyPair")
    doc = read_document(data, max_bytes=max_bytes)
    events = doc["epcisBody"]["eventList"]
    parsed = _parse(doc, country, stages)  # read_document checked the schema
    written: list[Entry] = []
    failing = 0  # the number of the event being appended, for the error message
    try:
        with ledger.batch():
            for n, imp in parsed:
                failing = n
                written.append(
                    ledger.append(
                        imp.item, imp.stage, signer, country=imp.country, place=imp.place, data=imp.data, at=imp.at
                    )
                )
                if progress is not None and len(written) % 1000 == 0:
                    progress(len(written), len(parsed))
            if progress is not None:
                progress(len(written), len(parsed))
    except ProvchainError as exc:
        if failing == 0:
            raise
        raise _named(exc, f"{_name(failing, events[failing - 1])}: {exc}; nothing was imported") from None
    return written


def _named(exc: ProvchainError, message: str) -> ProvchainError:
    """An error of ``exc``'s class with ``message`` (which names the event), or ``exc`` itself if that class
    cannot be built from a message alone."""
    try:
        return type(exc)(message)
    except Exception:  # pragma: no cover - every provchain error takes one message
        return exc


@dataclass(frozen=True)
class EvidenceReport:
    """What :func:`check_evidence` established."""

    events: int
    """Events whose body, leaf hash, event id and EPCIS fields agree."""
    proven: int
    """Of those, events proven included in the operator-signed checkpoint."""
    checkpoint_size: int | None
    """The size of that checkpoint (None when the document carries none)."""


def check_evidence(doc: Mapping[str, Any], operator_vkey: str) -> EvidenceReport:
    """Check an exported document against its ledger's operator key: the checkpoint's signature; for each
    event, that its body is a valid event of that ledger, whose leaf hash and event id it carries, whose
    EPCIS fields are exactly those the body gives, and, if a proof is attached, that the leaf is in the
    checkpoint's tree. :class:`VerificationError` (or :class:`EpcisError` for a malformed field) names the
    event. Party signatures need the parties' keys: an audit of the ledger checks them."""
    verifier = new_verifier(operator_vkey)
    validate(doc)
    if not isinstance(doc, Mapping) or doc.get("type") != "EPCISDocument":
        raise EpcisError("the document is valid EPCIS but not an EPCISDocument")
    cp: Checkpoint | None = None
    note = doc.get(PREFIX + "checkpoint")
    if note is not None:
        if not isinstance(note, str):
            raise EpcisError(f"{PREFIX}checkpoint must be a signed note (text)")
        cp, _ = open_checkpoint(note.encode("utf-8"), verifier.name, verifier)
    events = doc["epcisBody"]["eventList"]
    proven = 0
    for n, event in enumerate(events, 1):
        try:
            proven += _check_event(event, verifier.name, cp)
        except ProvchainError as exc:
            raise _named(exc, f"{_name(n, event)}: {exc}") from None
    return EvidenceReport(len(events), proven, cp.size if cp else None)


def _check_event(event: Mapping[str, Any], origin: str, cp: Checkpoint | None) -> int:
    body = _unb64(event.get(PREFIX + "body"), f"{PREFIX}body")
    content = decode_body(body)
    if not isinstance(content, Event) or content.origin != origin:
        raise VerificationError(f"{PREFIX}body is not an event of the ledger {origin!r}")
    leaf = merkle.leaf_hash(body)
    if event.get(PREFIX + "leafHash") != leaf.hex() or event.get("eventID") != event_id(leaf):
        raise VerificationError(f"{PREFIX}leafHash or eventID is not the leaf hash of {PREFIX}body")
    if event.get(PREFIX + "keyId") != content.signer.hex():
        raise VerificationError(f"{PREFIX}keyId is not the signer of {PREFIX}body")
    shown, derived = strip_evidence(event), business_fields(content)
    if shown != derived:
        wrong = sorted(k for k in set(shown) | set(derived) if shown.get(k) != derived.get(k))
        raise VerificationError(f"the EPCIS field(s) {', '.join(wrong)} differ from what the signed body says")
    proof = event.get(PREFIX + "inclusionProof")
    if proof is None:
        return 0
    if cp is None:
        raise VerificationError(f"{PREFIX}inclusionProof without a {PREFIX}checkpoint to check it against")
    index = event.get(PREFIX + "logIndex")
    if not isinstance(proof, list) or isinstance(index, bool) or not isinstance(index, int):
        raise EpcisError(f"{PREFIX}inclusionProof must be a list and {PREFIX}logIndex an integer")
    hashes = [_unb64(h, f"{PREFIX}inclusionProof") for h in proof]
    try:
        merkle.verify_inclusion(leaf, index, cp.size, hashes, cp.root)
    except InclusionError as exc:
        raise InclusionError(f"not included in the checkpoint of size {cp.size}: {exc}") from None
    return 1
