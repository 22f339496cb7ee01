"""Reading a published log's files: from a directory or over HTTP(S), each response size-bounded.

A *fetcher* answers ``get(path, max_bytes)`` with the file's bytes, or None when the log has no such file
(HTTP 404 or 410, or no file in the directory). It refuses a response larger than ``max_bytes``
(:class:`PublishedLogError`: a tile is 8 KiB, a bundle at most a few MiB, so a larger answer is a hostile or
broken server, never a bigger file to wait for), and gives up on a server that does not answer in time
(:class:`TileFetchError`). Fetchers are safe to call from several threads at once: the reader fetches in
parallel.

The HTTP fetcher uses :mod:`urllib` from the standard library. Each request has a deadline for the whole
response (``timeout``), not only for each socket read, so a server that trickles one byte at a time cannot
hold it; connection errors, timeouts and 5xx answers are retried (``retries`` times, with a short backoff);
``Content-Encoding: gzip`` is decoded (the spec lets logs compress entry bundles) with the same size bound on
the decoded bytes; only ``http`` and ``https`` addresses are followed, redirects included.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from http.client import HTTPException
from pathlib import Path
from typing import IO, Protocol

from .. import __version__
from ..errors import InputError, LedgerNotFoundError, PublishedLogError, TileFetchError

__all__ = ["DirFetcher", "Fetcher", "HttpFetcher", "open_fetcher"]

_CHUNK = 65536


class Fetcher(Protocol):
    """Reads the files of one published log."""

    location: str
    """Where the log is (a directory or a URL prefix), for messages."""

    def get(self, path: str, max_bytes: int) -> bytes | None:
        """The file at ``path`` (relative to the log's prefix), or None when there is none."""
        ...


def _too_large(location: str, path: str, max_bytes: int) -> PublishedLogError:
    return PublishedLogError(f"{location}: {path} is larger than the {max_bytes} bytes such a file can be")


class DirFetcher:
    """A published log in a local directory (what ``provchain publish`` writes)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        root = Path(directory)
        if not root.is_dir():
            raise LedgerNotFoundError(f"{root} is not a directory")
        self.root = root
        self.location = str(root)

    def get(self, path: str, max_bytes: int) -> bytes | None:
        """Read ``path`` under the directory; a missing file gives None, a larger one than ``max_bytes`` an error."""
        target = self.root / path
        try:
            f = open(target, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except IsADirectoryError:
            raise PublishedLogError(f"{target} is a directory, not a file") from None
        except OSError as exc:
            raise TileFetchError(f"cannot read {target}: {exc.strerror}") from None
        with f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise PublishedLogError(f"{target} is not a regular file")
            if st.st_size > max_bytes:
                raise _too_large(self.location, path, max_bytes)
            data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise _too_large(self.location, path, max_bytes)
        return data


class _Deadline(Exception):
    pass


class HttpFetcher:
    """A published log served over HTTP(S) at the URL prefix ``base``."""

    def __init__(self, base: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 0.25) -> None:
        parts = urllib.parse.urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"{base!r} is not an http:// or https:// address")
        if parts.query or parts.fragment:
            raise InputError(f"{base!r}: a log's URL prefix has no query or fragment")
        if not timeout > 0 or isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InputError("timeout must be positive and retries a non-negative integer")
        self.base = base if base.endswith("/") else base + "/"
        self.location = self.base
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = backoff
        self._opener = urllib.request.build_opener(_OnlyHttp())

    def get(self, path: str, max_bytes: int) -> bytes | None:
        """GET ``path``: its bytes, None on 404/410; retried on errors that may pass."""
        url = self.base + path
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                return self._get_once(url, path, max_bytes)
            except urllib.error.HTTPError as exc:
                if exc.code in (404, 410):
                    return None
                if exc.code < 500 and exc.code != 429:
                    raise TileFetchError(f"{url}: the server answered HTTP {exc.code}") from None
                last = f"HTTP {exc.code}"
            except _Deadline:
                last = f"no complete answer within {self.timeout:g} s"
            except (urllib.error.URLError, OSError, HTTPException) as exc:
                reason = getattr(exc, "reason", None) or exc
                last = f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason
        raise TileFetchError(f"{url}: {last} (after {self.retries + 1} attempts)")

    def _get_once(self, url: str, path: str, max_bytes: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        req = urllib.request.Request(
            url, headers={"Accept-Encoding": "gzip, identity", "User-Agent": f"provchain/{__version__}"}
        )
        try:
            resp = self._opener.open(req, timeout=self.timeout)
        except TimeoutError:
            raise _Deadline from None
        with contextlib.closing(resp):
            length = resp.headers.get("Content-Length")
            encoding = (resp.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding not in ("identity", "gzip"):
                raise PublishedLogError(f"{url}: the server sent Content-Encoding {encoding!r} (not asked for)")
            declared = length.strip() if encoding == "identity" and length is not None else ""
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(self.location, path, max_bytes)
            raw = _read_bounded(resp, max_bytes, deadline, lambda: _too_large(self.location, path, max_bytes))
        if encoding == "gzip":
            return _gunzip(raw, max_bytes, url, lambda: _too_large(self.location, path, max_bytes))
        return raw


class _OnlyHttp(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http and https addresses only (never file: or ftp:)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: object, newurl: str
    ) -> urllib.request.Request | None:
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise TileFetchError(f"{req.full_url}: redirected to a non-HTTP address")
        return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]


def _read_bounded(
    resp: IO[bytes], max_bytes: int, deadline: float, too_large: Callable[[], PublishedLogError]
) -> bytes:
    """At most ``max_bytes`` (gzip: compressed; its output is bounded again) before ``deadline``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise _Deadline
        try:
            chunk = resp.read1(_CHUNK) if hasattr(resp, "read1") else resp.read(_CHUNK)
        except TimeoutError:
            raise _Deadline from None
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise too_large()
        chunks.append(chunk)


def _gunzip(raw: bytes, max_bytes: int, url: str, too_large: Callable[[], PublishedLogError]) -> bytes:
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise PublishedLogError(f"{url}: the gzip-encoded answer is corrupt ({exc})") from None
    if len(out) > max_bytes:
        raise too_large()
    if not d.eof or d.unused_data:
        raise PublishedLogError(f"{url}: the gzip-encoded answer is truncated or has trailing bytes")
    return out


def open_fetcher(location: str | os.PathLike[str], *, timeout: float = 30.0, retries: int = 3) -> Fetcher:
    """A fetcher for ``location``: an ``http(s)://`` URL prefix or a directory."""
    if isinstance(location, str) and location.lower().startswith(("http://", "https://")):
        return HttpFetcher(location, timeout=timeout, retries=retries)
    if not isinstance(location, str | os.PathLike):
        raise InputError(f"a published log is a directory or a URL, not {type(location).__name__}")
    return DirFetcher(location)
