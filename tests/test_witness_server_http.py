"""The witness as a real process on 127.0.0.1: HTTP limits, slow clients, restarts and kill -9.

Every server here is ``provchain witness serve`` in a subprocess (tests/witness_proc.py); no timing is
asserted, only outcomes (bounds on waiting are generous liveness limits)."""

from __future__ import annotations

import base64
import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ORIGIN, T0, journey
from witness_proc import WitnessProc

from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.witness import Cosignature, CosignatureVerifier, split_note
from provchain.witness_server import SIZE_CONTENT_TYPE, format_add_checkpoint

LIVENESS = 60.0  # seconds: how long a test waits for something that must happen; never an assertion on speed


@pytest.fixture
def grown(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    """The shared ledger with many checkpoints: one after the registrations, then one after each event."""
    ledger.checkpoint()
    for n in range(3):
        journey(ledger, parties, f"SERUM-{n:04d}", start=T0 + (1 + 10 * n) * 3_600_000)
        ledger.checkpoint()
    return ledger


@pytest.fixture
def wit(tmp_path: Path, operator: KeyPair) -> Iterator[WitnessProc]:
    w = WitnessProc(tmp_path, "witness.example/w1", 11, [operator.vkey], timeout=2.0).start()
    yield w
    w.stop()
    log = w.stderr_path.read_text()
    assert "Traceback" not in log and "internal error" not in log, log


def request(led: Ledger, old: int, size: int) -> bytes:
    note = dict(led.store.checkpoints())[size]
    return format_add_checkpoint(old, led.consistency_proof(old, size) if 0 < old < size else [], note)


def raw_exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, read the reply until the server closes or a full reply with a body arrived."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=LIVENESS) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading everything
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return out


def test_add_checkpoint_over_http(grown: Ledger, wit: WitnessProc) -> None:
    sizes = [s for s, _ in grown.store.checkpoints()]
    status, ctype, body = wit.post(request(grown, 0, sizes[0]))
    assert (status, ctype) == (200, "text/plain; charset=utf-8")
    cosig = Cosignature.from_line(body.decode())
    assert cosig is not None
    note = dict(grown.store.checkpoints())[sizes[0]]
    CosignatureVerifier.from_vkey(wit.key.vkey).check(split_note(note)[0], cosig)
    assert wit.post(request(grown, 0, sizes[1])) == (409, SIZE_CONTENT_TYPE, b"%d\n" % sizes[0])
    assert wit.post(request(grown, sizes[0], sizes[1]))[0] == 200
    # the stderr log names the origin and size of each request
    assert f"add-checkpoint {ORIGIN} size {sizes[1]}: 200" in wit.stderr_path.read_text()


def test_paths_methods_and_limits(wit: WitnessProc) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", wit.port, timeout=LIVENESS)
    conn.request("GET", "/add-checkpoint")
    resp = conn.getresponse()
    assert (resp.status, resp.getheader("Allow")) == (405, "POST")
    resp.read()
    conn.request("POST", "/other", body=b"x")  # the same kept-alive connection
    resp = conn.getresponse()
    assert resp.status == 404
    resp.read()
    conn.request("BREW", "/add-checkpoint")
    assert conn.getresponse().status == 405
    conn.close()
    assert wit.post(b"garbage")[0] == 400
    assert raw_exchange(wit.port, b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 411 ")
    big = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
    assert raw_exchange(wit.port, big).startswith(b"HTTP/1.1 413 ")
    chunked = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert raw_exchange(wit.port, chunked).startswith(b"HTTP/1.1 411 ")
    huge_head = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw_exchange(wit.port, huge_head).startswith(b"HTTP/1.1 431 ")
    assert raw_exchange(wit.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414 ")
    assert raw_exchange(wit.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    bad_length = b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"
    assert raw_exchange(wit.port, bad_length).startswith(b"HTTP/1.1 400 ")
    # still serving
    assert wit.post(b"old 0\n\n")[0] == 400


def test_slow_client_does_not_block_others_and_is_cut_off(grown: Ledger, wit: WitnessProc) -> None:
    (s1, _), *_ = grown.store.checkpoints()
    slow = socket.create_connection(("127.0.0.1", wit.port), timeout=LIVENESS)
    slow.sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nold 0\n")  # and stalls
    idle = socket.create_connection(("127.0.0.1", wit.port), timeout=LIVENESS)  # sends nothing at all
    assert wit.post(request(grown, 0, s1))[0] == 200  # served while both are held open
    # the server's deadline (2 s here) closes both: the reads end, with no reply for the half-sent request
    assert slow.recv(1024) == b""
    assert idle.recv(1024) == b""
    slow.close()
    idle.close()


def test_trickling_client_is_cut_off(wit: WitnessProc) -> None:
    """A client that sends one header byte at a time never resets the deadline."""
    s = socket.create_connection(("127.0.0.1", wit.port), timeout=LIVENESS)
    closed = threading.Event()

    def trickle() -> None:
        try:
            for _ in range(10_000):
                s.sendall(b"a")
                if closed.wait(0.2):
                    return
        except OSError:
            closed.set()

    t = threading.Thread(target=trickle, daemon=True)
    s.sendall(b"POST /add-checkpoint HTTP/1.1\r\nX-Slow: ")
    t.start()
    try:
        data = s.recv(1024)
    except ConnectionResetError:
        data = b""
    closed.set()
    assert data == b""
    s.close()


def test_restart_keeps_state(grown: Ledger, wit: WitnessProc) -> None:
    sizes = [s for s, _ in grown.store.checkpoints()]
    assert wit.post(request(grown, 0, sizes[1]))[0] == 200
    wit.stop()
    wit.start()  # same state file, same port
    assert wit.post(request(grown, 0, sizes[2])) == (409, SIZE_CONTENT_TYPE, b"%d\n" % sizes[1])
    assert wit.post(request(grown, sizes[1], sizes[2]))[0] == 200


def test_kill9_mid_stream_never_cosigns_inconsistent_checkpoints(
    grown: Ledger, wit: WitnessProc, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    """A client streams every checkpoint in turn; the witness is killed with SIGKILL while it runs and
    restarted on the same state. Every size it acknowledged (200) is at most what its state holds after
    the restart, and a fork of that state is refused."""
    notes = list(grown.store.checkpoints())
    sizes = [s for s, _ in notes]
    bodies = {(old, size): request(grown, old, size) for size in sizes for old in [0, *sizes] if old <= size}
    cosigned: list[int] = []
    stop = threading.Event()

    def stream() -> None:
        old = 0
        while not stop.is_set():
            for size, _ in notes:
                if size < old:
                    continue
                try:
                    status, _, body = wit.post(bodies[(old, size)])
                except OSError:
                    return
                if status == 200:
                    cosigned.append(size)
                    old = size
                elif status == 409 and body.strip().isdigit():
                    old = int(body)
            old = 0  # start over: 409s from here on (the witness is at the top)

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    while len(cosigned) < 2 and t.is_alive():
        t.join(0.05)
    wit.kill9()
    stop.set()
    t.join(LIVENESS)
    assert cosigned, "the stream got no cosignature before the kill"
    wit.start()
    status, ctype, body = wit.post(request_zero(notes[0][1]))
    stored = int(body) if (status, ctype) == (409, SIZE_CONTENT_TYPE) else notes[0][0]
    assert stored >= max(cosigned)  # what was acknowledged was on disk
    assert stored in [s for s, _ in notes]
    # a fork at the stored size is refused, whichever proof it brings
    fork = Ledger.create(tmp_path / "fork.db", origin=ORIGIN, operator=operator, at=T0)
    for role, kp in parties.items():
        fork.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    journey(fork, parties, "SERUM-FAKE", start=T0 + 3_600_000)
    while fork.size < stored + 1:
        journey(fork, parties, f"FAKE-{fork.size}", start=T0 + 3_600_000)
    fork_note = fork.checkpoint()
    assert fork.root(stored) != grown.root(stored)
    status, _, _ = wit.post(format_add_checkpoint(stored, fork.consistency_proof(stored), fork_note))
    assert status == 422
    fork.close()


def request_zero(note: bytes) -> bytes:
    return format_add_checkpoint(0, [], note)


def test_connections_beyond_the_limit_get_503(tmp_path: Path, operator: KeyPair) -> None:
    w = WitnessProc(tmp_path, "witness.example/w9", 19, [operator.vkey], extra=("--max-connections", "2")).start()
    try:
        held = [socket.create_connection(("127.0.0.1", w.port), timeout=LIVENESS) for _ in range(2)]
        held[0].sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        held[1].sendall(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        # both threads now wait for their bodies: the third connection is turned away at once
        reply = b""
        for _ in range(50):  # the two held ones are counted once their threads start
            reply = raw_exchange(w.port, b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            if reply.startswith(b"HTTP/1.1 503 "):
                break
        assert reply.startswith(b"HTTP/1.1 503 "), reply
        for s in held:
            s.close()
    finally:
        w.stop()


def test_witness_cli_refuses_bad_arguments(tmp_path: Path, operator: KeyPair) -> None:
    from clirun import fails, ok

    wkey = tmp_path / "w.key"
    vkey = ok("keygen", str(wkey), "--name", "witness.example/cli", "--witness").stdout.strip()
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04
    opkey = tmp_path / "op.key"
    operator.save(opkey)
    state = str(tmp_path / "s.db")
    serve = ["witness", "serve", "--state", state]
    fails(2, "witness key", *serve, "--key", str(opkey), "--listen", "127.0.0.1:0", "--log", operator.vkey)
    fails(2, "HOST:PORT", *serve, "--key", str(wkey), "--listen", "127.0.0.1", "--log", operator.vkey)
    fails(2, "log key", *serve, "--key", str(wkey), "--listen", "127.0.0.1:0", "--log", "nonsense")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        fails(2, "cannot listen", *serve, "--key", str(wkey), "--listen", f"127.0.0.1:{port}", "--log", operator.vkey)
    finally:
        busy.close()
    # a witness key signs nothing else
    ledger = tmp_path / "l.db"
    ok("init", str(ledger), "--origin", ORIGIN, "--operator-key", str(opkey))
    fails(2, "witness key", "checkpoint", str(ledger), "--operator-key", str(wkey))
    status = ok("witness", "status", "--key", str(wkey), "--state", state).stdout
    assert status.startswith("witness witness.example/cli+")


def test_two_processes_on_one_state_cosign_one_of_two_forks(
    grown: Ledger, operator: KeyPair, parties: dict[str, KeyPair], tmp_path: Path
) -> None:
    """Two witness processes share one state file (and key); conflicting checkpoints sent to both at once:
    SQLite's lock makes the check-and-update atomic across processes, so exactly one is cosigned."""
    a = WitnessProc(tmp_path, "witness.example/shared", 30, [operator.vkey]).start()
    b = WitnessProc(tmp_path, "witness.example/shared", 30, [operator.vkey]).start()
    try:
        _, (s1, n1), *_ = grown.store.checkpoints()  # after the first journey
        fork = Ledger.create(tmp_path / "fork.db", origin=ORIGIN, operator=operator, at=T0)
        for role, kp in parties.items():
            fork.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
        fork.append("OTHER", "origin", parties["origin"], country="FR", at=T0 + 3_600_000)
        while fork.size < s1:
            fork.append(f"OTHER-{fork.size}", "origin", parties["origin"], country="FR", at=T0 + 3_600_000)
        assert fork.size == s1  # the same size, another root
        fork_note = fork.checkpoint()
        fork.close()
        assert split_note(fork_note)[0] != split_note(n1)[0]
        bodies = [format_add_checkpoint(0, [], n1), format_add_checkpoint(0, [], fork_note)] * 6
        statuses: list[int] = []
        barrier = threading.Barrier(len(bodies))

        def send(i: int) -> None:
            barrier.wait()
            statuses.append((a if i % 2 else b).post(bodies[i])[0])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(LIVENESS)
        assert sorted(statuses) == [200] + [409] * (len(bodies) - 1)
    finally:
        a.stop()
        b.stop()
