"""Item codes: round trips through real QR images, every tamper case, rule violations, fuzzing, vectors."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import HOUR, ORIGIN, T0, Clock, journey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from witnessing import store_cosigned, witness_keys

from provchain import base45, code, digits, encoding, errors, qr
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.policy import DEFAULT_POLICY, Policy
from provchain.tlog import publish
from provchain.witness import WitnessPolicy

ITEM = "SERUM-0001"
OTHER = "SERUM-0002"
ISSUED = T0 + 10 * HOUR
AT = T0 + 24 * HOUR
VECTORS = Path(__file__).parent / "vectors" / "code"


@pytest.fixture
def recorded(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    journey(ledger, parties, ITEM)
    journey(ledger, parties, OTHER, start=T0 + HOUR + 30 * 60_000)
    store_cosigned(ledger, witness_keys())  # so that every profile, witnessed included, can be made
    return ledger


@pytest.fixture
def codes(recorded: Ledger) -> dict[str, str]:
    return {p: code.make(recorded, ITEM, p, at=ISSUED) for p in code.PROFILES}


@pytest.fixture
def log(recorded: Ledger, ledger_path: Path, tmp_path: Path) -> Path:
    """The ledger published as tiles: where a witnessed-published code's proof is read (other codes ignore it)."""
    return _published(ledger_path, tmp_path / "log")


def _published(ledger_path: Path, directory: Path) -> Path:
    publish(ledger_path, directory)
    return directory


def _value(payload: str) -> Any:
    return encoding.decode(base45.decode(payload[len(code.PREFIX) :]))


def _payload(value: Any) -> str:
    return code.PREFIX + base45.encode(encoding.encode(value))


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", code.PROFILES)
def test_round_trip_matches_history(
    recorded: Ledger, codes: dict[str, str], operator: KeyPair, profile: str, log: Path
) -> None:
    report = code.verify(codes[profile], operator.vkey, at=AT, log=log)
    history = recorded.history(ITEM)
    assert report.item == ITEM and report.origin == ORIGIN and report.profile == profile
    assert [(e.stage, e.party, e.country, e.place, dict(e.data), e.at) for e in report.events] == [
        (h.stage, h.party, h.country, h.place, dict(h.data), h.at) for h in history
    ]
    assert [e.leaf_hash for e in report.events] == [h.leaf_hash for h in history]
    assert report.head_index == history[-1].index
    assert report.root == recorded.root(report.tree_size)
    assert report.issued == ISSUED
    assert set(report.checks.values()) == {"ok"}
    full_checks = {"registrations", "party_signatures", "inclusion_proof", "checkpoint_signature"}
    present = full_checks & set(report.checks)
    proofs = {"full": full_checks, "witnessed": {"inclusion_proof"}, "witnessed-published": {"inclusion_proof"}}
    assert present == proofs.get(profile, set())
    j = report.to_json()
    assert json.loads(json.dumps(j)) == j
    assert j["item"] == ITEM and j["verified"] is True
    assert [e["stage"] for e in j["events"]] == [h.stage for h in history]
    assert code.parse(codes[profile], ORIGIN).payload() == codes[profile]


@pytest.mark.parametrize("profile", code.PROFILES)
def test_png_decoded_by_zxing_verifies(
    codes: dict[str, str], operator: KeyPair, tmp_path: Path, profile: str, log: Path
) -> None:
    png = tmp_path / "item.png"
    qr.write(codes[profile], png)
    text = qr.read_image(png)
    assert text == codes[profile]
    assert code.verify(text, operator.vkey, at=AT, log=log).profile == profile


def test_compact_six_events_fits_version_20_in_a_ledger_of_any_size(codes: dict[str, str], operator: KeyPair) -> None:
    assert qr.qr_version(codes["compact"]) <= 20
    bundle = code.parse(codes["compact"], ORIGIN)
    huge = replace(bundle, anchor=replace(bundle.anchor, head_index=2**64 - 2, tree_size=2**64 - 1))
    text = code.sign_bundle(huge, operator).payload()
    assert code.verify(text, operator.vkey, at=AT).tree_size == 2**64 - 1
    assert qr.qr_version(text) <= 20


