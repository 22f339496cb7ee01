"""Every exception sits in errors.py under one of the four branches, and a bad argument to the public API
is a ProvchainError (InputError), never a bare ValueError or TypeError."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from conftest import HOUR, T0, journey

from provchain import KeyPair, Ledger, proof, qr
from provchain import errors as E
from provchain.audit import audit_path
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
    with pytest.raises(E.InputError, match="roles"):
        DEFAULT_POLICY.check("origin", None, 5)  # type: ignore[arg-type]
    DEFAULT_POLICY.check("origin", None, ["origin"])


def test_ledger_entries_arguments(ledger: Ledger) -> None:
    assert [e.index for e in ledger.entries(0, 2)] == [0, 1]
    for start, end in [("a", None), (0, "b"), (-1, None), (0, -1), (True, None)]:
        with pytest.raises(E.InputError):
            list(ledger.entries(start, end))  # type: ignore[arg-type]


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
