"""The identifier profile (docs/spec/entries.md, "Identifier profile") for item ids and key names.

The vector file tests/vectors/text/identifiers.json holds the verdicts another implementation must reach.
Here they are run through the functions that guard every path: check_item and check_key_name, new
entries (append, register_party, keygen) and decoding (a body with a refused id is malformed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import regex
from clirun import fails
from conftest import ORIGIN, T0

from provchain import KeyPair, Ledger
from provchain import errors as E
from provchain._internal import text
from provchain.encoding import encode
from provchain.entries import Event, PartyRegistration, check_item, check_place, decode_body
from provchain.keys import check_key_name, parse_vkey

VECTORS = json.loads((Path(__file__).parent / "vectors/text/identifiers.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = VECTORS["cases"]


def _id(case: dict[str, Any]) -> str:
    return case["desc"][:60]


def test_the_vectors_cover_every_reason() -> None:
    assert {c["want"] for c in CASES} == {None, *text.REASONS}
    assert sum(c["want"] is None for c in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_identifier_vectors(case: dict[str, Any]) -> None:
    value, want = case["text"], case["want"]
    assert text.identifier_problem(value) == want
    if want is None:
        assert check_item(value) == value
    else:
        with pytest.raises(E.ItemError, match="is refused: it contains"):
            check_item(value)
    want_name = case.get("want_name", want)
    if want_name is None:
        assert check_key_name(value) == value
    else:
        with pytest.raises(E.KeyFormatError, match="'\\+'" if want_name == "plus" else "is refused"):
            check_key_name(value)


def test_message_shows_the_hidden_character() -> None:
    with pytest.raises(E.ItemError) as info:
        check_item("SERUM\u200b0001")
    assert "SERUM\\u200b0001" in str(info.value) and "\u200b" not in str(info.value)
    assert "invisible" in str(info.value)
    with pytest.raises(E.KeyFormatError, match="more than one script"):
        check_key_name("grasse-l\u0430bs")


def test_surrogates_are_refused_not_crashing() -> None:
    with pytest.raises(E.ItemError, match="control"):
        check_item("SERUM\ud800")
    with pytest.raises(E.KeyFormatError, match="control"):
        check_key_name("grasse\udfff")
    with pytest.raises(E.DataError, match="control"):
        check_place("Grasse\ud800")


def test_ascii_ids_do_not_load_regex() -> None:
    """An ASCII-only ledger never imports the Unicode tables (the offline verifier starts fast)."""
    code = (
        "import sys\n"
        "from provchain.entries import check_item\n"
        "from provchain.keys import check_key_name\n"
        "check_item('SERUM-0001'); check_key_name('grasse-labs')\n"
        "assert 'regex' not in sys.modules, 'regex was imported'\n"
        "check_item('\u74f6-0001')\n"
        "assert 'regex' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def test_the_script_list_covers_every_assigned_character() -> None:
    """Every assigned code point is Common, Inherited, or in one of the scripts the profile knows."""
    known = "".join(f"\\p{{scx={code}}}" for code in text._SCRIPT_CODES)
    outside = regex.compile(rf"[^{known}\p{{scx=Zyyy}}\p{{scx=Zinh}}]")
    assigned = "".join(
        chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) not in ("Cn", "Cs", "Co")
    )
    assert outside.search(assigned) is None


def test_script_sets_follow_uts39_augmentation() -> None:
    assert text.script_set("a") == frozenset({"Latn"})
    assert text.script_set("-") is None and text.script_set("7") is None
    assert "Latn" in (text.script_set("\u0301") or {"Latn"})  # a mark goes with its letters' script
    assert text.script_set("\u6f22") == frozenset({"Hani", "Hanb", "Jpan", "Kore"})
    assert text.script_set("\u30ab") == frozenset({"Kana", "Jpan"})
    assert text.script_set("\uac00") == frozenset({"Hang", "Kore"})


# --- where the profile applies --------------------------------------------------------------------


def _event_map(**changes: object) -> dict[str, Any]:
    ev = Event(origin=ORIGIN, at=T0, signer=b"\x39\x5b\xfb\xb3", item="SERUM-0001", stage="origin", country="FR")
    return {**ev.to_map(), **changes}


@pytest.mark.parametrize(
    "item", ["S\u0415RUM-0001", "SERUM\u20600001", "cafe\u0301", "\uff33ERUM", "SERUM\u3164"], ids=repr
)
def test_decoding_refuses_a_body_with_a_refused_item_id(item: str) -> None:
    assert decode_body(encode(_event_map())).item == "SERUM-0001"
    with pytest.raises(E.EncodingError, match="item id"):
        decode_body(encode(_event_map(item=item)))


def test_decoding_refuses_a_registration_with_a_refused_name() -> None:
    reg = PartyRegistration(
        origin=ORIGIN, at=T0, signer=b"\x00" * 4, name="grasse-labs", roles=("origin",), key=b"\x01" * 32,
        valid_from=T0,
    )
    assert decode_body(encode(reg.to_map())).name == "grasse-labs"  # type: ignore[union-attr]
    m = {**reg.to_map(), "name": "grasse-l\u0430bs"}
    with pytest.raises(E.EncodingError, match="more than one script"):
        decode_body(encode(m))


def test_append_refuses_a_lookalike_item(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append("SERUM-0001", "origin", parties["origin"], country="FR", at=T0 + 1)
    with pytest.raises(E.ItemError, match="more than one script"):
        ledger.append("S\u0415RUM-0001", "origin", parties["origin"], country="FR", at=T0 + 2)
    ledger.append("SERUM-\u8d27\u53f7-01", "origin", parties["origin"], country="CN", at=T0 + 3)
    assert [e.stage for e in ledger.history("SERUM-\u8d27\u53f7-01")] == ["origin"]


def test_register_party_and_keygen_refuse_a_lookalike_name(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(E.InputError, match="more than one script"):
        ledger.register_party("grasse-l\u0430bs", ["origin"], KeyPair.from_seed("x", b"x" * 32).public_key)
    with pytest.raises(E.KeyFormatError, match="invisible"):
        KeyPair.generate("grasse\u2800labs")
    os.chdir(tmp_path)
    fails(2, "more than one script", "keygen", "k.key", "--name", "grasse-l\u0430bs")
    assert not (tmp_path / "k.key").exists()
    with pytest.raises(E.KeyFormatError, match="invisible"):
        parse_vkey("grasse\u200blabs+395bfbb3+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c")


def test_a_party_name_in_one_other_script_is_accepted(ledger: Ledger) -> None:
    kp = KeyPair.from_seed("\u676d\u5dde\u4fdd\u7a0e\u4ed3-3", b"h" * 32)
    ledger.register_party(kp.name, ["warehouse"], kp.public_key, at=T0, valid_from=T0)
    assert kp.name in [p.name for p in ledger.parties()]
