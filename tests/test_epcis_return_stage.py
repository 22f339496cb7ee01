"""The return stage of the default policy (issue #17, item 0): in the ledger, the codes (Python and the JS
verifier), and the audit; and the codes made before it keep their meaning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import HOUR, T0, journey
from test_js_verifier import compare
from witnessing import store_cosigned, witness_keys

from provchain import code, errors
from provchain.audit import audit_path
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.policy import DEFAULT_CODE_STAGES, DEFAULT_POLICY, Policy
from provchain.tlog import publish

BEFORE = Path(__file__).parent / "vectors" / "code" / "before-return"
AT = T0 + 40 * HOUR
RETURNED = ["return", "warehouse", "appraisal", "delivery", "return", "appraisal"]


def _returned(ledger: Ledger, parties: dict[str, KeyPair], item: str) -> None:
    """The six-event journey, then a return to a warehouse, a new stay, a new appraisal and a new delivery,
    then a return by the courier followed at once by an appraisal."""
    journey(ledger, parties, item)
    steps = [
        ("return", "warehouse", "Hangzhou bonded zone WH3", {"reason": "7-day return"}),
        ("warehouse", "warehouse", "Hangzhou bonded zone WH3", {"bin": "R-02"}),
        ("appraisal", "appraiser", "Hangzhou", {"verdict": "genuine"}),
        ("delivery", "courier", "Shenzhen", {"waybill": "SF99"}),
        ("return", "courier", "Shenzhen", {}),
        ("appraisal", "appraiser", "Hangzhou", {"verdict": "genuine"}),
    ]
    for n, (stage, role, place, data) in enumerate(steps):
        ledger.append(item, stage, parties[role], country="CN", place=place, data=data, at=T0 + (10 + n) * HOUR)


def test_default_policy_adds_return_after_delivery_only() -> None:
    rule = DEFAULT_POLICY.rule("return")
    assert rule.roles == {"courier", "warehouse"} and rule.after == {"delivery"} and not rule.start
    assert "return" in DEFAULT_POLICY.rule("appraisal").after and "return" in DEFAULT_POLICY.rule("warehouse").after
    assert "return" not in DEFAULT_POLICY.rule("delivery").after  # a return is followed by a stay, not a delivery
    assert DEFAULT_POLICY.terminal == frozenset()


def test_code_stage_list_keeps_old_indices() -> None:
    # The six stages keep the indices they had when the list was the sorted names; return comes last.
    old = sorted(["origin", "export", "import", "warehouse", "appraisal", "delivery"])
    assert DEFAULT_POLICY.code_stages[:6] == old and DEFAULT_POLICY.code_stages[6] == "return"
    assert list(DEFAULT_CODE_STAGES) == DEFAULT_POLICY.code_stages
    custom = Policy.build({"b": (["x"], [], True), "a": (["x"], ["b"], False)})
    assert custom.code_stages == ["a", "b"]


def test_ledger_records_a_return_and_what_follows(ledger: Ledger, parties: dict[str, KeyPair]) -> None:
    _returned(ledger, parties, "BAG-R")
    stages = [e.stage for e in ledger.history("BAG-R")]
    assert stages[6:] == RETURNED


@pytest.mark.parametrize(
    ("before", "stage", "role", "error", "words"),
    [
        (["origin"], "return", "courier", errors.StageOrderError, "may not follow 'origin'"),
        (["delivery"], "return", "appraiser", errors.RoleError, "needs the role courier or warehouse"),
        (["delivery", "return"], "return", "courier", errors.StageOrderError, "may not follow 'return'"),
        (["delivery", "return"], "delivery", "courier", errors.StageOrderError, "after 'return' comes: appraisal"),
    ],
)
def test_return_is_refused_out_of_place(
    ledger: Ledger,
    parties: dict[str, KeyPair],
    before: list[str],
    stage: str,
    role: str,
    error: type[Exception],
    words: str,
) -> None:
    roles = {"origin": "origin", "delivery": "courier", "return": "warehouse"}
    if before == ["origin"]:
        ledger.append("X", "origin", parties["origin"], country="FR", at=T0 + HOUR)
    else:
        journey(ledger, parties, "X")
        for n, s in enumerate(before[1:]):
            ledger.append("X", s, parties[roles[s]], country="CN", at=T0 + (10 + n) * HOUR)
    size = ledger.size
    with pytest.raises(error, match=words):
        ledger.append("X", stage, parties[role], country="CN", at=T0 + 20 * HOUR)
    assert ledger.size == size


@pytest.mark.parametrize("url", [None, "https://verify.example/"])
@pytest.mark.parametrize("profile", code.PROFILES)
def test_codes_show_the_return_in_python_and_js(
    ledger: Ledger,
    parties: dict[str, KeyPair],
    operator: KeyPair,
    profile: str,
    url: str | None,
    ledger_path: Path,
    tmp_path: Path,
) -> None:
    _returned(ledger, parties, "BAG-R")
    witnesses = None
    if profile.startswith("witnessed"):  # a witnessed code needs a cosigned checkpoint that holds the head
        keys = witness_keys(1)
        ledger.checkpoint()
        store_cosigned(ledger, keys)
        witnesses = {"keys": [k.vkey for k in keys], "quorum": 1}
    payload = code.make(ledger, "BAG-R", profile, at=AT, url=url)
    publish(ledger_path, tmp_path / "log")  # where a witnessed-published code's proof is read
    report = code.verify(payload, operator.vkey, at=AT, log=tmp_path / "log")
    assert [e.stage for e in report.events][6:] == RETURNED
    bad, verdicts = compare([(payload, operator.vkey, AT, witnesses, str(tmp_path / "log"))])
    assert bad == [] and verdicts == {"VERIFIED": 1}


@pytest.mark.parametrize("path", sorted(BEFORE.glob("*.json")), ids=lambda p: p.stem)
def test_codes_made_before_the_return_stage_keep_their_meaning(path: Path) -> None:
    """Valid codes made by the six-stage default policy, stored before the change: both verifiers give the
    report they gave then (the same stage names at the same indices)."""
    v = json.loads(path.read_text(encoding="utf-8"))
    report = code.verify(v["payload"], v["operator_vkey"], at=v["at"])
    assert report.to_json() == v["want_report"]
    bad, verdicts = compare([(v["payload"], v["operator_vkey"], v["at"], None)])
    assert bad == [] and verdicts == {"VERIFIED": 1}


def test_audit_of_a_ledger_with_returns_is_clean(
    ledger: Ledger, ledger_path: Path, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    _returned(ledger, parties, "BAG-R")
    ledger.checkpoint()
    ledger.close()
    report = audit_path(ledger_path, operator.vkey, workers=1, now=AT)
    assert report.clean, report.findings
