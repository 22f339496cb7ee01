"""Witnessed item codes: made from stored cosigned checkpoints, refused without a quorum, a forked operator
caught, the witness options of ``code`` and ``scan``, and hostile cosignature arrays."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import HOUR, ORIGIN, T0, journey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from witnessing import COSIGNED_AT, cosign, policy, store_cosigned, two_forks, witness_keys

from provchain import base45, code, encoding, errors, qr
from provchain._internal.bundle import decode_bundle
from provchain.checkpoint import Checkpoint
from provchain.cli import cli
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import WitnessKey, WitnessPolicy, split_note

ITEM = "SERUM-0001"
ISSUED = T0 + 10 * HOUR
AT = T0 + 24 * HOUR
BASE = "https://verify.example/"


@pytest.fixture
def recorded(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    journey(ledger, parties, ITEM)
    return ledger


def _checkpoints(led: Ledger) -> int:
    return len(list(led.store.checkpoints()))


# --- making ---------------------------------------------------------------------------------------


def test_no_cosigned_checkpoint_refuses_and_signs_nothing(recorded: Ledger) -> None:
    with pytest.raises(errors.QuorumError, match=r"provchain checkpoint .*--witness"):
        code.make(recorded, ITEM, "witnessed", at=ISSUED)
    assert _checkpoints(recorded) == 0  # a witnessed profile never signs an un-witnessed checkpoint
    recorded.checkpoint()
    with pytest.raises(errors.QuorumError):
        code.make(recorded, ITEM, "witnessed", at=ISSUED)
    assert _checkpoints(recorded) == 1


def test_a_cosigned_checkpoint_that_precedes_the_head_does_not_do(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    ledger.append(ITEM, "origin", parties["origin"], country="FR", at=T0 + HOUR)
    store_cosigned(ledger, witness_keys())
    ledger.append(ITEM, "import", parties["customs"], country="CN", at=T0 + 2 * HOUR)
    with pytest.raises(errors.QuorumError):
        code.make(ledger, ITEM, "witnessed", at=ISSUED)


def test_the_latest_cosigned_checkpoint_is_used_and_a_later_bare_one_skipped(
    recorded: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    keys = witness_keys()
    store_cosigned(recorded, keys[:1], COSIGNED_AT)
    recorded.append("OTHER-1", "origin", parties["origin"], country="FR", at=T0 + 7 * HOUR)
    store_cosigned(recorded, keys, COSIGNED_AT + 60, recorded.checkpoint())  # a larger tree, cosigned by all
    recorded.append("OTHER-2", "origin", parties["origin"], country="FR", at=T0 + 8 * HOUR)
    recorded.checkpoint()  # the largest, not cosigned
    text = code.make(recorded, ITEM, "witnessed", at=ISSUED)
    report = code.verify(text, operator.vkey, at=AT, witnesses=policy(keys))
    assert report.tree_size == recorded.size - 1
    assert report.witnessed_at == COSIGNED_AT + 60 and len(report.witnesses) == 3
    assert _checkpoints(recorded) == 3


def test_with_a_policy_make_keeps_only_valid_trusted_cosignatures(recorded: Ledger, operator: KeyPair) -> None:
    w1, w2, w3 = witness_keys()
    note = recorded.checkpoint()
    text, _ = split_note(note)
    good = w1.cosign(text, COSIGNED_AT)
    bad = replace(w2.cosign(text, COSIGNED_AT), timestamp=COSIGNED_AT + 1)  # no longer verifies
    stranger = w3.cosign(text, COSIGNED_AT)
    recorded.store.add_checkpoint(recorded.size, note + (good.line() + bad.line() + stranger.line()).encode())
    trusting = policy([w1, w2], 1)
    made = code.make(recorded, ITEM, "witnessed", at=ISSUED, witnesses=trusting)
    assert [c.key_id for c in code.parse(made, ORIGIN).anchor.cosignatures] == [w1.key_id]
    assert [w.name for w in code.verify(made, operator.vkey, at=AT, witnesses=trusting).witnesses] == [w1.name]
    with pytest.raises(errors.QuorumError, match="cosignatures satisfying"):
        code.make(recorded, ITEM, "witnessed", at=ISSUED, witnesses=policy([w1, w2], 2))
    # Without a policy the maker cannot tell: every cosignature is carried, and w2's bad one is refused
    # by a verifier that trusts w2.
    carried = code.make(recorded, ITEM, "witnessed", at=ISSUED)
    assert len(code.parse(carried, ORIGIN).anchor.cosignatures) == 3
    with pytest.raises(errors.CosignatureError, match=r"witness\.example/w2"):
        code.verify(carried, operator.vkey, at=AT, witnesses=trusting)
    assert len(code.verify(carried, operator.vkey, at=AT, witnesses=policy([w1, w3])).witnesses) == 2


def test_make_refuses_a_policy_with_another_profile(recorded: Ledger) -> None:
    store_cosigned(recorded, witness_keys())
    with pytest.raises(errors.InputError, match="witnessed"):
        code.make(recorded, ITEM, "compact", at=ISSUED, witnesses=policy(witness_keys()))
    with pytest.raises(errors.InputError, match="WitnessPolicy"):
        code.make(recorded, ITEM, "witnessed", at=ISSUED, witnesses="w1")  # type: ignore[arg-type]


# --- verifying ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, BASE])
def test_quorum_counted_and_freshness_reported(recorded: Ledger, operator: KeyPair, url: str | None) -> None:
    keys = witness_keys()
    store_cosigned(recorded, keys)
    text = code.make(recorded, ITEM, "witnessed", at=ISSUED, url=url)
    report = code.verify(text, operator.vkey, at=AT, witnesses=policy(keys, 2))
    assert report.checks["inclusion_proof"] == report.checks["cosignatures"] == "ok"
    assert sorted(w.name for w in report.witnesses) == [k.name for k in keys]
    assert report.witness_age_ms == AT - COSIGNED_AT * 1000
    j = report.to_json()["witnesses"]
    assert j["policy"] == "2 of 3 in group witnesses" and j["carried"] == 3 and j["newest_s"] == COSIGNED_AT
    assert {c["key_id"] for c in j["cosignatures"]} == {k.key_id.hex() for k in keys}
    # A compact code of the same journey is refused where witnesses are required, and verifies elsewhere.
    compact = code.make(recorded, ITEM, at=ISSUED, url=url)
    with pytest.raises(errors.QuorumError, match="carries no witness cosignatures"):
        code.verify(compact, operator.vkey, at=AT, witnesses=policy(keys, 1))
    assert "witnesses" not in code.verify(compact, operator.vkey, at=AT).to_json()
    none = WitnessPolicy.parse(b"quorum none\n")
    assert code.verify(compact, operator.vkey, at=AT, witnesses=none).to_json()["witnesses"]["policy"] == (
        "no witnesses required"
    )


def test_cosignatures_dated_after_the_clock(recorded: Ledger, operator: KeyPair) -> None:
    keys = witness_keys(1)
    at_s = AT // 1000
    store_cosigned(recorded, keys, at_s + 86400)
    text = code.make(recorded, ITEM, "witnessed", at=ISSUED)
    report = code.verify(text, operator.vkey, at=AT, witnesses=policy(keys))
    assert report.witness_age_ms == -86400 * 1000
    with pytest.raises(errors.CosignatureError, match="after this device's clock"):
        code.verify(text, operator.vkey, at=AT - 1000, witnesses=policy(keys))


def test_a_group_policy_file(recorded: Ledger, operator: KeyPair, tmp_path: Path) -> None:
    w1, w2, w3 = witness_keys()
    store_cosigned(recorded, [w1, w3])
    text = code.make(recorded, ITEM, "witnessed", at=ISSUED)
    policy_text = (
        f"witness a {w1.vkey}\nwitness b {w2.vkey}\nwitness c {w3.vkey}\ngroup eu 1 a b\ngroup all 2 eu c\nquorum all\n"
    ).encode()
    report = code.verify(text, operator.vkey, at=AT, witnesses=WitnessPolicy.parse(policy_text))
    assert sorted(w.witness for w in report.witnesses) == ["a", "c"]
    strict = policy_text.replace(b"group eu 1", b"group eu 2")
    with pytest.raises(errors.QuorumError):
        code.verify(text, operator.vkey, at=AT, witnesses=WitnessPolicy.parse(strict))


def test_the_0x01_form_of_a_witness_key_counts_the_same(recorded: Ledger, operator: KeyPair) -> None:
    keys = witness_keys(1)
    store_cosigned(recorded, keys)
    text = code.make(recorded, ITEM, "witnessed", at=ISSUED)
    kp = KeyPair.from_seed(keys[0].name, bytes([0x41]) * 32)
    report = code.verify(text, operator.vkey, at=AT, witnesses=WitnessPolicy.from_witnesses([kp.vkey], 1))
    assert [w.key_id for w in report.witnesses] == [keys[0].key_id]


def test_a_forked_operator_cannot_anchor_fork_b_on_fork_a(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """The security point: a code binds its head to (size, root) only by the operator's signature, so a
    witnessed code must prove its head is in the cosigned tree. Fork B (same size, other verdict) with fork
    A's cosigned note stored in it: make cannot produce a code that verifies, and a hand-made one fails."""
    keys = witness_keys()
    a, b = two_forks(tmp_path, operator, parties, ITEM, ISSUED)
    assert a.size == b.size and a.root() != b.root()
    a_note = store_cosigned(a, keys)
    # The second fork gets no cosignatures: its own checkpoint is bare, so make refuses.
    b.checkpoint()
    with pytest.raises(errors.QuorumError):
        code.make(b, ITEM, "witnessed", at=ISSUED)
    # The operator stores fork A's cosigned note in fork B: the code it makes does not verify.
    b.store.add_checkpoint(a.size, a_note)
    with pytest.raises(errors.InclusionError):
        code.make(b, ITEM, "witnessed", at=ISSUED)
    # By hand: fork B's compact code given A's root, proof and cosignatures, signed by the operator.
    genuine = code.parse(code.make(a, ITEM, "witnessed", at=ISSUED), ORIGIN)
    forged = code.parse(code.make(b, ITEM, "compact", at=ISSUED), ORIGIN)
    anchor = replace(forged.anchor, root=genuine.anchor.root, proof=genuine.anchor.proof)
    anchor = replace(anchor, cosignatures=genuine.anchor.cosignatures)
    payload = code.sign_bundle(replace(forged, profile="witnessed", anchor=anchor), operator).payload()
    for witnesses in (None, policy(keys, 2)):
        with pytest.raises(errors.InclusionError):
            code.verify(payload, operator.vkey, at=AT, witnesses=witnesses)
    # Without the proof (a compact code on A's root) the signature alone would pass: that is why a
    # witnessed verifier refuses every code that carries no proof.
    bare = code.sign_bundle(replace(forged, anchor=replace(forged.anchor, root=genuine.anchor.root)), operator)
    assert code.verify(bare.payload(), operator.vkey, at=AT).root == genuine.anchor.root
    with pytest.raises(errors.QuorumError):
        code.verify(bare.payload(), operator.vkey, at=AT, witnesses=policy(keys, 1))
    a.close()
    b.close()


