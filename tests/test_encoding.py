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
