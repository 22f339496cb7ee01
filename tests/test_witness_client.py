"""The operator collects cosignatures from real witness processes on loopback: quorum, a witness down, a
witness answering garbage, a witness that never answers, a witness behind or restarted, a forked operator,
the policy-file form, and what the ledger stores (Ledger.add_cosignatures)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from clirun import fails, ok, run
from conftest import ORIGIN, T0, journey
from witness_proc import WitnessProc, witness_key

from provchain.audit import audit_path
from provchain.checkpoint import Checkpoint, sign_checkpoint
from provchain.errors import CheckpointError, CosignatureError, InputError, QuorumError, WitnessPolicyError
from provchain.export import export_ledger, import_ledger
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.proof import parse_tlog_proof
from provchain.witness import Cosignature, WitnessKey, WitnessPolicy, split_note
from provchain.witness_client import collect, endpoints, parse_witness_arg
from provchain.witness_server import format_add_checkpoint


@pytest.fixture
def three(tmp_path: Path, operator: KeyPair) -> Iterator[list[WitnessProc]]:
    ws = [WitnessProc(tmp_path, f"witness.example/w{n}", 20 + n, [operator.vkey]).start() for n in range(3)]
    yield ws
    for w in ws:
        w.stop()


@pytest.fixture
def saved(tmp_path: Path, ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair) -> tuple[Path, Path]:
    """The shared ledger with one journey, closed, and the operator key file."""
    journey(ledger, parties, "SERUM-0001")
    key = tmp_path / "op.key"
    operator.save(key)
    return Path(ledger.store.path), key  # type: ignore[attr-defined]


def cosigners(note: bytes, ws: list[WitnessProc], quorum: int = 1) -> list[str]:
    _, counted = WitnessPolicy.from_witnesses([w.key.vkey for w in ws], quorum).verify_note(note)
    return sorted(c.name for c in counted)


def test_three_witnesses_cosign_and_the_ledger_keeps_it(
    saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger, tmp_path: Path
) -> None:
    path, key = saved
    ledger.close()
    args = ["checkpoint", str(path), "--operator-key", str(key)]
    for w in three:
        args += ["--witness", w.arg]
    res = ok(*args)
    note = res.stdout.encode()
    assert cosigners(note, three, 3) == [f"witness.example/w{n}" for n in range(3)]
    with Ledger.open(path, readonly=True) as led:
        assert led.latest_checkpoint() == note
        proof = parse_tlog_proof(led.prove("SERUM-0001"))
        assert proof.checkpoint == note  # proofs carry the cosigned note
        out = tmp_path / "ledger.export"
        export_ledger(led, out)
        vkey = led.operator_vkey
    assert audit_path(path, vkey).clean
    assert audit_path(out, vkey).clean
    copy = import_ledger(out, tmp_path / "copy.db", operator_vkey=vkey)
    assert copy.latest_checkpoint() == note
    copy.close()
    # a second checkpoint of the same tree keeps the cosignatures and is cosigned again, from that size
    again = ok(*args).stdout.encode()
    assert cosigners(again, three, 3) == cosigners(note, three, 3)


def test_one_witness_down_quorum_still_met(saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger) -> None:
    path, key = saved
    ledger.close()
    three[1].stop()
    witnesses = [f"--witness={w.arg}" for w in three]
    res = run("checkpoint", str(path), "--operator-key", str(key), "--quorum", "2", *witnesses)
    assert res.exit_code == 0, res.stderr
    assert cosigners(res.stdout.encode(), three, 2) == ["witness.example/w0", "witness.example/w2"]
    warning = res.stderr.strip().splitlines()
    assert len(warning) == 1 and "witness.example/w1" in warning[0] and "cannot reach it" in warning[0]
    # all three required: exit 1, one line naming the one that failed; the two cosignatures are kept
    fails(1, "requires 3 of 3", "checkpoint", str(path), "--operator-key", str(key), *witnesses)
    with Ledger.open(path, readonly=True) as led:
        note = led.latest_checkpoint()
    assert note is not None and len(cosigners(note, three)) == 2


class _Garbage(BaseHTTPRequestHandler):
    """A witness that answers 200 with a well-formed cosignature line by its key that does not verify."""

    key: WitnessKey

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        wrong = self.key.cosign(b"example.com/other\n1\n" + b"A" * 43 + b"=\n", 1_700_000_000)
        body = wrong.line().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def garbage(tmp_path: Path) -> Iterator[tuple[str, str]]:
    key = witness_key(tmp_path, "witness.example/liar", 40)
    handler = type("H", (_Garbage,), {"key": key})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", key.vkey
    server.shutdown()
    server.server_close()


def test_bad_signature_is_ignored_not_counted(
    saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger, garbage: tuple[str, str]
) -> None:
    url, vkey = garbage
    res = collect(ledger, [(three[0].url, three[0].key.vkey), (url, vkey)], quorum=1)
    honest = [n for n in res.policy.witnesses if n.startswith("witness.example/w0")]
    assert res.satisfied and list(res.cosigned) == honest
    (liar,) = res.failed
    assert liar.startswith("witness.example/liar") and "does not verify" in res.failed[liar]
    assert "witness.example/liar" not in res.note.decode()  # not stored either
    with pytest.raises(QuorumError, match="liar"):
        collect(ledger, [(three[0].url, three[0].key.vkey), (url, vkey)]).check()


def test_silent_witness_costs_a_timeout(saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does) and never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        mute = witness_key(Path(os.path.dirname(three[0].key_path)), "witness.example/mute", 41)
        res = collect(ledger, [(three[0].url, three[0].key.vkey), (url, mute.vkey)], quorum=1, timeout=1.0)
    finally:
        silent.close()
    assert len(res.cosigned) == 1
    assert list(res.failed.values()) == ["timed out"]


def test_witness_behind_gets_the_proof_it_needs(
    saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger, parties: dict[str, KeyPair]
) -> None:
    w = three[0]
    first = ledger.checkpoint()
    # the witness saw this checkpoint from elsewhere; the ledger's stored note does not say so
    assert w.post(format_add_checkpoint(0, [], first))[0] == 200
    journey(ledger, parties, "SERUM-0002", start=T0 + 20 * 3_600_000)
    res = collect(ledger, [(w.url, w.key.vkey)])
    assert res.satisfied, res.failed  # a 409 naming its size, then the consistency proof from there
    # next time the stored note tells where it is: one request
    journey(ledger, parties, "SERUM-0003", start=T0 + 40 * 3_600_000)
    assert collect(ledger, [(w.url, w.key.vkey)]).satisfied
    assert f"size {ledger.size}: 200" in w.stderr_path.read_text()


def test_witness_restarted_mid_stream(
    saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger, parties: dict[str, KeyPair]
) -> None:
    pairs = [(w.url, w.key.vkey) for w in three]
    assert collect(ledger, pairs).satisfied
    for n in range(3):
        if n == 1:
            three[2].kill9()
            three[2].start()  # the same port and state
        journey(ledger, parties, f"ITEM-{n}", start=T0 + (20 + 10 * n) * 3_600_000)
        res = collect(ledger, pairs)
        assert res.satisfied, res.failed


def test_forked_operator_gets_no_cosignatures(
    saved: tuple[Path, Path],
    three: list[WitnessProc],
    ledger: Ledger,
    operator: KeyPair,
    parties: dict[str, KeyPair],
    tmp_path: Path,
) -> None:
    pairs = [(w.url, w.key.vkey) for w in three]
    honest = collect(ledger, pairs)
    assert honest.satisfied
    fork = Ledger.create(tmp_path / "fork.db", origin=ORIGIN, operator=operator, at=T0)
    for role, kp in parties.items():
        fork.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0, valid_from=T0)
    journey(fork, parties, "SERUM-FAKE")
    assert fork.size == ledger.size and fork.root() != ledger.root()
    same_size = collect(fork, pairs, quorum=1)
    assert not same_size.cosigned and len(same_size.failed) == 3
    assert all("409" in why for why in same_size.failed.values()), same_size.failed
    journey(fork, parties, "SERUM-FAKE-2", start=T0 + 20 * 3_600_000)
    larger = collect(fork, pairs, quorum=1)
    assert not larger.cosigned and all("422" in why for why in larger.failed.values()), larger.failed
    with pytest.raises(QuorumError):
        WitnessPolicy.from_witnesses([w.key.vkey for w in three], 1).verify_note(larger.note)
    fork.close()


def test_policy_file(saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger, tmp_path: Path) -> None:
    path, key = saved
    ledger.close()
    policy = tmp_path / "witnesses.policy"
    lines = [f"witness w{n} {w.key.vkey} {w.url}" for n, w in enumerate(three)]
    policy.write_text("\n".join([*lines, "witness offline " + witness_key(tmp_path, "x.example/off", 42).vkey,
                                 "group two 2 w0 w1 w2 offline", "quorum two", ""]))
    res = run("checkpoint", str(path), "--operator-key", str(key), "--policy", str(policy))
    assert res.exit_code == 0, res.stderr
    assert "offline" in res.stderr and "no URL" in res.stderr
    WitnessPolicy.load(policy).verify_note(res.stdout.encode())
    fails(2, "--policy carries", "checkpoint", str(path), "--operator-key", str(key), "--policy", str(policy),
          "--quorum", "1")


def test_cli_arguments(saved: tuple[Path, Path], three: list[WitnessProc], ledger: Ledger) -> None:
    path, key = saved
    ledger.close()
    base = ["checkpoint", str(path), "--operator-key", str(key)]
    fails(2, "URL=WITNESS_VKEY", *base, "--witness", "http://127.0.0.1:1")
    fails(2, "http(s)://", *base, "--witness", f"ftp://x={three[0].key.vkey}")
    fails(2, "--quorum counts", *base, "--quorum", "1")
    fails(2, "quorum must be from 1", *base, "--quorum", "2", "--witness", three[0].arg)
    fails(2, "witness verifier key", *base, "--witness", "http://127.0.0.1:1=nonsense")
    with pytest.raises(InputError):
        parse_witness_arg("=x")
    with pytest.raises(WitnessPolicyError):
        endpoints([])
    with pytest.raises(InputError):
        endpoints(WitnessPolicy.from_witnesses([three[0].key.vkey]), 1)


def test_add_cosignatures(ledger: Ledger, parties: dict[str, KeyPair], tmp_path: Path) -> None:
    w1 = witness_key(tmp_path, "witness.example/a", 50)
    w2 = witness_key(tmp_path, "witness.example/b", 51)
    note = ledger.checkpoint()
    text, _ = split_note(note)
    c1, c1_later, c2 = w1.cosign(text, 100), w1.cosign(text, 200), w2.cosign(text, 150)
    stored = ledger.add_cosignatures(note + c1.line().encode(), [w1.vkey])
    assert stored == note + c1.line().encode()
    stored = ledger.add_cosignatures(note + c1_later.line().encode() + c2.line().encode(), [w1.vkey, w2.vkey])
    assert stored == note + c1_later.line().encode() + c2.line().encode()  # one line per key, the latest
    assert ledger.add_cosignatures(note + c1.line().encode(), [w1.vkey]) == stored  # an older one changes nothing
    assert ledger.latest_checkpoint() == stored
    assert ledger.checkpoint() == stored  # signing the same tree again keeps them
    # lines by keys not listed are dropped; a bad one by a listed key is refused
    assert ledger.add_cosignatures(note + c2.line().encode(), [w1.vkey]) == stored
    forged = Cosignature(c1.name, c1.key_id, 300, c1.signature)
    with pytest.raises(CosignatureError):
        ledger.add_cosignatures(note + forged.line().encode(), [w1.vkey])
    # a size never signed, or another tree of a signed size (a fork)
    journey(ledger, parties, "SERUM-0009")
    newer = ledger.checkpoint()
    unsigned = sign_checkpoint(Checkpoint(ORIGIN, ledger.size - 1, ledger.root(ledger.size - 1)), ledger.operator)
    with pytest.raises(InputError, match="no checkpoint of size"):
        ledger.add_cosignatures(unsigned)
    fake = sign_checkpoint(Checkpoint(ORIGIN, ledger.size, bytes(32)), ledger.operator)
    with pytest.raises(CheckpointError, match="fork"):
        ledger.add_cosignatures(fake)
    assert ledger.latest_checkpoint() == newer
    with pytest.raises(InputError):
        ledger.add_cosignatures(newer.decode())  # type: ignore[arg-type]
    with pytest.raises(InputError):
        ledger.add_cosignatures(newer, w1.vkey)  # type: ignore[arg-type]
