"""Reading a published log's files: from a directory or over HTTP(S), each response size-bounded.

A *fetcher* answers ``get(path, max_bytes)`` with the file's bytes, or None when the log has no such file
(HTTP 404 or 410, or no file in the directory). It refuses a response larger than ``max_bytes``
(:class:`PublishedLogError`: a tile is 8 KiB, a bundle at most a few MiB, so a larger answer is a hostile or
broken server, never a bigger file to wait for), and gives up on a server that does not answer in time
(:class:`TileFetchError`). Fetchers are safe to call from several threads at once: the reader fetches in
parallel.

The HTTP fetcher uses :mod:`http.client` from the standard library and keeps its connections open between
requests (HTTP/1.1 keep-alive; one connection per fetching thread and server, closed by :meth:`HttpFetcher.close`):
an audit reads thousands of tiles, and a new TCP and TLS handshake for each cost more than the tile. A kept
connection that the server closed meanwhile is opened again at once (that is no failed attempt). Each request
has a deadline for the whole response (``timeout``), not only for each socket read, so a server that trickles
one byte at a time cannot hold it; connection errors, timeouts and 5xx answers are retried (``retries`` times,
with a short backoff); ``Content-Encoding: gzip`` is decoded (the spec lets logs compress entry bundles) with the
same size bound on the decoded bytes; only ``http`` and ``https`` addresses are followed, redirects included (at
most five). The proxy settings of the environment (``http_proxy``, ``https_proxy``, ``no_proxy``) are honoured as
:mod:`urllib` would.
"""

from __future__ import annotations

import base64
import http.client
import os
import stat
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
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


