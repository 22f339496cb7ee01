"""Every exception sits in errors.py under one of the four branches, and a bad argument to the public API
is a ProvchainError (InputError), never a bare ValueError or TypeError."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from conftest import HOUR, T0, journey

from provchain import KeyPair, Ledger, base45, code, merkle, proof, qr
from provchain import errors as E
from provchain.audit import audit_entries, audit_path
from provchain.entries import ms_to_iso, sign_body
from provchain.policy import DEFAULT_POLICY, Policy, check_stage_name

BRANCHES = (E.FormatError, E.VerificationError, E.InputError, E.LedgerError)


def test_every_error_is_listed_and_in_exactly_one_branch() -> None:
    defined = {n for n, v in vars(E).items() if inspect.isclass(v) and issubclass(v, Exception)}
    assert defined == set(E.__all__)
    for name in E.__all__:
        cls = getattr(E, name)
        if cls is E.ProvchainError or cls in BRANCHES:
            continue
        assert sum(issubclass(cls, b) for b in BRANCHES) == 1, name


def test_proof_format_error_is_the_one_in_errors() -> None:
    assert proof.ProofFormatError is E.ProofFormatError
    assert issubclass(E.ProofFormatError, E.FormatError)
    with pytest.raises(E.ProofFormatError):
        proof.parse_tlog_proof(b"not a proof")


def test_stage_names_bad_argument_or_refusal() -> None:
    assert issubclass(E.StageNameError, E.InputError) and not issubclass(E.StageNameError, E.VerificationError)
    assert check_stage_name("warehouse") == "warehouse"
    for bad in ["Bad Stage!", "", "1st", "a" * 33, "Origin", 5, None]:
        with pytest.raises(E.StageNameError):
            check_stage_name(bad)
        with pytest.raises(E.StageNameError):
            DEFAULT_POLICY.rule(bad)  # type: ignore[arg-type]
    with pytest.raises(E.StageError, match="unknown stage 'teleport'"):
        DEFAULT_POLICY.rule("teleport")
    with pytest.raises(E.StageNameError):
        DEFAULT_POLICY.rule(["origin"])  # type: ignore[arg-type]


def test_policy_arguments() -> None:
    with pytest.raises(E.EncodingError):
        Policy.build({"a": 5})  # type: ignore[dict-item]
    with pytest.raises(E.EncodingError):
        Policy.build(5)  # type: ignore[arg-type]
    for stages in [5, "x", {"a": 5}]:
        with pytest.raises(E.EncodingError):
            Policy(stages)  # type: ignore[arg-type]
    with pytest.raises(E.InputError, match="roles"):
        DEFAULT_POLICY.check("origin", None, 5)  # type: ignore[arg-type]
    DEFAULT_POLICY.check("origin", None, ["origin"])


def test_ledger_index_arguments(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    assert [e.index for e in ledger.entries(0, 2)] == [0, 1]
    for start, end in [("a", None), (0, "b"), (-1, None), (0, -1), (True, None), (2**64, None), (0, 2**63)]:
        with pytest.raises(E.InputError):
            list(ledger.entries(start, end))  # type: ignore[arg-type]
    for index in [2**63, 2**64, -1, "0"]:
        with pytest.raises(E.InputError):
            ledger.entry(index)  # type: ignore[arg-type]
    with pytest.raises(E.ItemError):  # refused before the store is asked for the item's head
        ledger.append("\ud800", "origin", parties["origin"], country="FR")


def test_audit_options(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path, operator: KeyPair) -> None:
    journey(ledger, parties, "BAG-A", start=T0 + HOUR)
    ledger.close()
    assert audit_path(ledger_path, operator.vkey, workers=1, now=T0 + 100 * HOUR, max_findings=0).clean
    for bad in [{"workers": "2"}, {"workers": 0}, {"now": "x"}, {"now": -1}, {"max_findings": "x"}]:
        with pytest.raises(E.InputError):
            audit_path(ledger_path, operator.vkey, **bad)  # type: ignore[arg-type]


def test_a_path_of_the_wrong_type_is_an_input_error(tmp_path: Path, operator: KeyPair) -> None:
    for call in [
        lambda: Ledger.open(5),
        lambda: Ledger.create(5, origin=operator.name, operator=operator),
        lambda: KeyPair.load(5),
        lambda: operator.save(b"key"),
        lambda: qr.read_image(5),
        lambda: qr.write("PC1:AB", 5),
        lambda: audit_path(5, operator.vkey),
    ]:
        with pytest.raises(E.InputError, match="must be a file path"):
            call()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("name", ["\ud800.key", "a\x00b.key"])
def test_a_path_the_system_cannot_take_is_an_input_error(tmp_path: Path, operator: KeyPair, name: str) -> None:
    with pytest.raises(E.InputError, match="not a file name"):
        KeyPair.load(tmp_path / name)
    with pytest.raises(E.InputError, match="not a file name"):
        operator.save(str(tmp_path) + "/" + name)


def test_low_level_arguments() -> None:
    with pytest.raises(E.InputError):
        merkle.fold([])
    with pytest.raises(E.InputError):
        merkle.fold([b"short"])
    with pytest.raises(E.InputError):
        merkle.range_hash(0, 1, 5)  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        merkle.assemble([[5]], lambda level, index: bytes(32))  # type: ignore[list-item]
    assert merkle.assemble([[(0, 0)]], lambda level, index: bytes(32)) == [bytes(32)]
    for bad in [None, "AB"]:
        with pytest.raises(E.InputError):
            base45.encode(bad)  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        base45.decode(b"AB")  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        ms_to_iso("0")  # type: ignore[arg-type]
    with pytest.raises(E.InputError):
        sign_body(None, KeyPair.from_seed("a", bytes(32)))  # type: ignore[arg-type]


def test_audit_entries_must_be_entries(operator: KeyPair) -> None:
    for entries in [5, [b"body"], "x"]:
        with pytest.raises(E.InputError):
            audit_entries(entries, operator.vkey, workers=1)  # type: ignore[arg-type]


def test_code_arguments(operator: KeyPair) -> None:
    with pytest.raises(E.InputError, match="Ledger"):
        code.make(None, "ITEM")  # type: ignore[arg-type]
    with pytest.raises(E.InputError, match="Bundle"):
        code.sign_bundle(None, operator)  # type: ignore[arg-type]