def test_make_signs_a_checkpoint_when_none_covers_the_head(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    recorded = ledger
    journey(ledger, parties, ITEM)
    assert recorded.latest_checkpoint() is None
    text = code.make(recorded, ITEM, at=ISSUED)
    assert recorded.latest_checkpoint() is not None
    assert code.verify(text, operator.vkey, at=AT).tree_size == recorded.size
    code.make(recorded, ITEM, at=ISSUED)
    assert len(list(recorded.store.checkpoints())) == 1


def test_make_refuses_bad_requests(recorded: Ledger, ledger_path: Path) -> None:
    with pytest.raises(errors.InputError, match="profile"):
        code.make(recorded, ITEM, "tiny", at=ISSUED)
    with pytest.raises(errors.InputError, match="no events"):
        code.make(recorded, "NOTHING-HERE", at=ISSUED)
    with Ledger.open(ledger_path, readonly=True) as ro, pytest.raises(errors.OperatorKeyError):
        code.make(ro, ITEM, at=ISSUED)
    stranger = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)
    with Ledger.open(ledger_path, readonly=True) as ro, pytest.raises(errors.WrongKeyError):
        code.make(ro, ITEM, operator=stranger, at=ISSUED)


def test_non_default_policy_is_carried(tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]) -> None:
    policy = Policy.build({"made": (["origin"], [], True), "sold": (["courier"], ["made"], False)})
    with Ledger.create(tmp_path / "p.db", origin=ORIGIN, operator=operator, policy=policy, at=T0) as led:
        for role in ("origin", "courier"):
            led.register_party(parties[role].name, [role], parties[role].public_key, at=T0, valid_from=T0)
        led.append("BAG-1", "made", parties["origin"], country="IT", at=T0 + HOUR)
        led.append("BAG-1", "sold", parties["courier"], country="FR", at=T0 + 2 * HOUR)
        text = code.make(led, "BAG-1", at=ISSUED)
    assert code.parse(text, ORIGIN).policy == policy
    assert [e.stage for e in code.verify(text, operator.vkey, at=AT).events] == ["made", "sold"]


# --- revocation -----------------------------------------------------------------------------------


def test_revocation_after_the_journey(
    recorded: Ledger, operator: KeyPair, parties: dict[str, KeyPair], ledger_path: Path, tmp_path: Path
) -> None:
    before = code.make(recorded, ITEM, at=ISSUED)
    recorded.revoke_party(parties["warehouse"].name, reason="key rotated", at=ISSUED + HOUR)
    log = _published(ledger_path, tmp_path / "log")
    # A code made before the revocation stays valid: it cannot know, and the events predate it.
    assert all(not e.key_revoked_later for e in code.verify(before, operator.vkey, at=AT).events)
    # A code made after it is still valid (the events were signed before), and says so.
    for profile in code.PROFILES:
        after = code.verify(code.make(recorded, ITEM, profile, at=ISSUED + 2 * HOUR), operator.vkey, at=AT, log=log)
        assert [e.key_revoked_later for e in after.events] == [e.party == "hz-bonded-wh-3" for e in after.events]


def test_revoked_key_that_signs_later_is_refused(codes: dict[str, str], operator: KeyPair) -> None:
    bundle = code.parse(codes["compact"], ORIGIN)
    warehouse = bundle.parties[2]
    assert warehouse.name == "hz-bonded-wh-3"
    parties = list(bundle.parties)
    parties[2] = replace(warehouse, revoked=4)  # revoked between its two events
    forged = code.sign_bundle(replace(bundle, parties=tuple(parties)), operator).payload()
    with pytest.raises(errors.RevokedKeyError, match="event 4"):
        code.verify(forged, operator.vkey, at=AT)


