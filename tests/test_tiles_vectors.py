"""The published-log vectors of docs/spec/tiles.md (tests/vectors/tiles/log): a deterministic ledger of 262
entries (a full entry bundle, a partial one of 6, a level-1 tile), published by provchain.

The test rebuilds the ledger from its fixed keys and times, publishes it, and requires the very bytes stored;
any implementation can check its reader against the stored files. To regenerate after a deliberate format
change: ``python tests/test_tiles_vectors.py``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from provchain import KeyPair, Ledger, merkle
from provchain.tlog import DirFetcher, TiledLog, audit_tiles, layout, publish

VECTORS = Path(__file__).parent / "vectors" / "tiles"
ORIGIN = "example.com/tiles-vectors"
T0 = 1_760_000_000_000
OPERATOR = KeyPair.from_seed(ORIGIN, bytes(range(32)))
MAKER = KeyPair.from_seed("grasse-labs", bytes([1]) * 32)


def build(directory: Path) -> Path:
    """The vectors' ledger in ``directory``, published to ``directory / "log"``."""
    with Ledger.create(directory / "ledger.db", origin=ORIGIN, operator=OPERATOR, at=T0, clock=lambda: T0) as led:
        led.register_party(MAKER.name, ["origin"], MAKER.public_key, at=T0, valid_from=T0)
        with led.batch():
            for i in range(260):
                led.append(f"SERUM-{i:04d}", "origin", MAKER, country="FR", data={"batch": "B-17"}, at=T0 + 1000 + i)
        assert led.size == 262
        led.checkpoint()
        publish(led, directory / "log")
    return directory / "log"


def files_in(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def test_vectors_are_what_provchain_publishes(tmp_path: Path) -> None:
    assert files_in(build(tmp_path)) == files_in(VECTORS / "log"), "run: python tests/test_tiles_vectors.py"


def test_vectors_verify() -> None:
    assert (VECTORS / "operator.vkey").read_text().strip() == OPERATOR.vkey
    log_dir = VECTORS / "log"
    assert sorted(files_in(log_dir)) == [
        "checkpoint", "tile/0/000", "tile/0/001.p/6", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/6",
        "tile/sigs/000", "tile/sigs/001.p/6",
    ]  # fmt: skip
    with TiledLog(DirFetcher(log_dir)) as log:
        cp, _ = log.checkpoint(OPERATOR.vkey)
        assert cp.size == 262 and log.verify_tree(cp) == 262
        bodies = [e for _, bundle, _ in log.bundles(262) for e in bundle]
    assert merkle.root([merkle.leaf_hash(b) for b in bodies]) == cp.root
    assert layout.reference_files(bodies) == {k: v for k, v in files_in(log_dir).items() if k.startswith("tile/")
                                              and not k.startswith("tile/sigs/")}  # fmt: skip
    assert audit_tiles(log_dir, OPERATOR.vkey, workers=1, now=T0 + 10**6).clean


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        out = build(Path(tmp))
        shutil.rmtree(VECTORS / "log", ignore_errors=True)
        shutil.copytree(out, VECTORS / "log")
    (VECTORS / "operator.vkey").write_text(OPERATOR.vkey + "\n")
    print(f"wrote {VECTORS}", file=sys.stderr)
