"""Static tiles: publishing time and bytes, and auditing from tiles next to auditing from SQLite.

Builds a ledger of SIZE entries (six-event journeys; bench/audit.py's builder), signs a checkpoint, then
measures in the same run:

* publish: ``provchain.tlog.publish`` into an empty directory (every file fsynced, as the command does),
  against the raw limit of the same job: one scan of the entries table and the same bytes written as one
  file (no tiles, no checks, no fsync per file); then a second, incremental run (nothing new to write);
* audit: ``audit_path`` on the SQLite file and ``audit_tiles`` on the published directory, alternated
  ``--repeat`` times, each in a fresh process with the same ``--workers``; the ratio is SQLite seconds over
  tiles seconds (goal >= 0.8: auditing from tiles costs at most 25% more than from the database);
* audit over HTTP: the directory served by the standard library's ``http.server`` (another process, Nagle's
  algorithm off) on 127.0.0.1.

    python bench/tiles.py [--size 20000] [--workers 1] [--repeat 2] [--dir DIR] [--skip-http]
    python bench/tiles.py --size 1000000 --dir /tmp/b1m --publish-only     # the 1M figures for publishing

With --dir the ledger is kept there and reused by the next run of the same size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from audit import _operator, build

HERE = Path(__file__).parent


def _du(d: Path) -> tuple[int, int]:
    files = [p for p in d.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def raw_publish(ledger: Path, out: Path) -> float:
    """The raw limit: read every entry once, write bodies and signatures to one file, one fsync."""
    from provchain.ledger import Ledger

    t = time.perf_counter()
    with Ledger.open(ledger, readonly=True) as led, open(out, "wb") as f:
        for e in led.entries():
            f.write(len(e.body).to_bytes(2, "big"))
            f.write(e.body)
            f.write(e.signature)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - t


def child(kind: str, location: str, workers: int) -> None:
    """One audit in this process; prints its figures as JSON."""
    from provchain.audit import audit_path
    from provchain.tlog import audit_tiles

    vkey = _operator().vkey
    t = time.perf_counter()
    if kind == "sqlite":
        report = audit_path(location, vkey, workers=workers)
    else:
        report = audit_tiles(location, vkey, workers=workers)
    dt = time.perf_counter() - t
    assert report.clean, report.summary()
    print(json.dumps({"size": report.size, "seconds": dt}))


def run_child(kind: str, location: str, workers: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, location, "--workers", str(workers)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


# The standard library's static file server, set up as web servers are: Nagle's algorithm off (else a small
# response waits ~40 ms for the client's delayed ACK between its header and body writes) and a listen
# backlog of 128 (http.server's 5 drops the connections of a client fetching 8 files at once, which then
# wait 1 s for the SYN to be sent again).
_SERVER = """
import functools, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 128
h = functools.partial(H, directory=sys.argv[2])
S(("127.0.0.1", int(sys.argv[1])), h).serve_forever()
"""


def serve(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(port), str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "checkpoint", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the HTTP server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--publish-only", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "LOCATION"))
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.workers)
        return
    from provchain.ledger import Ledger
    from provchain.tlog import publish

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    work.mkdir(parents=True, exist_ok=True)
    ledger = work / f"ledger-{args.size}.db"
    if not ledger.exists():
        build(ledger, args.size)
    with Ledger.open(ledger, _operator()) as led:
        if led.latest_checkpoint() is None or int(led.latest_checkpoint().split(b"\n")[1]) != led.size:
            led.checkpoint()
        size = led.size
    out = work / "tiles"
    shutil.rmtree(out, ignore_errors=True)
    raw = raw_publish(ledger, work / "raw.bin")
    (work / "raw.bin").unlink()
    t = time.perf_counter()
    result = publish(ledger, out)
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = publish(ledger, out)
    second = time.perf_counter() - t
    files, nbytes = _du(out)
    assert again.files_written == 0 and files == result.files_written
    print(f"entries {size:,}")
    print(f"publish: {first:.2f} s ({size / first:,.0f} entries/s), {files:,} files, {nbytes / 1e6:.1f} MB "
          f"({nbytes / size:.0f} B/entry); raw limit {raw:.2f} s: x{first / raw:.2f} of the raw limit")
    print(f"publish again (nothing new): {second:.3f} s")
    if args.publish_only:
        return
    sq, tl = [], []
    for _ in range(args.repeat):  # alternated, each in a fresh process
        sq.append(run_child("sqlite", str(ledger), args.workers))
        tl.append(run_child("tiles", str(out), args.workers))
    best_sq, best_tl = min(sq), min(tl)
    print(f"audit, {args.workers} worker(s), best of {args.repeat}: SQLite {best_sq:.2f} s ({size / best_sq:,.0f}/s), "
          f"tiles {best_tl:.2f} s ({size / best_tl:,.0f}/s); ratio {best_sq / best_tl:.2f} (goal >= 0.8)")
    if not args.skip_http:
        proc, url = serve(out)
        try:
            http_s = min(run_child("tiles", url, args.workers) for _ in range(args.repeat))
        finally:
            proc.terminate()
            proc.wait()
        print(f"audit over loopback HTTP (http.server in another process): {http_s:.2f} s ({size / http_s:,.0f}/s); "
              f"ratio to SQLite {best_sq / http_s:.2f}")
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
