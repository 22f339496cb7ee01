"""The entry test vectors of docs/spec/entries.md (tests/vectors/entries/*.json) against provchain.

Positive vectors must be reproduced byte for byte (body, signature, leaf hash, key id) and round-trip through
``decode_body``; each negative vector must raise exactly the named error (not a subclass, not a parent) from
``entries.decode_body``, ``keys.verify_signature`` or a log replay through ``rules.Registry``. The generator
is run again and must write identical files.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from provchain import encoding, errors
from provchain.entries import ENTRY_DOMAIN, MAX_BODY, Entry, Event, PolicyEntry, decode_body, leaf_hash_of
from provchain.keys import KeyPair, key_id, verify_signature
from provchain.policy import DEFAULT_POLICY
from provchain.rules import Head, Registry

HERE = Path(__file__).parent
VECTORS = HERE / "vectors" / "entries"
SPEC = HERE.parent / "docs" / "spec" / "entries.md"
FILES = sorted(VECTORS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def by_check(check: str) -> list[Any]:
    return [pytest.param(load(p), id=p.stem) for p in FILES if load(p)["check"] == check]


def untag(value: Any) -> Any:
    """The body map of a vector's JSON form: {"$bin": hex} is msgpack bin."""
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        return {k: untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


def raises_exactly(want: str, exc: BaseException) -> None:
    assert type(exc).__name__ == want, f"want {want}, got {type(exc).__name__}: {exc}"
    assert isinstance(exc, errors.ProvchainError)


# --- the vector set ---------------------------------------------------------------------------------


def test_vector_set() -> None:
    assert len(FILES) >= 150
    checks = {p.stem: load(p)["check"] for p in FILES}
    assert set(checks.values()) == {"entry", "decode_body", "verify_signature", "log"}
    kinds = {load(p)["body"]["kind"] for p in FILES if checks[p.stem] == "entry"}
    assert kinds == {"event", "party", "revoke", "policy"}
    for p in FILES:
        v = load(p)
        assert v["desc"]
        assert ("want_error" in v) == p.stem.startswith("bad_"), p.stem
        if "want_error" in v:
            assert isinstance(getattr(errors, v["want_error"]), type)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("entries_vector_generator", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_is_deterministic(tmp_path: Path) -> None:
    written = _generator().write(tmp_path)
    assert sorted(p.name for p in written) == [p.name for p in FILES]
    for p in FILES:
        assert (tmp_path / p.name).read_bytes() == p.read_bytes(), p.name


def test_spec_example_is_a_vector() -> None:
    """The example at the top of docs/spec/entries.md is vector ok_event_first, byte for byte."""
    v = load(VECTORS / "ok_event_first.json")
    text = "".join(SPEC.read_text(encoding="utf-8").split())
    for field in ("body_hex", "signature", "leaf_hash", "key_id", "public_key"):
        assert v[field] in text, field
    assert v["signer_seed"] in text


# --- positive vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("v", by_check("entry"))
def test_positive(v: dict[str, Any]) -> None:
    kp = KeyPair.from_seed(v["signer_name"], bytes.fromhex(v["signer_seed"]))
    body_map = untag(v["body"])
    body = bytes.fromhex(v["body_hex"])
    assert kp.public_key.hex() == v["public_key"]
    assert kp.key_id.hex() == v["key_id"] == key_id(v["signer_name"], kp.public_key).hex()
    assert encoding.encode(body_map) == body
    content = decode_body(body)
    assert body_map["kind"] == content.KIND
    assert content.to_map() == body_map
    assert content.encode() == body
    assert content.signer.hex() == v["key_id"]
    assert kp.sign(ENTRY_DOMAIN + body).hex() == v["signature"]
    verify_signature(kp.public_key, ENTRY_DOMAIN + body, bytes.fromhex(v["signature"]))
    assert leaf_hash_of(body).hex() == v["leaf_hash"]
    assert Entry(body, bytes.fromhex(v["signature"])).leaf_hash.hex() == v["leaf_hash"]


def test_default_policy_vector() -> None:
    content = decode_body(bytes.fromhex(load(VECTORS / "ok_policy_default.json")["body_hex"]))
    assert isinstance(content, PolicyEntry)
    assert content.policy == DEFAULT_POLICY


def test_chain_vector() -> None:
    first, second = (load(VECTORS / f"ok_event_{n}.json") for n in ("first", "next"))
    ev = decode_body(bytes.fromhex(second["body_hex"]))
    assert isinstance(ev, Event) and ev.prev is not None
    assert ev.prev.hex() == first["leaf_hash"]


# --- negative vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("v", by_check("decode_body"))
def test_bad_body(v: dict[str, Any]) -> None:
    body = bytes.fromhex(v["body_hex"])
    with pytest.raises(errors.ProvchainError) as info:
        decode_body(body)
    raises_exactly(v["want_error"], info.value)


@pytest.mark.parametrize("v", by_check("verify_signature"))
def test_bad_signature(v: dict[str, Any]) -> None:
    body = bytes.fromhex(v["body_hex"])
    decode_body(body)  # the body itself is valid: only the signature is at fault
    with pytest.raises(errors.ProvchainError) as info:
        verify_signature(bytes.fromhex(v["public_key"]), ENTRY_DOMAIN + body, bytes.fromhex(v["signature"]))
    raises_exactly(v["want_error"], info.value)


def replay(v: dict[str, Any]) -> list[bytes]:
    """Judge the vector's entries in log order, as docs/spec/entries.md says; return their leaf hashes."""
    op = v["operator"]
    reg = Registry(v["origin"], op["name"], bytes.fromhex(op["public_key"]))
    heads: dict[str, Head] = {}
    leaves = []
    for i, e in enumerate(v["entries"]):
        entry = Entry(bytes.fromhex(e["body_hex"]), bytes.fromhex(e["signature"]), i)
        item = None
        try:
            content = entry.content
            if isinstance(content, Event):
                item = content.item
            reg.check(entry, heads.get(item) if item else None, now=v.get("now"))
        except errors.ProvchainError as exc:
            assert i == len(v["entries"]) - 1, f"entry {i} of {len(v['entries'])} refused: {exc}"
            raise
        if isinstance(content, Event):
            heads[content.item] = Head(i, entry.leaf_hash, content.stage, content.at)
        else:
            reg.apply(content, i)
        leaves.append(entry.leaf_hash)
    return leaves


@pytest.mark.parametrize("v", by_check("log"))
def test_log(v: dict[str, Any]) -> None:
    if "want_error" not in v:
        assert [h.hex() for h in replay(v)] == v["leaf_hashes"]
        return
    with pytest.raises(errors.ProvchainError) as info:
        replay(v)
    raises_exactly(v["want_error"], info.value)


def test_log_keys_match_seeds() -> None:
    for p in FILES:
        v = load(p)
        for k in [v.get("operator"), *v.get("keys", [])]:
            if k is None:
                continue
            kp = KeyPair.from_seed(k["name"], bytes.fromhex(k["seed"]))
            assert (kp.public_key.hex(), kp.key_id.hex()) == (k["public_key"], k["key_id"]), p.stem


def test_body_limit_is_the_spec_limit() -> None:
    assert MAX_BODY == 8192
    assert re.fullmatch(r"[0-9a-f]+", load(VECTORS / "bad_body_oversize_body.json")["body_hex"])
    assert len(load(VECTORS / "bad_body_oversize_body.json")["body_hex"]) // 2 > MAX_BODY
