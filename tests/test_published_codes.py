"""Witnessed-published item codes (profile 3): the witnessed anchor without the inclusion proof, which the
verifier builds from the operator's published tiles. Made and verified against real published logs (a
directory, and a real HTTP server on loopback), refused without the log, with a log that is older or lacks
tiles, with tiles that lie, and for a forked operator's code; the anchor parser fuzzed."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import HOUR, ORIGIN, T0, Clock, journey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from witnessing import policy, store_cosigned, two_forks, witness_keys

from provchain import base45, code, digits, encoding, errors, qr
from provchain._internal import bundle2
from provchain.checkpoint import Checkpoint
from provchain.cli import cli
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.tlog import DirFetcher, TiledLog, publish, tile_path
from provchain.witness import Cosignature, split_note

ITEM = "SERUM-0001"
ISSUED = T0 + 10 * HOUR
AT = T0 + 24 * HOUR
BASE = "https://verify.example/"
PUBLISHED = "witnessed-published"


@pytest.fixture
def recorded(ledger: Ledger, parties: dict[str, KeyPair]) -> Ledger:
    journey(ledger, parties, ITEM)
    store_cosigned(ledger, witness_keys())
    return ledger


@pytest.fixture
def log(recorded: Ledger, ledger_path: Path, tmp_path: Path) -> Path:
    publish(ledger_path, tmp_path / "log")
    return tmp_path / "log"


# --- making ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, BASE])
def test_the_proof_is_left_out_and_nothing_else(
    recorded: Ledger, operator: KeyPair, log: Path, url: str | None
) -> None:
    witnessed = code.parse(code.make(recorded, ITEM, "witnessed", at=ISSUED, url=url), ORIGIN)
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED, url=url)
    published = code.parse(text, ORIGIN)
    assert published.profile == PUBLISHED and published.anchor.proof == ()
    # No head hint, and the cosignatures without key ids, sorted by signature.
    carried = witnessed.anchor.cosignatures
    assert published.anchor.head_hint == b"" and all(c.key_id == b"" for c in published.anchor.cosignatures)
    assert [c.signature for c in published.anchor.cosignatures] == sorted(c.signature for c in carried)
    assert {(c.timestamp, c.signature) for c in published.anchor.cosignatures} == {
        (c.timestamp, c.signature) for c in carried
    }
    same = replace(
        published.anchor, proof=witnessed.anchor.proof, head_hint=witnessed.anchor.head_hint, cosignatures=carried
    )
    assert same == witnessed.anchor
    assert published.events == witnessed.events and published.parties == witnessed.parties
    assert published.payload(url and code.check_base(url)) == text  # one encoding, both versions
    # The bytes saved: the proof's (34 per hash and the array header), the hint's 6, and per cosignature
    # its key id and most of its 8-byte time (less after DEFLATE for a URL code).
    saved = len(witnessed.to_bytes()) - len(published.to_bytes())
    if url is None:
        # the proof array's element (not the anchor's header) and the hint
        proof_and_hint = 2 + 34 * len(witnessed.anchor.proof) - 1 + 6
        assert saved >= proof_and_hint + 4 * len(carried) + 3
    else:
        assert saved > 30 * len(witnessed.anchor.proof) + 4 * len(carried)
    report = code.verify(text, operator.vkey, at=AT, witnesses=policy(witness_keys(), 2), log=log)
    assert report.profile == PUBLISHED and report.checks["inclusion_proof"] == "ok"
    assert report.checks["cosignatures"] == "ok" and len(report.witnesses) == 3
    assert report.to_json()["witnesses"]["carried"] == 3
    assert qr.qr_version(text) <= qr.qr_version(code.make(recorded, ITEM, "witnessed", at=ISSUED, url=url))


def test_make_needs_a_cosigned_checkpoint_and_keeps_a_policy(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, ledger_path: Path, tmp_path: Path
) -> None:
    journey(ledger, parties, ITEM)
    with pytest.raises(errors.QuorumError, match="--witness"):
        code.make(ledger, ITEM, PUBLISHED, at=ISSUED)
    w1, w2, w3 = witness_keys()
    store_cosigned(ledger, [w1, w2])
    text = code.make(ledger, ITEM, PUBLISHED, at=ISSUED, witnesses=policy([w2, w3], 1))
    assert len(code.parse(text, ORIGIN).anchor.cosignatures) == 1  # w2's only: no key id is carried
    publish(ledger_path, tmp_path / "log")
    report = code.verify(text, operator.vkey, at=AT, witnesses=policy([w1, w2, w3], 1), log=tmp_path / "log")
    assert [w.key_id for w in report.witnesses] == [w2.key_id]  # attributed by the key that verifies it
    with pytest.raises(errors.QuorumError):
        code.make(ledger, ITEM, PUBLISHED, at=ISSUED, witnesses=policy([w3], 1))


# --- verifying against a published log ------------------------------------------------------------


def test_without_the_log_the_code_is_refused_not_passed(recorded: Ledger, operator: KeyPair) -> None:
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED)
    for witnesses in (None, policy(witness_keys(), 1)):
        with pytest.raises(errors.ProofUnavailableError, match="published with the log, not carried"):
            code.verify(text, operator.vkey, at=AT, witnesses=witnesses)


def test_a_log_published_later_gives_the_proof_of_the_older_tree(
    recorded: Ledger, operator: KeyPair, parties: dict[str, KeyPair], ledger_path: Path, tmp_path: Path
) -> None:
    """The code's checkpoint was never published at its own size: the tiles of the grown tree hold every
    node of the older one (its partial tiles are not needed)."""
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED)
    size = code.parse(text, ORIGIN).anchor.tree_size
    for n in range(300):  # past a full tile: the proof's nodes come from full and higher-level tiles
        recorded.append(f"OTHER-{n}", "origin", parties["origin"], country="FR", at=T0 + 11 * HOUR)
    recorded.checkpoint()
    publish(ledger_path, tmp_path / "grown")
    assert not (tmp_path / "grown" / tile_path(0, 0, size)).exists()
    assert code.verify(text, operator.vkey, at=AT, log=tmp_path / "grown").tree_size == size
    with TiledLog(DirFetcher(tmp_path / "grown")) as tiled:  # a TiledLog is taken as it is, and left open
        head = code.parse(text, ORIGIN).anchor.head_index
        assert code.verify(text, operator.vkey, at=AT, log=tiled).head_index == head
        assert tiled.fetched >= 1  # the tiles it read (the checkpoint is not counted)


def test_heads_across_tile_levels(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """Items whose heads lie in the first, a middle and the last (partial) tile of a tree of 600 entries,
    anchored on a checkpoint of an odd size: proofs whose nodes sit at levels 0 to 9, hashed up from level 0
    and level 1 tiles."""
    led = Ledger.create(tmp_path / "big.db", origin=ORIGIN, operator=operator, at=T0, clock=Clock(ISSUED))
    for role, kp in parties.items():
        led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
    heads = {3: "EARLY", 300: "MIDDLE", 594: "LATE"}
    for n in range(595):
        led.append(heads.get(n, f"FILL-{n}"), "origin", parties["origin"], country="FR", at=T0 + HOUR)
    store_cosigned(led, witness_keys(1), note=led.checkpoint())
    texts = {item: code.make(led, item, PUBLISHED, at=ISSUED) for item in heads.values()}
    led.close()
    publish(tmp_path / "big.db", tmp_path / "log")
    assert (tmp_path / "log" / "tile" / "1" / "000.p" / "2").exists()
    for text in texts.values():
        report = code.verify(text, operator.vkey, at=AT, witnesses=policy(witness_keys(1)), log=tmp_path / "log")
        assert report.tree_size == 601 and report.checks["inclusion_proof"] == "ok"


def test_an_older_or_incomplete_log_is_refused(
    recorded: Ledger, operator: KeyPair, parties: dict[str, KeyPair], ledger_path: Path, tmp_path: Path, log: Path
) -> None:
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED)
    # Published before the code's checkpoint: a smaller tree.
    recorded.append("OTHER", "origin", parties["origin"], country="FR", at=T0 + 7 * HOUR)
    store_cosigned(recorded, witness_keys(), note=recorded.checkpoint())
    newer = code.make(recorded, "OTHER", PUBLISHED, at=ISSUED)
    with pytest.raises(errors.ProofUnavailableError, match="fewer than"):
        code.verify(newer, operator.vkey, at=AT, log=log)
    # A tile missing.
    holed = tmp_path / "holed"
    shutil.copytree(log, holed)
    next(p for p in (holed / "tile" / "0").rglob("*") if p.is_file()).unlink()
    with pytest.raises(errors.ProofUnavailableError, match="missing"):
        code.verify(text, operator.vkey, at=AT, log=holed)
    # No log there at all, and a directory that does not exist.
    (tmp_path / "empty").mkdir()
    for where in (tmp_path / "empty", tmp_path / "nowhere"):
        with pytest.raises(errors.ProofUnavailableError, match="could not get"):
            code.verify(text, operator.vkey, at=AT, log=where)
    # A checkpoint another operator key signed.
    other = KeyPair.from_seed(ORIGIN, bytes([0xEE]) * 32)
    foreign = tmp_path / "foreign"
    shutil.copytree(log, foreign)
    with Ledger.create(tmp_path / "f.db", origin=ORIGIN, operator=other, at=T0) as f:
        (foreign / "checkpoint").write_bytes(f.checkpoint())
    with pytest.raises(errors.ProofUnavailableError, match="does not verify"):
        code.verify(text, operator.vkey, at=AT, log=foreign)
    with pytest.raises(errors.InputError):
        code.verify(text, operator.vkey, at=AT, log=42)  # type: ignore[arg-type]


def test_tiles_that_lie_get_the_code_refused(recorded: Ledger, operator: KeyPair, log: Path, tmp_path: Path) -> None:
    """Nothing published is trusted: a changed hash in a tile makes a proof that does not reach the cosigned
    root; a tile of the wrong length is refused as unreadable."""
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED)
    tile = next(p for p in (log / "tile" / "0").rglob("*") if p.is_file())
    data = tile.read_bytes()
    for n in range(len(data) // 32):
        lying = tmp_path / f"lying-{n}"
        shutil.copytree(log, lying)
        changed = bytearray(data)
        changed[n * 32] ^= 1
        (lying / tile.relative_to(log)).write_bytes(bytes(changed))
        try:
            code.verify(text, operator.vkey, at=AT, log=lying)
        except errors.InclusionError:
            continue
        # a hash the proof does not use: the code still verifies, and only then
        head = code.parse(text, ORIGIN).anchor.head_index
        assert n == head or n > head  # the head itself, and leaves right of it folded into one node, are not read
    short = tmp_path / "short"
    shutil.copytree(log, short)
    (short / tile.relative_to(log)).write_bytes(data[:-1])
    with pytest.raises(errors.ProofUnavailableError):
        code.verify(text, operator.vkey, at=AT, log=short)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(log: Path) -> Iterator[str]:
    """``log`` served by a real HTTP server on a free loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(log)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_over_http_and_offline(recorded: Ledger, operator: KeyPair, served: str) -> None:
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED, url=BASE)
    assert code.verify(text, operator.vkey, at=AT, log=served).checks["inclusion_proof"] == "ok"
    with pytest.raises(errors.ProofUnavailableError, match="could not get"):
        code.verify(text, operator.vkey, at=AT, log=served + "nothing/")


