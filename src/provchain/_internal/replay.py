"""The auditor's replay machinery: the state of one audit, fed entries in jobs of a few thousand.

:func:`provchain._internal.jobs.prepare` does, in worker processes, the work on an entry that does not
depend on the entries before it: the leaf hash and the subtrees over the job's leaves, parsing the body,
verifying the signature.
:class:`Replay` keeps what is inherently serial: it judges each entry by :class:`provchain.rules.Registry`
(the code that admits entries to a ledger), folds the jobs' subtrees into the Merkle frontier and compares
the nodes with a store's; :class:`CheckpointChecks` compares the recomputed root with the stored
checkpoints and the auditor's saved one as the tree grows. What is found wrong goes to a
``report`` callback, which :mod:`provchain.audit` turns into :class:`provchain.audit.Finding`; that module
is the public surface (it re-exports :data:`CHECKS` and :data:`NodeLookup`).
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace

from ..checkpoint import Checkpoint, open_checkpoint
from ..entries import Body, Entry, Event, PartyRegistration, decode_body, leaf_hash_of, ms_to_iso
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
from ..merkle import EMPTY_ROOT
from ..note import new_verifier
from ..rules import CLOCK_TOLERANCE_MS, Head, Registry
from ..store.base import NodeKey
from ..tree.frontier import Frontier
from ..tree.hashing import fold
from .jobs import HASH, Facts, Prepared, Row, prepare, prepare_job, subtrees_within

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

_CHUNK = 4096  # entries per job: rounded up to a power of two, so that a job's subtrees are aligned
_INFLIGHT_PER_WORKER = 3  # jobs queued per worker: enough to keep it busy, few enough for flat memory
_ALLOWED_MAX = 65536  # stage transitions remembered as allowed (cleared when the registry changes)
_HEAD = struct.Struct(">Q32sQH?")  # index, leaf hash, time, stage number, altered
_EVENT_MARK = b"\xa4kind\xa5event"  # "kind": "event" in msgpack: in every event body
@dataclass
class _Job:
    future: Future[tuple[int, int, Prepared]]
    start: int  # the position of its first entry
    rows: list[Row]


# --- the replay ---------------------------------------------------------------------------------------


def _fold(subtrees: list[bytes]) -> bytes:
    """The root over complete subtrees given left to right (the empty tree's root for none)."""
    return fold(subtrees) if subtrees else EMPTY_ROOT


def _check_of(exc: Exception) -> str:
    for cls, name in _EXCEPTION_CHECKS:
        if isinstance(exc, cls):
            return name
    return "registration"  # pragma: no cover - every VerificationError matches above


class Replay:
    """The state of one audit: registry, item heads, the recomputed tree, the jobs in flight.

    The entries go out in jobs of :data:`_CHUNK` (to worker processes, or prepared in this process with
    one worker): each is hashed, parsed, and its signature verified by a candidate key (:func:`prepare`).
    The results come back in log order, and this process keeps only what is inherently serial: the rules
    that depend on the entries before (registry, item heads, policy), the Merkle frontier, folded from the
    jobs' subtrees, and the comparison of stored nodes and checkpoints with it. The findings are the same
    whatever the number of workers: every verdict is known before the entry is judged.
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
        self.allowed: set[tuple[str, str | None, bytes]] = set()  # (stage, previous stage, signer) judged fine
        # Merkle node check against the store
        self.nodes = nodes
        self.node_stop: int | None = None  # after an index finding: nodes over leaves from here are not compared
        self.bad_nodes: set[NodeKey] = set()
        # jobs
        self.chunk = 1 << max(0, _CHUNK - 1).bit_length()
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None
        self.jobs: collections.deque[_Job] = collections.deque()
        self.submitted = 0
        self.candidates: list[tuple[bytes, bytes]] = []  # (key id, key) of every registration read so far
        self.inline_keys: dict[bytes, bytes] = {}  # the same, for jobs prepared in this process
        self.known: dict[int, int] = {}  # worker pid -> how many candidates it has learnt
        self.token = os.urandom(16)
        self.checkpoints: CheckpointChecks | None = None
        self.progress: Callable[[int], None] | None = None

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

    # the jobs --------------------------------------------------------------------------------------

    def start_pool(self) -> None:
        if self.workers > 1:
            # fork: fast to start, and needs no "if __name__ == '__main__'" guard in the caller's script;
            # the worker function is importable, so spawn works where fork does not exist.
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if sys.platform == "linux" and "fork" in methods else "spawn")
            self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def run(
        self, entries: Iterable[Entry], checkpoints: CheckpointChecks, progress: Callable[[int], None] | None
    ) -> None:
        """Replay ``entries`` in log order; compare the tree with ``checkpoints`` as it grows; call
        ``progress(done)`` after each job."""
        self.checkpoints, self.progress = checkpoints, progress
        rows: list[Row] = []
        chunk = self.chunk
        for position, entry in enumerate(entries):
            body, signature, index = entry.body, entry.signature, entry.index
            if type(body) is not bytes:
                leaf_hash_of(body)  # raises InputError unless it is bytes
                body = bytes(body)
            if type(signature) is not bytes:  # not 64 bytes either way: the same verdict
                signature = bytes(signature) if isinstance(signature, bytes) else b""
            if _EVENT_MARK not in body:
                self.candidate(body)
            rows.append((position if index is None else index, body, signature))
            if len(rows) == chunk:
                self.submit(rows)
                rows = []
        if rows:
            self.submit(rows)
        while self.jobs:
            self.finish(self.jobs.popleft())

    def candidate(self, body: bytes) -> None:
        """Note the key a body that may be a registration names, for the workers to verify events by."""
        try:
            content = decode_body(body)
        except EncodingError:
            return
        if isinstance(content, PartyRegistration):
            self.candidates.append((content.key_id, content.key))
            self.inline_keys.setdefault(content.key_id, content.key)

    def submit(self, rows: list[Row]) -> None:
        start = self.submitted
        self.submitted += len(rows)
        if self.pool is None:
            self.judge_chunk(start, rows, prepare(self.reg.origin, rows, self.inline_keys))
            return
        while len(self.jobs) >= self.workers * _INFLIGHT_PER_WORKER:
            self.finish(self.jobs.popleft())
        at = min(self.known.values()) if len(self.known) >= self.workers else 0
        future = self.pool.submit(prepare_job, self.token, at, self.candidates[at:], self.reg.origin, rows)
        self.jobs.append(_Job(future, start, rows))

    def finish(self, job: _Job) -> None:
        pid, learnt, prepared = job.future.result()
        self.known[pid] = learnt
        self.judge_chunk(job.start, job.rows, prepared)

    # judging the entries of one job ----------------------------------------------------------------

    def judge_chunk(self, start: int, rows: list[Row], prepared: Prepared) -> None:
        levels, facts = prepared
        leaves = levels[0]
        for j, row in enumerate(rows):
            index = row[0]
            if index != self.expected_index:
                self.finding(
                    index, None, "index", str(self.expected_index), str(index),
                    f"entry {index} comes where entry {self.expected_index} belongs (a gap, repeat or reordering)",
                )
                if self.node_stop is None:  # stored nodes are numbered by index: comparing them would repeat this
                    self.node_stop = start + j
            self.expected_index = index + 1
            leaf = leaves[HASH * j : HASH * (j + 1)]
            f = facts[j]
            if f is None or not self.judge_fast(index, leaf, f):
                self.judge_slow(index, row, leaf, f)
        end = start + len(rows)
        cps = self.checkpoints
        due = [] if cps is None else cps.sizes_in(start, end)
        for size in due:
            if size < end:
                cps.at(size, _fold(self.tree.subtrees() + subtrees_within(start, size, levels)))  # type: ignore[union-attr]
        self.fold(start, len(rows), levels)
        if due and due[-1] == end:
            cps.at(end, self.tree.root())  # type: ignore[union-attr]
        if self.progress is not None:
            self.progress(end)

    def judge_fast(self, index: int, leaf: bytes, f: Facts) -> bool:
        """Judge an event whose every check passes, from its facts; False (and nothing done) if one does not.

        The checks are :meth:`Registry.check_content`'s for an event, in the same terms, and the signature's
        verdict is the worker's only when it was reached by the key the registry names: anything else goes
        to :meth:`judge_slow`, which judges the body as it always did.
        """
        item, stage, at, prev, signer, public_key, reason = f
        rec = self.reg.keys.get(signer)
        if (
            rec is None
            or rec.revoked_index is not None
            or at < rec.valid_from
            or (rec.valid_until is not None and at >= rec.valid_until)
            or public_key != rec.public_key
        ):
            return False
        policy = self.reg.policy
        if policy is None or (self.now is not None and at > self.now + CLOCK_TOLERANCE_MS):
            return False
        packed = self.heads.get(item)
        previous: str | None = None
        if packed is None:
            if prev is not None:
                return False
        else:
            _, head_leaf, head_at, sid, _ = _HEAD.unpack(packed)
            if prev != head_leaf or at < head_at:
                return False
            previous = self.stage_names[sid]
        step = (stage, previous, signer)
        if step not in self.allowed:
            try:
                policy.check(stage, previous, rec.roles, rec.describe())
            except VerificationError:
                return False
            if len(self.allowed) >= _ALLOWED_MAX:
                self.allowed.clear()
            self.allowed.add(step)
        self.set_head(item, index, leaf, stage, at)
        self.signatures += 1
        if reason is not None:
            self.signature_failed(index, item, rec.describe(), reason)
        return True

    def judge_slow(self, index: int, row: Row, leaf: bytes, f: Facts | None) -> None:
        """Judge an entry from its body: an operator entry, an event that fails a check, a malformed body."""
        _, body, signature = row
        entry = Entry(body, signature, index)
        try:
            content = decode_body(body)
        except EncodingError as exc:
            self.finding(index, None, "encoding", "a canonical entry body", str(exc), f"the body is unreadable: {exc}")
            return
        if isinstance(content, Event):
            self.judge_event(index, entry, content, leaf, f)
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
        self.allowed.clear()

    def judge_event(self, index: int, entry: Entry, ev: Event, leaf: bytes, f: Facts | None) -> None:
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
        if public_key is None:
            return
        self.signatures += 1
        if f is not None and f[5] == public_key:  # the worker verified it by this very key
            reason = f[6]
        else:
            try:
                verify_signature(public_key, entry.signed_message, entry.signature)
                reason = None
            except SignatureError as exc:
                reason = str(exc)
        if reason is not None:
            self.signature_failed(index, ev.item, self.reg.keys[ev.signer].describe(), reason)

    def signature_failed(self, index: int, item: str, who: str, reason: str) -> None:
        self.mark_altered(item, index)
        self.finding(
            index, item, "signature", f"a valid signature by {who}", reason,
            f"the signature of this event does not verify by {who}: the entry was altered or forged",
        )

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
        self.finding(
            index, ev.item, "chain", head.leaf_hash.hex(), ev.prev.hex(),
            f"prev does not name the item's previous entry {head.index} (an entry was removed, inserted, "
            "reordered or altered)",
        )
        try:
            return self.reg.signer_key(ev)
        except VerificationError as exc:
            self.rule_failed(index, ev.item, ev, head, exc)
            return None

    def rule_failed(self, index: int, item: str | None, content: Body, head: Head | None, exc: Exception) -> None:
        check = _check_of(exc)
        expected, found = _explain(check, self.reg, content, head, self.now, str(exc))
        self.finding(index, item, check, expected, found, str(exc))

    # the tree --------------------------------------------------------------------------------------

    def fold(self, start: int, n: int, levels: list[bytes]) -> None:
        """Add a job's ``n`` leaves to the frontier as its complete subtrees, largest first; compare every
        node the job completed with the store's."""
        created: list[tuple[int, int, bytes]] = []
        offset = 0
        for level in range(len(levels) - 1, -1, -1):
            if n >> level & 1:
                j = offset >> level
                created += self.tree.add_subtree(level, levels[level][HASH * j : HASH * (j + 1)])
                offset += 1 << level
        if self.nodes is not None:
            self.compare_nodes(start, levels, created)

    def compare_nodes(self, start: int, levels: list[bytes], created: list[tuple[int, int, bytes]]) -> None:
        """Compare the nodes a job completed (children before parents) with the stored ones. A node that
        differs is reported unless one of its children differs too (the difference comes from below)."""
        assert self.nodes is not None
        stop = self.node_stop
        keys: list[NodeKey] = []
        computed: list[bytes] = []
        for level, blob in enumerate(levels):
            first = start >> level
            count = len(blob) // HASH
            if stop is not None:  # node (level, i) is over leaves before stop when i < stop >> level
                count = max(0, min(count, (stop >> level) - first))
            keys += [(level, first + j) for j in range(count)]
            computed += [blob[HASH * j : HASH * (j + 1)] for j in range(count)]
        for level, i, h in created:
            if stop is None or (i + 1) << level <= stop:
                keys.append((level, i))
                computed.append(h)
        if not keys:
            return
        stored = self.nodes(keys)
        bad = self.bad_nodes
        for key, h in zip(keys, computed, strict=True):
            have = stored.get(key)
            level, i = key
            children_bad = False
            if level:
                for child in ((level - 1, 2 * i), (level - 1, 2 * i + 1)):
                    if child in bad:
                        bad.discard(child)
                        children_bad = True
            if have == h:
                continue
            bad.add(key)
            if children_bad:
                continue  # the difference comes from below, already reported
            first = i << level
            shown = "missing" if have is None else have.hex()
            if level == 0:
                self.finding(
                    i, None, "leaf-hash", h.hex(), shown,
                    f"the stored leaf hash of entry {i} is not the hash of its body",
                )
            else:
                self.finding(
                    first, None, "merkle-node", h.hex(), shown,
                    f"stored Merkle node (level {level}, index {i}) over entries {first}.."
                    f"{first + (1 << level) - 1} is not the hash of its children",
                )


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
        self.pending = sorted(due)
        self.next = 0  # self.pending[self.next:] are the sizes not reached yet
        if self.pending and self.pending[0] == 0:
            self.next = 1
            self.at(0, EMPTY_ROOT)

    def sizes_in(self, start: int, end: int) -> list[int]:
        """The sizes to check in ``(start, end]``, in order (each size is given once)."""
        first = self.next
        pending = self.pending
        while self.next < len(pending) and pending[self.next] <= end:
            self.next += 1
        return pending[first : self.next]

    def at(self, size: int, root: bytes) -> None:
        """Compare the checkpoints of ``size`` with ``root``, the recomputed root at that size."""
        if size not in self.due:
            return
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

