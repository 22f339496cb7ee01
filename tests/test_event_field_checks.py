"""Event() tests the common case of each field inline before calling the field's checking function: every value,
good or bad, must get the verdict (and for a bad one the error class and message) the checking function gives."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ORIGIN, T0

from provchain._internal.validate import MAX_TIME, check_time
from provchain.entries import MAX_PLACE, Event, check_country, check_place
from provchain.errors import DataError, InputError, ProvchainError
from provchain.ledger import to_ms

GOOD: dict[str, Any] = {
    "origin": ORIGIN,
    "at": T0,
    "signer": b"\x01\x02\x03\x04",
    "item": "SKU-1",
    "stage": "origin",
    "country": "FR",
    "prev": bytes(32),
    "place": "Grasse",
}


class _Str(str):
    pass


class _Bytes(bytes):
    pass


def _verdict(f: Any, *args: Any) -> tuple[type[Exception], str] | None:
    try:
        f(*args)
    except ProvchainError as exc:
        return type(exc), str(exc)
    return None


def _event(**change: Any) -> tuple[type[Exception], str] | None:
    return _verdict(lambda: Event(**{**GOOD, **change}))


def _bin_verdict(value: Any, what: str, length: int) -> tuple[type[Exception], str] | None:
    ok = type(value) is bytes and len(value) == length
    return None if ok else (DataError, f"{what} must be exactly {length} bytes")


@pytest.mark.parametrize("at", [0, 1, T0, MAX_TIME - 1, MAX_TIME, -1, True, False, 1.0, "1", None, 2**64])
def test_at(at: Any) -> None:
    assert _event(at=at) == _verdict(check_time, at, "at", DataError)


@pytest.mark.parametrize("signer", [b"abcd", b"abc", b"abcde", _Bytes(b"abcd"), bytearray(b"abcd"), "abcd", None])
def test_signer(signer: Any) -> None:
    assert _event(signer=signer) == _bin_verdict(signer, "signer", 4)


@pytest.mark.parametrize("prev", [None, bytes(32), bytes(31), bytes(33), _Bytes(bytes(32)), bytearray(32), "x" * 32])
def test_prev(prev: Any) -> None:
    assert _event(prev=prev) == (None if prev is None else _bin_verdict(prev, "prev", 32))


@pytest.mark.parametrize("country", ["FR", "CN", "fr", "XX", "", _Str("FR"), b"FR", None, 1, "FRA"])
def test_country(country: Any) -> None:
    assert _event(country=country) == _verdict(check_country, country)


@pytest.mark.parametrize(
    "place",
    ["Grasse", "x" * MAX_PLACE, "x" * (MAX_PLACE + 1), "", "a\nb", "a\x00", "Hangzhou 杭州", "é" * 64, "é" * 65,
     _Str("Grasse"), b"Grasse", 1, "\u200b", "\ud800"],
)  # fmt: skip
def test_place(place: Any) -> None:
    assert _event(place=place) == _verdict(check_place, place)


@pytest.mark.parametrize("at", [0, T0, MAX_TIME - 1, MAX_TIME, -1, True, 1.5, "1"])
def test_ledger_time_is_to_ms(at: Any, tmp_path: Any) -> None:
    from provchain import KeyPair, Ledger

    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    with Ledger.create(tmp_path / "l.db", origin=ORIGIN, operator=op, at=T0) as led:
        assert _verdict(led._time, at) == _verdict(to_ms, at)
        if _verdict(to_ms, at) is None:
            assert led._time(at) == to_ms(at)


class _Roles(frozenset[str]):
    pass


@pytest.mark.parametrize(
    "roles",
    [frozenset({"origin"}), frozenset(), {"origin"}, ["origin"], ("customs",), _Roles({"origin"}), "origin", 1, None],
)
def test_policy_roles_of_any_kind(roles: Any) -> None:
    from provchain.errors import RoleError
    from provchain.policy import DEFAULT_POLICY

    verdict = _verdict(DEFAULT_POLICY.check, "origin", None, roles)
    if isinstance(roles, str) or not hasattr(roles, "__iter__"):
        assert verdict == (InputError, "roles must be a collection of role names")
    elif "origin" in roles:
        assert verdict is None
    else:
        assert verdict is not None and verdict[0] is RoleError
