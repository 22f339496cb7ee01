"""The audit's jobs: the work on entries that does not depend on the entries before them.

:func:`prepare` runs in worker processes (or in the auditor's process with one worker): for a job of
entries it computes the leaf hashes and the complete subtrees over them, parses every body and verifies
every event's signature by a candidate key. The one incremental tree (:class:`provchain.tree.frontier.
Frontier`, :meth:`~provchain.tree.frontier.Frontier.add_subtree`) folds the jobs' subtrees into the
recomputed tree in the auditor's process. :mod:`provchain._internal.replay` judges the results in log
order.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from ..entries import ENTRY_DOMAIN, Event, decode_body, leaf_hash_of
from ..errors import EncodingError, SignatureError
from ..keys import verify_signature
from ..tree.hashing import levels as node_levels

HASH = 32

Row = tuple[int, bytes, bytes]
"""One entry as a job carries it: its index, body and signature."""

Facts = tuple[str, str, int, "bytes | None", bytes, "bytes | None", "str | None"]
"""What a worker read from an event body: item, stage, time, prev and signer; then the public key the
signature was verified by (None when the worker knew no key for the signer) and the failure's reason
(None when the signature verified)."""

Prepared = tuple[list[bytes], list["Facts | None"]]
"""A prepared job: the hashes of every complete subtree inside the job's span, per level (level 0 holds
the leaf hashes), each level's hashes concatenated; and each entry's :data:`Facts`, or None for an entry
that is not a well-formed event of this ledger (the main process judges it from its body)."""


# --- in worker processes ----------------------------------------------------------------------------


def prepare(origin: str, rows: Sequence[Row], keys: Mapping[bytes, bytes]) -> Prepared:
    """Hash, parse and verify the entries of one job: everything about them that does not depend on the
    entries before them.

    ``keys`` maps key ids to the public keys that registrations read so far name. They are candidates,
    not facts: the main process uses a verdict only when the key it was reached by is the key the rules,
    applied in log order, name for the event (see :meth:`provchain._internal.replay.Replay.judge_fast`).
    """
    leaves: list[bytes] = []
    facts: list[Facts | None] = []
    for _, body, signature in rows:
        leaves.append(leaf_hash_of(body))
        try:
            content = decode_body(body)
        except EncodingError:
            facts.append(None)
            continue
        if type(content) is not Event or content.origin != origin:
            facts.append(None)
            continue
        public_key = keys.get(content.signer)
        reason = None
        if public_key is not None:
            try:
                verify_signature(public_key, ENTRY_DOMAIN + body, signature)
            except SignatureError as exc:
                reason = str(exc)
        facts.append((content.item, content.stage, content.at, content.prev, content.signer, public_key, reason))
    return _levels(leaves), facts


def _levels(leaves: list[bytes]) -> list[bytes]:
    """The complete subtrees over ``leaves`` (the first one's position a multiple of a power of two at
    least their count), level by level, each level's hashes concatenated (one bytes object per level
    crosses the process boundary faster than a list of hashes)."""
    return [b"".join(row) for row in node_levels(leaves)]


class _KeyBook:
    """A worker's candidate keys, learnt from the main process's list of registrations as jobs bring it."""

    def __init__(self) -> None:
        self.token = b""
        self.keys: dict[bytes, bytes] = {}
        self.size = 0

    def learn(self, token: bytes, at: int, candidates: Sequence[tuple[bytes, bytes]]) -> None:
        if token != self.token:  # another audit's pool: forget everything
            self.token, self.keys, self.size = token, {}, 0
        if at > self.size:  # pragma: no cover - the main process sends from the least size any worker has
            return
        for key_id, public_key in candidates[self.size - at :]:
            self.keys.setdefault(key_id, public_key)
        self.size = max(self.size, at + len(candidates))


_BOOK = _KeyBook()  # in a worker process


def prepare_job(
    token: bytes, at: int, candidates: list[tuple[bytes, bytes]], origin: str, rows: list[Row]
) -> tuple[int, int, Prepared]:
    """A worker's job: learn the new candidate keys, :func:`prepare` the rows; say who did it and how many
    candidates it knows."""
    _BOOK.learn(token, at, candidates)
    return os.getpid(), _BOOK.size, prepare(origin, rows, _BOOK.keys)


# --- the recomputed tree ------------------------------------------------------------------------------


def subtrees_within(start: int, size: int, levels: list[bytes]) -> list[bytes]:
    """The complete subtrees of a job starting at ``start`` that the tree of ``size`` leaves decomposes into
    after the job's start, left to right."""
    out = []
    n, offset = size - start, 0
    for level in range(len(levels) - 1, -1, -1):
        if n >> level & 1:
            j = offset >> level
            out.append(levels[level][HASH * j : HASH * (j + 1)])
            offset += 1 << level
    return out