def test_witnessed_code_through_a_real_qr_image(recorded: Ledger, operator: KeyPair, tmp_path: Path) -> None:
    keys = witness_keys(2)
    store_cosigned(recorded, keys)
    for url in (None, BASE):
        text = code.make(recorded, ITEM, "witnessed", at=ISSUED, url=url)
        png = tmp_path / "w.png"
        png.unlink(missing_ok=True)
        qr.write(text, png)
        assert qr.read_image(png) == text
        assert len(code.verify(qr.read_image(png), operator.vkey, at=AT, witnesses=policy(keys)).witnesses) == 2


# --- hostile cosignature arrays -------------------------------------------------------------------


@pytest.fixture
def witnessed(recorded: Ledger) -> str:
    store_cosigned(recorded, witness_keys())
    return code.make(recorded, ITEM, "witnessed", at=ISSUED)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cosigs=st.lists(
        st.one_of(st.binary(min_size=70, max_size=80), st.integers(-(2**63), 2**64 - 1), st.text(max_size=3)),
        max_size=34,
    )
)
def test_fuzz_cosignature_arrays(witnessed: str, operator: KeyPair, cosigs: list[object]) -> None:
    """Any cosignature array: refused as malformed, or parsed into exactly what was written; never
    verified as witnessed by a trusted witness it was not signed by."""
    value = encoding.decode(base45.decode(witnessed[4:]))
    value[5][7] = cosigs
    payload = code.PREFIX + base45.encode(encoding.encode(value))
    try:
        bundle = code.parse(payload, ORIGIN)
    except errors.BundleFormatError:
        return
    assert bundle.payload() == payload
    assert [c.raw for c in bundle.anchor.cosignatures] == cosigs
    resigned = code.sign_bundle(bundle, operator).payload()
    with pytest.raises((errors.QuorumError, errors.CosignatureError)):
        code.verify(resigned, operator.vkey, at=AT, witnesses=policy(witness_keys(), 1))


