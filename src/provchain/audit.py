"""The auditor's replay: check every entry of a ledger file against nothing but the operator key.

:func:`audit_entries` replays a stream of entries in constant memory (apart from one small record per
item) and reports, per entry, what is not genuine: a body that is not canonical, a signature that does
not verify by the right key, a key that is unknown, revoked or outside its validity window, a role or a
stage order the policy in force does not allow, a broken item chain, a gap or repeat in the indices. It
recomputes the Merkle root as the entries stream past and compares it with every checkpoint the operator
signed and, given one, with a checkpoint the auditor saved before (rollback, truncation, rewritten
history). :func:`audit_path` does the same for a ledger file: the SQLite database or a portable export.

The rules are :class:`provchain.rules.Registry`'s, the very code that admits entries to a ledger; the
signatures go through :func:`provchain.keys.verify_signature`, the one strict Ed25519 verification of
provchain. Event signatures are checked in worker processes, in chunks, while the main process parses
and judges; operator entries are verified in the main process before they take effect, so a forged
registration never registers a key.

Findings do not cascade: an event that fails a check still becomes its item's head (so the next event
is judged against what is actually stored), and a chain break right after an entry whose signature
failed is not reported again (the altered entry is the finding).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .checkpoint import Checkpoint, open_checkpoint
from .entries import ENTRY_DOMAIN, Body, Entry, Event, decode_body, leaf_hash_of, ms_to_iso
from .errors import (
    ChainError,
    EncodingError,
    ExpiredKeyError,
    ExportFormatError,
    ForeignLedgerError,
    FormatError,
    InputError,
    OperatorKeyError,
    OriginError,
    PolicyError,
    ProvchainError,
    RevokedKeyError,
    RoleError,
    SignatureError,
    StageError,
    StageOrderError,
    TimeError,
    UnknownKeyError,
    VerificationError,
)
from .export import MAGIC, ExportReader, MerkleFrontier
from .keys import parse_vkey, verify_signature
from .note import new_verifier
from .rules import CLOCK_TOLERANCE_MS, Head, Registry
from .store.base import NodeKey
from .store.sqlite import SQLITE_MAGIC, read_magic

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

NodeLookup = Callable[[Sequence[NodeKey]], dict[NodeKey, bytes]]
"""Reads stored Merkle nodes (such as :meth:`provchain.store.base.Store.nodes`)."""

CHECKS: dict[str, str] = {
    "index": "entries are numbered 0, 1, 2, ... without gap, repeat or reordering",
    "encoding": "the body is a canonical, well-formed entry",
    "origin": "the entry belongs to this ledger",
    "operator-key": "registrations, revocations and policies are signed by the operator key",
    "unknown-key": "the signer's key is registered in the ledger",
    "revoked-key": "the signer's key is not revoked",
    "key-validity": "the event lies inside its key's validity window",
    "registration": "a registration names a new, acceptable key",
    "policy": "a journey policy is in force",
    "stage": "the stage is defined by the policy",
    "role": "the signer holds a role that may record the stage",
    "stage-order": "the stage may follow the item's previous stage",
    "chain": "the event's prev is the leaf hash of the item's previous entry",
    "time": "events are in time order and not in the future",
    "signature": "the Ed25519 signature verifies (strictly) by the signer's key",
    "leaf-hash": "the stored leaf hash is the hash of the stored body",
    "merkle-node": "the stored Merkle tree node is the hash of its children",
    "checkpoint-signature": "a stored checkpoint is signed by the operator for this ledger",
    "checkpoint": "a stored checkpoint's root is the recomputed root at its size",
    "since": "the ledger extends the checkpoint the auditor saved",
    "ledger-meta": "the file's own description names the pinned operator and origin",
    "export-trailer": "an export's trailer states the recomputed root",
}
"""Every check's name and what it asserts."""

_EXCEPTION_CHECKS: tuple[tuple[type[Exception], str], ...] = (
    (EncodingError, "encoding"),
    (OriginError, "origin"),
    (OperatorKeyError, "operator-key"),
    (UnknownKeyError, "unknown-key"),
    (RevokedKeyError, "revoked-key"),
    (ExpiredKeyError, "key-validity"),
    (RoleError, "role"),
    (StageOrderError, "stage-order"),
    (StageError, "stage"),
    (PolicyError, "policy"),
    (ChainError, "chain"),
    (TimeError, "time"),
    (SignatureError, "signature"),
    (VerificationError, "registration"),
)