def test_rotation_mid_journey(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, ledger_path: Path, tmp_path: Path
) -> None:
    """A warehouse rotates its key between its two events: two keys under one name, and both profiles verify
    (a full code's registrations pass the one-name-one-key rule because the old key is revoked)."""
    new = KeyPair.from_seed("hz-bonded-wh-3", b"w" * 32)
    steps = [("origin", parties["origin"]), ("import", parties["customs"]), ("warehouse", parties["warehouse"])]
    for n, (stage, signer) in enumerate(steps, 1):
        ledger.append(ITEM, stage, signer, country="CN", at=T0 + n * HOUR)
    ledger.revoke_party(parties["warehouse"].key_id, at=T0 + 4 * HOUR)
    ledger.register_party(new.name, ["warehouse"], new.public_key, at=T0 + 4 * HOUR, valid_from=T0 + 4 * HOUR)
    ledger.append(ITEM, "warehouse", new, country="CN", at=T0 + 5 * HOUR)
    store_cosigned(ledger, witness_keys(1))
    log = _published(ledger_path, tmp_path / "log")
    for profile in code.PROFILES:
        report = code.verify(code.make(ledger, ITEM, profile, at=T0 + 6 * HOUR), operator.vkey, at=AT, log=log)
        assert [(e.party, e.key_id, e.key_revoked_later) for e in report.events[2:]] == [
            ("hz-bonded-wh-3", parties["warehouse"].key_id, True),
            ("hz-bonded-wh-3", new.key_id, False),
        ]


# --- rules, with bundles the operator did sign ----------------------------------------------------


def _resigned(payload: str, operator: KeyPair, change: Callable[[code.Bundle], code.Bundle]) -> str:
    return code.sign_bundle(change(code.parse(payload, ORIGIN)), operator).payload()


def test_role_not_allowed(codes: dict[str, str], operator: KeyPair) -> None:
    def change(b: code.Bundle) -> code.Bundle:
        return replace(b, parties=(replace(b.parties[0], roles=("courier",)), *b.parties[1:]))

    with pytest.raises(errors.RoleError, match="event 1"):
        code.verify(_resigned(codes["compact"], operator, change), operator.vkey, at=AT)


def test_stage_out_of_order(codes: dict[str, str], operator: KeyPair) -> None:
    def change(b: code.Bundle) -> code.Bundle:
        ev = list(b.events)
        ev[5] = replace(ev[5], stage="import")  # delivery -> import, by a courier who may also clear customs
        courier = replace(b.parties[4], roles=("courier", "customs"))
        return replace(b, events=tuple(ev), parties=(*b.parties[:4], courier))

    with pytest.raises(errors.StageOrderError):
        code.verify(_resigned(codes["compact"], operator, change), operator.vkey, at=AT)


def test_key_outside_its_window(codes: dict[str, str], operator: KeyPair) -> None:
    def change(b: code.Bundle) -> code.Bundle:
        return replace(b, parties=(replace(b.parties[0], valid_until=T0 + 30 * 60_000), *b.parties[1:]))

    with pytest.raises(errors.ExpiredKeyError):
        code.verify(_resigned(codes["compact"], operator, change), operator.vkey, at=AT)


# --- the clock ------------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", code.PROFILES)
@pytest.mark.parametrize("slow", [1, 10 * 60_000, 23 * HOUR, code.MAX_CLOCK_SKEW_MS])
def test_a_slow_clock_verifies_and_the_report_shows_it(
    codes: dict[str, str], operator: KeyPair, profile: str, slow: int, log: Path
) -> None:
    report = code.verify(codes[profile], operator.vkey, at=ISSUED - slow, log=log)
    assert report.clock_skew_ms == slow and report.to_json()["clock_skew_ms"] == slow
    assert code.verify(codes[profile], operator.vkey, at=ISSUED, log=log).clock_skew_ms == 0
    assert code.verify(codes[profile], operator.vkey, at=AT, log=log).clock_skew_ms == 0


@pytest.mark.parametrize("slow", [code.MAX_CLOCK_SKEW_MS + 1, 25 * HOUR, 30 * 24 * HOUR])
def test_a_clock_more_than_a_day_slow_is_refused(codes: dict[str, str], operator: KeyPair, slow: int) -> None:
    with pytest.raises(errors.TimeError, match="more than 24 hours after this device's clock"):
        code.verify(codes["compact"], operator.vkey, at=ISSUED - slow)