def test_a_forked_operator_cannot_anchor_fork_b_on_fork_a(
    tmp_path: Path, operator: KeyPair, parties: dict[str, KeyPair]
) -> None:
    """Fork B's code (another verdict, same size) as witnessed-published, anchored by the operator on fork
    A's cosigned checkpoint: the proof built from A's published tiles, or from B's (what a forking operator
    publishes), does not lead to A's cosigned root; and make refuses to produce it."""
    keys = witness_keys()
    a, b = two_forks(tmp_path, operator, parties, ITEM, ISSUED)
    a_note = store_cosigned(a, keys)
    b.checkpoint()
    publish(tmp_path / "b.db", tmp_path / "log-b")
    b.store.add_checkpoint(a.size, a_note)
    with pytest.raises(errors.InclusionError):
        code.make(b, ITEM, PUBLISHED, at=ISSUED)  # make checks with B's own tree
    publish(tmp_path / "a.db", tmp_path / "log-a")
    genuine = code.parse(code.make(a, ITEM, PUBLISHED, at=ISSUED), ORIGIN)
    forged = code.parse(code.make(b, ITEM, "compact", at=ISSUED), ORIGIN)
    anchor = replace(forged.anchor, root=genuine.anchor.root, cosignatures=genuine.anchor.cosignatures)
    payload = code.sign_bundle(replace(forged, profile=PUBLISHED, anchor=anchor), operator).payload()
    for where in ("log-a", "log-b"):
        for witnesses in (None, policy(keys, 2)):
            with pytest.raises(errors.InclusionError):
                code.verify(payload, operator.vkey, at=AT, witnesses=witnesses, log=tmp_path / where)
    a.close()
    b.close()


