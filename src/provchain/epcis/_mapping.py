"""The mapping between provchain events and EPCIS 2.0 ObjectEvents (docs/spec/epcis.md).

Export derives every EPCIS field of an event from its signed body; import reverses it exactly, keeping in
the event's data (keys ``epcis.*``) whatever EPCIS field differs from the stage's default, so that
export -> import -> export gives the same events.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import quote, unquote

from ..entries import Event
from ..errors import EpcisError, ProvchainError
from ..gs1 import canonical_item

__all__ = [
    "CBV",
    "IMPORT_STAGES",
    "NAMESPACE",
    "StageCbv",
    "business_fields",
    "item_uri",
    "place_uri",
]

NAMESPACE: Final = "urn:provchain:epcis:"
"""The IRI that the ``provchain:`` prefix stands for in an exported document's ``@context``."""

PREFIX: Final = "provchain:"
ITEM_URN: Final = "urn:provchain:item:"
PLACE_URN: Final = "urn:provchain:place:"
STAGE_URN: Final = "urn:provchain:stage:"
RESERVED: Final = "epcis."
"""Data keys that hold EPCIS fields differing from the stage's default (never in ``provchain:data``)."""


@dataclass(frozen=True)
class StageCbv:
    """What a stage is in CBV 2.0 terms: its business step, disposition and action, and whether the item
    stays at the place (then ``bizLocation`` is the place too; an item in transit has none)."""

    biz_step: str
    disposition: str | None
    action: str = "OBSERVE"
    stays: bool = True


CBV: Final[Mapping[str, StageCbv]] = {
    "origin": StageCbv("commissioning", "active", "ADD"),
    "export": StageCbv("departing", "in_transit", stays=False),
    "import": StageCbv("arriving", "in_progress"),
    "warehouse": StageCbv("storing", "sellable_not_accessible"),
    "appraisal": StageCbv("inspecting", "conformant"),
    "delivery": StageCbv("accepting", "retail_sold"),
    "return": StageCbv("receiving", "returned"),
}
"""Export: the CBV business step, disposition and action of each stage of the default policy. A stage of
another policy is exported with the business step ``urn:provchain:stage:<name>`` and no disposition."""

IMPORT_STAGES: Final[Mapping[str, str]] = {
    "commissioning": "origin",
    "departing": "export",
    "arriving": "import",
    "storing": "warehouse",
    "receiving": "warehouse",  # with the disposition "returned": return
    "inspecting": "appraisal",
    "accepting": "delivery",
}
"""Import: the stage of each CBV business step (``receiving`` with disposition ``returned`` is ``return``).
Any other business step is refused unless the caller maps it (``--stage BIZSTEP=STAGE``)."""

