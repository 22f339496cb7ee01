"""The log as static files: C2SP tlog-tiles publishing, reading, proving and auditing (docs/spec/tiles.md).

* :mod:`provchain.tlog.layout`: paths, tile widths, entry and signature bundles (pure);
* :mod:`provchain.tlog.writer`: :func:`publish` a ledger into a directory, incrementally;
* :mod:`provchain.tlog.fetch`: read a published log from a directory or over HTTP(S), size-bounded;
* :mod:`provchain.tlog.reader`: :class:`TiledLog`: the checkpoint, tiles, roots and proofs of a published log;
* :mod:`provchain.tlog.audit`: :func:`audit_tiles`, the auditor's replay from the published files alone.

The publishing side loads the ledger; the reading side imports no store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._internal.lazy import lazy_getattr
from .fetch import DirFetcher, Fetcher, HttpFetcher, open_fetcher
from .layout import (
    CHECKPOINT_PATH,
    TILE_HEIGHT,
    TILE_WIDTH,
    decode_bundle,
    decode_signatures,
    decode_tile,
    encode_bundle,
    entries_path,
    parse_path,
    sigs_path,
    tile_path,
    tiles_for,
)
from .reader import TiledLog

if TYPE_CHECKING:
    from .audit import audit_tiles, is_published_log
    from .writer import PublishResult, publish, publish_loop

__all__ = [
    "CHECKPOINT_PATH",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "DirFetcher",
    "Fetcher",
    "HttpFetcher",
    "PublishResult",
    "TiledLog",
    "audit_tiles",
    "decode_bundle",
    "decode_signatures",
    "decode_tile",
    "encode_bundle",
    "entries_path",
    "is_published_log",
    "open_fetcher",
    "parse_path",
    "publish",
    "publish_loop",
    "sigs_path",
    "tile_path",
    "tiles_for",
]

_LAZY = {
    "audit_tiles": "audit",
    "is_published_log": "audit",
    "PublishResult": "writer",
    "publish": "writer",
    "publish_loop": "writer",
}


# The publisher loads the ledger and the store, the auditor the replay: only when asked for.
__getattr__ = lazy_getattr(__name__, _LAZY, globals())