# --- the CLI --------------------------------------------------------------------------------------


def test_scan_and_check_published(
    recorded: Ledger, operator: KeyPair, ledger_path: Path, tmp_path: Path, log: Path, served: str
) -> None:
    runner = CliRunner()
    text = code.make(recorded, ITEM, PUBLISHED, at=ISSUED, url=BASE)
    at = ["--at", "2025-10-10T08:53:20Z"]
    w = [arg for k in witness_keys() for arg in ("--witness", k.vkey)]
    offline = runner.invoke(cli, ["scan", text, "--operator", operator.vkey, *at, *w])
    assert offline.exit_code == 1 and "ProofUnavailableError" in offline.output and "--log" in offline.output
    for where in (str(log), served):
        ok = runner.invoke(cli, ["scan", text, "--operator", operator.vkey, *at, *w, "--log", where])
        assert ok.exit_code == 0, ok.output
        assert "witnesses: 3 counted" in ok.output and "built from the log published at" in ok.output
        checked = runner.invoke(cli, ["check-published", text, "--operator", operator.vkey, *at, "--log", where])
        assert checked.exit_code == 0, checked.output
        assert checked.output.startswith("VERIFIED")
    missing = runner.invoke(cli, ["scan", text, "--operator", operator.vkey, *at, "--log", str(tmp_path / "no")])
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    holed = tmp_path / "holed"
    shutil.copytree(log, holed)
    shutil.rmtree(holed / "tile" / "0")
    refused = runner.invoke(cli, ["scan", text, "--operator", operator.vkey, *at, "--log", str(holed)])
    assert refused.exit_code == 1 and "REFUSED  ProofUnavailableError" in refused.output
    made = runner.invoke(
        cli,
        ["code", str(ledger_path), ITEM, "-o", str(tmp_path / "p.txt"), "--profile", PUBLISHED, "--at",
         "2025-10-09T18:53:20Z", "--operator-key", str(tmp_path / "op.key"), *w],
    )
    assert made.exit_code == 2 and "op.key" in made.output  # no key file: could not run, one line


