"""Raw Ed25519 verification speed: cryptography (OpenSSL) against PyNaCl (libsodium), in one run.

Measures, on the same signatures (a few keys, entry-sized messages, as in an audit of one ledger):

* microseconds per verify, single-threaded, for each backend with its key objects cached, and for
  cryptography also with the key loaded on every call (what ``keys.verify_signature`` did before it moved to libsodium);
* the cost of provchain's strictness pre-checks alone, with the per-key subgroup check cached (the
  steady state of a bulk verification) and uncached (the first signature of each key);
* ``keys.verify_signature`` end to end (pre-checks + libsodium);
* throughput in verifies/s for each backend with 1 thread, 2 threads and 2 processes.

Each figure is the best of ``--repeat`` runs (as ``timeit`` reports), which is the least disturbed by
other work on the machine.

    python bench/verify_raw.py [--n 4000] [--keys 8] [--repeat 7] [--table]

``--table`` also prints the per-flag agreement table of the C2SP/CCTV vectors (docs/notes/ed25519.md).
Needs PyNaCl (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import cryptography
import nacl
import nacl.exceptions
import nacl.signing
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provchain._internal import ed25519_strict
from provchain.errors import SignatureError
from provchain.keys import KeyPair, verify_signature

Item = tuple[bytes, bytes, bytes]  # public key, message, signature
VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "ed25519" / "ed25519vectors.json"

_ITEMS: list[Item] = []  # the work, shared with worker processes (set before the pool forks)


def make_items(n: int, n_keys: int) -> list[Item]:
    keys = [KeyPair.from_seed(f"party-{i}", bytes([i + 1]) * 32) for i in range(n_keys)]
    items = []
    for j in range(n):
        kp = keys[j % n_keys]
        msg = b"provchain/entry\n" + j.to_bytes(8, "big") + bytes(range(256))[: 200 - 24]
        items.append((kp.public_key, msg, kp.sign(msg)))
    return items


# --- the verifiers: each checks items[lo:hi] and returns how many verified ---------------------------


def crypto_cached(items: Sequence[Item]) -> int:
    cache: dict[bytes, Ed25519PublicKey] = {}
    ok = 0
    for pk, msg, sig in items:
        key = cache.get(pk)
        if key is None:
            key = cache[pk] = Ed25519PublicKey.from_public_bytes(pk)
        try:
            key.verify(sig, msg)
            ok += 1
        except InvalidSignature:
            pass
    return ok


def crypto_uncached(items: Sequence[Item]) -> int:
    ok = 0
    for pk, msg, sig in items:
        try:
            Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
            ok += 1
        except InvalidSignature:
            pass
    return ok


def nacl_cached(items: Sequence[Item]) -> int:
    cache: dict[bytes, nacl.signing.VerifyKey] = {}
    ok = 0
    for pk, msg, sig in items:
        key = cache.get(pk)
        if key is None:
            key = cache[pk] = nacl.signing.VerifyKey(pk)
        try:
            key.verify(msg, sig)
            ok += 1
        except nacl.exceptions.BadSignatureError:
            pass
    return ok


def nacl_with_prechecks(items: Sequence[Item]) -> int:
    cache: dict[bytes, nacl.signing.VerifyKey] = {}
    ok = 0
    for pk, msg, sig in items:
        if not ed25519_strict.acceptable(pk, sig):
            continue
        key = cache.get(pk)
        if key is None:
            key = cache[pk] = nacl.signing.VerifyKey(pk)
        try:
            key.verify(msg, sig)
            ok += 1
        except nacl.exceptions.BadSignatureError:
            pass
    return ok


def provchain_verify(items: Sequence[Item]) -> int:
    ok = 0
    for pk, msg, sig in items:
        try:
            verify_signature(pk, msg, sig)
            ok += 1
        except SignatureError:
            pass
    return ok


def prechecks_warm(items: Sequence[Item]) -> int:
    return sum(ed25519_strict.acceptable(pk, sig) for pk, _, sig in items)


def prechecks_cold(items: Sequence[Item]) -> int:
    check = ed25519_strict._key_acceptable.__wrapped__  # the per-key subgroup check without its cache
    return sum(ed25519_strict.signature_acceptable(sig) and check(pk) for pk, _, sig in items)


VERIFIERS: dict[str, Callable[[Sequence[Item]], int]] = {
    "crypto": crypto_cached,
    "nacl": nacl_cached,
    "provchain": provchain_verify,
    "nacl+pre": nacl_with_prechecks,
}


def _on_threads(ex: ThreadPoolExecutor, halves: list[tuple[str, int]]) -> list[int]:
    return list(ex.map(_half, halves))


def _half(args: tuple[str, int]) -> int:
    name, part = args
    mid = len(_ITEMS) // 2
    return VERIFIERS[name](_ITEMS[:mid] if part == 0 else _ITEMS[mid:])


# --- timing -----------------------------------------------------------------------------------------


def _timer(job: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter()
        job()
        return time.perf_counter() - t

    return run


def best_times(jobs: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """The best time of each job over ``repeat`` rounds; the rounds interleave the jobs, so a burst of
    other work on the machine spoils one sample of many jobs rather than every sample of one."""
    for run in jobs.values():  # warm caches, imports and workers
        run()
    best = dict.fromkeys(jobs, float("inf"))
    for _ in range(repeat):
        for name, run in jobs.items():
            best[name] = min(best[name], run())
    return best


# --- the CCTV agreement table -----------------------------------------------------------------------


def _accepts(verify: Callable[[bytes, bytes, bytes], object], pk: bytes, msg: bytes, sig: bytes) -> int:
    try:
        verify(pk, msg, sig)
    except (InvalidSignature, ValueError, nacl.exceptions.CryptoError, SignatureError):
        return 0
    return 1


def _openssl(pk: bytes, msg: bytes, sig: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)


def _libsodium(pk: bytes, msg: bytes, sig: bytes) -> None:
    nacl.signing.VerifyKey(pk).verify(msg, sig)


def agreement_table() -> str:
    rows: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for v in json.loads(VECTORS.read_text("utf-8")):
        pk, sig, msg = bytes.fromhex(v["key"]), bytes.fromhex(v["sig"]), v["msg"].encode()
        pre = int(ed25519_strict.acceptable(pk, sig))
        o, s = _accepts(_openssl, pk, msg, sig), _accepts(_libsodium, pk, msg, sig)
        p = _accepts(verify_signature, pk, msg, sig)
        for flag in ["(all vectors)", *(v["flags"] or ["(no flag)"])]:
            rows[flag] += collections.Counter(
                n=1, openssl=o, libsodium=s, pre=pre, o_pre=o & pre, s_pre=s & pre, provchain=p
            )
    cols = ["n", "openssl", "libsodium", "pre", "o_pre", "s_pre", "provchain"]
    heads = ["vectors", "OpenSSL", "libsodium", "pre-checks", "OpenSSL+pre", "libsodium+pre", "provchain"]
    lines = ["| flag | " + " | ".join(heads) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {flag} | " + " | ".join(str(rows[flag][c]) for c in cols) + " |" for flag in sorted(rows)]
    return "accepted by each column, per CCTV flag:\n" + "\n".join(lines)


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4000, help="signatures per measurement")
    ap.add_argument("--keys", type=int, default=8, help="distinct signing keys")
    ap.add_argument("--repeat", type=int, default=7, help="repetitions; the best is reported")
    ap.add_argument("--table", action="store_true", help="also print the CCTV agreement table")
    args = ap.parse_args()

    _ITEMS[:] = make_items(args.n, args.keys)
    assert all(fn(_ITEMS) == args.n for fn in (crypto_cached, nacl_cached, provchain_verify, nacl_with_prechecks))
    print(
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores; "
        f"cryptography {cryptography.__version__} ({openssl_backend.openssl_version_text()}), "
        f"PyNaCl {nacl.__version__} (bundled libsodium); n={args.n}, keys={args.keys}, best of {args.repeat}"
    )

    cold_items = _ITEMS[: max(50, args.n // 20)]
    single_fns: dict[str, tuple[Callable[[Sequence[Item]], int], Sequence[Item]]] = {
        "cryptography, key object cached": (crypto_cached, _ITEMS),
        "cryptography, key loaded per call": (crypto_uncached, _ITEMS),
        "PyNaCl, VerifyKey cached": (nacl_cached, _ITEMS),
        "pre-checks only, key check cached": (prechecks_warm, _ITEMS),
        "pre-checks only, key check uncached": (prechecks_cold, cold_items),
        "keys.verify_signature (pre-checks + libsodium)": (provchain_verify, _ITEMS),
        "PyNaCl + pre-checks (cached)": (nacl_with_prechecks, _ITEMS),
    }
    rows = {
        "crypto": "cryptography (OpenSSL)",
        "nacl": "PyNaCl (libsodium)",
        "provchain": "keys.verify_signature",
        "nacl+pre": "PyNaCl + pre-checks",
    }
    halves = {name: [(name, 0), (name, 1)] for name in rows}
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool, ThreadPoolExecutor(2) as ex:
        jobs: dict[str, Callable[[], float]] = {}
        for label, (fn, items) in single_fns.items():
            jobs[label] = _timer(partial(fn, items))
        for name in rows:
            jobs[f"{name}/threads"] = _timer(partial(_on_threads, ex, halves[name]))
            jobs[f"{name}/procs"] = _timer(partial(pool.map, _half, halves[name], 1))
        best = best_times(jobs, args.repeat)

    single = {label: best[label] / len(items) * 1e6 for label, (_, items) in single_fns.items()}
    print("\nsingle-threaded, microseconds per verify")
    width = max(map(len, single))
    for label, us in single.items():
        print(f"  {label:<{width}}  {us:8.1f}")

    one_thread = {
        "crypto": "cryptography, key object cached",
        "nacl": "PyNaCl, VerifyKey cached",
        "provchain": "keys.verify_signature (pre-checks + libsodium)",
        "nacl+pre": "PyNaCl + pre-checks (cached)",
    }
    rates = {
        name: (1e6 / single[one_thread[name]], args.n / best[f"{name}/threads"], args.n / best[f"{name}/procs"])
        for name in rows
    }
    print("\nthroughput, verifies per second")
    width = max(map(len, rows.values()))
    print(f"  {'':<{width}}  {'1 thread':>10}  {'2 threads':>10} {'(x)':>6}  {'2 procs':>10} {'(x)':>6}")
    for name, label in rows.items():
        one, thr, proc = rates[name]
        print(f"  {label:<{width}}  {one:10.0f}  {thr:10.0f} {thr / one:5.2f}x  {proc:10.0f} {proc / one:5.2f}x")

    c1, n1 = rates["crypto"][0], rates["nacl"][0]
    print("\nratios")
    print(f"  PyNaCl / cryptography, 1 thread:       {n1 / c1:5.2f}x")
    print(f"  PyNaCl / cryptography, 2 threads:      {rates['nacl'][1] / rates['crypto'][1]:5.2f}x")
    print(f"  PyNaCl / cryptography, 2 processes:    {rates['nacl'][2] / rates['crypto'][2]:5.2f}x")
    print(f"  PyNaCl+pre / verify_signature, 1 thr:  {rates['nacl+pre'][0] / rates['provchain'][0]:5.2f}x")
    print(f"  PyNaCl+pre / verify_signature, 2 proc: {rates['nacl+pre'][2] / rates['provchain'][2]:5.2f}x")
    share = single["pre-checks only, key check cached"] / single["keys.verify_signature (pre-checks + libsodium)"]
    print(f"  pre-checks share of verify_signature:  {share:5.1%}")

    if args.table:
        print()
        print(agreement_table())


if __name__ == "__main__":
    main()
