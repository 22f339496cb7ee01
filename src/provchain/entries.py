"""Ledger entries: their bodies, canonical encoding, signatures and leaf hashes.

Every leaf of a provchain log is one :class:`Entry`: a canonical msgpack *body* and an Ed25519
*signature* over ``ENTRY_DOMAIN + body``. The leaf hash is ``SHA-256(0x00 || body)`` (RFC 9162), so the
signature is not part of the Merkle tree. There are four kinds of body:

* :class:`Event`: a stage of an item's journey, signed by the party that performed it;
* :class:`PartyRegistration`, :class:`Revocation`, :class:`PolicyEntry`: signed by the operator.

The normative specification is docs/spec/entries.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar, TypeAlias

import msgpack

from . import encoding, merkle
from ._internal.record import record
from ._internal.text import describe, escape, identifier_problem
from ._internal.validate import MAX_TIME, check_time
from .errors import CountryError, DataError, EncodingError, InputError, ItemError, KeyFormatError
from .gs1 import check_gs1_item, looks_gs1
from .keys import Signer, check_key_name, is_signer, key_id
from .policy import Policy, check_name, check_stage_name
from .tree.hashing import LEAF_PREFIX, _sha256

__all__ = [
    "COUNTRIES",
    "ENTRY_DOMAIN",
    "FORMAT_VERSION",
    "MAX_BODY",
    "Body",
    "Entry",
    "Event",
    "PartyRegistration",
    "PolicyEntry",
    "Revocation",
    "check_country",
    "check_data",
    "check_item",
    "check_place",
    "check_reason",
    "decode_body",
    "leaf_hash_of",
    "ms_to_iso",
    "sign_body",
]

FORMAT_VERSION = 1
ENTRY_DOMAIN = b"provchain/v1/entry\n"
"""Prefix of every entry signature's message (domain separation)."""

MAX_BODY = 8192
MAX_ITEM = 128
MAX_PLACE = 128
MAX_DATA_KEYS = 16
MAX_DATA_KEY = 32
MAX_DATA_VALUE = 256
MAX_REASON = 256
MAX_ORIGIN = 128
MAX_ROLES = 16

_DATA_KEY_RE = re.compile(r"[a-z][a-z0-9_.-]{0,31}")

# ISO 3166-1 alpha-2: the officially assigned codes.
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - a table reads better than 249 quoted strings
)


def ms_to_iso(ms: int) -> str:
    """Integer milliseconds since the Unix epoch (UTC) as ISO 8601 text."""
    # Never raises: entries allow times up to MAX_TIME (year ~287,000), beyond what datetime can show, and
    # the messages that judge such times must still be made. Integer arithmetic keeps the milliseconds exact.
    if type(ms) is not int:
        raise InputError(f"a time in milliseconds is an integer, not {type(ms).__name__}")
    try:
        dt = datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=ms % 1000 * 1000)
    except (ValueError, OverflowError, OSError):
        return f"{ms} ms after 1970-01-01T00:00:00Z (beyond the year 9999)"
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object, what: str, limit: int, exc: type[Exception] = EncodingError) -> str:
    if not isinstance(value, str):
        raise exc(f"{what} must be text")
    if not value or (len(value) > limit if value.isascii() else len(value.encode("utf-8", "surrogatepass")) > limit):
        raise exc(f"{what} must be 1 to {limit} bytes of UTF-8")
    if not value.isprintable():
        raise exc(f"{what} may not contain control characters")
    return value


def _bin(value: object, what: str, length: int, exc: type[Exception] = EncodingError) -> bytes:
    if type(value) is not bytes or len(value) != length:
        raise exc(f"{what} must be exactly {length} bytes")
    return value