# --- hostile anchors ------------------------------------------------------------------------------


@pytest.fixture
def published_code(recorded: Ledger) -> str:
    return code.make(recorded, ITEM, PUBLISHED, at=ISSUED)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    anchor=st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.integers(-(2**63), 2**64 - 1),
            st.lists(st.binary(min_size=76, max_size=76), max_size=3),
            st.lists(st.binary(min_size=32, max_size=32), max_size=3),
            st.lists(
                st.tuples(st.integers(-(2**63), 2**64 - 1), st.binary(min_size=63, max_size=65)).map(list), max_size=3
            ),
        ),
        min_size=4,
        max_size=9,
    ),
    profile=st.sampled_from([0, 1, 2, 3, 4]),
)
def test_fuzz_profile_3_anchors(published_code: str, operator: KeyPair, anchor: list[object], profile: int) -> None:
    """Any anchor under any profile number: refused as malformed, or parsed into exactly what was written
    (for profile 3: six elements, cosignature rows last, no hint, no proof); never verified without the log."""
    value = encoding.decode(base45.decode(published_code[4:]))
    value[0] = profile
    value[5] = anchor
    payload = code.PREFIX + base45.encode(encoding.encode(value))
    try:
        bundle = code.parse(payload, ORIGIN)
    except errors.BundleFormatError:
        return
    assert bundle.payload() == payload
    if bundle.profile == PUBLISHED:
        assert len(anchor) == 6 and bundle.anchor.proof == () and bundle.anchor.head_hint == b""
        with pytest.raises(errors.ProvchainError):
            code.verify(code.sign_bundle(bundle, operator).payload(), operator.vkey, at=AT)


