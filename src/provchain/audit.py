"""The auditor's replay: check every entry of a ledger file against nothing but the operator key.

:func:`audit_entries` replays a stream of entries in constant memory (apart from one small record per
item) and reports, per entry, what is not genuine: a body that is not canonical, a signature that does
not verify by the right key, a key that is unknown, revoked or outside its validity window, a role or a
stage order the policy in force does not allow, a broken item chain, a gap or repeat in the indices. It
recomputes the Merkle root as the entries stream past and compares it with every checkpoint the operator
signed and, given one, with a checkpoint the auditor saved before (rollback, truncation, rewritten
history). :func:`audit_path` does the same for a stored ledger: an SQLite file, a PostgreSQL database or a
portable export.

The rules are :class:`provchain.rules.Registry`'s, the very code that admits entries to a ledger; the
signatures go through :func:`provchain.keys.verify_signature`, the one strict Ed25519 verification of
provchain. The work on an entry that does not depend on the entries before it (hashing, parsing, the event
signature) is done in worker processes, in jobs of a few thousand entries; the main process keeps the
rules that do (registry, item chains, policy) and the tree. Operator entries are verified in the main
process before they take effect, so a forged registration never registers a key.

Findings do not cascade: an event that fails a check still becomes its item's head (so the next event
is judged against what is actually stored), and a chain break right after an entry whose signature
failed is not reported again (the altered entry is the finding).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._internal import replay as _replay
from ._internal.text import escape
from ._internal.validate import check_int, check_time
from .checkpoint import Checkpoint, open_checkpoint
from .entries import FORMAT_VERSION, Entry
from .errors import ExportFormatError, ForeignLedgerError, FormatError, InputError, VerificationError
from .keys import parse_vkey
from .note import new_verifier
from .rules import Registry
from .witness import Cosignature, WitnessPolicy

if TYPE_CHECKING:  # the stores and the export reader are imported by the functions that open them
    from .store.base import Store

__all__ = [
    "CHECKS",
    "AuditReport",
    "Finding",
    "NodeLookup",
    "Progress",
    "audit_entries",
    "audit_path",
    "read_saved_checkpoint",
]

Progress = Callable[[int, int | None], None]
"""``progress(done, total)``: called every few thousand entries (``total`` is None when unknown)."""

NodeLookup = _replay.NodeLookup
"""Reads stored Merkle nodes (such as :meth:`provchain.store.base.Store.nodes`)."""

CHECKS: dict[str, str] = _replay.CHECKS
"""Every check's name and what it asserts."""

_AUTO_INLINE_BELOW = 20000  # with workers=None, smaller ledgers are verified without a pool


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One thing found wrong: where (entry index, item), which check, what was expected and found."""

    index: int | None
    """The entry's index (None for findings about the whole tree or file)."""
    item: str | None
    """The item the entry belongs to, when it is an event that could be parsed."""
    check: str
    """The check that failed: a key of :data:`CHECKS`."""
    expected: str
    found: str
    message: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "index": self.index,
            "item": self.item,
            "check": self.check,
            "expected": self.expected,
            "found": self.found,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = f"entry {self.index}" if self.index is not None else "ledger"
        if self.item is not None:
            where += f" (item {self.item})"
        return f"{where}: {self.check}: {self.message}"


