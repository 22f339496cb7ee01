"""The auditor's replay from a published log: a directory or an HTTP(S) URL, nothing else.

:func:`audit_tiles` checks a published log the way :func:`provchain.audit.audit_path` checks a ledger file,
with the same replay and the same findings (docs/spec/tiles.md, "Auditing"):

1. the ``checkpoint`` file must verify by the pinned operator key, for the key's origin
   (:class:`~provchain.errors.PublishedLogError` otherwise: there is nothing to audit against);
2. the entry bundles and their signature bundles up to the checkpoint's size are fetched in order, a few
   ahead, in parallel; each must hold exactly the entries its width says (a missing or malformed file is a
   :class:`~provchain.errors.PublishedLogError`);
3. every entry is replayed by :func:`provchain.audit.audit_entries` (signatures, registrations, policy, chain
   links, times), which recomputes the tree from the bodies and compares every hash of every hash tile with
   it (``leaf-hash`` and ``merkle-node`` findings), and the checkpoint's root with the recomputed root at its
   size (``checkpoint``); ``since`` is compared as in any audit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import replace

from ..audit import AuditReport, Progress, audit_entries
from ..entries import MAX_BODY, Entry
from ..errors import FormatError, InputError
from ..keys import parse_vkey
from ..store.base import NodeKey
from ..witness import WitnessPolicy
from .fetch import open_fetcher
from .reader import TiledLog

__all__ = ["audit_tiles", "is_published_log"]


def is_published_log(location: object) -> bool:
    """True when ``location`` names a published log rather than a ledger file: an ``http(s)://`` URL or
    a directory."""
    if isinstance(location, str) and location.lower().startswith(("http://", "https://")):
        return True
    return isinstance(location, str | os.PathLike) and os.path.isdir(location)


def audit_tiles(
    location: str | os.PathLike[str],
    operator_vkey: str,
    *,
    since: bytes | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    now: int | None = None,
    max_findings: int = 1000,
    witnesses: WitnessPolicy | None = None,
    parallel: int = 8,
    timeout: float = 30.0,
    retries: int = 3,
) -> AuditReport:
    """Audit the published log at ``location`` (a directory or a URL prefix) against the pinned
    ``operator_vkey``; see the module docstring. ``parallel`` files are fetched at once; each HTTP request
    has ``timeout`` seconds for its whole answer and is retried ``retries`` times. With ``witnesses``, the
    published checkpoint must carry the cosignatures the policy requires (a ``witness`` finding otherwise).

    Raises :class:`~provchain.errors.PublishedLogError` (a :class:`~provchain.errors.VerificationError`)
    when the checkpoint does not verify or a file it needs is missing, malformed or too large, and
    :class:`~provchain.errors.TileFetchError` when the log cannot be reached. What the replay finds wrong is
    in the report.
    """
    try:
        origin = parse_vkey(operator_vkey)[0]
    except FormatError as exc:
        raise InputError(f"the operator key is malformed: {exc}") from None
    fetcher = open_fetcher(location, timeout=timeout, retries=retries)
    with TiledLog(fetcher, parallel=parallel) as log:
        cp, note = log.checkpoint(operator_vkey, origin)  # (1)
        size = cp.size

        def lookup(keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
            return log.nodes(keys, size)

        report = audit_entries(  # (3), fed by (2)
            _entries(log, size),
            operator_vkey,
            origin=origin,
            checkpoints=[(size, note)],
            since=since,
            workers=workers,
            progress=progress,
            now=now,
            max_findings=max_findings,
            expected_size=size,
            stored_nodes=lookup,
            witnesses=witnesses,
        )
    return replace(report, source=f"{fetcher.location} (published tiles, checkpoint size {size})")


def _entries(log: TiledLog, size: int) -> Iterator[Entry]:
    for n, bodies, sigs in log.bundles(size, signatures=True, max_entry=MAX_BODY):
        assert sigs is not None
        first = n * 256
        for j, (body, sig) in enumerate(zip(bodies, sigs, strict=True)):
            yield Entry(body, sig, first + j)
