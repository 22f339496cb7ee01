"""Fuzzing of the two entry parsers, :func:`provchain.encoding.decode` and :func:`provchain.entries.decode_body`.

Properties, on random bytes and on mutations (bit flips, truncations, insertions, deletions, overwrites)
of valid entry bodies:

* the only exception that ever escapes is :class:`~provchain.errors.EncodingError`;
* whatever is accepted re-encodes to exactly the input bytes (one value, one encoding).

Each property runs with a small budget by default and with a large one under ``-m slow``. Hostile inputs
(lengths claiming gigabytes, 100,000 levels of nesting) must fail fast and in little memory.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provchain import encoding
from provchain.entries import MAX_BODY, decode_body
from provchain.errors import EncodingError, ProvchainError

VECTORS = Path(__file__).parent / "vectors" / "entries"
BODIES = [
    bytes.fromhex(json.loads(p.read_text(encoding="utf-8"))["body_hex"])
    for p in sorted(VECTORS.glob("ok_*.json"))
    if "body_hex" in json.loads(p.read_text(encoding="utf-8"))
]
BODIES += [
    bytes.fromhex(e["body_hex"])
    for e in json.loads((VECTORS / "ok_log_journey.json").read_text(encoding="utf-8"))["entries"]
]

FAST = settings(max_examples=200, deadline=None)
# slow_selected is a stateless, function-scoped fixture: safe to share between examples
LARGE = settings(
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def slow_selected(request: pytest.FixtureRequest) -> None:
    """Skip unless slow tests were asked for (``-m slow``), whatever the default marker expression is."""
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("large fuzzing budget: run with -m slow")


def check(data: bytes) -> None:
    """The fuzzing property for one input."""
    try:
        value = encoding.decode(data)
    except EncodingError:
        value = None
    else:
        assert encoding.encode(value) == data
    try:
        body = decode_body(data)
    except EncodingError:
        return
    assert body.encode() == data
    assert value is not None  # a valid body is valid canonical msgpack


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A valid body with one to four random edits."""
    data = bytearray(draw(st.sampled_from(BODIES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "set"]))
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        else:
            data[i] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0x90, 0xA0, 0xC0, 0xC1, 0xC2, 0xCC, 0xD9, 0xDB, 0xFF]))
    return bytes(data)


# Any msgpack value: what a hostile writer can put in a field of a body that is otherwise valid.
any_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=40)
    | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(-(2**63), 2**64 - 1), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def swapped_fields(draw: st.DrawFn) -> bytes:
    """A valid body with one field's value (or a nested value) replaced by any msgpack value: with the keys
    still in canonical order it gets past the parser to the field checks, which byte edits rarely reach."""
    body = encoding.decode(draw(st.sampled_from(BODIES)))
    assert isinstance(body, dict)
    target = body
    key = draw(st.sampled_from(sorted(target, key=str)))
    while isinstance(target[key], dict) and target[key] and draw(st.booleans()):
        target = target[key]
        key = draw(st.sampled_from(sorted(target, key=str)))
    target[key] = draw(any_value)
    return bytes(msgpack.packb(body, use_bin_type=True))


random_bytes = st.binary(max_size=512)
# random bytes behind a map header, so that the parser gets past the first byte more often
framed = st.builds(lambda head, rest: head + rest, st.sampled_from([b"\x8a", b"\x85", b"\xde\x00\x0b"]), random_bytes)


# --- default budget ---------------------------------------------------------------------------------


@FAST
@given(random_bytes)
def test_random_bytes(data: bytes) -> None:
    check(data)


@FAST
@given(framed)
def test_framed_random_bytes(data: bytes) -> None:
    check(data)


@FAST
@given(mutations())
def test_mutated_bodies(data: bytes) -> None:
    check(data)


@FAST
@given(swapped_fields())
def test_bodies_with_a_field_swapped(data: bytes) -> None:
    check(data)