def check_item(item: object) -> str:
    """Return ``item`` if it is a valid item id, else raise :class:`ItemError`.

    An item id is 1 to 128 bytes of UTF-8 that pass the identifier profile (docs/spec/entries.md):
    NFC, no space, control, invisible or compatibility character, and letters of one script. An id that
    claims to be a GS1 id (an EPC URN, or a URL with a ``/01/`` GTIN segment) must be a valid GS1 item id
    in its canonical Digital Link form (:mod:`provchain.gs1`).
    """
    if not isinstance(item, str) or not item:
        raise ItemError("an item id must be a non-empty string")
    if item[0] in "hHuU" and looks_gs1(item):  # a GS1 Digital Link or EPC URN: valid and canonical (gs1.py)
        return check_gs1_item(item)
    if item.isascii():  # the common case: printable ASCII without a space passes the profile
        if len(item) > MAX_ITEM:
            raise ItemError(f"item id is longer than {MAX_ITEM} bytes")
        if item.isprintable() and " " not in item:
            return item
    elif len(item.encode("utf-8", "surrogatepass")) > MAX_ITEM:
        raise ItemError(f"item id is longer than {MAX_ITEM} bytes")
    reason = identifier_problem(item)
    if reason is not None:
        raise ItemError(f"item id '{escape(item)}' is refused: it contains {describe(reason, item)}")
    return item


def check_country(country: object) -> str:
    """Return ``country`` if it is an assigned ISO 3166-1 alpha-2 code (upper case), else raise."""
    if not isinstance(country, str) or country not in COUNTRIES:
        raise CountryError(f"{country!r} is not an ISO 3166-1 alpha-2 country code (such as CN, FR, US)")
    return country


def check_place(place: object) -> str:
    """Return ``place`` if it is valid: 1 to 128 bytes of printable text."""
    return _text(place, "place", MAX_PLACE, DataError)


def check_reason(reason: object) -> str:
    """Return ``reason`` if it is a valid revocation reason: 1 to 256 bytes of printable text."""
    return _text(reason, "reason", MAX_REASON, InputError)


def check_data(data: object) -> dict[str, str | int]:
    """Return ``data`` if it is valid stage data: at most 16 keys; text or integer values."""
    if type(data) is dict and len(data) <= MAX_DATA_KEYS:
        # Fast path for the common case: keys seen before (so valid), short ASCII text or 64-bit integers.
        # Anything else, including every error, takes the full path below.
        for k, v in data.items():
            if k in _DATA_KEYS_SEEN:
                if type(v) is str:
                    if v and len(v) <= MAX_DATA_VALUE and v.isascii() and v.isprintable():
                        continue
                elif type(v) is int and -(2**63) <= v < 2**63:
                    continue
            break
        else:
            return dict(sorted(data.items())) if len(data) > 1 else data.copy()
    if not isinstance(data, Mapping):
        raise DataError("event data must be a map of names to text or integers")
    if len(data) > MAX_DATA_KEYS:
        raise DataError(f"event data may have at most {MAX_DATA_KEYS} keys, not {len(data)}")
    out: dict[str, str | int] = {}
    for k in sorted(data) if all(type(k) is str for k in data) else data:
        v = data[k]
        if k not in _DATA_KEYS_SEEN and (not isinstance(k, str) or not _DATA_KEY_RE.fullmatch(k)):
            raise DataError(
                f"data key {k!r} is not valid (lowercase letters, digits, '_', '.', '-'; at most 32)"
            )
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise DataError(
                f"data value of {k!r} must be text or an integer, not {type(v).__name__} "
                "(write amounts as decimal strings)"
            )
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            raise DataError(f"data value of {k!r} does not fit in 64 bits")
        if isinstance(v, str):
            _text(v, f"data value of {k!r}", MAX_DATA_VALUE, DataError)
        _remember(_DATA_KEYS_SEEN, k)
        out[k] = v
    return out


# Each thread's msgpack packer for Event.encode: msgpack.packb builds a new Packer for every call, which
# cost about a third of packing an event (a Packer keeps a buffer, so one is not shared between threads).
_thread = threading.local()