@dataclass(frozen=True)
class AuditReport:
    """The verdict of an audit. ``clean`` when there is no finding."""

    origin: str
    operator_vkey: str
    size: int
    """How many entries the ledger holds (all of them were checked)."""
    root: bytes
    """The Merkle root recomputed over all entries."""
    signatures_checked: int
    checkpoints_checked: int
    """Stored checkpoints whose signature and root were checked."""
    findings: tuple[Finding, ...]
    """The findings, by entry index, at most ``max_findings`` of them."""
    finding_count: int
    """How many findings there are in all (``findings`` may hold fewer)."""
    checkpoint_to_save: str
    """Checkpoint text to keep for the next audit's ``since``: the operator-signed note when one covers
    the whole ledger and matched, else the unsigned checkpoint text of the recomputed tree."""
    signed_checkpoint: str | None = None
    """The latest stored operator-signed checkpoint that verified and matched the recomputed tree."""
    since: Checkpoint | None = None
    """The auditor's saved checkpoint the ledger was compared with, if any."""
    workers: int = 1
    source: str = ""
    """What was audited (a path and its kind), for the summary."""
    findings_by_check: dict[str, int] = field(default_factory=dict)
    witness_policy: str | None = None
    """The witness policy the audit required (its one-line summary), or None."""
    cosignatures: tuple[Cosignature, ...] = ()
    """The valid cosignatures by trusted witnesses of :attr:`signed_checkpoint` that met the policy."""

    @property
    def clean(self) -> bool:
        """True when nothing was found wrong."""
        return self.finding_count == 0

    def summary(self, limit: int = 20) -> str:
        """A short human summary: the verdict, the counts, and the first ``limit`` findings."""
        lines = [f"Audit of {self.source or self.origin}", f"  origin      {self.origin}"]
        lines.append(f"  entries     {self.size} (signatures checked: {self.signatures_checked})")
        lines.append(f"  root        {self.root.hex()}")
        lines.append(f"  checkpoints {self.checkpoints_checked} checked")
        if self.since is not None:
            lines.append(f"  since       saved checkpoint at size {self.since.size}")
        if self.witness_policy is not None:
            lines.append(f"  witnesses   required: {self.witness_policy}")
            for c in self.cosignatures:
                lines.append(f"  cosigned    by {escape(c.name)} ({c.key_id.hex()}) at {_utc(c.timestamp)}")
        if self.clean:
            lines.append("Verdict: CLEAN - every entry, signature, chain link and checkpoint checks out.")
            return "\n".join(lines)
        per = ", ".join(f"{k} {v}" for k, v in sorted(self.findings_by_check.items()))
        lines.append(f"Verdict: {self.finding_count} FINDING(S) ({per})")
        for f in self.findings[:limit]:
            lines.append(f"  - {f}")
        if self.finding_count > min(limit, len(self.findings)):
            lines.append(f"  ... and {self.finding_count - min(limit, len(self.findings))} more (see --json)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "clean": self.clean,
            "source": self.source,
            "origin": self.origin,
            "operator": self.operator_vkey,
            "size": self.size,
            "root": self.root.hex(),
            "signatures_checked": self.signatures_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "since": None if self.since is None else {"size": self.since.size, "root": self.since.root.hex()},
            "finding_count": self.finding_count,
            "findings_by_check": dict(sorted(self.findings_by_check.items())),
            "findings": [f.to_json() for f in self.findings],
            "findings_truncated": self.finding_count > len(self.findings),
            "checkpoint_to_save": self.checkpoint_to_save,
            "signed_checkpoint": self.signed_checkpoint,
            "workers": self.workers,
            "witness_policy": self.witness_policy,
            "cosignatures": [
                {"witness": c.name, "key_id": c.key_id.hex(), "time": _utc(c.timestamp), "timestamp": c.timestamp}
                for c in self.cosignatures
            ],
        }


