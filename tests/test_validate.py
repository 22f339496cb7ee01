"""The shared checks of provchain._internal.validate: what each accepts, each way it refuses, and that it
raises exactly the error the caller names (a class, or a function that builds one)."""

from __future__ import annotations

import base64
from pathlib import Path, PurePosixPath

import pytest

from provchain import errors as E
from provchain._internal.validate import (
    MAX_TIME,
    b64_length,
    canonical_b64decode,
    check_int,
    check_path,
    check_time,
    format_key_id,
    is_key_id_hex,
    parse_key_id_hex,
)


class _Marker(E.FormatError):
    """An error class no production code raises, so a test sees that the caller's class is used."""


# --- canonical base64 -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"\x00", b"ab", b"abc", bytes(range(32)), bytes(33), b"\xff" * 64])
def test_b64_accepts_canonical_text(raw: bytes) -> None:
    text = base64.b64encode(raw).decode("ascii")
    assert len(text) == b64_length(len(raw))
    assert canonical_b64decode(text, "x", _Marker) == raw
    assert canonical_b64decode(text, "x", _Marker, length=len(raw)) == raw


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("AAA", "not valid base64"),  # missing padding
        ("AA=A", "not valid base64"),  # padding inside
        ("AA AA", "not valid base64"),  # white space
        ("AAAA\n", "not valid base64"),  # line break
        ("AA-_", "not valid base64"),  # the URL alphabet
        ("AAé=", "not valid base64"),  # outside ASCII
        ("AB==", "not canonical base64"),  # stray bits in the last character (decodes to b"\x00")
        ("AAB=", "not canonical base64"),  # likewise, two bytes
    ],
)
def test_b64_refuses(text: str, words: str) -> None:
    with pytest.raises(_Marker, match=words) as caught:
        canonical_b64decode(text, "the field", _Marker)
    assert type(caught.value) is _Marker
    assert str(caught.value).startswith("the field ")


def test_b64_refuses_what_is_not_text() -> None:
    with pytest.raises(_Marker, match="the field must be base64 text"):
        canonical_b64decode(b"AAAA", "the field", _Marker)


def test_b64_length_is_exact_before_and_after_decoding() -> None:
    good = base64.b64encode(bytes(32)).decode("ascii")
    assert canonical_b64decode(good, "h", _Marker, length=32) == bytes(32)
    with pytest.raises(_Marker, match="h is 31 bytes, not 32"):  # same text length (44), one byte short
        canonical_b64decode(base64.b64encode(bytes(31)).decode("ascii"), "h", _Marker, length=32)
    with pytest.raises(_Marker, match="h is 33 bytes, not 32"):
        canonical_b64decode(base64.b64encode(bytes(33)).decode("ascii"), "h", _Marker, length=32)
    with pytest.raises(_Marker, match="h is 3 bytes, not 32"):
        canonical_b64decode("AAAA", "h", _Marker, length=32)
    with pytest.raises(_Marker, match="exactly 32 bytes, not 1000000 characters"):  # refused before decoding
        canonical_b64decode("A" * 1_000_000, "h", _Marker, length=32)


def test_b64_message_replaces_every_message() -> None:
    for text in ["AAA", "AB==", "AAAA", 5]:
        with pytest.raises(E.NoteFormatError, match=r"^one message$"):
            canonical_b64decode(text, "x", E.NoteFormatError, length=32, message="one message")


def test_an_error_factory_builds_the_error() -> None:
    def prefixed(message: str) -> E.BundleFormatError:
        return E.BundleFormatError(f"malformed: {message}")

    with pytest.raises(E.BundleFormatError, match=r"^malformed: x is not valid base64$"):
        canonical_b64decode("A", "x", prefixed)


# --- key ids --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["00000000", "deadbeef", "0123abcd", "ffffffff"])
def test_key_id_round_trip(text: str) -> None:
    assert is_key_id_hex(text)
    kid = parse_key_id_hex(text, "the key id", _Marker)
    assert kid == bytes.fromhex(text) and len(kid) == 4
    assert format_key_id(kid) == text


@pytest.mark.parametrize(
    "value",
    ["", "deadbee", "deadbeef0", "DEADBEEF", "deadbeeG", " deadbee", "deadbeef\n", "dead-eef", "\u0660" * 8, 5],
)
def test_key_id_refuses(value: object) -> None:
    assert not is_key_id_hex(value)
    with pytest.raises(_Marker, match=r"^the key id must be 8 lowercase hex digits$") as caught:
        parse_key_id_hex(value, "the key id", _Marker)
    assert type(caught.value) is _Marker


# --- integers -------------------------------------------------------------------------------------


def test_int_accepts_the_closed_range() -> None:
    assert check_int(0, "n", E.InputError, 0, 5) == 0
    assert check_int(5, "n", E.InputError, 0, 5) == 5
    assert check_int(-3, "n", E.InputError, -3, 3) == -3
    assert check_int(10**30, "n", E.InputError, 0) == 10**30  # no upper bound


@pytest.mark.parametrize("value", [-1, 6, True, False, 1.0, "1", None, 2**70])
def test_int_refuses(value: object) -> None:
    with pytest.raises(E.InputError, match=r"^n must be an integer from 0 to 5$") as caught:
        check_int(value, "n", E.InputError, 0, 5)
    assert type(caught.value) is E.InputError


def test_int_refuses_subclasses_and_words_the_open_range() -> None:
    class Count(int):
        pass

    with pytest.raises(E.ConsistencyError, match=r"^n must be an integer of at least 1$"):
        check_int(Count(3), "n", E.ConsistencyError, 1)
    with pytest.raises(E.ConsistencyError, match=r"^n must be an integer of at least 1$"):
        check_int(0, "n", E.ConsistencyError, 1)
    with pytest.raises(E.InputError, match=r"^custom$"):
        check_int(True, "n", E.InputError, 0, message="custom")


# --- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 1_764_000_000_000, MAX_TIME - 1])
def test_time_accepts(value: int) -> None:
    assert check_time(value, "at", E.DataError) == value


@pytest.mark.parametrize("value", [-1, MAX_TIME, 2**64, True, False, 1.5, "1764000000000", None])
def test_time_refuses(value: object) -> None:
    with pytest.raises(E.DataError, match=r"^at must be integer milliseconds since 1970 \(UTC\)$") as caught:
        check_time(value, "at", E.DataError)
    assert type(caught.value) is E.DataError
    with pytest.raises(E.EncodingError, match=r"^other words$"):
        check_time(value, "at", E.EncodingError, message="other words")


def test_max_time_is_exact_in_javascript() -> None:
    assert MAX_TIME == 2**53  # the largest range in which every integer is a float64 (a JS number)
    assert float(MAX_TIME - 1) == MAX_TIME - 1


# --- paths ----------------------------------------------------------------------------------------


def test_path_accepts_text_and_path_likes() -> None:
    assert check_path("a/b.db", "the ledger", E.InputError) == Path("a/b.db")
    assert check_path(Path("x.db"), "the ledger", E.InputError) == Path("x.db")
    assert check_path(PurePosixPath("y.db"), "the ledger", E.InputError) == Path("y.db")


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"x.db"


@pytest.mark.parametrize("value", [5, None, b"x.db", ["x.db"], _BytesPath()])
def test_path_refuses(value: object) -> None:
    with pytest.raises(E.InputError, match=r"^the ledger must be a file path, not ") as caught:
        check_path(value, "the ledger", E.InputError)
    assert type(caught.value) is E.InputError