# Values already validated once; they repeat on every event (origin, stage names, data keys).
_DATA_KEYS_SEEN: set[str] = set()
_SEEN_ORIGINS: set[str] = set()
_SEEN_STAGES: set[str] = set()
_SEEN_ITEMS: set[str] = set()  # item ids that passed check_item (a pure function of the text)


def _remember(seen: set[str], value: str) -> None:
    if len(seen) < 4096:  # bounded: hostile input cannot grow these without limit
        seen.add(value)


def _fields(m: Mapping[str, Any], required: set[str], optional: set[str], kind: str) -> None:
    keys = set(m)
    missing = required - keys
    if missing:
        raise EncodingError(f"{kind} entry lacks field(s): {', '.join(sorted(missing))}")
    extra = keys - required - optional
    if extra:  # repr: a hostile body may use non-text keys
        raise EncodingError(f"{kind} entry has unknown field(s): {', '.join(sorted(map(repr, extra)))}")


_COMMON = {"v", "kind", "origin", "at", "signer"}


@record
class _BodyBase:
    """What every entry body has: its ledger's origin, its time and its signer's key id."""

    origin: str
    at: int
    signer: bytes

    KIND: ClassVar[str] = ""

    def __init__(self, origin: str, at: int, signer: bytes) -> None:  # pragma: no cover - a base class
        fields = self.__dict__
        fields["origin"] = origin
        fields["at"] = at
        fields["signer"] = signer

    def _common_map(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "kind": self.KIND,
            "origin": self.origin,
            "at": self.at,
            "signer": self.signer,
        }

    def to_map(self) -> dict[str, Any]:  # pragma: no cover - overridden
        raise NotImplementedError

    def encode(self) -> bytes:
        """The canonical body bytes (computed once)."""
        cached: bytes | None = self.__dict__.get("_encoded")
        if cached is None:
            cached = encoding.encode(self.to_map())
            if len(cached) > MAX_BODY:
                raise DataError(f"entry body of {len(cached)} bytes exceeds the limit of {MAX_BODY} bytes")
            self.__dict__["_encoded"] = cached
        return cached