def test_the_skew_counts_from_the_last_event_when_it_is_later(codes: dict[str, str], operator: KeyPair) -> None:
    bundle = code.parse(codes["compact"], ORIGIN)
    last = bundle.events[-1].at
    early = code.sign_bundle(replace(bundle, anchor=replace(bundle.anchor, issued=last - 4 * 60_000)), operator)
    text = early.payload()
    assert code.verify(text, operator.vkey, at=last - HOUR).clock_skew_ms == HOUR  # not 56 min
    with pytest.raises(errors.TimeError, match="24 hours"):  # the issue time is within a day, the event is not
        code.verify(text, operator.vkey, at=last - code.MAX_CLOCK_SKEW_MS - 60_000)
    too_early = replace(bundle, anchor=replace(bundle.anchor, issued=last - 6 * 60_000))
    with pytest.raises(errors.TimeError, match="before the last event"):
        code.verify(code.sign_bundle(too_early, operator).payload(), operator.vkey, at=AT)


# --- refusals never quote the code ------------------------------------------------------------------


def test_rule_refusals_name_the_event_and_the_rule_only(codes: dict[str, str], operator: KeyPair) -> None:
    def courier_first(b: code.Bundle) -> code.Bundle:
        return replace(b, parties=(replace(b.parties[0], roles=("courier",)), *b.parties[1:]))

    def expired(b: code.Bundle) -> code.Bundle:
        return replace(b, parties=(*b.parties[:2], replace(b.parties[2], valid_until=T0 + 3 * HOUR), *b.parties[3:]))

    cases: list[tuple[Callable[[code.Bundle], code.Bundle], type[Exception], str]] = [
        (courier_first, errors.RoleError, "event 1: its signer holds no role that may record its stage"),
        (expired, errors.ExpiredKeyError, "event 3: it is dated outside its signer key's validity window"),
    ]
    for change, error, message in cases:
        with pytest.raises(error) as info:
            code.verify(_resigned(codes["compact"], operator, change), operator.vkey, at=AT)
        assert str(info.value) == message
    full = code.parse(codes["full"], ORIGIN)
    parties = (replace(full.parties[0], roles=("courier",)), *full.parties[1:])  # its registration no longer
    with pytest.raises(errors.SignatureError) as sig_info:
        code.verify(code.sign_bundle(replace(full, parties=parties), operator).payload(), operator.vkey, at=AT)
    assert str(sig_info.value) == "party 1: the operator's signature of its registration does not verify"


def test_compact_party_with_the_operator_key_id_is_refused(codes: dict[str, str], operator: KeyPair) -> None:
    bundle = code.parse(codes["compact"], ORIGIN)
    parties = (*bundle.parties[:3], replace(bundle.parties[3], key_id=operator.key_id), *bundle.parties[4:])
    with pytest.raises(errors.VerificationError, match=r"^party 4: the operator key cannot be a party key$"):
        code.verify(code.sign_bundle(replace(bundle, parties=parties), operator).payload(), operator.vkey, at=AT)


@pytest.mark.parametrize("profile", code.PROFILES)
def test_no_refusal_quotes_a_value_of_the_code(codes: dict[str, str], operator: KeyPair, profile: str) -> None:
    original = _value(codes[profile])
    words = {"SERUM", "grasse", "shanghai", "hz-bonded", "cciq", "sf-express", "Grasse", "Hangzhou", "Beijing"}
    words |= {"B-2025-17", "CCIQ-2025-0042", "genuine", "SF1234567890", "A-07", "C-11", "origin", "warehouse"}
    words |= {"appraisal", "delivery", "import"}
    refused = 0
    for text in _altered_payloads(original):
        candidates = [text]
        with contextlib.suppress(errors.ProvchainError):  # re-signed too, so that the rules judge it
            candidates.append(code.sign_bundle(code.parse(text, ORIGIN), operator).payload())
        for candidate in candidates:
            try:
                code.verify(candidate, operator.vkey, at=AT)
            except errors.ProvchainError as exc:
                refused += 1
                message = str(exc).lower()
                assert not [w for w in words if w.lower() in message], (candidate, str(exc))
    assert refused > 250


# --- tampering ------------------------------------------------------------------------------------


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, list):
        yield path, value
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    elif isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    else:
        yield path, value


