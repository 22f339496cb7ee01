"""Output files: the one writing helper, and every CLI command that writes a file, on real files.

Each refusal is checked for what it must leave alone: the target, a link's target, the ledger (which
must still open and audit clean), and the directory (no temporary file left behind).
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import rawdb
from clirun import fails, ok
from conftest import journey

from provchain import KeyPair, Ledger
from provchain import errors as E
from provchain._internal import files
from provchain.audit import audit_path
from provchain.export import MAGIC, ExportReader, export_ledger
from provchain.qr import read_image
from provchain.store import sqlite as sqlite_store

ITEM = "SERUM-0001"
VICTIM = b"the victim's own bytes\n"


@pytest.fixture
def umask() -> Iterator[int]:
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


@pytest.fixture
def filled(ledger: Ledger, parties: dict[str, KeyPair], ledger_path: Path) -> Path:
    journey(ledger, parties, ITEM)
    ledger.checkpoint()
    ledger.close()
    return ledger_path


@pytest.fixture
def opkey(operator: KeyPair, tmp_path: Path) -> Path:
    key = tmp_path / "operator.key"
    operator.save(key)
    return key


def victim(tmp_path: Path) -> Path:
    v = tmp_path / "elsewhere" / "victim.txt"
    v.parent.mkdir(exist_ok=True)
    v.write_bytes(VICTIM)
    return v


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def intact(path: Path, operator: KeyPair, size: int) -> None:
    """The ledger still opens, has its entries and audits clean."""
    with Ledger.open(path, readonly=True) as led:
        assert led.size == size
    assert audit_path(path, operator.vkey, workers=1).clean


# --- the helper ---------------------------------------------------------------------------------------


def test_write_new_file_with_the_usual_or_a_private_mode(tmp_path: Path, umask: int) -> None:
    files.write_atomic(tmp_path / "out.json", b"{}\n")
    assert (tmp_path / "out.json").read_bytes() == b"{}\n"
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o666 & ~umask
    files.write_atomic(tmp_path / "secret", b"k", private=True)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600
    assert listing(tmp_path) == ["out.json", "secret"]


def test_existing_file_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(b"old")
    with pytest.raises(E.InputError, match=r"already exists.*--force"):
        files.write_atomic(out, b"new")
    assert out.read_bytes() == b"old"
    files.write_atomic(out, b"new", force=True)
    assert out.read_bytes() == b"new" and listing(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("force", [False, True])
def test_link_at_the_target_is_refused(tmp_path: Path, force: bool) -> None:
    v = victim(tmp_path)
    link = tmp_path / "out.txt"
    link.symlink_to(v)
    with pytest.raises(E.InputError, match="symbolic link"):
        files.write_atomic(link, b"new", force=force)
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "elsewhere" / "not-yet")
    with pytest.raises(E.InputError, match="symbolic link"):
        files.write_atomic(dangling, b"new", force=force)
    assert v.read_bytes() == VICTIM and not (tmp_path / "elsewhere" / "not-yet").exists()
    assert link.is_symlink() and dangling.is_symlink()


def test_directory_and_missing_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(E.InputError, match="is a directory"):
        files.write_atomic(tmp_path / "d", b"x", force=True)
    with pytest.raises(E.InputError, match="does not exist"):
        files.write_atomic(tmp_path / "nowhere" / "x", b"x")


def test_a_failed_write_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), files.atomic_output(out, force=True) as f:
        f.write(b"half of it")
        raise RuntimeError("the writer failed")
    assert out.read_bytes() == b"old" and listing(tmp_path) == ["out.txt"]


def test_a_file_that_appears_while_writing_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with pytest.raises(E.InputError, match="already exists"), files.atomic_output(out) as f:
        f.write(b"mine")
        out.write_bytes(b"theirs")  # someone else created it meanwhile
    assert out.read_bytes() == b"theirs" and listing(tmp_path) == ["out.txt"]


def test_a_link_planted_while_writing_is_not_followed(tmp_path: Path) -> None:
    v = victim(tmp_path)
    out = tmp_path / "out.txt"
    out.write_bytes(b"old")
    with pytest.raises(E.InputError, match="symbolic link"), files.atomic_output(out, force=True) as f:
        f.write(b"mine")
        out.unlink()
        out.symlink_to(v)
    assert v.read_bytes() == VICTIM and out.is_symlink()


def test_the_temporary_file_is_new_and_unpredictable(tmp_path: Path) -> None:
    """Links planted at every name an earlier version or a careless writer would use are never written
    through; the temporary file is a new file created in the target's directory."""
    v = victim(tmp_path)
    out = tmp_path / "out.export"
    planted = ["out.export.partial", ".out.export.partial", ".out.export.tmp", "out.export.tmp", "out.export~"]
    for name in planted:
        (tmp_path / name).symlink_to(v)
    seen: list[str] = []
    with files.atomic_output(out) as f:
        seen = [n for n in listing(tmp_path) if n not in planted and n != "elsewhere"]
        f.write(b"data")
    assert len(seen) == 1 and seen[0].startswith(".out.export.") and seen[0] not in planted
    assert out.read_bytes() == b"data" and v.read_bytes() == VICTIM
    assert all((tmp_path / n).is_symlink() for n in planted)