_CHUNK = 4000  # entries per signature job sent to a worker
_INFLIGHT_PER_WORKER = 3  # jobs queued per worker: enough to keep it busy, few enough for flat memory
_NODE_BATCH = 8192  # Merkle nodes compared with the store per lookup
_PROGRESS_EVERY = 2000
_AUTO_INLINE_BELOW = 20000  # with workers=None, smaller ledgers are verified without a pool
_HEAD = struct.Struct(">Q32sQH?")  # index, leaf hash, time, stage number, altered


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
        }


# --- signatures in worker processes -----------------------------------------------------------------


def _verify_chunk(jobs: list[tuple[int, bytes, bytes, bytes]]) -> list[tuple[int, str]]:
    """Verify ``(index, public key, body, signature)`` jobs; return ``(index, reason)`` of the failures."""
    bad = []
    for index, public_key, body, signature in jobs:
        try:
            verify_signature(public_key, ENTRY_DOMAIN + body, signature)
        except SignatureError as exc:
            bad.append((index, str(exc)))
    return bad


@dataclass
class _Job:
    future: Future[list[tuple[int, str]]]
    meta: list[tuple[int, str, str]]  # index, item, signer description


# --- the replay -------------------------------------------------------------------------------------


def _check_of(exc: Exception) -> str:
    for cls, name in _EXCEPTION_CHECKS:
        if isinstance(exc, cls):
            return name
    return "registration"  # pragma: no cover - every VerificationError matches above


