"""Tests for provchain.base45: RFC 9285 vectors, strictness, and one text per byte string."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provchain import base45
from provchain.errors import Base45Error, CodeFormatError

VECTORS = Path(__file__).parent / "vectors" / "base45"

# The word each kind of rejection puts in its message.
ERROR_WORDS = {
    "alphabet": "not in the Base45 alphabet",
    "length": "single character",
    "triplet": "above 65535",
    "pair": "above 255",
}


def _cases() -> list[Any]:
    params = []
    for path in sorted(VECTORS.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        assert document["source"], f"{path.name} must name its source"
        for case in document["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}: {case['desc']}"))
    return params


@pytest.mark.parametrize("case", _cases())
def test_vector(case: dict[str, Any]) -> None:
    if case["want_error"] is None:
        data = bytes.fromhex(case["data_hex"])
        assert base45.decode(case["text"]) == data
        assert base45.encode(data) == case["text"]
    else:
        with pytest.raises(Base45Error) as raised:
            base45.decode(case["text"])
        message = str(raised.value)
        assert ERROR_WORDS[case["want_error"]] in message
        assert f"position {case['want_position']}" in message


def test_vector_files_cover_the_rfc_examples() -> None:
    document = json.loads((VECTORS / "rfc9285.json").read_text(encoding="utf-8"))
    texts = {case["text"] for case in document["cases"]}
    assert {"BB8", "%69 VD92EX0", "UJCLQE7W581", "QED8WEX0", "GGW"} <= texts
    assert "9285" in document["source"]


def test_error_is_a_code_format_error() -> None:
    with pytest.raises(CodeFormatError):
        base45.decode("GGW")
    assert issubclass(Base45Error, ValueError)


def test_alphabet_is_the_qr_alphanumeric_set() -> None:
    assert len(base45.ALPHABET) == len(set(base45.ALPHABET)) == 45
    assert set(base45.ALPHABET) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert base45.ALPHABET.index(" ") == 36 and base45.ALPHABET.index(":") == 44  # RFC 9285 Table 1


def test_every_pair_exhaustively() -> None:
    """All 45**2 two-character texts: exactly the 256 encodings of one byte are accepted."""
    accepted: dict[bytes, str] = {}
    for first in base45.ALPHABET:
        for second in base45.ALPHABET:
            text = first + second
            value = base45.ALPHABET.index(first) + 45 * base45.ALPHABET.index(second)
            if value > 255:
                with pytest.raises(Base45Error, match="final pair"):
                    base45.decode(text)
                continue
            data = base45.decode(text)
            assert data == bytes([value])
            assert base45.encode(data) == text
            accepted[data] = text
    assert len(accepted) == 256


def test_every_triplet_exhaustively() -> None:
    """All 45**3 three-character texts: exactly the 65536 encodings of two bytes are accepted."""
    value_of = {char: value for value, char in enumerate(base45.ALPHABET)}
    accepted = set()
    for a in base45.ALPHABET:
        for b in base45.ALPHABET:
            for c in base45.ALPHABET:
                text = a + b + c
                value = value_of[a] + 45 * value_of[b] + 2025 * value_of[c]
                if value > 0xFFFF:
                    with pytest.raises(Base45Error, match="triplet"):
                        base45.decode(text)
                    continue
                data = base45.decode(text)
                assert data == value.to_bytes(2, "big")
                assert base45.encode(data) == text
                accepted.add(data)
    assert len(accepted) == 65536


@given(st.binary(max_size=2048))
def test_encode_then_decode(data: bytes) -> None:
    text = base45.encode(data)
    assert len(text) == 3 * (len(data) // 2) + 2 * (len(data) % 2)
    assert set(text) <= set(base45.ALPHABET)
    assert base45.decode(text) == data


@given(st.text(alphabet=base45.ALPHABET, max_size=300))
def test_decode_then_encode_gives_the_text_back(text: str) -> None:
    """Exactly one text per byte string: every accepted text is the encoding of what it decodes to."""
    try:
        data = base45.decode(text)
    except Base45Error:
        return
    assert base45.encode(data) == text


@given(st.text(max_size=60))
def test_decode_arbitrary_text_never_crashes(text: str) -> None:
    try:
        data = base45.decode(text)
    except Base45Error as error:
        assert "position" in str(error)
    else:
        assert base45.encode(data) == text


@given(st.binary(min_size=1, max_size=64), st.data())
def test_one_foreign_character_is_reported_where_it_is(data: bytes, draw: st.DataObject) -> None:
    text = base45.encode(data)
    position = draw.draw(st.integers(0, len(text) - 1))
    foreign = draw.draw(st.characters().filter(lambda char: char not in base45.ALPHABET))
    broken = text[:position] + foreign + text[position + 1 :]
    with pytest.raises(Base45Error, match=f"at position {position} is not in the Base45 alphabet"):
        base45.decode(broken)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 999, 1000, 1001, 2048])
def test_lengths(size: int) -> None:
    data = bytes(range(256)) * 8
    data = data[:size]
    assert base45.decode(base45.encode(data)) == data


def test_length_check_comes_with_the_last_position() -> None:
    with pytest.raises(Base45Error, match=r"length 10 .* position 9"):
        base45.decode("BB8" * 3 + "0")
