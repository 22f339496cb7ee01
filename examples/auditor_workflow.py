"""An auditor's workflow: audit a ledger export, keep the checkpoint, audit again later, catch tampering.

    python examples/auditor_workflow.py OUTDIR

1. The operator hands over an export of its ledger; the auditor audits it against the pinned operator key and,
   the audit being clean, saves the checkpoint it established.
2. Weeks later the ledger has grown; the auditor audits the new export *since* the saved checkpoint: clean, and
   proven to extend what was audited before.
3. Someone edits a copy of the export (an appraisal upgraded); the audit names the entry and the check.
4. Someone hands over an older, shorter export (a rollback); the saved checkpoint exposes it.

Exits 0 when every audit gave the expected verdict.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provchain import KeyPair, Ledger
from provchain.audit import AuditReport, audit_path
from provchain.export import export_ledger

ORIGIN = "example.com/acme-ledger"
START = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)


def operator_side(out: Path) -> tuple[KeyPair, Path, KeyPair, KeyPair]:
    """The operator's ledger with two serums recorded, and its first export."""
    operator = KeyPair.generate(ORIGIN)
    maker, broker = KeyPair.generate("grasse-labs"), KeyPair.generate("shanghai-customs-broker")
    with Ledger.create(out / "ledger.db", origin=ORIGIN, operator=operator, at=START) as led:
        led.register_party(maker.name, ["origin"], maker.public_key, at=START, valid_from=START)
        led.register_party(broker.name, ["customs"], broker.public_key, at=START, valid_from=START)
        for n in (1, 2):
            led.append(f"SERUM-000{n}", "origin", maker, country="FR", data={"batch": "B-17"},
                       at=START + timedelta(hours=n))
        led.append("SERUM-0001", "import", broker, country="CN", data={"grade": "grade-b"},
                   at=START + timedelta(days=14))
        led.checkpoint()
    return operator, out / "ledger.db", maker, broker


def show(title: str, report: AuditReport) -> None:
    print(f"\n{title}")
    for line in report.summary().splitlines():
        print(f"   {line}")


def main(outdir: str | Path | None = None) -> int:
    out = Path(outdir) if outdir is not None else Path(tempfile.mkdtemp(prefix="provchain-audit-"))
    out.mkdir(parents=True, exist_ok=True)
    operator, ledger_path, maker, broker = operator_side(out)
    vkey = operator.vkey  # the auditor pins this, obtained from the operator out of band
    print(f"Auditing the ledger of {ORIGIN}; pinned operator key {vkey}")

    # 1. The first audit; keep the checkpoint it establishes.
    first = out / "ledger-1.export"
    export_ledger(ledger_path, first)
    report = audit_path(first, vkey)
    show(f"1. provchain audit {first.name} --operator VKEY --save-checkpoint audited.checkpoint", report)
    saved = out / "audited.checkpoint"
    if report.clean:
        saved.write_text(report.checkpoint_to_save)
        print(f"   saved the checkpoint of size {report.size} to {saved.name}")
    ok = report.clean

    # 2. Later: the ledger grew; audit the new export since the saved checkpoint.
    with Ledger.open(ledger_path, operator=operator) as led:
        led.append("SERUM-0002", "import", broker, country="CN", data={"grade": "grade-b"},
                   at=START + timedelta(days=15))
        led.append("SERUM-0003", "origin", maker, country="FR", at=START + timedelta(days=16))
        led.checkpoint()
    second = out / "ledger-2.export"
    export_ledger(ledger_path, second)
    report = audit_path(second, vkey, since=saved.read_bytes())
    show(f"2. provchain audit {second.name} --operator VKEY --since {saved.name}", report)
    ok &= report.clean and report.since is not None

    # 3. A tampered copy: an appraisal grade upgraded in the file.
    tampered = out / "tampered.export"
    tampered.write_bytes(second.read_bytes().replace(b"grade-b", b"grade-a", 1))
    report = audit_path(tampered, vkey, since=saved.read_bytes())
    show(f"3. provchain audit {tampered.name} --operator VKEY --since {saved.name}", report)
    ok &= any(f.check == "signature" and f.item == "SERUM-0001" for f in report.findings)

    # 4. A rollback: the older, shorter export handed over as if it were current, checked against a newer save.
    newer = out / "audited-2.checkpoint"
    newer.write_text(audit_path(second, vkey).checkpoint_to_save)
    report = audit_path(first, vkey, since=newer.read_bytes())
    show(f"4. provchain audit {first.name} --operator VKEY --since {newer.name}", report)
    ok &= any(f.check == "since" for f in report.findings)

    print("\nOK: clean where genuine, findings where tampered or rolled back" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