def test_cosignature_form_rules(witnessed: str) -> None:
    value = encoding.decode(base45.decode(witnessed[4:]))
    cosigs = value[5][7]
    top = b"\x80" + b"\x00" * 7  # a timestamp of 2^63
    cases = {
        "sorted by key id": [cosigs[1], cosigs[0], cosigs[2]],
        "one per key id": [cosigs[0], cosigs[0]],
        "1 to 32": [],
        "76 bytes": [cosigs[0] + b"\x00"],
        "below 2^63": [cosigs[0][:4] + top + cosigs[0][12:]],
    }
    many = [bytes([i // 256, i % 256, 0, 0]) + bytes(72) for i in range(33)]
    for rule, array in [*cases.items(), ("1 to 32", many)]:
        value[5][7] = array
        with pytest.raises(errors.BundleFormatError) as info:
            decode_bundle(encoding.encode(value), ORIGIN)
        assert "cosignature" in str(info.value), rule
    value[5][7] = cosigs
    value[5] = value[5][:7]  # the anchor without its cosignature array
    with pytest.raises(errors.BundleFormatError, match="anchor"):
        code.parse(code.PREFIX + base45.encode(encoding.encode(value)), ORIGIN)


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli_setup(recorded: Ledger, operator: KeyPair, tmp_path: Path, ledger_path: Path) -> tuple[Path, Path]:
    store_cosigned(recorded, witness_keys())
    recorded.close()
    key = tmp_path / "operator.key"
    operator.save(key)
    return ledger_path, key


def _witness_args(keys: list[WitnessKey]) -> list[str]:
    return [arg for k in keys for arg in ("--witness", k.vkey)]


def test_cli_code_and_scan_with_witnesses(cli_setup: tuple[Path, Path], operator: KeyPair, tmp_path: Path) -> None:
    ledger, key = cli_setup
    keys = witness_keys()
    runner = CliRunner()
    png, compact = tmp_path / "w.png", tmp_path / "c.txt"
    made = runner.invoke(
        cli,
        [
            "code",
            str(ledger),
            ITEM,
            "-o",
            str(png),
            "--operator-key",
            str(key),
            "--profile",
            "witnessed",
            *_witness_args(keys),
            "--quorum",
            "2",
            "--at",
            "2025-10-09T18:53:20Z",
        ],
    )
    assert made.exit_code == 0, made.output
    at = "2025-10-10T08:53:20Z"
    scan = runner.invoke(cli, ["scan", str(png), "--operator", operator.vkey, "--at", at, *_witness_args(keys)])
    assert scan.exit_code == 0, scan.output
    assert "witnesses: 3 counted (3 of 3 in group witnesses)" in scan.output
    assert "cosigned 2025-10-09T17:13:20.000Z" in scan.output and "freshness:" in scan.output
    assert "VERIFIED" in scan.output
    as_json = runner.invoke(
        cli, ["scan", str(png), "--operator", operator.vkey, "--at", at, "--json", *_witness_args(keys[:1])]
    )
    assert json.loads(as_json.output)["witnesses"]["cosignatures"][0]["name"] == keys[0].name
    plain = runner.invoke(cli, ["scan", str(png), "--operator", operator.vkey, "--at", at])
    assert plain.exit_code == 0 and "3 witness cosignature(s), not checked" in plain.output
    policy_file = tmp_path / "policy.txt"
    policy_file.write_text(
        "".join(f"witness w{i} {k.vkey}\n" for i, k in enumerate(keys)) + "group g 2 w0 w1 w2\nquorum g\n"
    )
    by_policy = runner.invoke(
        cli, ["scan", str(png), "--operator", operator.vkey, "--at", at, "--policy", str(policy_file)]
    )
    assert by_policy.exit_code == 0 and "(2 of 3 in group g)" in by_policy.output
    # A compact code is refused where witnesses are required: exit 1.
    made = runner.invoke(cli, ["code", str(ledger), ITEM, "-o", str(compact), "--operator-key", str(key), "--at", at])
    assert made.exit_code == 0, made.output
    refused = runner.invoke(cli, ["scan", str(compact), "--operator", operator.vkey, "--at", at, *_witness_args(keys)])
    assert refused.exit_code == 1 and "REFUSED  QuorumError" in refused.output


def test_cli_witness_option_errors(cli_setup: tuple[Path, Path], operator: KeyPair, tmp_path: Path) -> None:
    ledger, key = cli_setup
    runner = CliRunner()
    text = tmp_path / "w.txt"
    keys = witness_keys()
    bad = [
        ["--quorum", "1"],
        ["--witness", "not-a-key"],
        [*_witness_args(keys), "--quorum", "4"],
        ["--witness", keys[0].vkey, "--policy", str(tmp_path / "p")],
        ["--policy", str(tmp_path / "missing")],
    ]
    code_text = code.make(Ledger.open(ledger, operator=KeyPair.load(key)), ITEM, "witnessed", at=ISSUED)
    for extra in bad:
        result = runner.invoke(cli, ["scan", code_text, "--operator", operator.vkey, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert "Traceback" not in result.output
    wrong = runner.invoke(
        cli, ["code", str(ledger), ITEM, "-o", str(text), "--operator-key", str(key), *_witness_args(keys)]
    )
    assert wrong.exit_code == 2 and "--profile witnessed" in wrong.output
    # No cosigned checkpoint satisfies the quorum: refused (exit 1), and nothing is written.
    fourth = WitnessKey.generate("witness.example/w4")
    result = runner.invoke(
        cli,
        [
            "code",
            str(ledger),
            ITEM,
            "-o",
            str(text),
            "--operator-key",
            str(key),
            "--profile",
            "witnessed",
            "--witness",
            fourth.vkey,
        ],
    )
    assert result.exit_code == 1 and "provchain checkpoint" in result.output and not text.exists()


def test_cosigned_note_round_trip_helper() -> None:
    """The test helper's notes are what a witness's cosignature line looks like (tlog-cosignature)."""
    key = witness_keys(1)[0]
    cp = Checkpoint(ORIGIN, 5, bytes(32))
    text = cp.format()
    fake_note = text + b"\n\xe2\x80\x94 " + ORIGIN.encode() + b" " + base64.b64encode(bytes(68)) + b"\n"
    cosigned = cosign(fake_note, [key])
    assert WitnessPolicy.from_witnesses([key.vkey]).verify_note(cosigned)[0] == text