@record
class Event(_BodyBase):
    """One stage of an item's journey, signed by the party that performed it."""

    item: str
    stage: str
    country: str
    prev: bytes | None = None
    place: str | None = None
    data: Mapping[str, str | int] = field(default_factory=dict)

    KIND: ClassVar[str] = "event"

    def __init__(
        self,
        origin: str,
        at: int,
        signer: bytes,
        item: str,
        stage: str,
        country: str,
        prev: bytes | None = None,
        place: str | None = None,
        data: Mapping[str, str | int] | None = None,
    ) -> None:
        # An Event is valid by construction: every field is checked here, once, so that encode()
        # can pack the map directly. Bad values raise InputError subclasses (from_map turns them
        # into EncodingError, since there they come from bytes). Hand-written, as every record's is
        # (provchain._internal.record); it sets the fields through __dict__, which is faster than the
        # object.__setattr__ of a frozen dataclass's __init__, a measurable share of an append.
        if type(origin) is not str or origin not in _SEEN_ORIGINS:  # one origin per ledger: check once
            _text(origin, "origin", MAX_ORIGIN, DataError)
            _remember(_SEEN_ORIGINS, origin)
        # The common case of each check is tested inline (a call costs about as much as the test); anything
        # else, every error included, goes through the checking function itself.
        if type(at) is not int or not 0 <= at < MAX_TIME:
            check_time(at, "at", DataError)
        if type(signer) is not bytes or len(signer) != 4:
            _bin(signer, "signer", 4, DataError)
        if type(item) is not str or item not in _SEEN_ITEMS:  # an item's events come in runs: check each id once
            check_item(item)
            if len(_SEEN_ITEMS) >= 4096:  # bounded: the most recent items
                _SEEN_ITEMS.clear()
            _SEEN_ITEMS.add(item)
        if type(stage) is not str or stage not in _SEEN_STAGES:  # a policy has few stages
            _remember(_SEEN_STAGES, check_stage_name(stage))
        if type(country) is not str or country not in COUNTRIES:
            check_country(country)
        if prev is not None and (type(prev) is not bytes or len(prev) != 32):
            _bin(prev, "prev", 32, DataError)
        if place is not None and not (
            type(place) is str and place and len(place) <= MAX_PLACE and place.isascii() and place.isprintable()
        ):
            check_place(place)
        fields = self.__dict__
        fields["origin"] = origin
        fields["at"] = at
        fields["signer"] = signer
        fields["item"] = item
        fields["stage"] = stage
        fields["country"] = country
        fields["prev"] = prev
        fields["place"] = place
        fields["data"] = check_data({} if data is None else data)

    def to_map(self) -> dict[str, Any]:
        """The body as a map, its keys already in canonical order."""
        # One map display and then the absent optional fields deleted (deleting keeps the order of the rest):
        # faster than building the map key by key, on every append.
        f = self.__dict__
        m: dict[str, Any] = {
            "at": f["at"], "country": f["country"], "data": f["data"], "item": f["item"], "kind": "event",
            "origin": f["origin"], "place": f["place"], "prev": f["prev"], "signer": f["signer"], "stage": f["stage"],
            "v": FORMAT_VERSION,
        }  # fmt: skip
        if not m["data"]:
            del m["data"]  # check_data sorted it, when present
        if m["place"] is None:
            del m["place"]
        if m["prev"] is None:
            del m["prev"]
        return m

    def encode(self) -> bytes:
        """The canonical body bytes (computed once).

        Every field was validated at construction and :meth:`to_map` builds the map in canonical
        key order, so msgpack's own packing is already canonical (a test checks this against
        :func:`provchain.encoding.encode`).
        """
        cached: bytes | None = self.__dict__.get("_encoded")
        if cached is None:
            try:
                pack = _thread.pack
            except AttributeError:
                pack = _thread.pack = msgpack.Packer(use_bin_type=True).pack
            cached = pack(self.to_map())
            if len(cached) > MAX_BODY:
                raise DataError(f"entry body of {len(cached)} bytes exceeds the limit of {MAX_BODY} bytes")
            self.__dict__["_encoded"] = cached
        return cached

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Event:
        """Validate and build from a decoded body map."""
        _fields(m, _COMMON | {"item", "stage", "country"}, {"prev", "place", "data"}, "event")
        if "data" in m and not m["data"]:
            raise EncodingError("empty event data must be left out, not encoded")
        try:
            return cls(
                origin=m["origin"],
                at=m["at"],
                signer=m["signer"],
                item=m["item"],
                stage=m["stage"],
                country=m["country"],
                prev=m.get("prev"),
                place=m.get("place"),
                data=m.get("data", {}),
            )
        except InputError as exc:
            raise EncodingError(str(exc)) from exc


