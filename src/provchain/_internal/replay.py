"""The auditor's replay machinery: the state of one audit, fed one entry at a time.

:class:`Replay` judges each entry by :class:`provchain.rules.Registry` (the code that admits entries to a
ledger), grows the Merkle frontier and compares it with a store's nodes, and has event signatures verified
by :func:`_verify_chunk` in worker processes; :class:`CheckpointChecks` compares the recomputed root with
the stored checkpoints and the auditor's saved one as the tree grows. What is found wrong goes to a
``report`` callback, which :mod:`provchain.audit` turns into :class:`provchain.audit.Finding`; that module
is the public surface (it re-exports :data:`CHECKS` and :data:`NodeLookup`).
"""

from __future__ import annotations

import collections
import multiprocessing
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace

from ..checkpoint import Checkpoint, open_checkpoint
from ..entries import ENTRY_DOMAIN, Body, Entry, Event, decode_body, leaf_hash_of, ms_to_iso
from ..errors import (
    ChainError,
    EncodingError,
    ExpiredKeyError,
    FormatError,
    OperatorKeyError,
    OriginError,
    PolicyError,
    RevokedKeyError,
    RoleError,
    SignatureError,
    StageError,
    StageOrderError,
    TimeError,
    UnknownKeyError,
    VerificationError,
)
from ..keys import verify_signature
from ..note import new_verifier
from ..rules import CLOCK_TOLERANCE_MS, Head, Registry
from ..store.base import NodeKey
from ..tree.frontier import Frontier

# NodeLookup and CHECKS are documented, and exported, by provchain.audit.
NodeLookup = Callable[[Sequence[NodeKey]], dict[NodeKey, bytes]]

FindingArgs = tuple[int | None, str | None, str, str, str, str]
"""A finding's fields, as :class:`provchain.audit.Finding` takes them: index, item, check, expected, found,
message."""

Report = Callable[[int | None, str | None, str, str, str, str], None]
"""Receives each finding's fields (:data:`FindingArgs`) as the replay finds it."""

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
    "witness": "the checkpoint that anchors the audit carries the cosignatures the witness policy requires",
    "ledger-meta": "the file's own description names the pinned operator and origin",
    "export-trailer": "an export's trailer states the recomputed root",
    "schema": "the ledger file holds only the tables and indexes provchain creates (no trigger, view or other index)",
    "sql-index": "every SQL index of the ledger file holds what its rows give (the item index: each body's item)",
}

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
_HEAD = struct.Struct(">Q32sQH?")  # index, leaf hash, time, stage number, altered


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


class Replay:
    """The state of one audit: registry, item heads, Merkle frontier, pending signature jobs.

    Each finding's fields go to ``report`` as it is found, except a chain break after an event whose
    signature is still being verified: it waits in :attr:`deferred` until that verdict is known.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        now: int | None,
        workers: int,
        nodes: NodeLookup | None,
        report: Report,
    ) -> None:
        self.reg = registry
        self.now = now
        self.finding: Report = report
        self.tree = Frontier()
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
        self.deferred: dict[int, list[FindingArgs]] = {}

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
                for args in self.deferred.pop(index, ()):
                    self.finding(*args)

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
        args: FindingArgs = (
            index, ev.item, "chain", head.leaf_hash.hex(), ev.prev.hex(),
            f"prev does not name the item's previous entry {head.index} (an entry was removed, inserted, "
            "reordered or altered)",
        )
        if head.index in self.inflight:  # the head's signature is still being checked: decide later
            self.deferred.setdefault(head.index, []).append(args)
        else:
            self.finding(*args)
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


class CheckpointChecks:
    """Compares the recomputed root with the stored checkpoints and the saved one, as the tree grows."""

    def __init__(
        self,
        replay: Replay,
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