def test_url_anchor_lengths(published_code: str) -> None:
    """The version 2 body of profile 3 has a five-element anchor (no hint, no root, no proof); four or six are
    refused."""
    bundle = code.parse(published_code, ORIGIN)
    url = replace(bundle, version=2).payload(code.check_base(BASE))
    raw = digits.decode(url.partition("#")[2][2:])
    inflated, trailer = bundle2._inflate_stream(raw[96:])
    body = encoding.decode(inflated)
    assert body[0] == 3 and len(body[5]) == 5 and len(trailer) == 64 * len(body[5][4]) == 64 * 3
    for anchor in (body[5][:4], [*body[5][:4], [], body[5][4]], [body[5][0], b"\0" * 4, *body[5][1:]]):
        changed = [*body[:5], anchor]
        packed = raw[:96] + bundle2._deflate(encoding.encode(changed)) + trailer
        with pytest.raises(errors.BundleFormatError):
            code.parse(url.partition("#")[0] + "#02" + digits.encode(packed), ORIGIN)


def _url_with(url: str, body: object, trailer: bytes) -> str:
    raw = digits.decode(url.partition("#")[2][2:])
    return url.partition("#")[0] + "#02" + digits.encode(raw[:96] + bundle2._deflate(encoding.encode(body)) + trailer)


def test_url_cosignature_signatures_follow_the_stream(published_code: str, operator: KeyPair, log: Path) -> None:
    """A version 2 profile 3 code: the cosignatures' signatures follow the DEFLATE stream, 64 bytes for each
    time in the body, covered by the operator's signature; any other count of bytes is refused, and no other
    profile may have bytes after its stream."""
    bundle = code.sign_bundle(replace(code.parse(published_code, ORIGIN), version=2), operator)
    url = bundle.payload(code.check_base(BASE))
    assert code.verify(url, operator.vkey, at=AT, log=log).version == 2
    raw = digits.decode(url.partition("#")[2][2:])
    inflated, trailer = bundle2._inflate_stream(raw[96:])
    body = encoding.decode(inflated)
    for cut in (trailer[:-1], trailer + b"\0", trailer[:-64], trailer + trailer[:64], b""):
        with pytest.raises(errors.BundleFormatError, match="must follow the compressed body"):
            code.parse(_url_with(url, body, cut), ORIGIN)
    for times in ([], 5, [0] * 33):
        with pytest.raises(errors.BundleFormatError, match="cosignature times"):
            code.parse(_url_with(url, [*body[:5], [*body[5][:4], times]], trailer), ORIGIN)
    swapped = trailer[64:128] + trailer[:64] + trailer[128:]  # out of order: not the one encoding
    with pytest.raises(errors.BundleFormatError, match="sorted by signature"):
        code.parse(_url_with(url, body, swapped), ORIGIN)
    flipped = trailer[:-1] + bytes([trailer[-1] ^ 1])  # the operator signed the trailer too
    with pytest.raises(errors.SignatureError):
        code.verify(_url_with(url, body, flipped), operator.vkey, at=AT, log=log)
    assert code.parse(_url_with(url, body, trailer), ORIGIN).payload(code.check_base(BASE)) == url  # rebuilt
    as_compact = replace(bundle, profile="compact", version=2, anchor=replace(bundle.anchor, cosignatures=()))
    plain = code.sign_bundle(as_compact, operator).payload(code.check_base(BASE))
    plain_body = encoding.decode(bundle2._inflate(digits.decode(plain.partition("#")[2][2:])[96:]))
    assert code.parse(_url_with(plain, plain_body, b""), ORIGIN).profile == "compact"
    with pytest.raises(errors.BundleFormatError, match="bytes follow the compressed body"):
        code.parse(_url_with(plain, plain_body, b"\1" * 64), ORIGIN)


# --- the cosignature rows: no key ids, times as differences -----------------------------------------


def _rows_changed(payload: str, change: object) -> str:
    """``payload`` (a version 1 profile 3 code) with its cosignature rows replaced by ``change(rows)``."""
    value = encoding.decode(base45.decode(payload[4:]))
    value[5][5] = change(value[5][5])  # type: ignore[operator]
    return code.PREFIX + base45.encode(encoding.encode(value))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: [rows[0], rows[0]], "sorted by signature"),  # the same cosignature twice
        (lambda rows: rows[::-1], "sorted by signature"),
        (lambda rows: [], "1 to 32"),
        (lambda rows: [[0, b""]] * 33, "1 to 32"),
        (lambda rows: [[-(2**40), rows[0][1]]], r"from 0 to 2\^63 - 1"),  # before 1970
        (lambda rows: [rows[0], [2**63 - 1, rows[1][1]]], r"from 0 to 2\^63 - 1"),  # past 2^63 - 1
        (lambda rows: [[rows[0][0], rows[0][1][:63]]], "64 bytes"),
        (lambda rows: [[rows[0][0], rows[0][1], b""]], "array of 2"),
        (lambda rows: [[str(rows[0][0]), rows[0][1]]], "cosignature 1 time"),
        (lambda rows: [[True, rows[0][1]]], "cosignature 1 time"),
    ],
)
def test_hostile_cosignature_rows(published_code: str, change: object, message: str) -> None:
    with pytest.raises(errors.BundleFormatError, match=message):
        code.parse(_rows_changed(published_code, change), ORIGIN)


