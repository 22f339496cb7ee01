"""Display of untrusted text: no place, data value or name can hide, reorder a line or pass for another field.

The rules are in docs/spec/entries.md ("Displaying entries"); tests/vectors/text/display.json holds the
outputs another implementation (the browser verifier) must produce.
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from clirun import ok
from conftest import HOUR, T0, journey
from hypothesis import given
from hypothesis import strategies as st

from provchain import KeyPair, Ledger
from provchain._internal.text import escape, quote
from provchain.cli import render_journey

VECTORS = json.loads((Path(__file__).parent / "vectors/text/display.json").read_text(encoding="utf-8"))
FSI, PDI = "\u2068", "\u2069"


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["desc"][:50])
def test_display_vectors(case: dict[str, Any]) -> None:
    assert escape(case["text"]) == case["escape"]
    assert quote(case["text"]) == case["quote"]


# --- escape and quote lose nothing and let nothing through -------------------------------------------


def _unescape(shown: str) -> str:
    """The inverse of escape(), written from the spec: unwrap the isolate, then undo each escape."""
    if shown.startswith(FSI):
        assert shown.endswith(PDI)
        shown = shown[1:-1]
    out, i = "", 0
    while i < len(shown):
        if shown[i] != "\\":
            out += shown[i]
            i += 1
        elif shown[i + 1] == "\\":
            out, i = out + "\\", i + 2
        else:
            width = 4 if shown[i + 1] == "u" else 8
            assert shown[i + 1] in "uU"
            out, i = out + chr(int(shown[i + 2 : i + 2 + width], 16)), i + 2 + width
    return out


def _unquote(shown: str) -> str:
    if not shown.startswith('"'):
        return shown
    assert shown.endswith('"') and len(shown) >= 2
    return _unescape(shown[1:-1].replace('\\"', '"'))


TRICKY = 'a;=,"\\ \n\u202e\u2066\u2069\u0301\u200d\u3164\u05d0\u0661\ufe0f\U000e0041'
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.text(
    st.sampled_from(TRICKY), max_size=30
)


@given(TEXT)
def test_escape_and_quote_are_lossless_and_safe(value: str) -> None:
    shown = escape(value)
    assert _unescape(shown) == value
    assert _unquote(quote(value)) == value
    inner = shown[1:-1] if shown.startswith(FSI) else shown
    for c in inner:
        assert c == " " or unicodedata.category(c)[0] not in "CZ", repr(c)
    runs = "".join("m" if unicodedata.category(c)[0] == "M" else " " for c in inner).split()
    assert max(map(len, runs), default=0) <= 4
    assert not inner or unicodedata.category(inner[0])[0] != "M"
    q = quote(value)
    if not q.startswith('"'):  # a bare value holds no separator and is exactly the text
        assert q == value and not any(c in q for c in '";=,\\') and q.strip(" ") == q and q


# --- a reader of the place / data column --------------------------------------------------------


def _split(detail: str) -> list[str]:
    """Split a place / data column at its separators ("; " and ", "), honouring quotes and escapes."""
    fields, cur, quoted, i = [], "", False, 0
    while i < len(detail):
        c = detail[i]
        if quoted and c == "\\":
            cur += detail[i : i + 2]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if not quoted and detail.startswith(("; ", ", "), i):
            fields.append(cur)
            cur, i = "", i + 2
            continue
        cur += c
        i += 1
    assert not quoted, f"unbalanced quotes in {detail!r}"
    fields.append(cur)
    return fields


def _event(place: str | None = "Grasse", data: dict[str, str | int] | None = None, **kw: Any) -> dict[str, Any]:
    e = {
        "stage": "origin",
        "party": "grasse-labs",
        "key_id": "395bfbb3",
        "roles": ["origin"],
        "country": "FR",
        "at": "2025-11-03T08:00:00.000Z",
        "place": place,
        "data": data if data is not None else {"batch": "B-1"},
    }
    e.update(kw)
    return e


def _rows(events: list[dict[str, Any]], item: str = "SERUM-0001") -> list[str]:
    out = render_journey(item, events).split("\n")
    assert len(out) == 3 + len(events), "one line per event, whatever the values hold"
    return out[3:]


def _detail(row: str) -> str:
    return row.split("08:00:00   ", 1)[1]  # the time, then the column gap


_CONTROLS = ("LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")


def _bidi_controls(s: str) -> list[str]:
    return [c for c in s if unicodedata.bidirectional(c) in _CONTROLS]


HOSTILE = [
    ("Grasse\u202e; batch=X", "right-to-left override"),
    ("Grasse\n  2  delivery   sf-express", "a line feed and a forged second row"),
    ("Gra\u200dsse\u200b\u2060", "zero-width joiner, space and word joiner"),
    ("G" + "\u0301" * 20, "20 stacked combining marks"),
    ("Grasse; batch=B-17", "a fake data field"),
    ('Grasse"; batch="X', "quotes to break out of a quoted value"),
    ("Grasse\\u000a", "a literal backslash-u that mimics an escape"),
    ("\u3164\u2800", "visibly blank letters"),
    ("Grasse\u2028next", "LINE SEPARATOR"),
    ("Grasse\u2066", "an isolate left open"),
]


@pytest.mark.parametrize(("place", "what"), HOSTILE, ids=[h[1] for h in HOSTILE])
def test_a_hostile_place_stays_one_field(place: str, what: str) -> None:
    [row] = _rows([_event(place, {"batch": "B-1", "n": 5})])
    fields = _split(_detail(row))
    # Exactly the place, then the two genuine data fields: nothing the place holds is read as a field.
    assert fields == [quote(place), "batch=B-1", "n=5"], what
    assert fields[0].startswith('"') and fields[0].endswith('"')
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in row)
    assert _bidi_controls(row) == []  # the hostile controls are escaped; nothing is left to reorder the line
    runs = "".join("m" if unicodedata.category(c) == "Mn" else " " for c in row).split()
    assert max(map(len, runs), default=0) <= 4  # no pile of marks spills over the neighbouring columns


def test_a_hostile_data_value_stays_one_field() -> None:
    [row] = _rows([_event(None, {"batch": "B-1, verdict=genuine", "bin": "A-07"})])
    assert _split(_detail(row)) == ['batch="B-1, verdict=genuine"', "bin=A-07"]


def test_plain_values_are_not_quoted() -> None:
    [row] = _rows([_event("Shanghai Yangshan port", {"declaration": "310120251234567", "count": -3})])
    assert _detail(row) == "Shanghai Yangshan port; count=-3, declaration=310120251234567"


def test_right_to_left_text_is_isolated() -> None:
    rtl_place = "\u05e9\u05d5\u05e7 12"  # Hebrew, then digits that would otherwise join it
    rows = _rows([_event(rtl_place, party="\u05de\u05e2\u05d1\u05d3\u05d4-1")], item="\u05e4\u05e8\u05d9\u05d8-7")
    [row] = rows
    # Every right-to-left run sits inside FSI ... PDI, and the isolates are balanced: the party column, the
    # key id and the columns after it keep their places whatever the text holds.
    assert row.count(FSI) == row.count(PDI) == 2
    assert f"{FSI}\u05de\u05e2\u05d1\u05d3\u05d4-1{PDI} (395bfbb3)" in row
    assert _detail(row) == f'"{FSI}{rtl_place}{PDI}"; batch=B-1'
    outside = row.split(FSI)[0] + "".join(segment.partition(PDI)[2] for segment in row.split(FSI)[1:])
    assert not any(unicodedata.bidirectional(c) in ("R", "AL", "AN") for c in outside)
    assert render_journey("\u05e4\u05e8\u05d9\u05d8-7", []).startswith(f"Item {FSI}\u05e4\u05e8\u05d9\u05d8-7{PDI}")


def test_every_party_is_shown_with_its_key_id() -> None:
    rows = _rows(
        [
            _event(party="hz-bonded-wh-3", key_id="49352531"),
            _event(party="hz-bonded-wh-3", key_id="7a7a7a7a"),
        ]
    )
    assert "hz-bonded-wh-3 (49352531)" in rows[0] and "hz-bonded-wh-3 (7a7a7a7a)" in rows[1]
    # The columns after the party line up, whatever the name's length.
    assert rows[0].index("origin   FR") == rows[1].index("origin   FR")


# --- through the CLI, on a real ledger --------------------------------------------------------------


def test_history_and_party_list_show_key_ids_and_escape(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    journey(ledger, parties, "SERUM-0001")
    ledger.append(
        "VIAL-1", "origin", parties["origin"], country="FR", place="Grasse; batch=B-17", at=T0 + HOUR,
        data={"note": "\u05e9\u05dc\u05d5\u05dd"},
    )
    # A rotation: the same name, a new key; history tells the two keys apart.
    new = KeyPair.from_seed("grasse-labs", b"r" * 32)
    ledger.revoke_party(parties["origin"].key_id, at=T0 + 2 * HOUR)
    ledger.register_party("grasse-labs", ["origin"], new.public_key, at=T0 + 2 * HOUR, valid_from=T0 + 2 * HOUR)
    ledger.append("VIAL-2", "origin", new, country="FR", at=T0 + 3 * HOUR)
    ledger.close()
    os.chdir(tmp_path)
    out = ok("history", str(ledger_path), "SERUM-0001").stdout
    assert "grasse-labs (395bfbb3)" in out and "sf-express (6c4aced3)" in out
    out = ok("history", str(ledger_path), "VIAL-1").stdout
    assert f'"Grasse; batch=B-17"; note="{FSI}\u05e9\u05dc\u05d5\u05dd{PDI}"' in out
    assert f"grasse-labs ({new.key_id.hex()})" in ok("history", str(ledger_path), "VIAL-2").stdout
    listing = ok("party", "list", str(ledger_path)).stdout.splitlines()
    assert listing[0].split() == ["name", "key", "id", "roles", "state"]
    grasse = [line.split() for line in listing if line.startswith("grasse-labs ")]
    assert grasse == [
        ["grasse-labs", "395bfbb3", "origin", "revoked", "by", "entry", "13"],
        ["grasse-labs", new.key_id.hex(), "origin", "active"],
    ]