def test_the_ledger_being_read_is_never_written(filled: Path, tmp_path: Path, operator: KeyPair) -> None:
    size = 6 + 6
    names = [filled, Path(str(filled) + "-wal"), Path(str(filled) + "-shm"), Path(str(filled) + "-journal")]
    for target in names:
        with pytest.raises(E.LedgerExistsError, match="never overwrites a ledger"):
            files.write_atomic(target, b"x", force=True, protect=[filled])
    # the same file by another name: a hard link, a path through a linked directory
    os.link(filled, tmp_path / "hard.db")
    (tmp_path / "via").symlink_to(tmp_path)
    for target in (tmp_path / "hard.db", tmp_path / "via" / filled.name):
        with pytest.raises(E.LedgerExistsError):
            files.write_atomic(target, b"x", force=True, protect=[filled])
    (tmp_path / "hard.db").unlink()
    intact(filled, operator, size)
    assert not any(Path(str(filled) + s).exists() for s in ("-journal",))


def test_any_provchain_ledger_is_never_written(filled: Path, tmp_path: Path, operator: KeyPair) -> None:
    export = tmp_path / "ledger.export"
    export_ledger(filled, export)
    before = export.read_bytes()
    for target in (filled, export):
        with pytest.raises(E.LedgerExistsError, match="is a provchain ledger"):
            files.write_atomic(target, b"x", force=True)  # even unprotected, even with force
    assert files.looks_like_ledger(filled) and files.looks_like_ledger(export)
    assert export.read_bytes() == before
    # a ledger's companion file, by its name, even when the ledger is not the one being read
    with sqlite3.connect(filled) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(E.LedgerExistsError, match="belongs to the ledger"):
            files.write_atomic(Path(str(filled) + "-wal"), b"x", force=True)
    intact(filled, operator, 12)
    # an SQLite file that is not a provchain ledger, and a short file, are ordinary files
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    assert not files.looks_like_ledger(other)
    files.write_atomic(other, b"replaced", force=True)
    assert other.read_bytes() == b"replaced"


def test_the_constants_match_their_owners() -> None:
    assert files.LEDGER_APP_ID == sqlite_store._APP_ID
    assert MAGIC.startswith(files.EXPORT_MAGIC_PREFIX)


# --- export ---------------------------------------------------------------------------------------------


def test_export_onto_its_ledger_is_refused(filled: Path, tmp_path: Path, operator: KeyPair) -> None:
    before = listing(tmp_path)
    for target in (filled, Path(str(filled) + "-wal"), Path(str(filled) + "-shm")):
        fails(2, "never overwrites a ledger", "export", str(filled), "-o", str(target), "--force")
    with pytest.raises(E.LedgerExistsError):
        export_ledger(filled, filled, force=True)
    assert listing(tmp_path) == before
    intact(filled, operator, 12)


def test_export_through_planted_links(filled: Path, tmp_path: Path) -> None:
    v = victim(tmp_path)
    out = tmp_path / "x.export"
    (tmp_path / "x.export.partial").symlink_to(v)  # the name the export once wrote through
    ok("export", str(filled), "-o", str(out))
    assert v.read_bytes() == VICTIM and (tmp_path / "x.export.partial").is_symlink()
    with ExportReader.open(out) as r:
        assert sum(1 for _ in r.entries()) == 12
    link = tmp_path / "y.export"
    link.symlink_to(v)
    fails(2, "symbolic link", "export", str(filled), "-o", str(link), "--force")
    assert v.read_bytes() == VICTIM