@pytest.mark.parametrize("field", ["origin", "stage", "item", "country", "place"])
@pytest.mark.parametrize("value", [["x"], {"a": 1}], ids=["array", "map"])
def test_unhashable_field_values_are_encoding_errors(field: str, value: object) -> None:
    """An array or a map where text belongs once escaped as TypeError (unhashable) from the seen-value caches."""
    event = next(b for b in BODIES if decode_body(b).KIND == "event")
    m = encoding.decode(event)
    assert isinstance(m, dict)
    m[field] = value
    with pytest.raises(EncodingError):
        decode_body(encoding.encode(m))


def test_seed_bodies_are_valid() -> None:
    assert len(BODIES) >= 20
    for body in BODIES:
        check(body)
        assert decode_body(body).encode() == body


# --- large budget -----------------------------------------------------------------------------------


@pytest.mark.slow
@LARGE
@given(random_bytes)
def test_random_bytes_large(slow_selected: None, data: bytes) -> None:
    check(data)


@pytest.mark.slow
@LARGE
@given(framed)
def test_framed_random_bytes_large(slow_selected: None, data: bytes) -> None:
    check(data)


@pytest.mark.slow
@LARGE
@given(mutations())
def test_mutated_bodies_large(slow_selected: None, data: bytes) -> None:
    check(data)


@pytest.mark.slow
@LARGE
@given(swapped_fields())
def test_bodies_with_a_field_swapped_large(slow_selected: None, data: bytes) -> None:
    check(data)


# --- hostile input ----------------------------------------------------------------------------------

FOUR_GB = b"\xff\xff\xff\xff"
HOSTILE = {
    "str32 of 4 GB": b"\xdb" + FOUR_GB + b"abc",
    "bin32 of 4 GB": b"\xc6" + FOUR_GB + b"abc",
    "array32 of 4 G elements": b"\xdd" + FOUR_GB + b"\x01\x02",
    "map32 of 4 G pairs": b"\xdf" + FOUR_GB + b"\xa1a\x01",
    "ext32 of 4 GB": b"\xc9" + FOUR_GB + b"\x01abc",
    "body with a 4 GB place": bytes.fromhex("81a5706c616365") + b"\xdb" + FOUR_GB + b"Grasse",
    "100k nested arrays": b"\x91" * 100_000 + b"\x01",
    "100k nested maps": b"\x81\xa1a" * 100_000 + b"\x01",
    "100k nested array32 headers": b"\xdd\x00\x00\x00\x01" * 100_000 + b"\x01",
    "8k nested arrays (body size)": b"\x91" * (MAX_BODY - 1) + b"\x01",
    "1 MiB of array headers": b"\xdc\xff\xff" * (1 << 18),
}


# Peak memory allowed. decode_body refuses more than MAX_BODY bytes before parsing. encoding.decode takes up to
# 1 MiB, and msgpack preallocates a list for every array header before reading its elements: nested array16
# headers that claim 65,535 elements each cost it about 82 MB (whatever the input size above 64 KiB) until its
# stack limit stops it. Bounded, but an 80-fold amplification: see docs/spec/entries.md, "Resource limits".
PEAK = {"decode": 128 << 20, "decode_body": 4 << 20}


@pytest.mark.parametrize(("name", "parse"), [("decode", encoding.decode), ("decode_body", decode_body)])
@pytest.mark.parametrize("data", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_input_fails_fast(name: str, parse: Callable[[bytes], object], data: bytes) -> None:
    # Memory, not time, is asserted: a timing bound would be flaky on a shared machine, and every one of
    # these inputs that is not refused early costs memory in proportion to its claim.
    tracemalloc.start()
    try:
        with pytest.raises(EncodingError):
            parse(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK[name]  # never anything like the claimed 4 GB


def test_errors_are_provchain_errors() -> None:
    assert issubclass(EncodingError, ProvchainError)
    assert issubclass(EncodingError, ValueError)