class _Findings:
    """The findings of one audit as the replay reports them: every one counted, the first ``limit`` kept."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept: list[Finding] = []
        self.count_by_check: collections.Counter[str] = collections.Counter()

    def record(self, index: int | None, item: str | None, check: str, expected: str, found: str, msg: str) -> None:
        self.count_by_check[check] += 1
        if len(self.kept) < self.limit:
            self.kept.append(Finding(index, item, check, expected, found, msg))


# --- the public functions -----------------------------------------------------------------------------


def read_saved_checkpoint(data: bytes, origin: str, operator_vkey: str) -> Checkpoint:
    """Parse a checkpoint the auditor saved: a signed note (its signature must verify by the operator) or
    the unsigned checkpoint text of an earlier :attr:`AuditReport.checkpoint_to_save`.

    Raises :class:`InputError` when it is neither, belongs to another ledger, or its signature fails.
    """
    if not isinstance(data, bytes):
        raise InputError("a saved checkpoint is bytes")
    try:
        if b"\n\n" in data:
            cp, _ = open_checkpoint(data, origin, new_verifier(operator_vkey))
        else:
            cp = Checkpoint.parse(data)
    except (FormatError, VerificationError) as exc:
        raise InputError(f"the saved checkpoint cannot be used: {exc}") from None
    if cp.origin != origin:
        raise InputError(f"the saved checkpoint is for ledger {cp.origin!r}, not {origin!r}")
    return cp


def audit_entries(
    entries: Iterable[Entry],
    operator_vkey: str,
    *,
    origin: str | None = None,
    checkpoints: Iterable[tuple[int, bytes]] = (),
    since: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    now: int | None = None,
    max_findings: int = 1000,
    expected_size: int | None = None,
    stored_nodes: NodeLookup | None = None,
    witnesses: WitnessPolicy | None = None,
) -> AuditReport:
    """Replay ``entries`` (in log order) and check everything; return the :class:`AuditReport`.

    ``operator_vkey`` is the pinned operator key; ``origin`` defaults to its name (a ledger's operator key
    is named after its origin). ``checkpoints`` are the stored ``(size, note)`` pairs to check; ``since``
    is a checkpoint the auditor saved (see :func:`read_saved_checkpoint`). ``workers`` processes hash,
    parse and verify the entries in jobs (default: every core, or 1 when ``expected_size`` is below
    20,000; 1 does it all in this process); the findings do not depend on it. ``now`` (ms) enables the check that no
    event is dated in the future. ``stored_nodes`` looks up a store's Merkle nodes, which are then
    compared with the recomputed ones. Only the first ``max_findings`` findings are kept (all are counted).
    With ``witnesses`` (a :class:`~provchain.witness.WitnessPolicy`), the latest stored checkpoint that
    matched must carry the cosignatures the policy requires; else a ``witness`` finding.
    """
    try:
        op_name, _, op_key = parse_vkey(operator_vkey)
    except FormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from None
    _check_options(workers, now, max_findings)
    origin = op_name if origin is None else origin
    saved = read_saved_checkpoint(since, origin, operator_vkey) if since is not None else None
    if workers is None:
        workers = os.cpu_count() or 1
        if expected_size is not None and expected_size < _AUTO_INLINE_BELOW:
            workers = 1
    found = _Findings(max_findings)
    replay = _replay.Replay(
        Registry(origin, op_name, op_key), now=now, workers=workers, nodes=stored_nodes, report=found.record
    )
    cps = _replay.CheckpointChecks(replay, origin, operator_vkey, checkpoints, saved)
    tick = None if progress is None else (lambda done: progress(done, expected_size))
    replay.start_pool()
    try:
        replay.run(_entries(entries), cps, tick)
    finally:
        replay.close()
    root = replay.tree.root()
    cps.finish(replay.tree.size)
    if progress is not None:
        progress(replay.tree.size, expected_size)
    tree_text = Checkpoint(origin, replay.tree.size, root).format().decode("utf-8")
    signed = cps.latest_note
    cosigs = _check_witnesses(witnesses, signed, now, found.record) if witnesses is not None else ()
    to_save = signed if signed is not None and cps.latest_size == replay.tree.size else tree_text
    findings = sorted(found.kept, key=lambda f: -1 if f.index is None else f.index)
    return AuditReport(
        origin=origin,
        operator_vkey=operator_vkey,
        size=replay.tree.size,
        root=root,
        signatures_checked=replay.signatures,
        checkpoints_checked=cps.checked,
        findings=tuple(findings),
        finding_count=sum(found.count_by_check.values()),
        checkpoint_to_save=to_save,
        signed_checkpoint=signed,
        since=saved,
        workers=workers,
        findings_by_check=dict(found.count_by_check),
        witness_policy=None if witnesses is None else witnesses.describe(),
        cosignatures=cosigs,
    )


def _check_witnesses(
    policy: WitnessPolicy, signed: str | None, now: int | None, record: Callable[..., None]
) -> tuple[Cosignature, ...]:
    """The cosignatures of the checkpoint that anchors the audit, or a ``witness`` finding."""
    if not isinstance(policy, WitnessPolicy):
        raise InputError("witnesses must be a WitnessPolicy")
    if not policy.requires_witnesses:
        return ()
    expected = f"a checkpoint cosigned by {policy.describe()}"
    if signed is None:
        record(None, None, "witness", expected, "no operator-signed checkpoint matched the ledger",
               "no stored checkpoint anchors the audit, so no witness vouches for this ledger")
        return ()
    try:
        _, cosigs = policy.verify_note(signed.encode("utf-8"), now=None if now is None else now // 1000)
    except (FormatError, VerificationError) as exc:
        record(None, None, "witness", expected, str(exc),
               f"the latest checkpoint is not witnessed as the policy requires: {exc}")
        return ()
    return tuple(cosigs)


def _utc(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):
        return f"{seconds} s after 1970"


def _entries(entries: Iterable[Entry]) -> Iterator[Entry]:
    """``entries``, each checked to be an :class:`Entry` (:class:`InputError` otherwise)."""
    if isinstance(entries, str | bytes) or not isinstance(entries, Iterable):
        raise InputError("entries must be an iterable of Entry objects")
    for entry in entries:
        if not isinstance(entry, Entry):
            raise InputError(f"entries must be Entry objects, not {type(entry).__name__}")
        yield entry


def _check_options(workers: int | None, now: int | None, max_findings: int) -> None:
    """Refuse an audit option of the wrong type or range before any work (:class:`InputError`)."""
    if workers is not None:
        check_int(workers, "workers", InputError, 1)
    if now is not None:
        check_time(now, "now", InputError)
    check_int(max_findings, "max_findings", InputError, 0)


def audit_path(
    path: str | os.PathLike[str],
    operator_vkey: str,
    *,
    since: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    now: int | None = None,
    max_findings: int = 1000,
    witnesses: WitnessPolicy | None = None,
) -> AuditReport:
    """Audit a ledger: an SQLite ledger file or a portable export (told apart by their first bytes), a
    ledger in PostgreSQL (a ``postgresql://`` URL, opened read-only), or a published log, a directory or an
    ``http(s)://`` URL (:func:`provchain.tlog.audit_tiles`).

    The options are those of :func:`audit_entries`.

    Raises :class:`~provchain.errors.LedgerNotFoundError` when there is no file,
    :class:`~provchain.errors.ForeignLedgerError` when it is neither kind of ledger file, and
    :class:`~provchain.errors.ExportFormatError` when an export is malformed or truncated. Everything the
    replay finds wrong is in the report.
    """
    try:
        parse_vkey(operator_vkey)
    except FormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from None
    _check_options(workers, now, max_findings)
    from .tlog.audit import audit_tiles, is_published_log

    if is_published_log(path):
        return audit_tiles(
            path,
            operator_vkey,
            since=since,
            workers=workers,
            progress=progress,
            now=now,
            max_findings=max_findings,
            witnesses=witnesses,
        )
    from .export import MAGIC
    from .store import is_database_url, ledger_location

    kwargs: dict[str, Any] = {
        "since": since, "workers": workers, "progress": progress, "now": now, "max_findings": max_findings,
        "witnesses": witnesses,
    }
    where = ledger_location(path)
    if isinstance(where, str) and is_database_url(where):
        return _audit_database(where, operator_vkey, kwargs)
    from .store.sqlite import SQLITE_MAGIC, read_magic

    p = Path(where)
    head = read_magic(p)
    if head == SQLITE_MAGIC:
        return _audit_sqlite(p, operator_vkey, kwargs)
    if head.startswith(MAGIC[:8]):
        return _audit_export(p, operator_vkey, kwargs)
    raise ForeignLedgerError(f"{p} is not a provchain ledger (neither an SQLite ledger nor an export)")


def _meta_findings(origin: str, vkey: str, pinned: str) -> list[Finding]:
    name = parse_vkey(pinned)[0]
    out = []
    if vkey != pinned:
        out.append(Finding(None, None, "ledger-meta", pinned, vkey, "the file names another operator key than the "
                           "pinned one (the pinned key is used)"))
    if origin != name:
        out.append(Finding(None, None, "ledger-meta", name, origin, "the file names another origin than the "
                           "pinned operator key's (the key's name is used)"))
    return out


_PROBLEM_CHECKS = {
    "schema": ("schema", "only the tables and indexes provchain creates"),
    "index": ("sql-index", "every index entry computed from the row it indexes"),
    "node": ("merkle-node", "only the tree's own nodes"),
}


def _storage_findings(store: Store, size: int) -> list[Finding]:
    """What the storage holds beside the signed entries that disagrees with them, from a store that can
    tell (:class:`~provchain.store.base.AuditableStorage`; the SQLite store: schema objects provchain did
    not create, index entries that differ from what the bodies give, tree rows the ledger does not have)."""
    from .store.base import AuditableStorage

    if not isinstance(store, AuditableStorage):
        return []
    out = []
    for problem in store.storage_problems(size):
        check, expected = _PROBLEM_CHECKS[problem.kind]
        out.append(Finding(problem.entry, None, check, expected, problem.found, problem.message))
    return out


def _with_findings(report: AuditReport, extra: list[Finding], max_findings: int) -> AuditReport:
    if not extra:
        return report
    counts = dict(report.findings_by_check)
    for f in extra:
        counts[f.check] = counts.get(f.check, 0) + 1
    findings = (tuple(extra) + report.findings)[: max(max_findings, len(extra))]
    return replace(
        report, findings=findings, finding_count=report.finding_count + len(extra), findings_by_check=counts
    )


def _audit_sqlite(p: Path, operator_vkey: str, kwargs: dict[str, Any]) -> AuditReport:
    from .store import open_store_for_audit

    report, extra = _audit_store(open_store_for_audit(p), os.fspath(p), operator_vkey, kwargs)
    report = replace(report, source=f"{p} (SQLite ledger)")
    return _with_findings(report, extra, kwargs["max_findings"])


def _audit_database(url: str, operator_vkey: str, kwargs: dict[str, Any]) -> AuditReport:
    from .store import display_location, open_store_for_audit

    shown = display_location(url)
    report, extra = _audit_store(open_store_for_audit(url), shown, operator_vkey, kwargs)
    report = replace(report, source=f"{shown} (PostgreSQL ledger)")
    return _with_findings(report, extra, kwargs["max_findings"])


def _audit_store(
    store: Store, shown: str, operator_vkey: str, kwargs: dict[str, Any]
) -> tuple[AuditReport, list[Finding]]:
    # In one read transaction: what other writers commit meanwhile is not seen, so the stored nodes and
    # the entries always describe the same ledger. The store is closed here.
    try:
        with store.snapshot():
            meta = store.meta()
            if meta.format != FORMAT_VERSION:
                raise ForeignLedgerError(
                    f"{shown} is a ledger of format {meta.format}; this provchain audits format {FORMAT_VERSION}"
                )
            extra = _meta_findings(meta.origin, meta.operator_vkey, operator_vkey)
            size = store.size()
            extra += _storage_findings(store, size)
            report = audit_entries(
                store.entries(0, size),
                operator_vkey,
                checkpoints=list(store.checkpoints()),
                expected_size=size,
                stored_nodes=store.nodes,
                **kwargs,
            )
    finally:
        store.close()
    return report, extra


def _audit_export(p: Path, operator_vkey: str, kwargs: dict[str, Any]) -> AuditReport:
    from .export import ExportReader

    with ExportReader.open(p) as reader:
        h = reader.header
        extra = _meta_findings(h.origin, h.operator_vkey, operator_vkey)
        report = audit_entries(
            reader.entries(), operator_vkey, checkpoints=reader.checkpoints, expected_size=h.entries, **kwargs
        )
        trailer = reader.trailer
    if trailer is None:  # pragma: no cover - entries() raises before that
        raise ExportFormatError(f"{p}: the export has no trailer")
    if trailer.root != report.root:
        extra.append(
            Finding(
                None, None, "export-trailer", report.root.hex(), trailer.root.hex(),
                "the export's trailer states another root than its entries give (the file was changed after "
                "it was written)",
            )
        )
    report = replace(report, source=f"{p} (export)")
    return _with_findings(report, extra, kwargs["max_findings"])