@record
class PartyRegistration(_BodyBase):
    """The operator registers a party's key, its roles and its validity window."""

    name: str
    roles: tuple[str, ...]
    key: bytes
    valid_from: int
    valid_until: int | None = None

    KIND: ClassVar[str] = "party"

    def __init__(
        self,
        origin: str,
        at: int,
        signer: bytes,
        name: str,
        roles: tuple[str, ...],
        key: bytes,
        valid_from: int,
        valid_until: int | None = None,
    ) -> None:
        fields = self.__dict__
        fields["origin"] = origin
        fields["at"] = at
        fields["signer"] = signer
        fields["name"] = name
        fields["roles"] = roles
        fields["key"] = key
        fields["valid_from"] = valid_from
        fields["valid_until"] = valid_until

    @property
    def key_id(self) -> bytes:
        """The registered key's 4-byte C2SP key id."""
        return key_id(self.name, self.key)

    def to_map(self) -> dict[str, Any]:
        """The body as a map (before canonical encoding)."""
        m = self._common_map()
        m.update(name=self.name, roles=sorted(self.roles), key=self.key, **{"from": self.valid_from})
        if self.valid_until is not None:
            m["until"] = self.valid_until
        return m

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> PartyRegistration:
        """Validate and build from a decoded body map."""
        _fields(m, _COMMON | {"name", "roles", "key", "from"}, {"until"}, "party")
        roles = m["roles"]
        if not isinstance(roles, list) or not 1 <= len(roles) <= MAX_ROLES:
            raise EncodingError(f"roles must be a list of 1 to {MAX_ROLES} names")
        for r in roles:
            check_name(r, "role")
        if roles != sorted(set(roles)):
            raise EncodingError("roles must be sorted and without duplicates")
        try:
            name = check_key_name(m["name"])
        except KeyFormatError as exc:
            raise EncodingError(str(exc)) from exc
        valid_from = check_time(m["from"], "from", EncodingError)
        valid_until = check_time(m["until"], "until", EncodingError) if "until" in m else None
        if valid_until is not None and valid_until <= valid_from:
            raise EncodingError("until must be later than from")
        return cls(
            origin=_text(m["origin"], "origin", MAX_ORIGIN),
            at=check_time(m["at"], "at", EncodingError),
            signer=_bin(m["signer"], "signer", 4),
            name=name,
            roles=tuple(roles),
            key=_bin(m["key"], "key", 32),
            valid_from=valid_from,
            valid_until=valid_until,
        )


@record
class Revocation(_BodyBase):
    """The operator revokes a registered key: it may sign nothing after this entry."""

    revoked: bytes
    reason: str | None = None

    KIND: ClassVar[str] = "revoke"

    def __init__(self, origin: str, at: int, signer: bytes, revoked: bytes, reason: str | None = None) -> None:
        fields = self.__dict__
        fields["origin"] = origin
        fields["at"] = at
        fields["signer"] = signer
        fields["revoked"] = revoked
        fields["reason"] = reason

    def to_map(self) -> dict[str, Any]:
        """The body as a map (before canonical encoding)."""
        m = self._common_map()
        m["revoked"] = self.revoked
        if self.reason is not None:
            m["reason"] = self.reason
        return m

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> Revocation:
        """Validate and build from a decoded body map."""
        _fields(m, _COMMON | {"revoked"}, {"reason"}, "revoke")
        return cls(
            origin=_text(m["origin"], "origin", MAX_ORIGIN),
            at=check_time(m["at"], "at", EncodingError),
            signer=_bin(m["signer"], "signer", 4),
            revoked=_bin(m["revoked"], "revoked", 4),
            reason=_text(m["reason"], "reason", MAX_REASON) if "reason" in m else None,
        )


@record
class PolicyEntry(_BodyBase):
    """The operator sets the journey policy in force from this entry on."""

    policy: Policy

    KIND: ClassVar[str] = "policy"

    def __init__(self, origin: str, at: int, signer: bytes, policy: Policy) -> None:
        fields = self.__dict__
        fields["origin"] = origin
        fields["at"] = at
        fields["signer"] = signer
        fields["policy"] = policy

    def to_map(self) -> dict[str, Any]:
        """The body as a map (before canonical encoding)."""
        m = self._common_map()
        m["stages"] = self.policy.to_map()
        return m

    @classmethod
    def from_map(cls, m: Mapping[str, Any]) -> PolicyEntry:
        """Validate and build from a decoded body map."""
        _fields(m, _COMMON | {"stages"}, set(), "policy")
        return cls(
            origin=_text(m["origin"], "origin", MAX_ORIGIN),
            at=check_time(m["at"], "at", EncodingError),
            signer=_bin(m["signer"], "signer", 4),
            policy=Policy.from_map(m["stages"]),
        )


Body: TypeAlias = Event | PartyRegistration | Revocation | PolicyEntry
_KINDS: dict[str, Any] = {c.KIND: c for c in (Event, PartyRegistration, Revocation, PolicyEntry)}