def _mutations(leaf: Any) -> list[Any]:
    if isinstance(leaf, bool):
        return [not leaf]
    if isinstance(leaf, int):
        return [leaf + 1, leaf - 1, -leaf - 1 if leaf >= 0 else 0, "1"]
    if isinstance(leaf, bytes):
        return [bytes([leaf[0] ^ 1]) + leaf[1:] if leaf else b"\x00", leaf[:-1], leaf + b"\x00"]
    if isinstance(leaf, str):
        return [leaf + "X", leaf[:-1], leaf.encode() or b"x", "" if leaf else "A", 0]
    if isinstance(leaf, list):
        return [[*leaf, 0], leaf[:-1], [*leaf, *leaf[-1:]]]
    if isinstance(leaf, dict):
        return [{**leaf, "zz": "1"}, {}, dict(list(leaf.items())[:-1])]
    raise AssertionError(leaf)


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(value)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def _altered_payloads(original: Any) -> Iterator[str]:
    """The code text of ``original`` with one field altered, for every leaf and every mutation of it that
    still encodes (unsigned: the operator's signature no longer matches)."""
    for path, leaf in list(_leaves(original)):
        for new in _mutations(leaf):
            mutated = _set(original, path, new)
            if mutated == original:
                continue
            try:
                yield _payload(mutated)
            except errors.EncodingError:
                continue


@pytest.mark.parametrize("profile", code.PROFILES)
def test_each_field_altered_is_refused(codes: dict[str, str], operator: KeyPair, profile: str) -> None:
    original = _value(codes[profile])
    tried = 0
    for text in _altered_payloads(original):
        tried += 1
        with pytest.raises(errors.ProvchainError):
            code.verify(text, operator.vkey, at=AT)
    assert tried > 150


@pytest.mark.parametrize("profile", code.PROFILES)
def test_events_swapped_between_items(recorded: Ledger, operator: KeyPair, profile: str) -> None:
    mine = _value(code.make(recorded, ITEM, profile, at=ISSUED))
    theirs = _value(code.make(recorded, OTHER, profile, at=ISSUED))
    swapped = copy.deepcopy(mine)
    swapped[4][0] = theirs[4][0]  # the other item's first event (compact rows differ only in time here)
    assert swapped != mine
    # A witnessed-published code carries no head hint: the operator's signature, over the head, refuses it.
    refusal = errors.SignatureError if profile == "witnessed-published" else errors.ChainError
    with pytest.raises(refusal):
        code.verify(_payload(swapped), operator.vkey, at=AT)
    whole = copy.deepcopy(theirs)
    whole[1] = ITEM  # another item's journey presented under this item's id
    with pytest.raises(refusal):
        code.verify(_payload(whole), operator.vkey, at=AT)


def test_code_from_another_ledger(tmp_path: Path, parties: dict[str, KeyPair], codes: dict[str, str]) -> None:
    other_op = KeyPair.from_seed("example.org/other-ledger", bytes([7]) * 32)
    with Ledger.create(tmp_path / "o.db", origin=other_op.name, operator=other_op, at=T0, clock=Clock(ISSUED)) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
        journey(led, parties, ITEM)
        foreign = code.make(led, ITEM, at=ISSUED)
    ours = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    with pytest.raises(errors.OperatorKeyError):
        code.verify(foreign, ours.vkey, at=AT)
    impostor = KeyPair.from_seed(ORIGIN, bytes([8]) * 32)  # same ledger name, another key
    with pytest.raises(errors.OperatorKeyError):
        code.verify(codes["compact"], impostor.vkey, at=AT)
    assert code.verify(foreign, other_op.vkey, at=AT).origin == other_op.name


@pytest.mark.parametrize("cut", [1, 2, 3, 10, 100, 500])
def test_truncated_payload(codes: dict[str, str], operator: KeyPair, cut: int) -> None:
    with pytest.raises(errors.CodeFormatError):
        code.verify(codes["compact"][:-cut], operator.vkey, at=AT)


@pytest.mark.parametrize("prefix", ["PC2:", "PC0:", "pc1:", "PC1", "PC1;", "XX1:", "", " PC1:"])
def test_wrong_version_prefix(codes: dict[str, str], operator: KeyPair, prefix: str) -> None:
    with pytest.raises(errors.BadPrefixError):
        code.verify(prefix + codes["compact"][4:], operator.vkey, at=AT)