class _Status(Exception):
    """An HTTP answer other than 200 (and other than a redirect, 404 or 410)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


_MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_DRAIN = 65536  # an unread answer body up to this size is read to keep its connection; a larger one closes it
# What a kept connection raises when the server closed it while it was idle (before any byte of the answer).
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

_Key = tuple[str, str, int]  # scheme, host, port of the server the connection goes to (a proxy's for http)


class HttpFetcher:
    """A published log served over HTTP(S) at the URL prefix ``base``; connections are kept between requests
    (call :meth:`close`, or use it as a context manager, to close them)."""

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
        self._proxies = urllib.request.getproxies()
        self._proxies_for: dict[_Key, tuple[str, str, int, str] | None] = {}  # the proxy of each server, once
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}  # open connections no request uses now
        self._lock = threading.Lock()
        self.connections = 0
        """How many connections were opened (a kept one serves many requests)."""

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections this fetcher keeps open (it opens new ones if used again)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def get(self, path: str, max_bytes: int) -> bytes | None:
        """GET ``path``: its bytes, None on 404/410; retried on errors that may pass."""
        url = self.base + path
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                return self._get_once(url, path, max_bytes)
            except _Status as exc:
                if exc.code < 500 and exc.code != 429:
                    raise TileFetchError(f"{url}: the server answered HTTP {exc.code}") from None
                last = f"HTTP {exc.code}"
            except _Deadline:
                last = f"no complete answer within {self.timeout:g} s"
            except (OSError, http.client.HTTPException) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise TileFetchError(f"{url}: {last} (after {self.retries + 1} attempts)")

    def _get_once(self, url: str, path: str, max_bytes: int) -> bytes | None:
        deadline = time.monotonic() + self.timeout
        for _hop in range(_MAX_REDIRECTS + 1):
            key, conn, resp = self._request(url, deadline)
            if resp.status in _REDIRECTS:
                target = urllib.parse.urljoin(url, resp.getheader("Location") or "")
                self._finish(key, conn, resp)
                if urllib.parse.urlsplit(target).scheme not in ("http", "https"):
                    raise TileFetchError(f"{self.base + path}: redirected to a non-HTTP address")
                url = target
                continue
            if resp.status in (404, 410):
                self._finish(key, conn, resp)
                return None
            if resp.status != 200:
                self._finish(key, conn, resp)
                raise _Status(resp.status)
            try:
                data = self._body(resp, url, path, max_bytes, deadline)
            except BaseException:
                conn.close()
                raise
            self._finish(key, conn, resp)
            return data
        raise TileFetchError(f"{self.base + path}: more than {_MAX_REDIRECTS} redirects")

    def _body(self, resp: http.client.HTTPResponse, url: str, path: str, max_bytes: int, deadline: float) -> bytes:
        def too_large() -> PublishedLogError:
            return _too_large(self.location, path, max_bytes)

        length = resp.getheader("Content-Length")
        encoding = (resp.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding not in ("identity", "gzip"):
            raise PublishedLogError(f"{url}: the server sent Content-Encoding {encoding!r} (not asked for)")
        declared = length.strip() if encoding == "identity" and length is not None else ""
        if declared.isdigit() and int(declared) > max_bytes:
            raise too_large()
        raw = _read_bounded(resp, max_bytes, deadline, too_large)
        return _gunzip(raw, max_bytes, url, too_large) if encoding == "gzip" else raw

    # --- connections ------------------------------------------------------------------------------

    def _request(
        self, url: str, deadline: float
    ) -> tuple[_Key, http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send GET ``url`` on a kept connection to its server if one is idle, else on a new one; a kept
        connection the server closed while idle is replaced once, at once."""
        parts = urllib.parse.urlsplit(url)
        host, port = _host_port(parts, f"{url}: not an http:// or https:// address", f"{url}: the port is not a number")
        key: _Key = (parts.scheme, host, port)
        if key in self._proxies_for:
            proxy = self._proxies_for[key]
        else:  # once per server: proxy_bypass reads the environment and may resolve names
            proxy = self._proxies_for[key] = self._proxy(parts.scheme, host)
        if proxy is not None and parts.scheme == "http":
            target = url  # a plain-HTTP proxy takes the whole address
        else:  # the server itself, or through a proxy's CONNECT tunnel
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Accept-Encoding": "gzip, identity", "User-Agent": f"provchain/{__version__}"}
        if proxy is not None and parts.scheme == "http" and proxy[3]:
            headers["Proxy-Authorization"] = proxy[3]
        with self._lock:
            idle = self._idle.get(key)
            conn = idle.pop() if idle else None
        for fresh in ((False, True) if conn is not None else (True,)):
            if fresh:
                conn = self._connect(parts.scheme, host, port, proxy)
            assert conn is not None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Deadline
            conn.timeout = min(self.timeout, remaining)
            if conn.sock is not None:
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request("GET", target, headers=headers)
                return key, conn, conn.getresponse()
            except TimeoutError:
                conn.close()
                raise _Deadline from None
            except _STALE:
                conn.close()
                if fresh:
                    raise
            except BaseException:
                conn.close()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(
        self, scheme: str, host: str, port: int, proxy: tuple[str, str, int, str] | None
    ) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if proxy is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = cls(host, port, timeout=self.timeout)
        else:
            pscheme, phost, pport, auth = proxy
            cls = http.client.HTTPSConnection if pscheme == "https" else http.client.HTTPConnection
            if scheme == "https":  # a tunnel through the proxy: TLS end to end with the log's server
                conn = http.client.HTTPSConnection(phost, pport, timeout=self.timeout)
                conn.set_tunnel(host, port, headers={"Proxy-Authorization": auth} if auth else None)
            else:
                conn = cls(phost, pport, timeout=self.timeout)
        with self._lock:
            self.connections += 1
        return conn

    def _proxy(self, scheme: str, host: str) -> tuple[str, str, int, str] | None:
        """The proxy to reach ``host`` by (scheme, host, port, Proxy-Authorization value), or None."""
        url = self._proxies.get(scheme)
        if not url or urllib.request.proxy_bypass(host):
            return None
        parts = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        phost, port = _host_port(
            parts,
            f"the {scheme} proxy setting {url!r} is not an http:// address",
            f"the {scheme} proxy setting {url!r} has a port that is not a number",
        )
        auth = ""
        if parts.username is not None:
            creds = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(creds.encode()).decode("ascii")
        return parts.scheme, phost, port, auth

    def _finish(self, key: _Key, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        """Done with ``resp``: keep its connection for a next request when the server allows it and the rest of
        the answer is small (read and thrown away), else close it."""
        try:
            if not resp.isclosed():
                rest = resp.read(_DRAIN + 1)
                if len(rest) > _DRAIN or not resp.isclosed():
                    conn.close()
                    return
        except (OSError, http.client.HTTPException):
            conn.close()
            return
        if resp.will_close or conn.sock is None:
            conn.close()
            return
        with self._lock:
            self._idle.setdefault(key, []).append(conn)


def _host_port(parts: urllib.parse.SplitResult, not_http: str, bad_port: str) -> tuple[str, int]:
    """The host and port of an http(s) address (the scheme's port when none is given); ``not_http`` or
    ``bad_port`` is the :class:`TileFetchError` message of an address that has none."""
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TileFetchError(not_http)
    try:
        return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TileFetchError(bad_port) from None


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