class _Replay:
    """The state of one audit: registry, item heads, Merkle frontier, pending signature jobs, findings."""

    def __init__(
        self,
        registry: Registry,
        *,
        now: int | None,
        max_findings: int,
        workers: int,
        nodes: NodeLookup | None,
    ) -> None:
        self.reg = registry
        self.now = now
        self.max_findings = max_findings
        self.findings: list[Finding] = []
        self.count_by_check: collections.Counter[str] = collections.Counter()
        self.tree = MerkleFrontier()
        self.expected_index = 0
        self.heads: dict[str, bytes] = {}
        self.stage_names: list[str] = []
        self.stage_ids: dict[str, int] = {}
        self.signatures = 0
        # Merkle node check against the store
        self.nodes = nodes
        self.node_buffer: list[tuple[NodeKey, bytes]] = []
        self.bad_nodes: set[NodeKey] = set()
        # worker pool
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.batch: list[tuple[int, bytes, bytes, bytes]] = []
        self.batch_meta: list[tuple[int, str, str]] = []
        self.jobs: collections.deque[_Job] = collections.deque()
        self.inflight: set[int] = set()
        self.deferred: dict[int, list[Finding]] = {}

    # findings ----------------------------------------------------------------------------------

    def add(self, finding: Finding) -> None:
        self.count_by_check[finding.check] += 1
        if len(self.findings) < self.max_findings:
            self.findings.append(finding)

    def finding(self, index: int | None, item: str | None, check: str, expected: str, found: str, msg: str) -> None:
        self.add(Finding(index, item, check, expected, found, msg))

    # item heads (packed: about 100 bytes per item) -----------------------------------------------

    def head(self, item: str) -> tuple[Head | None, bool]:
        packed = self.heads.get(item)
        if packed is None:
            return None, False
        index, leaf, at, stage, altered = _HEAD.unpack(packed)
        return Head(index, leaf, self.stage_names[stage], at), altered

    def set_head(self, item: str, index: int, leaf: bytes, stage: str, at: int, altered: bool = False) -> None:
        sid = self.stage_ids.get(stage)
        if sid is None:
            sid = self.stage_ids[stage] = len(self.stage_names)
            self.stage_names.append(stage)
        self.heads[item] = _HEAD.pack(index, leaf, at, sid, altered)

    def mark_altered(self, item: str, index: int) -> None:
        packed = self.heads.get(item)
        if packed is not None:
            h_index, leaf, at, sid, _ = _HEAD.unpack(packed)
            if h_index == index:
                self.heads[item] = _HEAD.pack(h_index, leaf, at, sid, True)

    # the Merkle tree -------------------------------------------------------------------------------

    def grow(self, leaf: bytes) -> None:
        position = self.tree.size
        parents = self.tree.append(leaf)
        if self.nodes is None:
            return
        buf = self.node_buffer
        buf.append(((0, position), leaf))
        for level, i, h in parents:
            buf.append(((level, i), h))
        if len(buf) >= _NODE_BATCH:
            self.flush_nodes()

    def stop_node_check(self) -> None:
        self.nodes = None
        self.node_buffer.clear()

    def flush_nodes(self) -> None:
        if self.nodes is None or not self.node_buffer:
            return
        buf, self.node_buffer = self.node_buffer, []
        stored = self.nodes([k for k, _ in buf])
        bad = self.bad_nodes
        for key, computed in buf:
            level, i = key
            children_bad = False
            if level:
                for child in ((level - 1, 2 * i), (level - 1, 2 * i + 1)):
                    if child in bad:
                        bad.discard(child)
                        children_bad = True
            have = stored.get(key)
            if have == computed:
                continue
            bad.add(key)
            if children_bad:
                continue  # the difference comes from below, already reported
            first = i << level
            shown = "missing" if have is None else have.hex()
            if level == 0:
                self.finding(
                    i, None, "leaf-hash", computed.hex(), shown,
                    f"the stored leaf hash of entry {i} is not the hash of its body",
                )
            else:
                self.finding(
                    first, None, "merkle-node", computed.hex(), shown,
                    f"stored Merkle node (level {level}, index {i}) over entries {first}.."
                    f"{first + (1 << level) - 1} is not the hash of its children",
                )

    # signatures ------------------------------------------------------------------------------------

    def start_pool(self) -> None:
        if self.workers > 1:
            # fork: fast to start, and needs no "if __name__ == '__main__'" guard in the caller's script;
            # the worker function is importable, so spawn works where fork does not exist.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if sys.platform == "linux" and "fork" in methods else "spawn")
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)

    def verify_event(self, index: int, item: str, who: str, public_key: bytes, entry: Entry) -> None:
        self.signatures += 1
        if self.pool is None:
            try:
                verify_signature(public_key, ENTRY_DOMAIN + entry.body, entry.signature)
            except SignatureError as exc:
                self.signature_failed(index, item, who, str(exc))
            return
        self.batch.append((index, public_key, entry.body, entry.signature))
        self.batch_meta.append((index, item, who))
        self.inflight.add(index)
        if len(self.batch) >= _CHUNK:
            self.submit()

    def submit(self) -> None:
        if not self.batch or self.pool is None:
            return
        while len(self.jobs) >= self.workers * _INFLIGHT_PER_WORKER:
            self.merge(self.jobs.popleft())
        future = self.pool.submit(_verify_chunk, self.batch)
        self.jobs.append(_Job(future, self.batch_meta))
        self.batch, self.batch_meta = [], []

    def merge(self, job: _Job) -> None:
        failures = dict(job.future.result())
        for index, item, who in job.meta:
            self.inflight.discard(index)
            reason = failures.get(index)
            if reason is not None:
                self.signature_failed(index, item, who, reason)
                self.deferred.pop(index, None)
            else:
                for f in self.deferred.pop(index, ()):
                    self.add(f)

    def drain(self) -> None:
        self.submit()
        while self.jobs:
            self.merge(self.jobs.popleft())

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def signature_failed(self, index: int, item: str, who: str, reason: str) -> None:
        self.mark_altered(item, index)
        self.finding(
            index, item, "signature", f"a valid signature by {who}", reason,
            f"the signature of this event does not verify by {who}: the entry was altered or forged",
        )

    # judging one entry -----------------------------------------------------------------------------

    def feed(self, entry: Entry) -> None:
        position = self.tree.size
        index = position if entry.index is None else entry.index
        if index != self.expected_index:
            self.finding(
                index, None, "index", str(self.expected_index), str(index),
                f"entry {index} comes where entry {self.expected_index} belongs (a gap, repeat or reordering)",
            )
            self.stop_node_check()  # stored nodes are numbered by index: comparing them would only repeat this
        self.expected_index = index + 1
        body = entry.body
        leaf = leaf_hash_of(body)
        self.grow(leaf)
        try:
            content = decode_body(body)  # (not entry.content: its cached_property lock costs more than it saves)
        except EncodingError as exc:
            self.finding(index, None, "encoding", "a canonical entry body", str(exc), f"the body is unreadable: {exc}")
            return
        if isinstance(content, Event):
            self.judge_event(index, entry, content, leaf)
        else:
            self.judge_operator(index, entry, content)

    def judge_operator(self, index: int, entry: Entry, content: Body) -> None:
        try:
            public_key = self.reg.check_content(content, None, now=self.now)
        except VerificationError as exc:
            self.rule_failed(index, None, content, None, exc)
            return
        self.signatures += 1
        try:
            verify_signature(public_key, entry.signed_message, entry.signature)
        except SignatureError as exc:
            self.finding(
                index, None, "signature", f"a valid signature by the operator key {self.reg.operator_key_id.hex()}",
                str(exc), f"the signature of this {content.KIND} entry does not verify: it was altered or forged "
                "(it is not applied)",
            )
            return
        self.reg.apply(content, index)

    def judge_event(self, index: int, entry: Entry, ev: Event, leaf: bytes) -> None:
        head, altered = self.head(ev.item)
        public_key: bytes | None = None
        try:
            public_key = self.reg.check_content(ev, head, now=self.now)
        except ChainError as exc:
            if head is not None and ev.prev is not None and ev.prev != head.leaf_hash:
                public_key = self.chain_break(index, ev, head, altered)
            else:
                self.rule_failed(index, ev.item, ev, head, exc)
        except VerificationError as exc:
            self.rule_failed(index, ev.item, ev, head, exc)
        self.set_head(ev.item, index, leaf, ev.stage, ev.at)
        if public_key is not None:
            rec = self.reg.keys[ev.signer]
            self.verify_event(index, ev.item, rec.describe(), public_key, entry)

    def chain_break(self, index: int, ev: Event, head: Head, altered: bool) -> bytes | None:
        """Report that ``ev.prev`` is not the item's head; return the key to verify the event by, if any.

        After an altered head (its signature failed), the break is that entry's doing: it is not reported
        again, and the event is judged in full against the head it names. Otherwise the break is the
        finding, and only the checks that do not depend on the predecessor (the signer's key, the
        signature) are made: the stage and time of whatever the event really follows are unknown.
        """
        assert ev.prev is not None
        if altered:
            try:
                return self.reg.check_content(ev, replace(head, leaf_hash=ev.prev), now=self.now)
            except VerificationError as exc:
                self.rule_failed(index, ev.item, ev, head, exc)
                return None
        f = Finding(
            index, ev.item, "chain", head.leaf_hash.hex(), ev.prev.hex(),
            f"prev does not name the item's previous entry {head.index} (an entry was removed, inserted, "
            "reordered or altered)",
        )
        if head.index in self.inflight:  # the head's signature is still being checked: decide later
            self.deferred.setdefault(head.index, []).append(f)
        else:
            self.add(f)
        try:
            return self.reg.signer_key(ev)
        except VerificationError as exc:
            self.rule_failed(index, ev.item, ev, head, exc)
            return None

    def rule_failed(self, index: int, item: str | None, content: Body, head: Head | None, exc: Exception) -> None:
        check = _check_of(exc)
        expected, found = _explain(check, self.reg, content, head, self.now, str(exc))
        self.finding(index, item, check, expected, found, str(exc))


