"""``Registry.replay``: one replay of operator entries and events, used by ``code.make`` and ``code.verify``."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import HOUR, ORIGIN, T0, journey

from provchain import errors
from provchain.entries import Body, Event, PolicyEntry
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.rules import CLOCK_TOLERANCE_MS, Registry


def _log(ledger: Ledger) -> list[tuple[int, Body]]:
    return [(e.index or 0, e.content) for e in ledger.store.entries(0)]


def _registry(operator: KeyPair) -> Registry:
    return Registry(ORIGIN, operator.name, operator.public_key)


def test_replay_of_a_ledger_accepts_every_entry(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    journey(ledger, parties, "A")
    journey(ledger, parties, "B", start=T0 + HOUR + 60_000)
    ledger.revoke_party(parties["courier"].name, reason="rotated", at=T0 + 20 * HOUR)
    log = _log(ledger)
    registry = _registry(operator)
    steps = list(registry.replay(log, now=T0 + 30 * HOUR))
    assert [(s.index, s.content) for s in steps] == log
    policy_at = next(i for i, body in log if isinstance(body, PolicyEntry))
    assert all(s.policy_index == policy_at for s in steps if isinstance(s.content, Event))
    assert registry.keys.keys() == {kp.key_id for kp in parties.values()}
    assert registry.keys[parties["courier"].key_id].revoked_index == log[-1][0]


def test_replay_stops_at_the_first_entry_that_breaks_a_rule(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    journey(ledger, parties, "A")
    log = _log(ledger)
    events = [n for n, (_i, body) in enumerate(log) if isinstance(body, Event)]
    i, third = log[events[2]]
    assert isinstance(third, Event)
    log[events[2]] = (i, replace(third, prev=bytes(32)))  # a broken chain link
    seen: list[int] = []
    with pytest.raises(errors.ChainError):
        for step in _registry(operator).replay(log):
            seen.append(step.index)
    assert seen == [index for index, _ in log[: events[2]]]  # the failing entry is the one after the last step
    # Without judging, the same entries are only applied.
    assert len(list(_registry(operator).replay(log, judge=False))) == len(log)


def test_replay_checks_the_clock_only_when_given_one(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    journey(ledger, parties, "A")
    log = _log(ledger)
    last = max(body.at for _, body in log)
    assert len(list(_registry(operator).replay(log))) == len(log)
    assert len(list(_registry(operator).replay(log, now=last - CLOCK_TOLERANCE_MS))) == len(log)
    with pytest.raises(errors.TimeError):
        list(_registry(operator).replay(log, now=last - CLOCK_TOLERANCE_MS - 1))


def test_replay_judges_operator_entries_too(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    log = _log(ledger)
    stranger = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)
    forged = [(i, body if isinstance(body, Event) else replace(body, signer=stranger.key_id)) for i, body in log]
    with pytest.raises(errors.OperatorKeyError):
        list(_registry(operator).replay(forged))
    assert len(list(_registry(operator).replay(forged, judge=False))) == len(log)
