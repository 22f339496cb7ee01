"""The HTTP fetcher of published logs keeps its connections (provchain.tlog.fetch.HttpFetcher): real HTTP/1.1
servers on 127.0.0.1 that keep connections, drop idle ones, redirect, and an HTTP proxy that the environment
names."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import published_origin_log

from provchain import errors as E
from provchain.tlog import HttpFetcher, TiledLog, audit_tiles


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A published log of 600 entries (a few dozen files) under <dir>/log, and the operator's key."""
    log, vkey = published_origin_log(tmp_path_factory.mktemp("site"), 600)
    return log.parent, vkey


class Site:
    """A static HTTP/1.1 server for ``root`` that counts the connections and requests it serves.

    ``close_after`` closes each connection after that many answers without saying so (no ``Connection:
    close``), as a server does with a connection that stayed idle too long; ``redirects`` maps a path to the
    Location it answers 302 with; ``proxy`` makes it an HTTP proxy (it expects absolute URLs, and the
    ``Proxy-Authorization`` value ``auth`` when set)."""

    def __init__(self, root: Path, *, close_after: int = 0, proxy: bool = False, auth: str = "") -> None:
        self.root = root
        self.connections = 0
        self.requests = 0
        self.redirects: dict[str, str] = {}
        self.seen: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with lock:
                    site.connections += 1
                self.answered = 0

            def do_GET(self) -> None:
                with lock:
                    site.requests += 1
                    site.seen.append(self.path)
                path = self.path
                if proxy:
                    if not path.startswith("http://") or (auth and self.headers.get("Proxy-Authorization") != auth):
                        self.send_error(407 if auth else 400)
                        return
                    path = "/" + path.split("/", 3)[3]
                path = path.lstrip("/")
                if path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    file = site.root / path
                    data = file.read_bytes() if file.is_file() else None
                    if data is None:
                        self.send_error(404)
                    else:
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                self.answered += 1
                if close_after and self.answered >= close_after:
                    self.close_connection = True

        lock = threading.Lock()

        class Httpd(http.server.ThreadingHTTPServer):
            request_queue_size = 128

        self.httpd = Httpd(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.origin + "/log/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(site: tuple[Path, str]) -> Iterator[Site]:
    s = Site(site[0])
    yield s
    s.close()


def test_one_connection_serves_a_whole_audit(site: tuple[Path, str], served: Site) -> None:
    report = audit_tiles(served.url, site[1], workers=1, parallel=1)
    assert report.clean, report.summary()
    assert served.requests >= 10  # the checkpoint, tiles and entry bundles, each its own request
    assert served.connections == 1


def test_parallel_fetches_open_at_most_one_connection_per_fetch_thread(site: tuple[Path, str], served: Site) -> None:
    report = audit_tiles(served.url, site[1], workers=1, parallel=4)
    assert report.clean, report.summary()
    assert 1 <= served.connections <= 4 + 1 < served.requests  # the fetch threads, and the caller's


def test_close_closes_and_a_later_request_opens_again(site: tuple[Path, str], served: Site) -> None:
    fetcher = HttpFetcher(served.url)
    with TiledLog(fetcher, parallel=1) as log:
        log.checkpoint(site[1])
        assert fetcher.get("tile/0/000", 8192) is not None
    assert fetcher.connections == 1 and not fetcher._idle  # TiledLog.close closed it
    assert fetcher.get("checkpoint", 65536) is not None
    assert fetcher.connections == 2 and served.connections == 2
    fetcher.close()


def test_a_connection_the_server_dropped_is_opened_again(site: tuple[Path, str]) -> None:
    # The server closes every connection after one answer, without a Connection: close header: the
    # fetcher finds out only when it sends the next request. That is no failed attempt (retries=0).
    s = Site(site[0], close_after=1)
    try:
        with HttpFetcher(s.url, retries=0) as fetcher:
            for _ in range(5):
                assert fetcher.get("checkpoint", 65536) is not None
                assert fetcher.get("tile/0/000", 8192) is not None
                assert fetcher.get("nothing-here", 100) is None  # a 404 answer
        assert s.requests == 15 and s.connections == 15
        assert audit_tiles(s.url, site[1], workers=1, parallel=2, retries=0).clean
    finally:
        s.close()


def test_redirects_are_followed_and_bounded(site: tuple[Path, str], served: Site) -> None:
    served.redirects["moved/checkpoint"] = "../log/checkpoint"  # relative
    served.redirects["away/checkpoint"] = served.url + "checkpoint"  # absolute
    expected = (site[0] / "log" / "checkpoint").read_bytes()
    with HttpFetcher(served.origin + "/moved/") as f:
        assert f.get("checkpoint", 65536) == expected
    with HttpFetcher(served.origin + "/away/") as f:
        assert f.get("checkpoint", 65536) == expected
    for i in range(6):
        served.redirects[f"loop{i}/checkpoint"] = f"/loop{i + 1}/checkpoint"
    with HttpFetcher(served.origin + "/loop1/") as f:  # 5 hops end on the file
        assert f.get("checkpoint", 65536) is None  # /loop6 is not redirected: no such file
    with HttpFetcher(served.origin + "/loop0/") as f, pytest.raises(E.TileFetchError, match="more than 5 redirects"):
        f.get("checkpoint", 65536)
    served.redirects["evil/checkpoint"] = "file:///etc/passwd"
    with HttpFetcher(served.origin + "/evil/") as f, pytest.raises(E.TileFetchError, match="non-HTTP address"):
        f.get("checkpoint", 65536)
    assert served.connections == 5  # one per fetcher: all the hops of its fetch on its one connection


@pytest.mark.parametrize("with_auth", [False, True])
def test_the_environment_proxy_is_used(
    site: tuple[Path, str], served: Site, monkeypatch: pytest.MonkeyPatch, with_auth: bool
) -> None:
    auth = "Basic " + base64.b64encode(b"buyer:s3cret").decode() if with_auth else ""
    proxy = Site(site[0], proxy=True, auth=auth)
    try:
        where = proxy.origin.replace("http://", "http://buyer:s3cret@" if with_auth else "http://")
        for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", where)
        assert audit_tiles(served.url, site[1], workers=1, parallel=1).clean
        assert served.requests == 0  # every request went through the proxy
        assert proxy.requests >= 10 and proxy.connections == 1
        assert all(p.startswith(served.url) for p in proxy.seen)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert audit_tiles(served.url, site[1], workers=1, parallel=1).clean
        assert served.requests >= 10  # no_proxy: straight to the server
    finally:
        proxy.close()


def test_a_wrong_proxy_password_is_a_clear_error(
    site: tuple[Path, str], served: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = Site(site[0], proxy=True, auth="Basic " + base64.b64encode(b"buyer:right").decode())
    try:
        for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.origin.replace("http://", "http://buyer:wrong@"))
        with pytest.raises(E.TileFetchError, match="HTTP 407"):
            HttpFetcher(served.url).get("checkpoint", 65536)
        monkeypatch.setenv("http_proxy", "ftp://127.0.0.1:1")
        with pytest.raises(E.TileFetchError, match="not an http:// address"):
            HttpFetcher(served.url).get("checkpoint", 65536)
    finally:
        proxy.close()