def _explain(check: str, reg: Registry, c: Body, head: Head | None, now: int | None, msg: str) -> tuple[str, str]:
    """What the check expected and what the entry holds, in a few words."""
    if check == "origin":
        return reg.origin, c.origin
    if check == "operator-key":
        return f"operator key {reg.operator_key_id.hex()}", f"key {c.signer.hex()}"
    if not isinstance(c, Event):
        return CHECKS.get(check, check), msg
    rec = reg.keys.get(c.signer)
    policy = reg.policy
    if check == "unknown-key":
        return "a key registered in this ledger", f"key {c.signer.hex()}"
    if check == "revoked-key" and rec is not None:
        return "a key that is not revoked", f"{rec.describe()}, revoked by entry {rec.revoked_index}"
    if check == "key-validity" and rec is not None:
        until = ms_to_iso(rec.valid_until) if rec.valid_until is not None else "open-ended"
        return f"a time from {ms_to_iso(rec.valid_from)} until {until}", ms_to_iso(c.at)
    if check == "role" and rec is not None and policy is not None and c.stage in policy.stages:
        return f"role {' or '.join(sorted(policy.stages[c.stage].roles))}", f"roles {', '.join(sorted(rec.roles))}"
    if check == "stage-order" and policy is not None:
        if head is None:
            starts = sorted(s for s, r in policy.stages.items() if r.start)
            return f"a first stage: {', '.join(starts)}", c.stage
        nxt = sorted(s for s, r in policy.stages.items() if head.stage in r.after)
        return f"after {head.stage!r}: {', '.join(nxt) or 'nothing'}", c.stage
    if check == "stage" and policy is not None:
        return f"one of {', '.join(sorted(policy.stages))}", c.stage
    if check == "chain":
        if head is None:
            return "no prev (the item's first event)", "prev " + (c.prev.hex() if c.prev else "missing")
        return head.leaf_hash.hex(), "prev missing" if c.prev is None else c.prev.hex()
    if check == "time":
        if head is not None and c.at < head.at:
            return f"at or after {ms_to_iso(head.at)}", ms_to_iso(c.at)
        if now is not None:
            return f"at most {ms_to_iso(now + CLOCK_TOLERANCE_MS)}", ms_to_iso(c.at)
    return CHECKS.get(check, check), msg


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
) -> AuditReport:
    """Replay ``entries`` (in log order) and check everything; return the :class:`AuditReport`.

    ``operator_vkey`` is the pinned operator key; ``origin`` defaults to its name (a ledger's operator key
    is named after its origin). ``checkpoints`` are the stored ``(size, note)`` pairs to check; ``since``
    is a checkpoint the auditor saved (see :func:`read_saved_checkpoint`). ``workers`` processes verify
    event signatures (default: every core; 1 verifies inline). ``now`` (ms) enables the check that no
    event is dated in the future. ``stored_nodes`` looks up a store's Merkle nodes, which are then
    compared with the recomputed ones. Only the first ``max_findings`` findings are kept (all are counted).
    """
    try:
        op_name, _, op_key = parse_vkey(operator_vkey)
    except FormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from None
    origin = op_name if origin is None else origin
    saved = read_saved_checkpoint(since, origin, operator_vkey) if since is not None else None
    if workers is None:
        workers = os.cpu_count() or 1
        if expected_size is not None and expected_size < _AUTO_INLINE_BELOW:
            workers = 1
    workers = max(1, int(workers))
    replay = _Replay(
        Registry(origin, op_name, op_key), now=now, max_findings=max_findings, workers=workers, nodes=stored_nodes
    )
    cps = _CheckpointChecks(replay, origin, operator_vkey, checkpoints, saved)
    replay.start_pool()
    try:
        tree = replay.tree
        for entry in entries:
            replay.feed(entry)
            cps.at(tree.size)
            if progress is not None and tree.size % _PROGRESS_EVERY == 0:
                progress(tree.size, expected_size)
        replay.drain()
        replay.flush_nodes()
    finally:
        replay.close()
    root = replay.tree.root()
    cps.finish(replay.tree.size)
    for items in replay.deferred.values():  # pragma: no cover - every deferral is resolved by drain()
        for f in items:
            replay.add(f)
    if progress is not None:
        progress(replay.tree.size, expected_size)
    tree_text = Checkpoint(origin, replay.tree.size, root).format().decode("utf-8")
    signed = cps.latest_note
    to_save = signed if signed is not None and cps.latest_size == replay.tree.size else tree_text
    findings = sorted(replay.findings, key=lambda f: -1 if f.index is None else f.index)
    return AuditReport(
        origin=origin,
        operator_vkey=operator_vkey,
        size=replay.tree.size,
        root=root,
        signatures_checked=replay.signatures,
        checkpoints_checked=cps.checked,
        findings=tuple(findings),
        finding_count=sum(replay.count_by_check.values()),
        checkpoint_to_save=to_save,
        signed_checkpoint=signed,
        since=saved,
        workers=workers,
        findings_by_check=dict(replay.count_by_check),
    )