def test_export_replaces_a_file_only_with_force(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.export"
    out.write_bytes(b"an older export, or anything")
    fails(2, "already exists", "export", str(filled), "-o", str(out))
    assert out.read_bytes() == b"an older export, or anything"
    ok("export", str(filled), "-o", str(out), "--force")
    assert out.read_bytes().startswith(MAGIC)
    # an export is a ledger too: never replaced, even with --force
    fails(2, "is a provchain ledger", "export", str(filled), "-o", str(out), "--force")


def test_a_failed_export_leaves_nothing(filled: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.export"
    out.write_bytes(b"keep me")
    with rawdb.connect(filled) as conn:  # a body too large for a frame: the export fails midway
        conn.execute("UPDATE entries SET body = ? WHERE idx = 8", (b"\xc4" + bytes(70000),))
    before = listing(tmp_path)
    res = fails(2, "frame limit", "export", str(filled), "-o", str(out), "--force")
    assert res.exit_code == 2 and out.read_bytes() == b"keep me" and listing(tmp_path) == before


# --- audit ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--report", "--save-checkpoint"])
def test_audit_outputs_never_replace_the_ledger(
    filled: Path, tmp_path: Path, operator: KeyPair, option: str
) -> None:
    export = tmp_path / "ledger.export"
    export_ledger(filled, export)
    before = export.read_bytes()
    for ledger in (filled, export):
        fails(2, "never overwrites a ledger", "audit", str(ledger), "--operator", operator.vkey, option, str(ledger))
        fails(2, "never overwrites a ledger", "audit", str(ledger), "--operator", operator.vkey, option, str(ledger),
              "--force")
    assert export.read_bytes() == before
    intact(filled, operator, 12)


def test_audit_outputs_replace_a_file_only_with_force(filled: Path, tmp_path: Path, operator: KeyPair) -> None:
    report, saved = tmp_path / "report.json", tmp_path / "saved.checkpoint"
    for p in (report, saved):
        p.write_bytes(b"old")
    args = ["audit", str(filled), "--operator", operator.vkey, "--workers", "1"]
    fails(2, "already exists", *args, "--report", str(report))
    fails(2, "already exists", *args, "--save-checkpoint", str(saved))
    assert report.read_bytes() == b"old" and saved.read_bytes() == b"old"
    fails(2, "the same file", *args, "--report", str(report), "--save-checkpoint", str(report), "--force")
    ok(*args, "--report", str(report), "--save-checkpoint", str(saved), "--force")
    assert b'"clean": true' in report.read_bytes()
    assert saved.read_bytes().startswith(b"example.com/acme-ledger\n12\n")
    # the usual loop: the saved checkpoint is read with --since and replaced by the new one
    ok(*args, "--since", str(saved), "--save-checkpoint", str(saved), "--force")
    v = victim(tmp_path)
    (tmp_path / "linked.json").symlink_to(v)
    fails(2, "symbolic link", *args, "--report", str(tmp_path / "linked.json"), "--force")
    assert v.read_bytes() == VICTIM


# --- code -----------------------------------------------------------------------------------------------


def test_code_never_replaces_the_ledger(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, opkey: Path, tmp_path: Path
) -> None:
    journey(ledger, parties, ITEM)
    ledger.close()
    # a ledger whose name has an image suffix, so that only the ledger rule can refuse
    png_ledger = tmp_path / "ledger.png"
    os.replace(tmp_path / "ledger.db", png_ledger)
    args = ["--operator-key", str(opkey)]
    fails(2, "never overwrites a ledger", "code", str(png_ledger), ITEM, "-o", str(png_ledger), *args, "--force")
    fails(2, ".png, .svg or .txt", "code", str(png_ledger), ITEM, "-o", str(tmp_path / "x.db"), *args)
    intact(png_ledger, operator, 12)


def test_code_replaces_a_file_only_with_force(filled: Path, opkey: Path, tmp_path: Path) -> None:
    out = tmp_path / "code.png"
    out.write_bytes(b"old")
    args = ["code", str(filled), ITEM, "-o", str(out), "--operator-key", str(opkey)]
    fails(2, "already exists", *args)
    assert out.read_bytes() == b"old"
    fails(2, "empty passphrase", *args, "--force", "--passphrase", "")
    fails(2, "empty passphrase", *args, "--force", env={"PROVCHAIN_PASSPHRASE": ""})
    assert out.read_bytes() == b"old"
    ok(*args, "--force")
    assert read_image(out).startswith("PC1:")
    v = victim(tmp_path)
    (tmp_path / "linked.txt").symlink_to(v)
    fails(2, "symbolic link", "code", str(filled), ITEM, "-o", str(tmp_path / "linked.txt"), "--operator-key",
          str(opkey), "--force")
    assert v.read_bytes() == VICTIM


# --- keys -----------------------------------------------------------------------------------------------


def test_keygen_never_overwrites_and_is_private_from_creation(tmp_path: Path, umask: int) -> None:
    key = tmp_path / "p.key"
    vkey = ok("keygen", str(key), "--name", "p").stdout.strip()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert KeyPair.load(key).vkey == vkey
    fails(2, "already exists", "keygen", str(key), "--name", "q")
    assert KeyPair.load(key).vkey == vkey
    v = victim(tmp_path)
    (tmp_path / "linked.key").symlink_to(v)
    (tmp_path / "dangling.key").symlink_to(tmp_path / "elsewhere" / "new.key")
    fails(2, "already exists", "keygen", str(tmp_path / "linked.key"), "--name", "p")
    fails(2, "already exists", "keygen", str(tmp_path / "dangling.key"), "--name", "p")
    assert v.read_bytes() == VICTIM and not (tmp_path / "elsewhere" / "new.key").exists()
    assert listing(tmp_path) == ["dangling.key", "elsewhere", "linked.key", "p.key"]


def test_init_does_not_create_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "l.db").symlink_to(tmp_path / "elsewhere.db")
    fails(2, "already exists", "init", str(tmp_path / "l.db"), "--origin", "example.com/x", "--operator-key",
          str(tmp_path / "op.key"))
    assert not (tmp_path / "elsewhere.db").exists() and not (tmp_path / "op.key").exists()
    fails(2, "two different files", "init", str(tmp_path / "same"), "--origin", "example.com/x", "--operator-key",
          str(tmp_path / "same"))
    assert not (tmp_path / "same").exists()