_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_OFFSET: Final = re.compile(r"[+-](?:0[0-9]|1[0-4]):[0-5][0-9]")
_MS: Final = timedelta(milliseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def is_uri(text: str) -> bool:
    """True if ``text`` is an absolute URI that provchain writes as is (ASCII, no fragment, no space)."""
    return bool(_URI.fullmatch(text)) and not text.startswith("urn:provchain:")


def item_uri(item: str) -> str:
    """The EPC of an item id: the id itself when it is a URI (a GS1 Digital Link is one), else
    ``urn:provchain:item:<percent-encoded UTF-8>``."""
    return item if is_uri(item) else ITEM_URN + quote(item, safe="")


def place_uri(place: str) -> str:
    """The location id of a place: the place itself when it is a URI (a GLN's Digital Link, an SGLN URN),
    else ``urn:provchain:place:<percent-encoded UTF-8>``."""
    return place if is_uri(place) else PLACE_URN + quote(place, safe="")


def _from_urn(uri: str, urn: str, what: str) -> str:
    if not uri.startswith(urn):
        return uri
    try:
        text = unquote(uri[len(urn) :], errors="strict")
    except UnicodeDecodeError:
        raise EpcisError(f"{what} {uri[:80]!r} is not percent-encoded UTF-8") from None
    if quote(text, safe="") != uri[len(urn) :]:
        raise EpcisError(f"{what} {uri[:80]!r} is not in its one encoded form ({urn}{quote(text, safe='')})")
    return text


def item_of(uri: str) -> str:
    """The item id of an EPC: a GS1 id canonicalised (an SGTIN EPC URN becomes its Digital Link)."""
    return canonical_item(_from_urn(uri, ITEM_URN, "the EPC"))


def place_of(uri: str) -> str:
    """The place of a location id (the reverse of :func:`place_uri`)."""
    return _from_urn(uri, PLACE_URN, "the location")


def time_text(ms: int, offset: str) -> str:
    """``ms`` (UTC milliseconds) as an EPCIS ``eventTime`` in the time zone ``offset`` (``+08:00``)."""
    sign = 1 if offset[0] == "+" else -1
    tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    try:
        text = (_EPOCH + ms * _MS).astimezone(tz).isoformat(timespec="milliseconds")
    except OverflowError:
        raise EpcisError(f"the time {ms} ms is beyond the year 9999, which EPCIS cannot write") from None
    return text.replace("+00:00", "Z")


def ms_of(text: str) -> int:
    """An EPCIS time (RFC 3339, with an offset) as UTC milliseconds; finer digits are dropped."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise EpcisError(f"the time {text[:40]!r} is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise EpcisError(f"the time {text[:40]!r} has no time zone offset")
    return (when - _EPOCH) // _MS


def business_fields(ev: Event) -> dict[str, Any]:
    """The EPCIS ObjectEvent fields of ``ev`` (everything but the evidence), derived from its body alone."""
    data = ev.data
    cbv = CBV.get(ev.stage)
    offset = str(data.get("epcis.tz", "+00:00"))
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": time_text(ev.at, offset),
        "eventTimeZoneOffset": offset,
        "epcList": [item_uri(ev.item)],
        "action": str(data.get("epcis.action", cbv.action if cbv else "OBSERVE")),
        "bizStep": str(data.get("epcis.bizstep", cbv.biz_step if cbv else STAGE_URN + ev.stage)),
    }
    disposition = data.get("epcis.disposition", cbv.disposition if cbv else None)
    if disposition is not None:
        out["disposition"] = str(disposition)
    if ev.place is not None:
        out["readPoint"] = {"id": place_uri(ev.place)}
    location = data.get("epcis.bizlocation")
    if location is None and ev.place is not None and (cbv is None or cbv.stays):
        location = place_uri(ev.place)
    if location is not None:
        out["bizLocation"] = {"id": str(location)}
    cert = data.get("certificate")
    if isinstance(cert, str) and is_uri(cert):
        out["certificationInfo"] = cert
    out[PREFIX + "country"] = ev.country
    rest = {k: v for k, v in data.items() if not k.startswith(RESERVED)}
    if rest:
        out[PREFIX + "data"] = rest
    return out


@dataclass(frozen=True)
class Imported:
    """One provchain event read from an EPCIS event: what :meth:`provchain.Ledger.append` takes."""

    item: str
    stage: str
    at: int
    country: str
    place: str | None
    data: dict[str, str | int]


_KNOWN: Final = frozenset(
    {
        "@context", "type", "eventID", "eventTime", "eventTimeZoneOffset", "recordTime", "action", "epcList",
        "bizStep", "disposition", "readPoint", "bizLocation", "certificationInfo",
    }
)  # fmt: skip
_EVIDENCE: Final = frozenset(
    PREFIX + k for k in ("party", "keyId", "body", "signature", "leafHash", "logIndex", "inclusionProof")
)


def _stage(biz_step: str, disposition: str | None, stages: Mapping[str, str]) -> str:
    if biz_step in stages:
        return stages[biz_step]
    if biz_step.startswith(STAGE_URN):
        return biz_step[len(STAGE_URN) :]
    if biz_step == "receiving" and disposition == "returned":
        return "return"
    if biz_step in IMPORT_STAGES:
        return IMPORT_STAGES[biz_step]
    raise EpcisError(
        f"{biz_step[:80]!r} has no provchain stage (known: {', '.join(sorted(IMPORT_STAGES))}, "
        f"{STAGE_URN}<stage>); map it with --stage BIZSTEP=STAGE"
    )


def _data(value: object) -> dict[str, str | int]:
    if not isinstance(value, dict):
        raise EpcisError(f"{PREFIX}data must be an object")
    out: dict[str, str | int] = {}
    for k, v in value.items():
        if k.startswith(RESERVED):
            raise EpcisError(f"{PREFIX}data key {k[:40]!r} is reserved (epcis.* keys are derived from EPCIS fields)")
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise EpcisError(f"{PREFIX}data value of {k[:40]!r} must be text or an integer")
        out[k] = v
    return out


def _location(value: object, what: str) -> str:
    assert isinstance(value, dict)  # the schema checked it
    return str(value["id"])


def parse_event(
    event: Mapping[str, Any], *, country: str | None, stages: Mapping[str, str]
) -> list[Imported]:
    """The provchain events of one EPCIS event (one per EPC); :class:`EpcisError` names the field."""
    kind = event.get("type")
    if kind != "ObjectEvent":
        raise EpcisError(f"field 'type': {str(kind)[:40]!r} is not imported; provchain records ObjectEvents")
    for key in event:
        if key not in _KNOWN and key not in _EVIDENCE and key not in (PREFIX + "country", PREFIX + "data"):
            raise EpcisError(f"field {key[:60]!r} cannot be recorded in a provchain event; leave it out")
    action = event["action"]
    if action == "DELETE":
        raise EpcisError("field 'action': DELETE is refused; a provchain journey is never deleted")
    epcs = event.get("epcList")
    if not epcs:
        raise EpcisError("field 'epcList': an event must name at least one item (instance-level EPC)")
    biz_step = event.get("bizStep")
    if biz_step is None:
        raise EpcisError("field 'bizStep' is missing: it names the stage")
    disposition = event.get("disposition")
    try:
        stage = _stage(biz_step, disposition, stages)
    except EpcisError as exc:
        raise EpcisError(f"field 'bizStep': {exc}") from None
    cbv = CBV.get(stage)
    data = _data(event[PREFIX + "data"]) if PREFIX + "data" in event else {}
    if biz_step != (cbv.biz_step if cbv else STAGE_URN + stage):
        data["epcis.bizstep"] = biz_step
    if disposition is not None and disposition != (cbv.disposition if cbv else None):
        data["epcis.disposition"] = disposition
    if action != (cbv.action if cbv else "OBSERVE"):
        data["epcis.action"] = action
    offset = event["eventTimeZoneOffset"]
    if not _OFFSET.fullmatch(offset):
        raise EpcisError(f"field 'eventTimeZoneOffset': {offset[:20]!r} is not an offset such as +08:00")
    if offset != "+00:00":
        data["epcis.tz"] = offset
    try:
        at = ms_of(event["eventTime"])
    except EpcisError as exc:
        raise EpcisError(f"field 'eventTime': {exc}") from None
    read_point = _location(event["readPoint"], "readPoint") if "readPoint" in event else None
    biz_location = _location(event["bizLocation"], "bizLocation") if "bizLocation" in event else None
    where = read_point if read_point is not None else biz_location
    try:
        place = place_of(where) if where is not None else None
    except EpcisError as exc:
        raise EpcisError(f"field {'readPoint' if read_point else 'bizLocation'}: {exc}") from None
    if biz_location is not None and biz_location != (where if cbv is None or cbv.stays else None):
        data["epcis.bizlocation"] = biz_location
    if "certificationInfo" in event:
        cert = event["certificationInfo"]
        if isinstance(cert, list):
            if len(cert) != 1:
                raise EpcisError("field 'certificationInfo': provchain records one certificate per event")
            cert = cert[0]
        if data.setdefault("certificate", cert) != cert:
            raise EpcisError(f"field 'certificationInfo' does not match {PREFIX}data's certificate")
    ctry = event.get(PREFIX + "country", country)
    if ctry is None:
        raise EpcisError(f"field '{PREFIX}country' is missing and no default country was given (--country)")
    out = []
    for n, epc in enumerate(epcs):
        try:
            item = item_of(epc)
        except ProvchainError as exc:  # EpcisError, or ItemError from a GS1 id
            raise EpcisError(f"field 'epcList[{n}]': {exc}") from None
        out.append(Imported(item, stage, at, ctry, place, dict(data)))
    return out
