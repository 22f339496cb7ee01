"""Start-up time of ``provchain scan CODE.txt`` against a bare interpreter that imports what it must.

The limit: ``python -c`` importing click, msgpack and cryptography's Ed25519 (what any Python command
that parses a code and checks its signatures imports). The scan reads a code text file, verifies it
offline (operator's signature, the journey, the rules) and prints the journey. Each figure is the wall
time of a fresh process; the runs interleave baseline and scan, and the median of ``--runs`` is reported,
with the ratio scan / baseline (goal, issue #20: <= 1.6).

    python bench/startup.py [--runs 15] [--compare-src /path/to/other/checkout/src]

``--compare-src`` also times the scan of another source tree (an older provchain, by ``PYTHONPATH``) on
the same code, in the same interleaved rounds.

Bytecode: the baseline's packages were compiled to ``.pyc`` when pip installed them, and an installed
provchain is too; an editable checkout under ``PYTHONDONTWRITEBYTECODE=1`` is not, and then every scan
compiles provchain's sources again (about 60 ms here). So the provchain trees are compiled first
(``compileall``, which writes ``__pycache__`` folders that git ignores); ``--no-compile`` measures
them as they are.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ORIGIN, STEPS, T0

BASELINE = "import click, msgpack\nfrom cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey"
SCAN = "from provchain.cli import main\nmain()"


def make_code(folder: Path) -> tuple[Path, str]:
    """A six-event journey in a new ledger; its compact code text in a file, and the operator's vkey."""
    from provchain import code
    from provchain.keys import KeyPair
    from provchain.ledger import Ledger

    op = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    parties = {role: KeyPair.from_seed(f"party-{role}", bytes([i + 1]) * 32) for i, (_, role, _, _) in enumerate(STEPS)}
    with Ledger.create(folder / "ledger.db", origin=ORIGIN, operator=op, at=T0) as led:
        for role, kp in parties.items():
            led.register_party(kp.name, roles=[role], public_key=kp.public_key, at=T0)
        for k, (stage, role, country, data) in enumerate(STEPS):
            led.append("SKU-00000001", stage, parties[role], country=country, data=data, at=T0 + 1000 + k)
        text = code.make(led, "SKU-00000001", at=T0 + 10_000)
    path = folder / "code.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path, op.vkey


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="interleaved rounds; the median is reported")
    ap.add_argument("--compare-src", default=None, help="another source tree to time the scan of, too")
    ap.add_argument("--no-compile", action="store_true", help="do not compile the provchain trees to bytecode first")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="pc-bench-startup-") as tmp:
        compare = None
        if args.compare_src:  # a copy, so that compiling it leaves the other tree as it was
            compare = os.path.join(tmp, "compare")
            shutil.copytree(os.path.join(args.compare_src, "provchain"), os.path.join(compare, "provchain"))
        if not args.no_compile:
            spec = importlib.util.find_spec("provchain")
            assert spec is not None and spec.origin is not None
            for tree in [os.path.dirname(spec.origin), *([os.path.join(compare, "provchain")] if compare else [])]:
                compileall.compile_dir(tree, quiet=1)
        path, vkey = make_code(Path(tmp))
        scan = [py, "-c", SCAN, "scan", str(path), "--operator", vkey, "--at", "2100-01-01T00:00:00Z"]
        jobs: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "baseline (python -c: click, msgpack, Ed25519)": ([py, "-c", BASELINE], None),
            "provchain scan CODE.txt": (scan, None),
        }
        if args.compare_src:
            env = {**os.environ, "PYTHONPATH": str(compare)}
            jobs[f"provchain scan CODE.txt ({args.compare_src})"] = (scan, env)
        for argv, env in jobs.values():  # warm the file cache; and the scan must verify (exit 0)
            wall(argv, env)
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.runs):
            for name, (argv, env) in jobs.items():
                times[name].append(wall(argv, env))
    med = {name: statistics.median(ts) for name, ts in times.items()}
    base = med["baseline (python -c: click, msgpack, Ed25519)"]
    compiled = "source only (no bytecode)" if args.no_compile else "provchain compiled to bytecode first"
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; median of {args.runs} runs; {compiled}")
    width = max(map(len, med))
    for name, m in med.items():
        print(f"  {name:<{width}}  {m * 1000:7.1f} ms  {m / base:5.2f}x baseline")
    print(f"ratio scan / baseline: {med['provchain scan CODE.txt'] / base:.2f} (goal <= 1.6)")


if __name__ == "__main__":
    main()