class _CheckpointChecks:
    """Compares the recomputed root with the stored checkpoints and the saved one, as the tree grows."""

    def __init__(
        self,
        replay: _Replay,
        origin: str,
        operator_vkey: str,
        checkpoints: Iterable[tuple[int, bytes]],
        saved: Checkpoint | None,
    ) -> None:
        self.replay = replay
        self.saved = saved
        self.checked = 0
        self.latest_note: str | None = None
        self.latest_size = -1
        verifier = new_verifier(operator_vkey)
        due: dict[int, list[tuple[Checkpoint, bytes]]] = {}
        for stored_size, note in checkpoints:
            try:
                cp, _ = open_checkpoint(note, origin, verifier)
            except (FormatError, VerificationError) as exc:
                replay.finding(
                    None, None, "checkpoint-signature", f"a checkpoint of {origin} signed by the operator",
                    str(exc), f"the checkpoint stored for size {stored_size} is not validly signed: {exc}",
                )
                continue
            if cp.size != stored_size:
                replay.finding(
                    None, None, "checkpoint", f"size {stored_size}", f"size {cp.size}",
                    f"the checkpoint stored for size {stored_size} is a checkpoint of size {cp.size}",
                )
            due.setdefault(cp.size, []).append((cp, note))
        self.due = due
        if saved is not None:
            due.setdefault(saved.size, [])
        self.at(0)

    def at(self, size: int) -> None:
        if size not in self.due:
            return
        root = self.replay.tree.root()
        for cp, note in self.due.pop(size):
            self.checked += 1
            if cp.root != root:
                self.replay.finding(
                    None, None, "checkpoint", root.hex(), cp.root.hex(),
                    f"the operator signed root {cp.root.hex()[:16]}... for size {size}, but the entries give "
                    f"{root.hex()[:16]}...: entries before {size} were changed",
                )
            elif size >= self.latest_size:
                self.latest_size, self.latest_note = size, note.decode("utf-8")
        if self.saved is not None and self.saved.size == size and self.saved.root != root:
            self.replay.finding(
                None, None, "since", self.saved.root.hex(), root.hex(),
                f"the ledger's first {size} entries no longer give the root of the checkpoint the auditor "
                "saved: history was rewritten since",
            )

    def finish(self, size: int) -> None:
        for cp_size in sorted(self.due):
            for _ in self.due[cp_size]:
                self.checked += 1
                self.replay.finding(
                    None, None, "checkpoint", f"at least {cp_size} entries", f"{size} entries",
                    f"the operator signed a checkpoint of size {cp_size}, but the ledger holds {size} entries: "
                    "it was truncated or rolled back",
                )
        if self.saved is not None and self.saved.size > size:
            self.replay.finding(
                None, None, "since", f"at least {self.saved.size} entries", f"{size} entries",
                f"the auditor saved a checkpoint of size {self.saved.size}, but the ledger holds {size} entries: "
                "it was truncated or rolled back",
            )