@pytest.mark.parametrize("extra", [b"\x00", b"\x90", b"\xc0", bytes(40)])
def test_trailing_data(codes: dict[str, str], operator: KeyPair, extra: bytes) -> None:
    raw = base45.decode(codes["compact"][4:])
    with pytest.raises(errors.BundleFormatError, match="trailing"):
        code.verify(code.PREFIX + base45.encode(raw + extra), operator.vkey, at=AT)
    for suffix in (" ", "\n", "00"):
        with pytest.raises(errors.CodeFormatError):
            code.verify(codes["compact"] + suffix, operator.vkey, at=AT)


def test_one_encoding_only(codes: dict[str, str], operator: KeyPair) -> None:
    value = _value(codes["compact"])
    explicit = copy.deepcopy(value)
    explicit[2] = DEFAULT_POLICY.to_map()
    with pytest.raises(errors.BundleFormatError, match="default policy"):
        code.verify(_payload(explicit), operator.vkey, at=AT)
    repeated = copy.deepcopy(value)
    repeated[4][3][4] = repeated[4][2][4]  # the repeated place written out instead of 0
    with pytest.raises(errors.BundleFormatError, match="previous place"):
        code.verify(_payload(repeated), operator.vkey, at=AT)
    reordered = copy.deepcopy(value)
    reordered[3][0], reordered[3][1] = reordered[3][1], reordered[3][0]
    for row in reordered[4]:
        row[1] = {0: 1, 1: 0}.get(row[1], row[1])  # the same journey, parties listed in another order
    with pytest.raises(errors.BundleFormatError, match="first event"):
        code.verify(_payload(reordered), operator.vkey, at=AT)


@pytest.mark.parametrize(
    ("where", "error"),
    [
        (lambda v: v[4][4].__setitem__(6, bytes(64)), errors.SignatureError),  # a party signature
        (lambda v: v[3][1].__setitem__(7, bytes(64)), errors.SignatureError),  # a registration signature
        (lambda v: v[5].__setitem__(7, bytes(64)), errors.SignatureError),  # the checkpoint signature
    ],
)
def test_full_profile_checks_every_signer(
    codes: dict[str, str], operator: KeyPair, where: Callable[[Any], None], error: type[Exception]
) -> None:
    value = _value(codes["full"])
    where(value)
    bundle = code.parse(_payload(value), ORIGIN)
    with pytest.raises(error):
        code.verify(code.sign_bundle(bundle, operator).payload(), operator.vkey, at=AT)


def test_full_profile_checks_the_inclusion_proof(codes: dict[str, str], operator: KeyPair) -> None:
    bundle = code.parse(codes["full"], ORIGIN)
    proof = (bytes(32), *bundle.anchor.proof[1:])
    bad = code.sign_bundle(replace(bundle, anchor=replace(bundle.anchor, proof=proof)), operator)
    with pytest.raises(errors.InclusionError):
        code.verify(bad.payload(), operator.vkey, at=AT)


def test_bad_operator_key_string_is_a_format_error(codes: dict[str, str]) -> None:
    with pytest.raises(errors.KeyFormatError):
        code.verify(codes["compact"], "not-a-key", at=AT)


# --- fuzzing --------------------------------------------------------------------------------------

_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FUZZ
@given(raw=st.binary(max_size=700))
def test_fuzz_random_bundles(codes: dict[str, str], operator: KeyPair, raw: bytes) -> None:
    with pytest.raises(errors.ProvchainError):
        code.verify(code.PREFIX + base45.encode(raw), operator.vkey, at=AT)


@_FUZZ
@given(text=st.text(alphabet=base45.ALPHABET + "abc\n", max_size=400))
def test_fuzz_random_text(codes: dict[str, str], operator: KeyPair, text: str) -> None:
    with pytest.raises(errors.ProvchainError):
        code.verify(code.PREFIX + text, operator.vkey, at=AT)


@_FUZZ
@given(data=st.data())
def test_fuzz_mutated_payloads_are_never_accepted(
    codes: dict[str, str], operator: KeyPair, data: st.DataObject
) -> None:
    original = codes[data.draw(st.sampled_from(code.PROFILES))]
    text = original
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        c = data.draw(st.sampled_from(base45.ALPHABET))
        if op == "replace" and i < len(text):
            text = text[:i] + c + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + c + text[i:]
        else:
            text = text[:i] + text[i + 1 :]
    if text == original:
        return
    with pytest.raises(errors.ProvchainError):
        code.verify(text, operator.vkey, at=AT)


