"""Reading and verifying a published log: its checkpoint, hash tiles, entry bundles and proofs.

:class:`TiledLog` reads a C2SP tlog-tiles log through a :class:`~provchain.tlog.fetch.Fetcher`, several
files at a time (a thread pool of ``parallel`` fetches), and keeps the tiles it read in a bounded cache:
every tile path names immutable content (a full tile never changes; a partial tile ``.p/<W>`` is the start of
the full one), so a cached tile never goes stale.

Every tile is length-checked against the width the tree size gives it before its hashes are used; every
node a proof or a root needs is read from the tiles (the levels between two tile levels are hashed from
the tile below, as the spec says) and the results are checked with :mod:`provchain.merkle`'s verifiers.
Nothing here trusts a tile: :meth:`TiledLog.verify_tree` checks every hash of every tile and every entry
of a tree against its checkpoint root, and the auditor (:mod:`provchain.tlog.audit`) compares every tile
hash with the tree it recomputes from the entries.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from .. import merkle
from ..checkpoint import Checkpoint, open_checkpoint
from ..errors import (
    ConsistencyError,
    FormatError,
    InputError,
    LedgerNotFoundError,
    PublishedLogError,
    TileFormatError,
    VerificationError,
)
from ..keys import parse_vkey
from ..note import Verifier, new_verifier
from ..tree.hashing import levels
from ..tree.nodes import NodeKey
from ..tree.tlog_tiles import tile_place
from . import layout
from .fetch import Fetcher

__all__ = ["MAX_CHECKPOINT", "TiledLog"]

MAX_CHECKPOINT = 1 << 16
"""The largest checkpoint file read (a checkpoint with many witness cosignatures is a few KiB)."""

_TILE_BYTES = merkle.HASH_SIZE * layout.TILE_WIDTH


class TiledLog:
    """A published log, read through ``fetcher`` (see the module docstring)."""

    def __init__(self, fetcher: Fetcher, *, parallel: int = 8, cache_tiles: int = 256) -> None:
        if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 64:
            raise InputError("parallel must be an integer from 1 to 64")
        if isinstance(cache_tiles, bool) or not isinstance(cache_tiles, int) or cache_tiles < 1:
            raise InputError("cache_tiles must be a positive integer")
        if not callable(getattr(fetcher, "get", None)) or not isinstance(getattr(fetcher, "location", None), str):
            raise InputError("fetcher must be a Fetcher (a DirFetcher or an HttpFetcher)")
        self.fetcher = fetcher
        self.parallel = parallel
        self._pool: ThreadPoolExecutor | None = None
        self._cache: collections.OrderedDict[str, list[list[bytes]]] = collections.OrderedDict()
        self._cache_max = cache_tiles
        self._lock = threading.Lock()
        self.fetched = 0
        """How many files were fetched (cache hits are not counted)."""

    # --- plumbing -------------------------------------------------------------------------------

    def __enter__(self) -> TiledLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the fetch threads, and close the fetcher's connections (an :class:`HttpFetcher` keeps them)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        closer = getattr(self.fetcher, "close", None)
        if callable(closer):
            closer()

    def _get(self, path: str, max_bytes: int) -> bytes:
        data = self.fetcher.get(path, max_bytes)
        with self._lock:
            self.fetched += 1
        if data is None:
            raise PublishedLogError(f"{self.fetcher.location}: {path} is missing, but the checkpoint needs it")
        return data

    def submit(self, path: str, max_bytes: int) -> Future[bytes]:
        """Fetch ``path`` in the background (a missing file raises :class:`PublishedLogError` on ``result()``)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="provchain-tiles")
        return self._pool.submit(self._get, path, max_bytes)

    # --- the checkpoint -------------------------------------------------------------------------

    def checkpoint_note(self) -> bytes:
        """The ``checkpoint`` file, unverified (:class:`~provchain.errors.LedgerNotFoundError` when there is
        none: nothing is published there, so nothing can be checked)."""
        data = self.fetcher.get(layout.CHECKPOINT_PATH, MAX_CHECKPOINT)
        if data is None:
            raise LedgerNotFoundError(f"{self.fetcher.location} has no checkpoint file: it is not a published log")
        return data

    def checkpoint(self, verifier: str | Verifier, origin: str | None = None) -> tuple[Checkpoint, bytes]:
        """The published checkpoint, its signature verified by ``verifier`` (a verifier key string or a
        :class:`~provchain.note.Verifier`) and its origin checked (default: the key's name). Returns the
        checkpoint and the note's bytes. Raises :class:`PublishedLogError` when it does not verify."""
        if isinstance(verifier, str):
            try:
                name = parse_vkey(verifier)[0]
            except FormatError as exc:
                raise InputError(f"the operator key is malformed: {exc}") from None
            v: Verifier = new_verifier(verifier)
        else:
            v, name = verifier, verifier.name
        note = self.checkpoint_note()
        try:
            cp, _ = open_checkpoint(note, name if origin is None else origin, v)
        except (FormatError, VerificationError) as exc:
            raise PublishedLogError(
                f"{self.fetcher.location}: the published checkpoint does not verify by the pinned key: {exc}"
            ) from None
        return cp, note

    # --- tiles ----------------------------------------------------------------------------------

    def tile(self, level: int, n: int, size: int) -> list[list[bytes]]:
        """Hash tile ``n`` of tile level ``level`` as the tree of ``size`` leaves has it (full, or partial at
        its width), with the nodes above its hashes (see :func:`_levels`); from the cache if read before."""
        return self.tiles([(level, n)], size)[(level, n)]

    def tiles(self, keys: Sequence[tuple[int, int]], size: int) -> dict[tuple[int, int], list[list[bytes]]]:
        """Several tiles ``(level, n)`` of the tree of ``size`` leaves, the missing ones fetched in parallel."""
        out: dict[tuple[int, int], list[list[bytes]]] = {}
        wanted: list[tuple[tuple[int, int], str, int, Future[bytes]]] = []
        for level, n in dict.fromkeys(keys):
            width = layout.tile_width(level, n, size)
            if width == 0:
                raise InputError(f"a tree of {size} leaves has no tile {n} at level {level}")
            path = layout.tile_path(level, n, width)
            with self._lock:
                rows = self._cache.get(path)
                if rows is not None:
                    self._cache.move_to_end(path)
            if rows is not None:
                out[(level, n)] = rows
            else:
                wanted.append(((level, n), path, width, self.submit(path, _TILE_BYTES)))
        for key, path, width, fut in wanted:
            try:
                hashes = layout.decode_tile(fut.result(), width, f"{self.fetcher.location}: {path}")
            except TileFormatError as exc:
                raise PublishedLogError(str(exc)) from None
            rows = out[key] = levels(hashes)  # row r: the nodes r levels above the tile's own
            with self._lock:
                self._cache[path] = rows
                while len(self._cache) > self._cache_max:
                    self._cache.popitem(last=False)
        return out

    def nodes(self, keys: Sequence[NodeKey], size: int) -> dict[NodeKey, bytes]:
        """The hashes of complete nodes ``(level, index)`` of the tree of ``size`` leaves, from its tiles."""
        places = []
        for level, index in keys:
            if (index + 1) << level > size:
                raise InputError(f"node ({level}, {index}) is not a complete node of a tree of {size} leaves")
            places.append(((level, index), *tile_place(level, index)))
        tiles = self.tiles([p[1] for p in places], size)
        return {key: tiles[tk][r][pos] for key, tk, r, pos in places}

    def reader(self, size: int) -> merkle.NodeReader:
        """A :data:`provchain.merkle.NodeReader` over the tiles of the tree of ``size`` leaves."""

        def read(level: int, index: int) -> bytes:
            return self.nodes([(level, index)], size)[(level, index)]

        return read

    def _prefetch(self, keys: Sequence[NodeKey], size: int) -> merkle.NodeReader:
        found = self.nodes(keys, size)
        return lambda level, index: found[(level, index)]

    def root(self, size: int, tree_size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves, from the tiles of the tree of ``tree_size`` (default:
        ``size``) leaves, which must hold them all."""
        tree = size if tree_size is None else tree_size
        if not 0 <= size <= tree:
            raise InputError(f"size must be from 0 to the tree size {tree}")
        if size == 0:
            return merkle.EMPTY_ROOT
        keys = merkle.subtree_nodes(0, size)
        return merkle.root_from(size, self._prefetch(keys, tree))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of leaf ``index`` in the tree of ``size`` leaves, from its tiles."""
        return merkle.inclusion_proof_from(index, size, self._prefetch(merkle.inclusion_nodes(index, size), size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """The consistency proof from ``size1`` leaves to ``size2``, from the tiles of the tree of ``size2``."""
        if size1 == size2:
            return []
        return merkle.consistency_proof_from(
            size1, size2, self._prefetch(merkle.consistency_nodes(size1, size2), size2)
        )

    def leaf_hash(self, index: int, size: int) -> bytes:
        """The leaf hash at ``index`` as the level-0 tile of the tree of ``size`` leaves states it."""
        return self.nodes([(0, index)], size)[(0, index)]

    # --- proving against the published tree -----------------------------------------------------

    def verify_inclusion(self, leaf_hash: bytes, index: int, cp: Checkpoint) -> None:
        """Check that ``leaf_hash`` is leaf ``index`` of the published tree ``cp`` (a verified checkpoint):
        an inclusion proof built from the tiles, verified against the checkpoint's root."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < cp.size:
            raise InputError(f"index must be an entry index below the tree size {cp.size}")
        proof = self.inclusion_proof(index, cp.size)
        merkle.verify_inclusion(leaf_hash, index, cp.size, proof, cp.root)

    def verify_older_root(self, size: int, root: bytes, cp: Checkpoint) -> None:
        """Check that the tree of ``size`` leaves with ``root`` is a prefix of the published tree ``cp``:
        a consistency proof built from the tiles, verified against both roots."""
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= cp.size:
            raise InputError(f"size must be from 0 to the published tree size {cp.size}")
        if size == 0:
            if root != merkle.EMPTY_ROOT:
                raise ConsistencyError("a tree of size 0 has the empty root")
            return
        merkle.verify_consistency(size, cp.size, self.consistency_proof(size, cp.size), root, cp.root)

    def verify_anchor(self, head_hash: bytes, head_index: int, tree_size: int, root: bytes, cp: Checkpoint) -> None:
        """Check an item code's anchor against the published tree ``cp`` (a verified checkpoint): the
        anchored tree (``tree_size``, ``root``) is a prefix of the published one (consistency proof), and the
        item's head ``head_hash`` is leaf ``head_index`` of it (inclusion proof), both built from the tiles.
        With a :class:`provchain.code.CodeReport` ``r``: ``verify_anchor(r.head_hash, r.head_index,
        r.tree_size, r.root, cp)``. Raises :class:`~provchain.errors.ProofError` when it does not hold, and
        :class:`InputError` when the anchored tree is larger than the published one (publish again)."""
        if not isinstance(tree_size, int) or isinstance(tree_size, bool) or tree_size > cp.size:
            raise InputError(f"the code anchors a tree of {tree_size} entries; the published tree has {cp.size}")
        if not isinstance(head_index, int) or isinstance(head_index, bool) or not 0 <= head_index < tree_size:
            raise InputError(f"the head index must be below the anchored tree size {tree_size}")
        self.verify_older_root(tree_size, root, cp)
        self.verify_inclusion(head_hash, head_index, cp)

    # --- entries --------------------------------------------------------------------------------

    def bundles(
        self, size: int, *, signatures: bool = False, start: int = 0, max_entry: int = layout.MAX_ENTRY
    ) -> Iterator[tuple[int, list[bytes], list[bytes] | None]]:
        """The entry bundles of the tree of ``size`` leaves from bundle ``start`` on, in order:
        ``(n, entries, signatures or None)``. Up to ``2 * parallel`` bundles are fetched ahead."""
        count = (size + layout.TILE_WIDTH - 1) // layout.TILE_WIDTH
        ahead: collections.deque[tuple[int, int, Future[bytes], Future[bytes] | None]] = collections.deque()
        max_bundle = layout.TILE_WIDTH * (2 + max_entry)
        n = start
        while n < count or ahead:
            while n < count and len(ahead) < 2 * self.parallel:
                width = layout.tile_width(0, n, size)
                sig = None
                if signatures:
                    sig = self.submit(layout.sigs_path(n, width), layout.SIGNATURE_SIZE * width)
                ahead.append((n, width, self.submit(layout.entries_path(n, width), max_bundle), sig))
                n += 1
            m, width, fut, sig_fut = ahead.popleft()
            where = self.fetcher.location
            try:
                what = f"{where}: {layout.entries_path(m, width)}"
                entries = layout.decode_bundle(fut.result(), width, what, max_entry)
                sigs = None
                if sig_fut is not None:
                    sigs = layout.decode_signatures(sig_fut.result(), width, f"{where}: {layout.sigs_path(m, width)}")
            except TileFormatError as exc:
                raise PublishedLogError(str(exc)) from None
            yield m, entries, sigs

    def verify_tree(self, cp: Checkpoint) -> int:
        """Check the whole published tree ``cp`` (a verified checkpoint) as any tlog-tiles client can: each
        entry hashes to its level-0 tile hash, each hash of a tile of level >= 1 is the hash of the full
        tile below it, and the tiles give the checkpoint's root. Returns the number of entries checked;
        raises :class:`PublishedLogError` at the first disagreement, naming the file."""
        size = cp.size
        where = self.fetcher.location
        checked = 0
        group: list[tuple[int, list[bytes]]] = []

        def check(group: list[tuple[int, list[bytes]]]) -> int:
            tiles = self.tiles([(0, n) for n, _ in group], size)  # the group's level-0 tiles, in parallel
            for n, entries in group:
                hashes = tiles[(0, n)][0]
                for i, e in enumerate(entries):
                    if merkle.leaf_hash(e) != hashes[i]:
                        raise PublishedLogError(
                            f"{where}: entry {n * layout.TILE_WIDTH + i} of {layout.entries_path(n, len(entries))} "
                            f"does not hash to its leaf hash in {layout.tile_path(0, n, len(entries))}"
                        )
            return sum(len(entries) for _, entries in group)

        for n, entries, _ in self.bundles(size):
            group.append((n, entries))
            if len(group) == 2 * self.parallel:
                checked += check(group)
                group = []
        checked += check(group)
        for level, n, width in layout.tiles_for(size):
            if level == 0:
                continue
            below = self.tiles([(level - 1, n * layout.TILE_WIDTH + j) for j in range(width)], size)
            rows = self.tile(level, n, size)
            for j in range(width):
                if below[(level - 1, n * layout.TILE_WIDTH + j)][layout.TILE_HEIGHT][0] != rows[0][j]:
                    raise PublishedLogError(
                        f"{where}: hash {j} of {layout.tile_path(level, n, width)} is not the hash of "
                        f"{layout.tile_path(level - 1, n * layout.TILE_WIDTH + j)}"
                    )
        if self.root(size) != cp.root:
            raise PublishedLogError(f"{where}: the tiles give another root than the checkpoint's")
        return checked