def test_a_non_canonical_time_difference_is_refused(published_code: str) -> None:
    """A time difference written in more bytes than it needs (an int 32 for an int 16) is a second encoding of
    the same code: refused."""
    raw = base45.decode(published_code[4:])
    first = encoding.decode(raw)[5][5][0]
    short = encoding.encode(first[0]) + b"\xc4\x40" + first[1]
    assert -(2**15) <= first[0] < -32 and raw.count(short) == 1  # written as an int 16 (0xd1)
    longer = raw.replace(short, b"\xd2" + first[0].to_bytes(4, "big", signed=True) + short[3:])
    with pytest.raises(errors.BundleFormatError, match="canonical"):
        code.parse(code.PREFIX + base45.encode(longer), ORIGIN)


def _with_cosignatures(payload: str, operator: KeyPair, cosigs: list[tuple[int, bytes]]) -> str:
    bundle = code.parse(payload, ORIGIN)
    carried = tuple(code.CodeCosignature(b"", t, s) for t, s in cosigs)
    return code.sign_bundle(replace(bundle, anchor=replace(bundle.anchor, cosignatures=carried)), operator).payload()


def test_each_witness_counts_once_and_unknown_cosignatures_are_ignored(
    published_code: str, operator: KeyPair, log: Path
) -> None:
    """Attribution by trying the trusted keys: the same witness's two cosignatures (two times) count once; a
    cosignature no trusted key verifies (a stranger's, or garbage) is ignored, as an unknown key id is; a
    trusted witness's cosignature dated a day ahead is refused."""
    bundle = code.parse(published_code, ORIGIN)
    a = bundle.anchor
    text = Checkpoint(ORIGIN, a.tree_size, a.root).format()
    w1, w2, w3, w4 = witness_keys(4)
    sig = {k: k.cosign(text, 1_760_030_000) for k in (w1, w2, w3, w4)}
    w1_again = w1.cosign(text, 1_760_030_001)
    twice = _with_cosignatures(published_code, operator, [(c.timestamp, c.signature) for c in (sig[w1], w1_again)])
    with pytest.raises(errors.QuorumError, match="by 1 trusted witness"):
        code.verify(twice, operator.vkey, at=AT, witnesses=policy([w1, w2], 2), log=log)
    report = code.verify(twice, operator.vkey, at=AT, witnesses=policy([w2, w1], 1), log=log)
    assert [w.key_id for w in report.witnesses] == [w1.key_id] and report.cosignatures_carried == 2
    strangers = [(c.timestamp, c.signature) for c in (sig[w4], sig[w2])] + [(1_760_030_000, b"\x07" * 64)]
    mixed = _with_cosignatures(published_code, operator, strangers)
    with pytest.raises(errors.QuorumError, match="by 1 trusted witness"):
        code.verify(mixed, operator.vkey, at=AT, witnesses=policy([w1, w2, w3], 2), log=log)
    one = code.verify(mixed, operator.vkey, at=AT, witnesses=policy([w1, w2, w3], 1), log=log)
    assert [w.key_id for w in one.witnesses] == [w2.key_id] and one.cosignatures_carried == 3
    ahead = AT // 1000 + 2 * 86400
    future = _with_cosignatures(published_code, operator, [(ahead, w3.cosign(text, ahead).signature)])
    with pytest.raises(errors.CosignatureError, match="after this device's clock"):
        code.verify(future, operator.vkey, at=AT, witnesses=policy([w1, w2, w3], 1), log=log)
    # The times are rebuilt exactly: the signed message holds the exact seconds.
    assert {(c.timestamp, c.signature) for c in code.parse(twice, ORIGIN).anchor.cosignatures} == {
        (sig[w1].timestamp, sig[w1].signature), (w1_again.timestamp, w1_again.signature)
    }


