"""The JavaScript verifier (web/src/verifier) gives the verdicts of :func:`provchain.code.verify`.

One Node process (web/test/cli.mjs) verifies every input sent to it as JSON lines; each answer must equal
Python's: the same report (``CodeReport.to_json()``) or the same error class. The inputs are every code
vector of tests/vectors/code, and a differential corpus built here from the vectors' genuine codes: bit
flips, truncations, character changes and field swaps of the encoded bundle (most are refused before the
signature), and codes with one field changed and then re-signed with the vectors' operator key, so that
they reach the signature, the registrations, the inclusion proof, the rules and the clock.

Skipped, with the reason, when Node is missing or web/node_modules is not installed (``npm ci`` in web/).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from provchain import base45, code, digits, encoding, merkle
from provchain._internal import bundle2
from provchain._internal.bundle import Bundle, sign_bundle
from provchain.checkpoint import Checkpoint
from provchain.entries import ENTRY_DOMAIN
from provchain.errors import ProvchainError
from provchain.keys import KeyPair, key_id, verify_signature
from provchain.policy import Policy
from provchain.witness import WitnessPolicy

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
VECTORS = ROOT / "tests" / "vectors"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (WEB / "node_modules" / "@noble" / "curves").is_dir(),
        reason="web/node_modules is missing: run `npm ci` in web/",
    ),
]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("code_vectors_generate", VECTORS / "code" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def run_node(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send ``requests`` to one web/test/cli.mjs process; return its answers, one per request."""
    assert NODE is not None
    text = "".join(json.dumps(r) + "\n" for r in requests)
    done = subprocess.run(
        [NODE, str(WEB / "test" / "cli.mjs"), "--serve"],
        input=text,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(requests)
    return answers


Witnesses = dict[str, Any] | None  # {"keys": [...], "quorum": n}, as the vectors and web/test/cli.mjs take


def _policy(witnesses: Witnesses) -> WitnessPolicy | None:
    return None if witnesses is None else WitnessPolicy.from_witnesses(witnesses["keys"], witnesses["quorum"])


LOGS = VECTORS / "code"
"""Where the vectors' published logs are (log-a: the genuine ledger, log-b: its fork, log-no-tiles)."""


def python_verdict(
    payload: str, vkey: str, at: int, witnesses: Witnesses = None, log: str | None = None
) -> dict[str, Any]:
    """Python's verdict in the shape of the JavaScript ``verifyCode`` result (without messages)."""
    directory = None if log is None else LOGS / log
    try:
        report = code.verify(payload, vkey, at=at, witnesses=_policy(witnesses), log=directory)
        return {"verdict": "VERIFIED", "report": report.to_json()}
    except ProvchainError as exc:
        return {"verdict": "REFUSED", "error": type(exc).__name__}


def js_verdict(answer: dict[str, Any]) -> dict[str, Any]:
    if answer["verdict"] == "VERIFIED":
        return {"verdict": "VERIFIED", "report": answer["report"]}
    return {"verdict": answer["verdict"], "error": answer["error"]["type"]}


Case = tuple[str, str, int, Witnesses] | tuple[str, str, int, Witnesses, str | None]


def _log(case: Case) -> str | None:
    """The published log a case is verified with: its fifth element (a directory under tests/vectors/code, or
    None for no log), by default log-a (which only witnessed-published codes read)."""
    return case[4] if len(case) == 5 else "log-a"


def compare(cases: list[Case]) -> tuple[list[tuple[int, Any, Any]], Counter[str]]:
    """Verify every ``(payload, vkey, at, witnesses[, log])`` in both implementations; return the
    disagreements and a count of Python's verdicts."""
    requests = []
    for case in cases:
        log = _log(case)
        requests.append(
            {"payload": case[0], "vkey": case[1], "at": case[2], "witnesses": case[3]}
            | ({} if log is None else {"log": str(LOGS / log)})
        )
    answers = run_node(requests)
    bad: list[tuple[int, Any, Any]] = []
    verdicts: Counter[str] = Counter()
    for n, (case, answer) in enumerate(zip(cases, answers, strict=True)):
        payload, vkey, at, witnesses = case[:4]
        want = python_verdict(payload, vkey, at, witnesses, _log(case))
        verdicts[want.get("error", "VERIFIED")] += 1
        got = js_verdict(answer)
        if got != want:
            bad.append((n, want, got))
    return bad, verdicts


# --- the vectors ------------------------------------------------------------------------------------


def test_every_code_vector_gets_pythons_verdict_and_report() -> None:
    files = sorted((VECTORS / "code").glob("*.json"))
    assert len(files) >= 30
    vectors = [json.loads(f.read_text("utf-8")) for f in files]
    answers = run_node(
        [
            {"payload": v["payload"], "vkey": v["operator_vkey"], "at": v["at"], "witnesses": v.get("witnesses")}
            | ({"log": str(LOGS / v["log"])} if v.get("log") else {})
            for v in vectors
        ]
    )
    for f, v, answer in zip(files, vectors, answers, strict=True):
        if v["want_error"] is None:
            assert answer["verdict"] == "VERIFIED", (f.name, answer)
            assert answer["report"] == v["want_report"], f.name
            policy = _policy(v.get("witnesses"))
            log = None if v.get("log") is None else LOGS / v["log"]
            report = code.verify(v["payload"], v["operator_vkey"], at=v["at"], witnesses=policy, log=log)
            assert answer["report"] == report.to_json()
        else:
            assert answer["verdict"] == "REFUSED", (f.name, answer)
            assert answer["error"]["type"] == v["want_error"], f.name


def test_bad_arguments_are_not_a_verdict_on_the_code() -> None:
    v = json.loads((VECTORS / "code" / "valid_compact.json").read_text("utf-8"))
    w = GEN.witnesses()[0].vkey
    same = {"payload": v["payload"], "vkey": v["operator_vkey"], "at": v["at"]}
    answers = run_node(
        [
            {"payload": v["payload"], "vkey": v["operator_vkey"][:-2] + "AA", "at": v["at"]},
            {"payload": v["payload"], "vkey": "no key", "at": v["at"]},
            {"payload": v["payload"], "vkey": v["operator_vkey"], "at": -1},
            {**same, "witnesses": {"keys": ["x"]}},
            {**same, "witnesses": {"keys": [w], "quorum": 2}},
            {**same, "witnesses": {"keys": [w, w]}},
        ]
    )
    assert [(a["verdict"], a["error"]["type"]) for a in answers] == [
        ("UNREADABLE", "KeyFormatError"),
        ("UNREADABLE", "KeyFormatError"),
        ("UNREADABLE", "InputError"),
        ("UNREADABLE", "KeyFormatError"),
        ("UNREADABLE", "WitnessPolicyError"),
        ("UNREADABLE", "WitnessPolicyError"),
    ]
    for bad in (["x"], [w, w]):  # Python refuses the same arguments, before any code is read
        with pytest.raises(ProvchainError):
            WitnessPolicy.from_witnesses(bad)
    with pytest.raises(ProvchainError):
        WitnessPolicy.from_witnesses([w], 2)


# --- Ed25519 --------------------------------------------------------------------------------------


def _cctv() -> list[dict[str, Any]]:
    raw: list[dict[str, Any]] = json.loads((VECTORS / "ed25519" / "ed25519vectors.json").read_text("utf-8"))
    return raw


def _python_accepts(v: dict[str, Any]) -> bool:
    try:
        verify_signature(bytes.fromhex(v["key"]), v["msg"].encode(), bytes.fromhex(v["sig"]))
    except ProvchainError:
        return False
    return True


def test_ed25519_cctv_vectors_get_pythons_verdict() -> None:
    cctv = _cctv()
    assert len(cctv) == 914
    answers = run_node([{"ed25519": {"key": v["key"], "sig": v["sig"], "msg": v["msg"]}} for v in cctv])
    disagree = [v["number"] for v, a in zip(cctv, answers, strict=True) if a["ok"] != _python_accepts(v)]
    assert disagree == []


def test_node_test_expectations_are_pythons_verdicts() -> None:
    """web/test/ed25519-verdicts.json, which the Node test compares with, holds Python's verdicts."""
    committed = json.loads((WEB / "test" / "ed25519-verdicts.json").read_text("utf-8"))
    assert committed == {str(v["number"]): _python_accepts(v) for v in _cctv()}


def test_the_node_suite_passes() -> None:
    """The JavaScript verifier's own tests (Node's test runner over web/test/*.test.mjs), so that the one test
    command of the README runs them too."""
    files = sorted(str(p) for p in (WEB / "test").glob("*.test.mjs"))
    assert files
    run = subprocess.run([NODE or "node", "--test", *files], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_unicode_tables_are_pythons() -> None:
    spec = importlib.util.spec_from_file_location("gen_unicode", WEB / "gen_unicode.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (WEB / "src" / "verifier" / "unicode-data.js").read_text("utf-8") == module.render()


# --- the differential corpus ----------------------------------------------------------------------


def _v1_value(payload: str) -> list[Any]:
    value: list[Any] = encoding.decode(base45.decode(payload[len(code.PREFIX) :]))
    return value


def _flip(raw: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(raw))
    return raw[:i] + bytes([raw[i] ^ (1 << rng.randrange(8))]) + raw[i + 1 :]


def _v1_text(raw: bytes) -> str:
    return code.PREFIX + base45.encode(raw)


def _v2_parts(url: str) -> tuple[str, bytes]:
    base, _, fragment = url.partition("#")
    return base, digits.decode(fragment[2:])


def _v2_text(base: str, raw: bytes) -> str:
    return f"{base}#02" + digits.encode(raw)


def _byte_mutations(genuine: dict[str, str], rng: random.Random) -> Iterator[str]:
    """Bit flips, truncations and extensions of the bytes, and character changes of the text."""
    for name, payload in genuine.items():
        url = name.startswith("url_")
        base, raw = _v2_parts(payload) if url else ("", base45.decode(payload[4:]))

        def text(b: bytes, base: str = base, url: bool = url) -> str:
            return _v2_text(base, b) if url else _v1_text(b)

        for _ in range(60):
            yield text(_flip(raw, rng))
        for _ in range(10):
            yield text(_flip(_flip(raw, rng), rng))
        for _ in range(12):
            yield text(raw[: rng.randrange(len(raw))])
        yield text(raw + bytes([rng.randrange(256)]))
        yield text(raw + b"\x00\x00")
        alphabet = "0123456789" if url else base45.ALPHABET
        start = len(payload) - len(digits.encode(raw)) if url else 4
        for _ in range(20):
            i = rng.randrange(start, len(payload))
            yield payload[:i] + rng.choice(alphabet + "a#%\u00e9") + payload[i + 1 :]
        for cut in (1, 2, 3, 53, 54):
            yield payload[:-cut]
        yield payload.lower()
        yield payload + " "


def _swap_mutations(genuine: dict[str, str], rng: random.Random) -> Iterator[str]:
    """Field swaps and changes on the decoded version 1 value, re-encoded but not re-signed."""
    for name in ("compact", "full"):
        value = _v1_value(genuine[name])
        for _ in range(40):
            v = encoding.decode(encoding.encode(value))
            kind = rng.randrange(6)
            if kind == 0:  # swap two events
                i, j = rng.sample(range(len(v[4])), 2)
                v[4][i], v[4][j] = v[4][j], v[4][i]
            elif kind == 1:  # swap two fields of an event
                row = rng.choice(v[4])
                i, j = rng.sample(range(len(row)), 2)
                row[i], row[j] = row[j], row[i]
            elif kind == 2:  # swap two fields of a party
                row = rng.choice(v[3])
                i, j = rng.sample(range(len(row)), 2)
                row[i], row[j] = row[j], row[i]
            elif kind == 3:  # swap two anchor fields
                i, j = rng.sample(range(len(v[5])), 2)
                v[5][i], v[5][j] = v[5][j], v[5][i]
            elif kind == 4:  # an integer field nudged
                row = rng.choice(v[4])
                row[rng.choice([0, 1, 2])] += rng.choice([-1, 1, 2])
            else:  # swap two top-level elements
                i, j = rng.sample(range(7), 2)
                v[i], v[j] = v[j], v[i]
            try:
                yield _v1_text(encoding.encode(v))
            except ProvchainError:
                continue


def _text_mutations(genuine: dict[str, str], rng: random.Random) -> Iterator[str]:
    """Texts around the prefix, the lengths (counted in code points, as Python does) and the URL's base."""
    pc1, url = genuine["compact"], genuine["url_compact"]
    base, _, fragment = url.partition("#")
    yield from ["", "PC1:", "PC2:" + pc1[4:], "pc1:" + pc1[4:], "XY12:" + pc1[4:], "https://", "https://#02", "HTTPS://A/#"]
    yield "PC1:" + "\U0001f600" * 2000  # 4004 UTF-16 units, 2004 code points: not too long, not Base45
    yield "PC1:" + "A" * 3388  # 3392 characters: too long
    yield "PC1:" + "A" * 3387
    yield "https://x/#02" + "0" * 7290
    yield "https://x/#02" + "\U0001f600" * 3000
    hosts = ["VERIFY.EXAMPLE", "verify.example:443", "verify.example:65536", "a..b", "-a.b", "a.b-", "me@x"]
    hosts += ["x?q=1", "v\u00e9rify.example", "x:99999", "xn--bcher-kva.example", "x" * 200]
    for host in hosts:
        yield f"https://{host}/#{fragment}"
    for path in ["", "/", "/v/", "/a b/", "/%7e/", "/\u00e9", "/?q=1&r=2", "/;x=1"]:
        yield f"HTTPS://VERIFY.EXAMPLE{path}#{fragment}"
    yield f"hTtPs://verify.example/#{fragment}"
    yield f"{base}#{fragment}#1"
    yield f"{base}#2{fragment[1:]}"
    yield f"{base}#\u0660\u0662{fragment[2:]}"
    yield f"{base}##{fragment}"
    yield f"{base}#{fragment}\n"
    yield f"{base}#{fragment[:2]}"
    yield f"{base}#02"
    yield pc1 + "\n"
    yield " " + pc1
    for _ in range(10):
        i = rng.randrange(4, len(pc1))
        yield pc1[:i] + "\U0001f600" + pc1[i:]


def _v2_body_mutations(genuine: dict[str, str], rng: random.Random) -> Iterator[str]:
    """Changes to the inflated version 2 body, compressed again (not re-signed): tagged times in other
    units, role indices and countries written out, fields swapped."""
    for name in ("url_compact", "url_full"):
        base, raw = _v2_parts(genuine[name])
        signature, root = raw[:64], raw[64:96]
        body = encoding.decode(bundle2._inflate(raw[96:]))
        for _ in range(50):
            v = encoding.decode(encoding.encode(body))
            kind = rng.randrange(8)
            if kind == 0:  # a tagged time in a finer unit (same time): not canonical
                row = rng.choice(v[4])
                if row[0] & 3 == 3:
                    row[0] = (row[0] >> 2) * 60 * 4 + 2
            elif kind == 1:  # a role index written as its name
                row = rng.choice(v[3])
                roles = ["appraiser", "courier", "customs", "origin", "warehouse"]
                row[1] = [roles[r] if isinstance(r, int) and r < len(roles) else r for r in row[1]]
            elif kind == 2:  # a repeated country written out, or 0 on event 1
                i = rng.randrange(len(v[4]))
                v[4][i][3] = 0 if i == 0 else "CN"
            elif kind == 3:  # a role index out of range
                rng.choice(v[3])[1] = [rng.choice([5, 99, -1])]
            elif kind == 4:  # the anchor given a root again (six elements: the version 1 layout)
                v[5] = [*v[5][:4], root, *v[5][4:]]
            elif kind == 5:  # swap two fields of an event
                row = rng.choice(v[4])
                i, j = rng.sample(range(len(row)), 2)
                row[i], row[j] = row[j], row[i]
            elif kind == 6:  # a tagged time out of range
                rng.choice(v[4])[0] = rng.choice([2**62, -(2**62) - 1, 2**63 - 1])
            else:  # the open-ended valid-until written 0 (open-ended is 3)
                rng.choice(v[3])[3] = 0
            try:
                stream = bundle2._deflate(encoding.encode(v))
            except ProvchainError:
                continue
            yield _v2_text(base, signature + root + stream)


def _unicode_mutations(genuine: dict[str, str]) -> Iterator[str]:
    """Every identifier and display vector text as the item id, a party name, a place and a data value:
    encoded as is (the parser's verdict, or a broken chain), and re-signed when Python parses it."""
    texts = [c["text"] for c in json.loads((VECTORS / "text" / "identifiers.json").read_text("utf-8"))["cases"]]
    texts += [c["text"] for c in json.loads((VECTORS / "text" / "display.json").read_text("utf-8"))["cases"]]
    op = GEN.operator()
    value = _v1_value(genuine["compact"])
    for text in texts:
        for where in range(4):
            v = encoding.decode(encoding.encode(value))
            if where == 0:
                v[1] = text
            elif where == 1:
                v[3][1][0] = text
            elif where == 2:
                v[4][2][4] = text
            else:
                v[4][0][5]["batch"] = text
            payload = _v1_text(encoding.encode(v))
            yield payload
            try:
                yield sign_bundle(code.parse(payload, GEN.ORIGIN), op).payload()
            except ProvchainError:
                continue


def _stages(b: Bundle) -> list[str]:
    return sorted(b.policy.stages)


def _bundle_changes(b: Bundle, rng: random.Random, parties: dict[str, KeyPair]) -> Bundle:
    """One field of ``b`` changed: the change re-signed by the caller reaches the checks after the signature."""
    events, ps, a = list(b.events), list(b.parties), b.anchor
    n = rng.randrange(len(events))
    e = events[n]
    kind = rng.randrange(19)
    if kind == 0:
        events[n] = replace(e, stage=rng.choice(_stages(b)))
    elif kind == 1:  # a time moved: before the key's window, after the next event, or a little
        shift = rng.choice([-50 * GEN.HOUR, -GEN.HOUR, -1, 1, GEN.HOUR, 30 * GEN.HOUR, 10**9])
        events[n] = replace(e, at=max(0, e.at + shift))
        for m in range(n + 1, len(events)):
            if events[m].at < events[n].at:
                events[m] = replace(events[m], at=events[n].at)
    elif kind == 2:  # a party's roles
        i = rng.randrange(len(ps))
        roles = sorted(set(rng.sample(["appraiser", "courier", "customs", "origin", "warehouse", "zz-extra"], 2)))
        ps[i] = replace(ps[i], roles=tuple(roles))
    elif kind == 3:  # a party's window
        i = rng.randrange(len(ps))
        frm = ps[i].valid_from + rng.choice([-GEN.HOUR, GEN.HOUR, 3 * GEN.HOUR, 7 * GEN.HOUR])
        until = rng.choice([None, frm + GEN.HOUR, frm + 2 * GEN.HOUR, frm + 100 * GEN.HOUR])
        ps[i] = replace(ps[i], valid_from=max(0, frm), valid_until=until)
    elif kind == 4:  # a revocation position
        i = rng.randrange(len(ps))
        ps[i] = replace(ps[i], revoked=rng.randrange(len(events) + 2))
    elif kind == 5:  # a party name (compact: key id kept; full: the key id follows, the registration fails)
        i = rng.randrange(len(ps))
        name = rng.choice(["grasse-labs", "sf-express", "new-party", "x"])
        ps[i] = replace(ps[i], name=name)
    elif kind == 6:  # the chain: two events' data swapped, or an event's place or country
        events[n] = replace(e, place=rng.choice([None, "Elsewhere", e.place]), country=rng.choice(["CN", "FR", "US"]))
    elif kind == 7:  # the anchor's index
        a = replace(a, head_index=rng.choice([0, a.head_index + 1, max(0, a.head_index - 1), a.tree_size - 1]))
    elif kind == 8:  # the anchor's size
        size = rng.choice([a.head_index + 1, a.tree_size + 1, a.tree_size * 2, 2**64 - 1, 2**53 + 5])
        a = replace(a, tree_size=size)
    elif kind == 9:  # the anchor's root
        a = replace(a, root=bytes([a.root[0] ^ 1]) + a.root[1:])
    elif kind == 10:  # the issue time
        a = replace(a, issued=max(0, a.issued + rng.choice([-GEN.HOUR, -6 * 60_000, GEN.HOUR, 30 * GEN.HOUR])))
    elif kind == 11:  # a policy of its own
        stages = {
            "make": (["origin"], [], True),
            "ship": (["courier", "customs"], ["make", "ship"], False),
            "check": (["appraiser", "warehouse"], ["ship"], rng.random() < 0.3),
        }
        policy = Policy.build(stages)
        names = sorted(stages)
        events = [replace(x, stage=rng.choice(names)) for x in events]
        return replace(b, policy=policy, events=tuple(events), parties=tuple(ps), anchor=a)
    elif kind == 12:  # data changed, integers beyond 2^53 included
        lots: list[str | int] = [2**60, -(2**62), 7, "L-1"]
        lot = rng.choice(lots)
        events[n] = replace(e, data={"lot": lot, "note": "x"})
    elif kind == 13:  # an event signed by another party of the table
        events[n] = replace(e, party=rng.randrange(len(ps)))
    elif kind == 17:  # a stage whose role the party holds: the stage order decides
        stage = rng.choice(_stages(b))
        i = e.party
        events[n] = replace(e, stage=stage)
        ps[i] = replace(ps[i], roles=tuple(sorted(set(ps[i].roles) | set(b.policy.stages[stage].roles))))
    elif kind == 18:  # the key of this event's party revoked before it, or after it
        i = e.party
        ps[i] = replace(ps[i], revoked=rng.choice([n + 1, n + 2, len(events) + 1]))
    elif kind == 14:  # the inclusion proof (full)
        if a.proof:
            proof = list(a.proof)
            rng.shuffle(proof)
            a = replace(a, proof=tuple(proof[: rng.randrange(len(proof) + 1)]))
    elif kind == 15:  # full: a party's key replaced by another party's (the same key registered twice)
        if b.full and len(ps) > 1:
            i, j = rng.sample(range(len(ps)), 2)
            ps[i] = replace(ps[i], key=ps[j].key)
    elif kind == 16:  # full: a registration time
        i = rng.randrange(len(ps))
        if ps[i].registered_at is not None:
            ps[i] = replace(ps[i], registered_at=ps[i].registered_at + rng.choice([-1, GEN.HOUR]))
    return replace(b, events=tuple(events), parties=tuple(ps), anchor=a)


def _climb(leaf: bytes, index: int, size: int, proof: tuple[bytes, ...]) -> bytes | None:
    """The root that ``proof`` gives for ``leaf`` at ``index`` of ``size`` (RFC 9162), None if its length is wrong."""
    inner = (index ^ (size - 1)).bit_length()
    if len(proof) != inner + bin(index >> inner).count("1"):
        return None
    h = leaf
    for level, sibling in enumerate(proof[:inner]):
        h = merkle.node_hash(sibling, h) if (index >> level) & 1 else merkle.node_hash(h, sibling)
    for sibling in proof[inner:]:
        h = merkle.node_hash(sibling, h)
    return h


def _resigned(b: Bundle, op: KeyPair, keys: dict[bytes, KeyPair], rng: random.Random) -> Bundle | None:
    """``b`` signed again by the operator; a full bundle mostly re-signed throughout (its key ids, its
    registrations, its events by their parties, a root that the proof leads to, the checkpoint), so that
    its change reaches the rules. None if it cannot be written."""
    try:
        if b.full:
            b = replace(b, parties=tuple(replace(p, key_id=key_id(p.name, p.key or b"")) for p in b.parties))
            if rng.random() < 0.7:
                b = _resign_full(b, op, keys, rng)
        return sign_bundle(b, op)
    except ProvchainError:
        return None


def _resign_full(b: Bundle, op: KeyPair, keys: dict[bytes, KeyPair], rng: random.Random) -> Bundle:
    anchored = replace(b, anchor=replace(b.anchor, operator_key_id=op.key_id))
    parties = tuple(
        replace(p, registration_signature=op.sign(ENTRY_DOMAIN + anchored.registration(p).encode()))
        for p in anchored.parties
    )
    anchored = replace(anchored, parties=parties)
    rebuilt = anchored.rebuild()
    events = []
    for e, r in zip(anchored.events, rebuilt, strict=True):
        signer = keys.get(parties[e.party].key or b"")
        events.append(e if signer is None else replace(e, signature=signer.sign(ENTRY_DOMAIN + r.encoded)))
    a = anchored.anchor
    root = _climb(rebuilt[-1].leaf_hash, a.head_index, a.tree_size, a.proof) if rng.random() < 0.8 else None
    if root is not None:
        a = replace(a, root=root)
    a = replace(a, checkpoint_signature=op.sign(Checkpoint(b.origin, a.tree_size, a.root).format()))
    return replace(anchored, events=tuple(events), anchor=a)


def _resigned_mutations(genuine: dict[str, str], rng: random.Random, count: int) -> Iterator[str]:
    op = GEN.operator()
    parties = {name: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, name in enumerate(GEN.PARTIES.values())}
    keys = {kp.public_key: kp for kp in parties.values()}
    made = 0
    while made < count:
        name = rng.choice(list(genuine))
        b = code.parse(genuine[name], GEN.ORIGIN)
        changed = b
        for _ in range(rng.choice([1, 1, 1, 2])):
            changed = _bundle_changes(changed, rng, parties)
        signed = _resigned(changed, op, keys, rng)
        if signed is None:
            continue
        try:
            text = signed.payload(GEN.BASE if name.startswith("url_") else None)
        except ProvchainError:
            continue
        made += 1
        yield text


def _policies() -> list[Witnesses]:
    """The witness policies the corpus is verified under: none, 2 of w1-w3, w2 or w4, all four, w4 alone,
    and a policy that requires no witness."""
    w = [k.vkey for k in GEN.witnesses()]
    return [
        None,
        {"keys": w[:3], "quorum": 2},
        {"keys": [w[1], w[3]], "quorum": 1},
        {"keys": w, "quorum": 4},
        {"keys": [w[3]], "quorum": 1},
        {"keys": [], "quorum": None},
    ]


def _cosignature_mutations(genuine: dict[str, str], rng: random.Random, count: int) -> Iterator[tuple[str, Witnesses]]:
    """Witnessed codes whose cosignatures (and proof) are changed, then re-signed by the operator, each with
    a policy: flipped signature bits, moved timestamps, cosignatures dropped, repeated or reordered, a
    fourth witness's genuine cosignature, cosignatures genuinely made at other times (the clock rule)."""
    op = GEN.operator()
    keys = GEN.witnesses()
    policies = _policies()
    made = 0
    while made < count:
        name = rng.choice(["witnessed", "url_witnessed", "witnessed-published", "url_witnessed-published"])
        b = code.parse(genuine[name], GEN.ORIGIN)
        a = b.anchor
        cosigs = list(a.cosignatures)
        text = Checkpoint(b.origin, a.tree_size, a.root).format()
        kind = rng.randrange(8)
        if kind == 0:  # a bit of a signature
            i = rng.randrange(len(cosigs))
            sig = bytearray(cosigs[i].signature)
            sig[rng.randrange(64)] ^= 1 << rng.randrange(8)
            cosigs[i] = replace(cosigs[i], signature=bytes(sig))
        elif kind == 1:  # a timestamp moved
            i = rng.randrange(len(cosigs))
            cosigs[i] = replace(cosigs[i], timestamp=max(0, cosigs[i].timestamp + rng.choice([-1, 1, 86400, 2**40])))
        elif kind == 2:  # some dropped
            cosigs = rng.sample(cosigs, rng.randrange(1, len(cosigs) + 1))
            cosigs.sort(key=lambda c: c.key_id)
        elif kind == 3:  # repeated or reordered: not canonical
            cosigs = [cosigs[0], *cosigs] if rng.random() < 0.5 else cosigs[::-1]
        elif kind == 4:  # w4's genuine cosignature added
            c = keys[3].cosign(text, GEN.COSIGNED_AT)
            cosigs = sorted([*cosigs, code.CodeCosignature(c.key_id, c.timestamp, c.signature)], key=lambda c: c.key_id)
        elif kind == 5:  # genuinely cosigned at another time: around the 24-hour clock rule, or long ago
            ts = rng.choice([GEN.VERIFY_AT // 1000 + 86400, GEN.VERIFY_AT // 1000 + 86401, 0, 2**62])
            cosigs = sorted(
                (code.CodeCosignature(k.key_id, ts, k.cosign(text, ts).signature) for k in keys[: rng.randrange(1, 5)]),
                key=lambda c: c.key_id,
            )
        elif kind == 6:  # another checkpoint's cosignatures (a root or a size changed, cosigned for real)
            other = Checkpoint(b.origin, a.tree_size + rng.choice([0, 1]), bytes([a.root[0] ^ 1]) + a.root[1:])
            cosigs = sorted(
                (
                    code.CodeCosignature(k.key_id, GEN.COSIGNED_AT, k.cosign(other.format(), GEN.COSIGNED_AT).signature)
                    for k in keys[:3]
                ),
                key=lambda c: c.key_id,
            )
        else:  # the proof changed
            proof = list(a.proof)
            rng.shuffle(proof)
            a = replace(a, proof=tuple(proof[: rng.randrange(len(proof) + 1)]))
        changed = replace(b, anchor=replace(a, cosignatures=tuple(cosigs)))
        try:
            text_out = sign_bundle(changed, op).payload(GEN.BASE if name.startswith("url_") else None)
        except ProvchainError:
            continue
        made += 1
        yield text_out, rng.choice(policies)


def _published_mutations(genuine: dict[str, str], rng: random.Random) -> Iterator[tuple[str, Witnesses]]:
    """Witnessed-published codes whose cosignature rows (version 1) or signature trailer and times (version
    2) are changed, not re-signed: reordered, repeated, cut, extended, times moved or written in more bytes;
    then re-signed ones that test attribution without key ids: a witness's two cosignatures, a stranger's
    and garbage beside a trusted one, every trusted witness in a different policy order."""
    op = GEN.operator()
    keys = GEN.witnesses()
    policies = _policies()
    value = _v1_value(genuine["witnessed-published"])
    rows = value[5][5]
    for changed in (
        [rows[1], rows[0], *rows[2:]],
        [rows[0], rows[0], *rows[1:]],
        rows[:1],
        [[rows[0][0] + 1, rows[0][1]], *rows[1:]],
        [[-(2**62), rows[0][1]], *rows[1:]],
        [rows[0], [2**63 - 1, rows[1][1]], *rows[2:]],
        [[rows[0][0], rows[0][1]], [rows[1][0], rows[1][1][:63]], *rows[2:]],
        [*rows, [0, b"\xff" * 64]],
    ):
        v = encoding.decode(encoding.encode(value))
        v[5][5] = changed
        yield _v1_text(encoding.encode(v)), rng.choice(policies)
    raw = base45.decode(genuine["witnessed-published"][4:])
    short = encoding.encode(rows[0][0]) + b"\xc4\x40" + rows[0][1]
    wide = b"\xd3" + rows[0][0].to_bytes(8, "big", signed=True) + short[len(encoding.encode(rows[0][0])) :]
    yield _v1_text(raw.replace(short, wide)), None  # a time difference in 9 bytes: not canonical
    base, raw2 = _v2_parts(genuine["url_witnessed-published"])
    inflated, trailer = bundle2._inflate_stream(raw2[96:])
    body = encoding.decode(inflated)
    stream = bundle2._deflate(inflated)
    for tail in (
        trailer[64:128] + trailer[:64] + trailer[128:],
        trailer[:-64],
        trailer + trailer[:64],
        trailer[:-1],
        trailer + b"\0",
        b"",
    ):
        yield _v2_text(base, raw2[:96] + stream + tail), rng.choice(policies)
    for times in ([*body[5][4], 0], body[5][4][:-1], [body[5][4][0] + 1, *body[5][4][1:]], [], "x"):
        v = encoding.decode(inflated)
        v[5][4] = times
        yield _v2_text(base, raw2[:96] + bundle2._deflate(encoding.encode(v)) + trailer), rng.choice(policies)
    compact_stream = bundle2._deflate(bundle2._inflate(_v2_parts(genuine["url_compact"])[1][96:]))
    yield _v2_text(base, _v2_parts(genuine["url_compact"])[1][:96] + compact_stream + trailer[:64]), None
    for name in ("witnessed-published", "url_witnessed-published"):
        b = code.parse(genuine[name], GEN.ORIGIN)
        a = b.anchor
        text = Checkpoint(b.origin, a.tree_size, a.root).format()
        w1, w2, w3, w4 = keys
        again = w1.cosign(text, GEN.COSIGNED_AT + 1)
        sets = [
            [w1.cosign(text, GEN.COSIGNED_AT), again],
            [w4.cosign(text, GEN.COSIGNED_AT), w2.cosign(text, GEN.COSIGNED_AT)],
            [w3.cosign(text, GEN.COSIGNED_AT), w2.cosign(text, GEN.COSIGNED_AT - 1), w1.cosign(text, 0)],
        ]
        for cs in sets:
            carried = [code.CodeCosignature(b"", c.timestamp, c.signature) for c in cs]
            if len(cs) == 2 and cs[0].key_id == cs[1].key_id:
                carried.append(code.CodeCosignature(b"", GEN.COSIGNED_AT, b"\x07" * 64))  # garbage
            changed = replace(b, anchor=replace(a, cosignatures=tuple(carried)))
            payload = sign_bundle(changed, op).payload(GEN.BASE if name.startswith("url_") else None)
            for w in [*policies, {"keys": [k.vkey for k in keys[::-1]], "quorum": 2}]:
                yield payload, w


def test_differential_corpus_has_no_disagreement(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(int(os.environ.get("PROVCHAIN_JS_CORPUS_SEED", "20251010")))
    genuine = GEN.payloads()
    op = GEN.operator()
    other = KeyPair.from_seed(GEN.ORIGIN, bytes([0xEE]) * 32)
    elsewhere = KeyPair.from_seed("other.example/ledger", bytes(range(32)))
    at = GEN.VERIFY_AT
    day = 24 * GEN.HOUR
    policies = _policies()
    cases: list[Case] = []
    for payload in genuine.values():
        cases += [(payload, op.vkey, at, None), (payload, other.vkey, at, None), (payload, elsewhere.vkey, at, None)]
        times = (GEN.ISSUED - 25 * GEN.HOUR, GEN.ISSUED - 23 * GEN.HOUR, GEN.ISSUED - day, GEN.ISSUED - day - 1, 0)
        cases += [(payload, op.vkey, t, None) for t in (*times, 2**53 - 1)]
        cases += [(payload, op.vkey, t, w) for w in policies[1:] for t in (at, GEN.COSIGNED_AT * 1000 - day - 1000)]
    cases += [(p, op.vkey, at, None) for p in _byte_mutations(genuine, rng)]
    cases += [(p, op.vkey, at, rng.choice(policies)) for p in _byte_mutations(genuine, rng) if rng.random() < 0.2]
    cases += [(p, op.vkey, at, None) for p in _swap_mutations(genuine, rng)]
    cases += [(p, op.vkey, at, None) for p in _text_mutations(genuine, rng)]
    cases += [(p, op.vkey, at, None) for p in _unicode_mutations(genuine)]
    cases += [(p, op.vkey, at, None) for p in _v2_body_mutations(genuine, rng)]
    resigned: list[Case] = [(p, op.vkey, at, None) for p in _resigned_mutations(genuine, rng, 800)]
    resigned += [(p, op.vkey, at, rng.choice(policies)) for p in _resigned_mutations(genuine, rng, 150)]
    witnessed = [(p, op.vkey, at, w) for p, w in _cosignature_mutations(genuine, rng, 300)]
    # witnessed-published codes changed and re-signed, each checked against a published log: the genuine
    # one, the fork's, one without tiles, or none.
    published = {k: v for k, v in genuine.items() if k.endswith("witnessed-published")}
    logs = ["log-a", "log-a", "log-b", "log-no-tiles", None]
    on_logs: list[Case] = [
        (p, op.vkey, at, rng.choice(policies), rng.choice(logs)) for p in _resigned_mutations(published, rng, 150)
    ]
    on_logs += [(p, op.vkey, at, w, log) for p in published.values() for w in policies for log in logs]
    on_logs += [(p, op.vkey, at, w, "log-a") for p, w in _published_mutations(genuine, rng)]
    cases += resigned + witnessed + on_logs
    bad, verdicts = compare(cases)
    with capsys.disabled():
        sys.stdout.write(
            f"\nJS verifier differential corpus: {len(cases)} codes ({len(resigned)} re-signed, "
            f"{len(witnessed)} witnessed with changed cosignatures), "
            f"{len(bad)} disagreements; Python's verdicts: {dict(sorted(verdicts.items()))}\n"
        )
    assert len(cases) >= 1000
    assert bad == []
    # The corpus reaches the deep checks, not only the parser.
    for error in ("SignatureError", "ChainError", "RoleError", "StageOrderError", "ExpiredKeyError", "TimeError"):
        assert verdicts[error] > 0, error
    assert verdicts["VERIFIED"] > 50
    assert verdicts["InclusionError"] > 0 and verdicts["RevokedKeyError"] > 0
    assert verdicts["QuorumError"] > 0 and verdicts["CosignatureError"] > 0
    assert verdicts["ProofUnavailableError"] > 0


def _checkpoint_mutations(note: bytes, rng: random.Random) -> Iterator[bytes]:
    """Published checkpoints a hostile or broken log could serve, around the genuine one (log-a's)."""
    text, _, sigs = note.partition(b"\n\n")
    lines = sigs.split(b"\n")[:-1]
    yield note
    yield b""
    yield text + b"\n\n"
    yield text + b"\n\n" + b"\n".join(lines[1:]) + b"\n"  # without the operator's line
    yield text + b"\n\n" + b"\n".join(reversed(lines)) + b"\n"
    yield text + b"\n\n" + b"\n".join([*lines, lines[0]]) + b"\n"  # the operator's line twice
    yield text + b"\n\n" + b"\n".join(lines)  # no final newline
    yield text + b"\n\n\n" + b"\n".join(lines) + b"\n"
    yield text + b"\next\n\n" + b"\n".join(lines) + b"\n"  # an extension line: the signature fails
    yield text.replace(b"\n", b"\r\n") + b"\n\n" + sigs
    yield b"\xef\xbb\xbf" + note
    yield note + "\u2014 other.example/x AAAAAAA=\n".encode()
    yield note + "\u2014 bad+name AAAAAAA=\n".encode()
    yield note + b"- not a signature line\n"
    yield note + "\u2014 w AAAA\n".encode()  # 3 bytes: too short
    yield note + "\u2014 w\u00a0x AAAAAAA=\n".encode()  # a Unicode space in a name
    yield note + "".join(f"\u2014 w{n} AAAAAAA=\n" for n in range(100)).encode()  # more than 100 lines
    yield note + b"\x00"
    yield note[:-1] + b"\xff\n"
    for _ in range(60):
        raw = bytearray(note)
        i = rng.randrange(len(raw))
        raw[i] ^= 1 << rng.randrange(8)
        yield bytes(raw)


def test_hostile_published_checkpoints_get_pythons_verdict(tmp_path: Path) -> None:
    """A witnessed-published code checked against logs whose checkpoint file is changed: the JavaScript
    reader refuses (ProofUnavailableError) or accepts exactly the notes Python's note and checkpoint parsers
    refuse or accept."""
    rng = random.Random(1014)
    genuine = json.loads((VECTORS / "code" / "valid_published_2_of_3.json").read_text("utf-8"))
    note = (LOGS / "log-a" / "checkpoint").read_bytes()
    cases: list[Case] = []
    for n, mutated in enumerate(_checkpoint_mutations(note, rng)):
        log = tmp_path / f"log-{n}"
        shutil.copytree(LOGS / "log-a", log)
        (log / "checkpoint").write_bytes(mutated)
        cases.append((genuine["payload"], genuine["operator_vkey"], genuine["at"], genuine["witnesses"], str(log)))
    bad, verdicts = compare(cases)
    assert bad == []
    assert verdicts["VERIFIED"] >= 3 and verdicts["ProofUnavailableError"] >= 15


def test_verify_time_in_node(capsys: pytest.CaptureFixture[str]) -> None:
    """How long Node takes to verify the serum codes (printed; no timing assertion)."""
    genuine = GEN.payloads()
    op = GEN.operator()
    answers = run_node([{"payload": p, "vkey": op.vkey, "at": GEN.VERIFY_AT, "time": 20} for p in genuine.values()])
    with capsys.disabled():
        for name, a in zip(genuine, answers, strict=True):
            sys.stdout.write(f"\nNode verifies the serum {name} code in {a['ms']:.1f} ms")
        sys.stdout.write("\n")
    assert all(a["ms"] > 0 for a in answers)

