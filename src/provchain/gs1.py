"""GS1 item ids: a GTIN and a serial number, written as a GS1 Digital Link URI or an EPC URN.

One serialised trade item has one provchain item id, its canonical Digital Link::

    https://id.gs1.org/01/<GTIN-14>/21/<serial, percent-encoded>

:func:`canonical_item` turns the equivalent forms into it: a Digital Link on any host, with a path prefix,
a GTIN-8, -12 or -13 (padded to 14 digits), a lot (``/10/...``) or a query string (both dropped: the GTIN
and the serial name the item); or an EPC URN ``urn:epc:id:sgtin:<company prefix>.<indicator and item
reference>.<serial>``. The GTIN check digit and the serial (1 to 20 characters of GS1's character set 82)
are checked by `biip <https://pypi.org/project/biip/>`_, GS1's maintained Python parser.

:func:`check_gs1_item` is the rule :func:`provchain.entries.check_item` applies to every item id that
looks like a GS1 id (:func:`looks_gs1`): it must be valid and canonical, so that a ledger never holds two
ids for one item. Any other item id is untouched. docs/spec/epcis.md gives the rules.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from ._internal.record import record
from .errors import ItemError

__all__ = ["DL_HOST", "Gs1Item", "canonical_item", "check_gs1_item", "looks_gs1", "parse_item"]

DL_HOST: Final = "id.gs1.org"
"""The host of every canonical Digital Link (GS1 Digital Link URI syntax, section 4.12)."""

_CANONICAL_HEAD: Final = f"https://{DL_HOST}/01/"
_MAX_TEXT: Final = 1024  # a longer text is refused before any parsing
# Patterns compiled on first use (by re's cache), not at import: only a GS1 item id needs them.
_SGTIN: Final = r"urn:epc:id:sgtin:([0-9]{6,12})\.([0-9]{1,7})\.(.+)"
_URN_SERIAL: Final = r"[A-Za-z0-9!'()*+,\-.:;=_%]+"  # TDS: other characters are %-escaped


@record
class Gs1Item:
    """A serialised trade item: its GTIN (14 digits, check digit verified) and its serial number."""

    gtin: str
    serial: str

    def __init__(self, gtin: str, serial: str) -> None:
        fields = self.__dict__
        fields["gtin"] = gtin
        fields["serial"] = serial

    @property
    def uri(self) -> str:
        """The canonical Digital Link: ``https://id.gs1.org/01/<GTIN-14>/21/<serial>`` (serial percent-encoded
        except ``A-Z a-z 0-9 - . _ ~``), the one provchain item id of this item."""
        from urllib.parse import quote  # here: urllib.parse is no part of a scan's start-up (issue #20)

        return f"{_CANONICAL_HEAD}{self.gtin}/21/{quote(self.serial, safe='')}"


def looks_gs1(text: str) -> bool:
    """True if ``text`` claims to be a GS1 item id: an EPC URN (``urn:epc:``, any case) or an http(s) URL
    whose path has a ``01`` (GTIN) segment. Such an id is held to :func:`check_gs1_item`."""
    head = text[:8].lower()
    if head.startswith("urn:epc:"):
        return True
    if not (head.startswith("https://") or head.startswith("http://")):
        return False
    path = text.partition("//")[2].partition("/")[2].partition("?")[0].partition("#")[0]
    return "01" in path.split("/")


def _gtin(value: str) -> str:
    from biip import ParseError
    from biip.gtin import Gtin

    if not value.isascii() or not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise ItemError(f"the GTIN {value!r} is not 8, 12, 13 or 14 digits")
    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError as exc:
        raise ItemError(f"the GTIN {value!r} is not valid: {exc}") from None


def _serial(value: str) -> str:
    from biip import ParseError
    from biip.gs1_element_strings import GS1ElementString

    try:
        GS1ElementString.parse("21" + value)
    except ParseError:
        raise ItemError(
            f"the serial number {value!r} is not 1 to 20 characters of GS1's set "
            "(letters A-Z a-z, digits, and !\"%&'()*+,-./:;<=>?_)"
        ) from None
    return value


def _from_urn(text: str) -> Gs1Item:
    from urllib.parse import unquote

    if text[:17].lower() != "urn:epc:id:sgtin:":
        raise ItemError(
            f"{text!r} is not an item id provchain reads: of the EPC URNs, only urn:epc:id:sgtin: names one "
            "trade item"
        )
    m = re.fullmatch(_SGTIN, text, re.IGNORECASE)
    if m is None or len(m[1]) + len(m[2]) != 13 or not re.fullmatch(_URN_SERIAL, m[3]):
        raise ItemError(
            f"{text!r} is not an SGTIN EPC URN (urn:epc:id:sgtin:<company prefix>.<indicator and item reference>"
            ".<serial>, 13 digits in the first two parts)"
        )
    company, ref = m[1], m[2]
    try:
        serial = unquote(m[3], errors="strict")
    except UnicodeDecodeError:
        raise ItemError(f"the serial number of {text!r} is not valid percent-encoded text") from None
    return Gs1Item(_gtin(_with_check_digit(ref[0] + company + ref[1:])), _serial(serial))


def _with_check_digit(payload: str) -> str:
    from biip.checksums import gs1_standard_check_digit

    return payload + str(gs1_standard_check_digit(payload))


def _from_dl(text: str) -> Gs1Item:
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(text)
    except ValueError:
        raise ItemError(f"{text!r} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise ItemError(f"{text!r} is not a GS1 Digital Link: it needs an http(s) address with a host name")
    segments = parts.path.split("/")
    if "01" not in segments:  # "01" was after a '?' or a '#', or in the host part
        raise ItemError(f"{text!r} is not a GS1 Digital Link: its path has no /01/<GTIN>")
    start = segments.index("01")
    keys = segments[start:]
    if len(keys) % 2:
        raise ItemError(f"{text!r} is not a GS1 Digital Link: its path after /01/ must be key/value pairs")
    pairs = dict(zip(keys[::2], keys[1::2], strict=True))
    if len(pairs) != len(keys) // 2 or not set(pairs) <= {"01", "22", "10", "21"}:
        raise ItemError(
            f"{text!r} is not a GS1 Digital Link of a trade item: /01/<GTIN> may be followed only by /22/, /10/ "
            "and /21/, once each"
        )
    if "21" not in pairs:
        raise ItemError(f"{text!r} names a product (a GTIN), not one item: add its serial number, /21/<serial>")
    try:
        serial = unquote(pairs["21"], errors="strict")
    except UnicodeDecodeError:
        raise ItemError(f"the serial number of {text!r} is not valid percent-encoded text") from None
    return Gs1Item(_gtin(pairs["01"]), _serial(serial))


def parse_item(text: object) -> Gs1Item:
    """Parse a GS1 item id (a Digital Link or an SGTIN EPC URN); :class:`ItemError` names what is wrong."""
    if not isinstance(text, str) or not text:
        raise ItemError("a GS1 item id is a non-empty string")
    if len(text) > _MAX_TEXT or not text.isascii() or not text.isprintable() or " " in text:
        raise ItemError(f"{text[:80]!r} is not a GS1 item id (at most {_MAX_TEXT} printable ASCII characters)")
    if not looks_gs1(text):
        raise ItemError(
            f"{text!r} is not a GS1 item id: write https://id.gs1.org/01/<GTIN>/21/<serial> or "
            "urn:epc:id:sgtin:<company prefix>.<item reference>.<serial>"
        )
    if text[:8].lower() == "urn:epc:":
        return _from_urn(text)
    return _from_dl(text)


def canonical_item(text: str) -> str:
    """The one item id of ``text``: its canonical Digital Link if it is a GS1 item id in any accepted form
    (:func:`looks_gs1`), else ``text`` itself, unchanged. :class:`ItemError` for an invalid GS1 id."""
    if not isinstance(text, str):
        raise ItemError("an item id must be a string")
    return parse_item(text).uri if looks_gs1(text) else text


@lru_cache(maxsize=4096)  # bounded; ids repeat (every event of an item, every read of its code)
def _canonical(text: str) -> str:
    return parse_item(text).uri


def check_gs1_item(text: str) -> str:
    """Return ``text`` if it is a valid GS1 item id in canonical form; else raise :class:`ItemError`, saying
    what is wrong or giving the canonical form to write instead."""
    canonical = _canonical(text)
    if canonical != text:
        raise ItemError(f"GS1 item id {text!r} is not in its one canonical form; write it as {canonical!r}")
    return text