def test_a_signature_stored_under_two_key_ids_is_carried_once(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, ledger_path: Path, tmp_path: Path
) -> None:
    """A stored note may hold lines that nobody checked (``add_cosignatures`` without witness keys): the same
    signature under a second name and key id is one row of a profile 3 code, which has no key ids."""
    journey(ledger, parties, ITEM)
    (w1,) = witness_keys(1)
    note = store_cosigned(ledger, [w1])
    genuine = next(c for c in (Cosignature.from_line(line) for line in split_note(note)[1]) if c is not None)
    copy = Cosignature("witness.example/copy", b"\xab\xcd\xef\x01", genuine.timestamp, genuine.signature)
    ledger.add_cosignatures(note + copy.line().encode())
    text = code.make(ledger, ITEM, PUBLISHED, at=ISSUED)
    assert [c.signature for c in code.parse(text, ORIGIN).anchor.cosignatures] == [genuine.signature]
    publish(ledger_path, tmp_path / "log")
    report = code.verify(text, operator.vkey, at=AT, witnesses=policy([w1]), log=tmp_path / "log")
    assert [w.key_id for w in report.witnesses] == [w1.key_id]


@pytest.mark.parametrize("size", [None, 100_025, 2**32, 2**64 - 1])
def test_two_cosignatures_keep_the_print_budget(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, size: int | None
) -> None:
    """Issue #14's budget: the six-event journey's URL code with a quorum of two, cosigned a month before the
    code, is QR version 18 or less at level M, in this ledger and with the head index and tree size of larger
    ones (the only fields that grow with the ledger; re-signed, not verified)."""
    journey(ledger, parties, ITEM)
    store_cosigned(ledger, witness_keys(2), timestamp=ISSUED // 1000 - 30 * 86400)
    text = code.make(ledger, ITEM, PUBLISHED, at=ISSUED, url=BASE)
    bundle = code.parse(text, ORIGIN)
    assert len(bundle.anchor.cosignatures) == 2
    if size is not None:
        anchor = replace(bundle.anchor, head_index=size - 1, tree_size=size)
        text = code.sign_bundle(replace(bundle, anchor=anchor), operator).payload(code.check_base(BASE))
        assert code.parse(text, ORIGIN).anchor.tree_size == size
    assert qr.qr_version(text) <= 18


_MATCHED = st.integers(1, 4).flatmap(
    lambda n: st.tuples(
        st.lists(st.one_of(st.integers(-(10**9), 10**9), st.integers(-(2**63), 2**64 - 1)), min_size=n, max_size=n),
        st.lists(st.binary(min_size=64, max_size=64), min_size=n, max_size=n).map(
            lambda sigs: b"".join(sorted(sigs) if len(set(sigs)) == len(sigs) else sigs)
        ),
    )
)
_ANY = st.tuples(
    st.one_of(
        st.lists(st.integers(-(2**63), 2**64 - 1), max_size=4),
        st.lists(st.one_of(st.binary(max_size=4), st.booleans(), st.text(max_size=2)), min_size=1, max_size=3),
        st.integers(-(2**63), 2**64 - 1),
    ),
    st.binary(max_size=300),
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times_trailer=st.one_of(_MATCHED, _ANY), profile=st.sampled_from([0, 2, 3, 3, 3]))
def test_fuzz_url_times_and_trailer(
    published_code: str, operator: KeyPair, times_trailer: tuple[object, bytes], profile: int
) -> None:
    """Any cosignature times and any trailer after the stream of a version 2 code, under profiles 0, 2 and 3:
    refused as malformed, or read into rows that write back to exactly these bytes."""
    times, trailer = times_trailer
    bundle = code.sign_bundle(replace(code.parse(published_code, ORIGIN), version=2), operator)
    url = bundle.payload(code.check_base(BASE))
    raw = digits.decode(url.partition("#")[2][2:])
    body = encoding.decode(bundle2._inflate_stream(raw[96:])[0])
    body[0] = profile
    body[5][4] = times
    packed = raw[:96] + bundle2._deflate(encoding.encode(body)) + trailer
    text = url.partition("#")[0] + "#02" + digits.encode(packed)
    try:
        parsed = code.parse(text, ORIGIN)
    except errors.BundleFormatError:
        return
    assert parsed.profile == PUBLISHED and len(trailer) == 64 * len(parsed.anchor.cosignatures)
    assert parsed.to_bytes() == packed
