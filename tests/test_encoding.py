"""Canonical msgpack: round trips, and every non-canonical form rejected."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain.encoding import MAX_DEPTH, decode, encode
from provchain.errors import EncodingError, FormatError

scalars = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.booleans(),
    st.text(max_size=40),
    st.binary(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=10), inner, max_size=5),
    ),
    max_leaves=20,
)


@given(values)
def test_round_trip(value: object) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


@given(st.dictionaries(st.text(max_size=8), st.integers(0, 10), min_size=2, max_size=6))
def test_map_keys_sorted_bytewise(d: dict[str, int]) -> None:
    data = encode(d)
    keys = list(decode(data))
    assert keys == sorted(keys, key=lambda k: k.encode("utf-8"))


@given(st.dictionaries(st.text(max_size=8), st.integers(0, 10), min_size=2, max_size=6))
def test_unsorted_maps_rejected(d: dict[str, int]) -> None:
    ordered = sorted(d.items(), key=lambda kv: kv[0].encode("utf-8"))
    reversed_map = dict(reversed(ordered))
    raw = msgpack.packb(reversed_map, use_bin_type=True)
    if raw != encode(d):
        with pytest.raises(EncodingError):
            decode(raw)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_non_shortest_integers_rejected(n: int) -> None:
    long_form = b"\xcf" + n.to_bytes(8, "big")  # uint64 form
    if encode(n) != long_form:
        with pytest.raises(EncodingError, match="not canonical"):
            decode(long_form)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (msgpack.packb(1.5), "floats"),
        (msgpack.packb(None), "nil"),
        (b"\x82\xa1a\x01\xa1a\x02", "not canonical"),  # duplicate key
        (b"\xcc\x01", "not canonical"),  # 1 as uint8
        (b"\xd9\x01a", "not canonical"),  # "a" as str8
        (b"\x01\x02", "trailing"),
        (msgpack.packb({1: 2}), "map keys must be text"),
        (b"\xc4\x05ab", "malformed"),  # truncated bin
        (msgpack.packb(msgpack.ExtType(1, b"x")), "extension"),
        (b"\x91" * (MAX_DEPTH + 2) + b"\x01", "nesting"),
        (b"\xa1\xff", "malformed"),  # invalid UTF-8
        (b"", "empty"),
        (b"\x81\x80\x01", "malformed"),  # a map used as a map key
        (b"\xc1", "malformed"),  # never-used byte
    ],
)
def test_rejections(raw: bytes, why: str) -> None:
    with pytest.raises(EncodingError, match=why) as info:
        decode(raw)
    assert isinstance(info.value, FormatError)


def test_deep_nesting_in_input_is_bounded() -> None:
    with pytest.raises(EncodingError):
        decode(b"\x91" * 100_000 + b"\x01")


def test_encode_refuses_unencodable() -> None:
    for bad in (1.0, None, object(), {1: 2}, 2**64, -(2**63) - 1):
        with pytest.raises(EncodingError):
            encode(bad)


def test_known_bytes() -> None:
    # Hand-checked against the msgpack spec: fixmap 2, fixstr "a", bin8 len 1 "x", fixstr "b", fixint 1.
    assert encode({"b": 1, "a": b"x"}) == bytes.fromhex("82a161c40178a16201")


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_decode_never_raises_anything_else(data: bytes) -> None:
    try:
        value = decode(data)
    except EncodingError:
        return
    assert encode(value) == data


event_data = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_.-]{0,31}", fullmatch=True),
    st.one_of(st.text(min_size=1, max_size=30).filter(str.isprintable), st.integers(-(2**63), 2**63 - 1)),
    max_size=16,
)


@given(
    item=st.from_regex(r"[A-Za-z0-9/_.:-]{1,40}", fullmatch=True),
    at=st.integers(0, 2**53 - 1),
    place=st.none() | st.text(min_size=1, max_size=40).filter(str.isprintable),
    prev=st.none() | st.binary(min_size=32, max_size=32),
    data=event_data,
)
def test_event_fast_encoding_is_canonical(
    item: str, at: int, place: str | None, prev: bytes | None, data: dict[str, str | int]
) -> None:
    """Event.encode packs its map directly; it must equal the generic canonical encoder's output."""
    from provchain.entries import Event, decode_body

    ev = Event(
        origin="example.com/l",
        at=at,
        signer=b"\x01\x02\x03\x04",
        item=item,
        stage="warehouse",
        country="CN",
        prev=prev,
        place=place,
        data=data,
    )
    assert ev.encode() == encode(ev.to_map())
    assert decode_body(ev.encode()) == ev


@given(data=event_data)
def test_check_data_is_the_same_on_the_fast_path(data: dict[str, str | int]) -> None:
    """check_data skips re-validating keys it has seen; the second call must give what the first gave."""
    from provchain.entries import check_data

    first = check_data(data)
    second = check_data(data)  # every key is known now
    assert first == second == data
    assert list(first) == list(second) == sorted(data)
    assert second is not data  # a copy: the caller's later edits do not reach the event


bad_values = st.one_of(
    st.just(""),
    st.text(min_size=1, max_size=10).filter(lambda s: not s.isprintable()),
    st.text(alphabet="a", min_size=257, max_size=300),
    st.text(alphabet="\u00e9", min_size=129, max_size=200),  # 2 bytes each: over 256 bytes
    st.booleans(),
    st.integers(min_value=2**63, max_value=2**70),
    st.integers(min_value=-(2**70), max_value=-(2**63) - 1),
    st.floats(allow_nan=False),
    st.none(),
    st.binary(max_size=5),
)


@given(key=st.from_regex(r"[a-z][a-z0-9_.-]{0,31}", fullmatch=True), bad=bad_values)
def test_check_data_refuses_bad_values_under_known_keys(key: str, bad: object) -> None:
    from provchain.entries import MAX_DATA_KEYS, check_data
    from provchain.errors import DataError

    check_data({key: "fine"})  # the key is known from now on
    with pytest.raises(DataError):
        check_data({key: bad})
    with pytest.raises(DataError, match="at most 16 keys"):
        check_data({key: "fine", **{f"{key}.{i}": i for i in range(MAX_DATA_KEYS)}})