@_FUZZ
@given(data=st.data())
def test_fuzz_mutated_bundle_bytes_are_never_accepted(
    codes: dict[str, str], operator: KeyPair, data: st.DataObject
) -> None:
    raw = bytearray(base45.decode(codes[data.draw(st.sampled_from(code.PROFILES))][4:]))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(errors.ProvchainError):
        code.verify(code.PREFIX + base45.encode(bytes(raw)), operator.vkey, at=AT)


# --- vectors --------------------------------------------------------------------------------------


def _vector_files() -> list[Path]:
    return sorted(VECTORS.glob("*.json"))


def _vector_policy(v: dict[str, Any]) -> WitnessPolicy | None:
    w = v.get("witnesses")
    return None if w is None else WitnessPolicy.from_witnesses(w["keys"], w["quorum"])


@pytest.mark.parametrize("path", _vector_files(), ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    v = json.loads(path.read_text(encoding="utf-8"))
    assert v["desc"]
    policy = _vector_policy(v)
    log = None if v.get("log") is None else VECTORS / v["log"]  # a published log beside the vectors
    if v["want_error"] is None:
        report = code.verify(v["payload"], v["operator_vkey"], at=v["at"], witnesses=policy, log=log)
        assert report.to_json() == v["want_report"]
        if code.is_url(v["payload"]):
            assert digits.decode(v["payload"].partition("#")[2][2:]).hex() == v["bundle_hex"]
        else:
            assert base45.decode(v["payload"][4:]).hex() == v["bundle_hex"]
    else:
        with pytest.raises(errors.ProvchainError) as info:
            code.verify(v["payload"], v["operator_vkey"], at=v["at"], witnesses=policy, log=log)
        assert type(info.value).__name__ == v["want_error"]


def test_vectors_are_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("code_vectors", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.vectors()
    assert sorted(f"{name}.json" for name in generated) == [p.name for p in _vector_files()]
    for name, vector in generated.items():
        assert json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8")) == vector, name
    for name, files in module.published_logs().items():  # the published logs the vectors name
        here = VECTORS / name
        assert sorted(p.relative_to(here).as_posix() for p in here.rglob("*") if p.is_file()) == sorted(files), name
        for rel, data in files.items():
            assert (here / rel).read_bytes() == data, f"{name}/{rel}"


# --- make: the operator's entries replayed ----------------------------------------------------------


def _steps(led: Ledger, parties: dict[str, KeyPair], item: str, steps: list[tuple[str, str, int]]) -> None:
    for stage, role, hour in steps:
        led.append(item, stage, parties[role], country="CN", at=T0 + hour * HOUR)


def test_make_records_where_a_revocation_fell(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> None:
    _steps(ledger, parties, ITEM, [("origin", "origin", 1), ("import", "customs", 2), ("warehouse", "warehouse", 3)])
    ledger.revoke_party(parties["origin"].name, reason="key rotated", at=T0 + 4 * HOUR)
    _steps(ledger, parties, ITEM, [("appraisal", "appraiser", 5), ("delivery", "courier", 6)])
    text = code.make(ledger, ITEM, at=ISSUED)
    assert [p.revoked for p in code.parse(text, ORIGIN).parties] == [4, 0, 0, 0, 0]
    report = code.verify(text, operator.vkey, at=AT)
    assert [e.key_revoked_later for e in report.events] == [True, False, False, False, False]


def test_make_refuses_a_journey_across_a_policy_change(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    _steps(ledger, parties, ITEM, [("origin", "origin", 1)])
    before = code.make(ledger, ITEM, at=ISSUED)
    recall = {"after": ["origin"], "roles": ["origin"], "start": False}
    ledger.set_policy(Policy.from_map({**DEFAULT_POLICY.to_map(), "recall": recall}), at=T0 + 2 * HOUR)
    # The journey so far lies under the first policy: the code carries it, though a newer one is in force.
    assert code.parse(code.make(ledger, ITEM, at=ISSUED), ORIGIN).policy == DEFAULT_POLICY
    assert code.verify(before, operator.vkey, at=AT).item == ITEM
    _steps(ledger, parties, ITEM, [("recall", "origin", 3)])
    with pytest.raises(errors.InputError, match="spans a change of policy"):
        code.make(ledger, ITEM, at=ISSUED)