def audit_path(
    path: str | os.PathLike[str],
    operator_vkey: str,
    *,
    since: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    now: int | None = None,
    max_findings: int = 1000,
) -> AuditReport:
    """Audit a ledger file: the SQLite database or a portable export (told apart by their first bytes).

    Raises :class:`~provchain.errors.LedgerNotFoundError` when there is no file,
    :class:`~provchain.errors.ForeignLedgerError` when it is neither kind of ledger file, and
    :class:`~provchain.errors.ExportFormatError` when an export is malformed or truncated. Everything the
    replay finds wrong is in the report.
    """
    try:
        parse_vkey(operator_vkey)
    except FormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from None
    p = Path(path)
    head = read_magic(p)
    kwargs: dict[str, Any] = {
        "since": since, "workers": workers, "progress": progress, "now": now, "max_findings": max_findings
    }
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
    from .store.sqlite import SqliteStore

    store = SqliteStore.open(os.fspath(p), readonly=True)
    store.set_cache_size(4096)  # a sequential scan: a large page cache would only add to the audit's RSS
    try:
        meta = store.meta()
        extra = _meta_findings(meta.origin, meta.operator_vkey, operator_vkey)
        report = audit_entries(
            store.entries(),
            operator_vkey,
            checkpoints=list(store.checkpoints()),
            expected_size=store.size(),
            stored_nodes=store.nodes,
            **kwargs,
        )
    except ProvchainError:
        raise
    finally:
        store.close()
    report = replace(report, source=f"{p} (SQLite ledger)")
    return _with_findings(report, extra, kwargs["max_findings"])


def _audit_export(p: Path, operator_vkey: str, kwargs: dict[str, Any]) -> AuditReport:
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
