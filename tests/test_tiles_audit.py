"""Auditing a published log (provchain.tlog.audit, `provchain audit DIR_OR_URL`): from a directory and over
HTTP from a real server on 127.0.0.1, clean and tampered, and against hostile servers."""

from __future__ import annotations

import gzip
import http.server
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import clirun
import pytest
from conftest import ORIGIN, Clock, journey
from hypothesis import given, settings
from hypothesis import strategies as st

from provchain import KeyPair, Ledger, merkle
from provchain import errors as E
from provchain.audit import audit_path
from provchain.checkpoint import Checkpoint, sign_checkpoint
from provchain.tlog import DirFetcher, HttpFetcher, TiledLog, audit_tiles, layout, publish

Behaviour = Callable[[http.server.BaseHTTPRequestHandler, bytes], bool]


class Server:
    """A static file server for a published log on 127.0.0.1, with per-path misbehaviour for the tests."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits: dict[str, int] = {}
        self.hostile: dict[str, Behaviour] = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                server.hits[path] = server.hits.get(path, 0) + 1
                file = server.root / path
                data = file.read_bytes() if file.is_file() else None
                act = server.hostile.get(path)
                if act is not None and act(self, data or b""):
                    return
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Httpd(http.server.ThreadingHTTPServer):
            request_queue_size = 128  # (http.server's 5 drops connections of a client fetching 8 files at once)

        self.httpd = Httpd(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/log/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def published(ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> Path:
    """A ledger of 306 entries, checkpointed, published to tmp_path/www/log."""
    with ledger.batch():
        for i in range(50):
            journey(ledger, parties, f"item-{i:03d}")
    ledger.checkpoint()
    out = tmp_path / "www" / "log"
    publish(ledger, out)
    return out


@pytest.fixture
def server(published: Path) -> Iterator[Server]:
    s = Server(published.parent)
    yield s
    s.close()


def vkey(led: Ledger) -> str:
    return led.operator_vkey


def test_audit_directory_clean(ledger: Ledger, ledger_path: Path, published: Path) -> None:
    report = audit_tiles(published, vkey(ledger), workers=1)
    assert report.clean, report.summary()
    assert report.size == 306 and report.root == ledger.root() and report.signatures_checked == 306
    assert report.checkpoints_checked == 1 and report.signed_checkpoint == ledger.latest_checkpoint().decode()
    assert "published tiles" in report.source
    # the same verdict as the audit of the ledger file
    direct = audit_path(ledger_path, vkey(ledger), workers=1)
    assert (direct.size, direct.root, direct.signatures_checked) == (
        report.size, report.root, report.signatures_checked
    )
    # audit_path takes the directory too
    assert audit_path(published, vkey(ledger), workers=1).clean


def test_audit_http_clean_and_cached(ledger: Ledger, server: Server) -> None:
    report = audit_tiles(server.url, vkey(ledger), workers=2, parallel=4)
    assert report.clean, report.summary()
    assert report.size == 306
    # every file was fetched once: bundles, signatures and tiles (the tile cache serves the rest)
    assert server.hits["log/tile/0/000"] == 1 and server.hits["log/tile/entries/000"] == 1
    assert server.hits["log/tile/sigs/001.p/50"] == 1 and server.hits["log/tile/1/000.p/1"] == 1


def test_audit_with_since(ledger: Ledger, parties: dict[str, KeyPair], published: Path) -> None:
    first = audit_tiles(published, vkey(ledger), workers=1)
    journey(ledger, parties, "later")
    ledger.checkpoint()
    publish(ledger, published)
    second = audit_tiles(published, vkey(ledger), workers=1, since=first.checkpoint_to_save.encode())
    assert second.clean and second.since is not None and second.since.size == 306


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_changed_tile_byte(ledger: Ledger, published: Path) -> None:
    flip(published / "tile/0/000", 32 * 7 + 3)
    report = audit_tiles(published, vkey(ledger), workers=1)
    assert not report.clean
    assert report.findings_by_check == {"leaf-hash": 1}
    assert report.findings[0].index == 7
    flip(published / "tile/0/000", 32 * 7 + 3)
    flip(published / "tile/1/000.p/1", 0)
    report = audit_tiles(published, vkey(ledger), workers=1)
    assert report.findings_by_check == {"merkle-node": 1}


def test_changed_entry(ledger: Ledger, published: Path) -> None:
    bundle = published / "tile/entries/001.p/50"
    entries = layout.decode_bundle(bundle.read_bytes(), 50)
    j = next(j for j, body in enumerate(entries) if b"Hangzhou" in body)
    body = entries[j]
    at = body.find(b"Hangzhou")
    entries[j] = body[:at] + b"Hangzhoo" + body[at + 8 :]
    bundle.write_bytes(layout.encode_bundle(entries))
    report = audit_tiles(published, vkey(ledger), workers=1)
    checks = report.findings_by_check
    assert checks.get("signature") == 1 and checks.get("leaf-hash") == 1 and checks.get("checkpoint") == 1
    assert {f.index for f in report.findings if f.index is not None} == {256 + j}


def test_changed_signature(ledger: Ledger, published: Path) -> None:
    flip(published / "tile/sigs/000", 64 * 100 + 5)
    report = audit_tiles(published, vkey(ledger), workers=1)
    assert report.findings_by_check == {"signature": 1} and report.findings[0].index == 100


@pytest.mark.parametrize("missing", ["tile/entries/000", "tile/sigs/001.p/50", "tile/0/001.p/50", "tile/1/000.p/1"])
def test_missing_file(ledger: Ledger, published: Path, missing: str) -> None:
    (published / missing).unlink()
    with pytest.raises(E.PublishedLogError, match=f"{missing} is missing"):
        audit_tiles(published, vkey(ledger), workers=1)


@pytest.mark.parametrize("target", ["tile/entries/000", "tile/sigs/000", "tile/0/000"])
def test_malformed_file(ledger: Ledger, published: Path, target: str) -> None:
    path = published / target
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(E.PublishedLogError, match=target):
        audit_tiles(published, vkey(ledger), workers=1)


def test_checkpoint_for_a_bigger_tree(ledger: Ledger, published: Path, operator: KeyPair) -> None:
    # A validly signed checkpoint of 400 entries over tiles of 306: the tiles it needs are not there.
    note = sign_checkpoint(Checkpoint(ORIGIN, 400, merkle.leaf_hash(b"x")), operator)
    (published / "checkpoint").write_bytes(note)
    with pytest.raises(E.PublishedLogError, match="is missing"):
        audit_tiles(published, vkey(ledger), workers=1)
    # and one of 200 over the same files: the 200-wide tiles are not there either
    (published / "checkpoint").write_bytes(sign_checkpoint(Checkpoint(ORIGIN, 200, ledger.root(200)), operator))
    with pytest.raises(E.PublishedLogError, match=r"tile/entries/000.p/200 is missing"):
        audit_tiles(published, vkey(ledger), workers=1)


def test_checkpoint_not_signed_by_the_pinned_key(ledger: Ledger, published: Path) -> None:
    other = KeyPair.from_seed(ORIGIN, bytes([7]) * 32)
    (published / "checkpoint").write_bytes(sign_checkpoint(Checkpoint(ORIGIN, 306, ledger.root()), other))
    with pytest.raises(E.PublishedLogError, match="does not verify by the pinned key"):
        audit_tiles(published, vkey(ledger), workers=1)
    (published / "checkpoint").unlink()
    with pytest.raises(E.LedgerNotFoundError, match="no checkpoint"):
        audit_tiles(published, vkey(ledger), workers=1)


def test_hostile_server_huge_response(ledger: Ledger, server: Server) -> None:
    def huge(h: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
        h.send_response(200)
        h.end_headers()  # no Content-Length: the reader must stop by itself
        try:
            for _ in range(64):
                h.wfile.write(b"\x00" * 65536)
        except OSError:
            pass
        return True

    server.hostile["log/tile/0/000"] = huge
    with pytest.raises(E.PublishedLogError, match="larger than the 8192 bytes"):
        audit_tiles(server.url, vkey(ledger), workers=1)
    server.hostile.clear()

    def bomb(h: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
        body = gzip.compress(b"\x00" * (8 << 20))
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        return True

    server.hostile["log/checkpoint"] = bomb
    with pytest.raises(E.PublishedLogError, match="larger than the 65536 bytes"):
        audit_tiles(server.url, vkey(ledger), workers=1)


def test_hostile_server_slow_response(ledger: Ledger, server: Server) -> None:
    def slow(h: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            for i in range(len(data)):  # one byte at a time: each read is quick, the whole never ends in time
                h.wfile.write(data[i : i + 1])
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
        return True

    server.hostile["log/tile/entries/000"] = slow
    with pytest.raises(E.TileFetchError, match=r"no complete answer within 0\.5 s"):
        audit_tiles(server.url, vkey(ledger), workers=1, timeout=0.5, retries=1)


def test_server_errors_are_retried(ledger: Ledger, server: Server) -> None:
    failures = {"n": 0}

    def flaky(h: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
        if failures["n"] < 2:
            failures["n"] += 1
            h.send_error(503)
            return True
        return False

    server.hostile["log/tile/0/000"] = flaky
    assert audit_tiles(server.url, vkey(ledger), workers=1, retries=2).clean
    assert server.hits["log/tile/0/000"] == 3
    failures["n"] = 0
    with pytest.raises(E.TileFetchError, match="HTTP 503"):
        audit_tiles(server.url, vkey(ledger), workers=1, retries=1)


def test_gzip_encoded_bundles(ledger: Ledger, server: Server) -> None:
    def gz(h: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
        body = gzip.compress(data)
        h.send_response(200)
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        return True

    server.hostile["log/tile/entries/000"] = gz
    assert audit_tiles(server.url, vkey(ledger), workers=1).clean


def test_unreachable_server(ledger: Ledger) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nobody listens there
    with pytest.raises(E.TileFetchError, match="after 2 attempts"):
        audit_tiles(f"http://127.0.0.1:{port}/", vkey(ledger), retries=1)


def test_fetcher_arguments() -> None:
    for bad in ("ftp://x/", "http://", "http://h/?q=1", "file:///etc/"):
        with pytest.raises(E.InputError):
            HttpFetcher(bad)
    with pytest.raises(E.LedgerNotFoundError):
        DirFetcher("/nonexistent/dir")


def test_proofs_and_a_code_anchor_against_the_published_tree(
    ledger: Ledger, parties: dict[str, KeyPair], server: Server, clock: Clock
) -> None:
    from provchain import code

    # A code made against the published checkpoint, then the log grows and is published again.
    report = code.verify(code.make(ledger, "item-007", "full", at=clock.now), vkey(ledger), at=clock.now)
    assert report.tree_size == 306
    with TiledLog(HttpFetcher(server.url)) as log:
        cp, _ = log.checkpoint(vkey(ledger))
        log.verify_anchor(report.head_hash, report.head_index, report.tree_size, report.root, cp)
        with pytest.raises(E.ProofError):
            log.verify_anchor(report.head_hash, report.head_index - 1, report.tree_size, report.root, cp)
        with pytest.raises(E.ConsistencyError):
            log.verify_anchor(report.head_hash, report.head_index, report.tree_size, merkle.leaf_hash(b""), cp)
    journey(ledger, parties, "item-late")
    ledger.checkpoint()
    publish(ledger, server.root / "log")
    with TiledLog(HttpFetcher(server.url)) as log:
        cp, _ = log.checkpoint(vkey(ledger))
        assert cp.size == 312
        log.verify_anchor(report.head_hash, report.head_index, report.tree_size, report.root, cp)
        with pytest.raises(E.InputError, match="published tree has 312"):
            log.verify_anchor(report.head_hash, report.head_index, 400, report.root, cp)
    with TiledLog(HttpFetcher(server.url)) as log:
        cp, _ = log.checkpoint(vkey(ledger))
        for index in (0, 5, 255, 256, 305):
            assert log.inclusion_proof(index, 312) == ledger.inclusion_proof(index, 312)
            assert log.inclusion_proof(index, 306) == ledger.inclusion_proof(index, 306)
            log.verify_inclusion(ledger.entry(index).leaf_hash, index, cp)
        for size in (1, 7, 256, 257, 300):
            assert log.consistency_proof(size, 306) == ledger.consistency_proof(size, 306)
            log.verify_older_root(size, ledger.root(size), cp)
        with pytest.raises(E.InclusionError):
            log.verify_inclusion(ledger.entry(4).leaf_hash, 5, cp)


def test_cli_audit_directory_and_url(ledger: Ledger, published: Path, server: Server) -> None:
    res = clirun.run("audit", str(published), "--operator", vkey(ledger), "--workers", "1")
    assert res.exit_code == 0 and "Verdict: CLEAN" in res.output, res.output
    res = clirun.run("audit", server.url, "--operator", vkey(ledger), "--workers", "1")
    assert res.exit_code == 0 and "Verdict: CLEAN" in res.output, res.output
    flip(published / "tile/sigs/000", 3)
    res = clirun.run("audit", server.url, "--operator", vkey(ledger), "--workers", "1")
    assert res.exit_code == 1 and "signature" in res.output
    (published / "tile/0/000").unlink()
    clirun.fails(1, "tile/0/000 is missing", "audit", str(published), "--operator", vkey(ledger))
    shutil.rmtree(published / "tile")
    (published / "checkpoint").unlink()
    clirun.fails(2, "no checkpoint", "audit", str(published), "--operator", vkey(ledger))
    clirun.fails(2, "no checkpoint", "audit", server.url + "nothing/", "--operator", vkey(ledger))


def test_hostile_checkpoints_and_paths(ledger: Ledger, published: Path, server: Server) -> None:
    for junk in (b"", b"\xff\xfe", b"example.com/acme-ledger\n306\nnot base64\n\n", b"x" * 70000):
        (published / "checkpoint").write_bytes(junk)
        with pytest.raises(E.PublishedLogError):
            audit_tiles(published, vkey(ledger), workers=1)
    (published / "tile/0/000").unlink()
    (published / "tile/0/000").mkdir()
    with pytest.raises(E.PublishedLogError, match="not a file"):
        DirFetcher(published).get("tile/0/000", 8192)

    def to_file(h: http.server.BaseHTTPRequestHandler, data: bytes) -> bool:
        h.send_response(302)
        h.send_header("Location", "ftp://127.0.0.1/checkpoint")
        h.end_headers()
        return True

    server.hostile["log/checkpoint"] = to_file
    with pytest.raises(E.TileFetchError, match="non-HTTP address"):
        HttpFetcher(server.url).get("checkpoint", 100)


def test_cli_audit_url_writes_reports(ledger: Ledger, server: Server, tmp_path: Path) -> None:
    report, saved = tmp_path / "report.json", tmp_path / "saved.cp"
    res = clirun.run(
        "audit", server.url, "--operator", vkey(ledger), "--workers", "1", "--report", str(report),
        "--save-checkpoint", str(saved),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert saved.read_bytes() == ledger.latest_checkpoint()
    assert '"clean": true' in report.read_text()
    res = clirun.run("audit", server.url, "--operator", vkey(ledger), "--workers", "1", "--since", str(saved))
    assert res.exit_code == 0 and "since       saved checkpoint at size 306" in res.output


# --- fuzz: random damage to a published log never passes -------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from conftest import published_origin_log

    return published_origin_log(tmp_path_factory.mktemp("pristine"), 270)


@settings(max_examples=30)
@given(data=st.data())
def test_fuzz_damaged_published_log(pristine: tuple[Path, str], data: st.DataObject) -> None:
    src, key = pristine
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "log"
        shutil.copytree(src, d)
        target = d / data.draw(st.sampled_from(files))
        raw = bytearray(target.read_bytes())
        how = data.draw(st.sampled_from(["flip", "truncate", "extend", "delete"]))
        if how == "flip":
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
            target.write_bytes(bytes(raw))
        elif how == "truncate":
            target.write_bytes(bytes(raw[: data.draw(st.integers(0, len(raw) - 1))]))
        elif how == "extend":
            target.write_bytes(bytes(raw) + data.draw(st.binary(min_size=1, max_size=40)))
        else:
            target.unlink()
        try:
            report = audit_tiles(d, key, workers=1)
        except E.ProvchainError:
            return  # refused, with a message: never a pass
        assert not report.clean, (target, how)


def test_cli_check_published(ledger: Ledger, parties: dict[str, KeyPair], server: Server, clock: Clock) -> None:
    from provchain import code

    payload = code.make(ledger, "item-007", at=clock.now)
    at = "2025-10-20T00:00:00Z"  # after the code's issue time (T0 + 100 h)
    res = clirun.ok("check-published", payload, "--log", server.url, "--operator", vkey(ledger), "--at", at)
    assert res.output.startswith("VERIFIED  6 events of item-007; the code's tree of 306 entries is a prefix")
    # the log grows and is published again: the old code still checks out against the larger tree
    journey(ledger, parties, "item-late")
    ledger.checkpoint()
    publish(ledger, server.root / "log")
    res = clirun.ok("check-published", payload, "--log", server.url, "--operator", vkey(ledger), "--at", at)
    assert "published tree of 312 entries" in res.output
    # a log that is not the one the code was anchored in
    other = server.root / "other"
    op2 = KeyPair.from_seed(ORIGIN, bytes(range(32)))  # the same operator key, another history
    with Ledger.create(server.root / "other.db", origin=ORIGIN, operator=op2, clock=clock) as led2:
        with led2.batch():
            for i in range(320):
                led2.register_party(f"p{i}", ["origin"], KeyPair.from_seed(f"p{i}", i.to_bytes(2) * 16).public_key)
        led2.checkpoint()
        publish(led2, other)
    clirun.fails(1, "consistency", "check-published", payload, "--log", str(other), "--operator", vkey(ledger),
                 "--at", at)  # fmt: skip
    clirun.fails(2, "no checkpoint", "check-published", payload, "--log", str(server.root), "--operator",
                 vkey(ledger), "--at", at)  # fmt: skip
    clirun.fails(1, "the code is refused", "check-published", payload[:-3] + "AAA", "--log", server.url, "--operator",
                 vkey(ledger))  # fmt: skip
    clirun.fails(2, "a verifier key has the form", "check-published", payload, "--log", server.url, "--operator", "x")