def decode_body(body: bytes) -> Body:
    """Parse and validate entry body bytes; raise :class:`EncodingError` if they are not a valid body."""
    if not isinstance(body, bytes):
        raise EncodingError("an entry body must be bytes")
    if len(body) > MAX_BODY:
        raise EncodingError(f"entry body of {len(body)} bytes exceeds the limit of {MAX_BODY} bytes")
    m = encoding.unpack_unchecked(body, max_size=MAX_BODY)
    if not isinstance(m, dict):
        raise EncodingError("an entry body must be a map")
    if m.get("v") != FORMAT_VERSION or isinstance(m.get("v"), bool):
        raise EncodingError(f"unsupported entry format version {m.get('v')!r} (expected {FORMAT_VERSION})")
    cls = _KINDS.get(m["kind"]) if isinstance(m.get("kind"), str) else None
    if cls is None:
        raise EncodingError(f"unknown entry kind {m.get('kind')!r}")
    parsed: Body = cls.from_map(m)
    # One encoding per body: re-encode and compare. An Event validated every field in from_map, so its
    # fast canonical encoder is exact; other kinds go through the generic canonical encoder.
    again = parsed.encode() if isinstance(parsed, Event) else encoding.encode(m)
    if again != body:
        raise EncodingError("not canonical msgpack (map keys out of order, duplicated, or not in shortest form)")
    return parsed


def leaf_hash_of(body: bytes) -> bytes:
    """The RFC 9162 leaf hash of an entry body: ``SHA-256(0x00 || body)``, as :func:`provchain.merkle.leaf_hash`
    computes it (this name is kept for callers that think in entries)."""
    return merkle.leaf_hash(body)


@record
class Entry:
    """A signed entry: canonical body bytes and the signer's Ed25519 signature.

    ``index`` is the entry's position in its ledger when it is known.
    """

    body: bytes
    signature: bytes
    index: int | None = None

    def __init__(self, body: bytes, signature: bytes, index: int | None = None) -> None:
        # As fast as Event's: one entry is built per append and per entry read.
        fields = self.__dict__
        fields["body"] = body
        fields["signature"] = signature
        fields["index"] = index

    @cached_property
    def leaf_hash(self) -> bytes:
        """``SHA-256(0x00 || body)``."""
        return leaf_hash_of(self.body)

    @cached_property
    def content(self) -> Body:
        """The parsed body (raises :class:`EncodingError` if it is not valid)."""
        return decode_body(self.body)

    @property
    def kind(self) -> str:
        """``event``, ``party``, ``revoke`` or ``policy``."""
        return self.content.KIND

    @property
    def signed_message(self) -> bytes:
        """The exact bytes the signature covers: ``ENTRY_DOMAIN + body``."""
        return ENTRY_DOMAIN + self.body


def sign_body(content: Body, signer: Signer, index: int | None = None) -> Entry:
    """Encode ``content`` canonically and sign it with ``signer``, whose key id must be ``content.signer``."""
    if not isinstance(content, _BodyBase):
        raise InputError("content must be an entry body (Event, PartyRegistration, Revocation or PolicyEntry)")
    if not is_signer(signer):
        raise InputError("signer must be a Signer such as a KeyPair")
    if signer.key_id != content.signer:
        raise InputError("the signer's key id does not match the signer field of the entry")
    body = content.encode()
    signature = signer.sign(ENTRY_DOMAIN + body)
    if type(signature) is not bytes or len(signature) != 64:
        raise InputError("the signer returned something other than a 64-byte Ed25519 signature")
    entry = Entry(body, signature, index)
    # Fill the cached_properties directly: no need to parse what was just built, and the ledger reads the
    # leaf hash at once (cached_property's first read takes a lock on Python 3.11). The leaf hash is
    # merkle.leaf_hash's, inline (body is the bytes encode() made).
    fields = entry.__dict__
    fields["content"] = content
    fields["leaf_hash"] = _sha256(LEAF_PREFIX + body).digest()
    return entry
