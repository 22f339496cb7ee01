"""The verifier layer imports no storage: what ``import provchain.code`` and ``provchain scan`` load.

Each check runs a fresh interpreter (a subprocess), since this test process has long imported everything.
The forbidden modules are the ledger, the SQLite store and its drivers, the auditor and the export format;
a text scan needs neither Pillow nor the QR reader either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import journey

import provchain
from provchain import code
from provchain.keys import KeyPair
from provchain.ledger import Ledger

STORAGE = ("provchain.ledger", "provchain.store", "provchain.store.sqlite", "sqlite3", "sqlite_utils")
HEAVY = (*STORAGE, "provchain.audit", "provchain.export")
IMAGING = ("PIL", "zxingcpp", "provchain.qr")
# What a scan has no use for, which the CLI's other commands load when they run: the EPCIS package (GS1's
# schema), the evidence comparison, the writing of files (tempfile), rich (a table is laid out with rich's
# cell measure alone, and one of printable ASCII, as this journey's, needs none), the other commands'
# modules (imported when a command is looked up), pathlib and urllib.parse (a scan reads its file with
# os), the witness module (for a witness policy), zlib (URL codes), bisect (making codes), the utf-8-sig
# codec (the BOM is stripped by hand).
OTHER_COMMANDS = tuple(
    f"provchain.cli.{m}" for m in ("_audit", "_epcis", "_evidence", "_keys", "_ledger", "_log", "_serve", "_tiles",
                                   "_web", "_witness")
)  # fmt: skip
UNUSED_BY_SCAN = (
    "provchain.epcis", "provchain.equivocation", "tempfile", "rich", *OTHER_COMMANDS,
    "pathlib", "urllib.parse", "provchain.witness", "zlib", "bisect", "encodings.utf_8_sig",
)  # fmt: skip


def _loaded(statement: str, *args: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement`` (``sys.argv[1:]`` is ``args``)."""
    probe = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe, *args], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "module",
    ["provchain", "provchain.code", "provchain.proof", "provchain.note", "provchain.checkpoint", "provchain.witness"],
)
def test_verifiers_import_no_storage(module: str) -> None:
    loaded = _loaded(f"import {module}")
    assert module in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert loaded.isdisjoint(IMAGING), sorted(loaded & set(IMAGING))


def test_the_probe_sees_storage_when_it_is_imported() -> None:
    # The check above can fail: importing the ledger does load the store factory, and opening an SQLite
    # ledger loads the SQLite store and sqlite3.
    loaded = _loaded("import provchain.ledger")
    assert {"provchain.ledger", "provchain.store"} <= loaded
    opening = "from provchain.store import open_store\ntry: open_store('/nonexistent/l.db')\nexcept Exception: pass"
    loaded = _loaded(opening)
    assert {"provchain.store.sqlite", "sqlite3"} <= loaded


def test_the_auditor_opens_storage_only_when_it_reads_a_ledger() -> None:
    loaded = _loaded("import provchain.audit")
    opened = ("provchain.store.sqlite", "sqlite3", "sqlite_utils", "provchain.export", "provchain.ledger")
    assert loaded.isdisjoint(opened), sorted(loaded & set(opened))


def test_lazy_package_names_are_the_modules_objects() -> None:
    import importlib

    for name in provchain.__all__:
        value = getattr(provchain, name)
        home = importlib.import_module(value.__module__) if hasattr(value, "__module__") else None
        assert home is None or getattr(home, name, value) is value
    assert provchain.Ledger is Ledger
    assert provchain.KeyPair is KeyPair
    assert set(provchain.__all__) <= set(dir(provchain))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = provchain.Nope  # type: ignore[attr-defined]


def test_from_provchain_import_star_binds_every_name() -> None:
    loaded = _loaded("from provchain import *\nassert Ledger.__name__ == 'Ledger' and KeyPair and DEFAULT_POLICY")
    assert "provchain.ledger" in loaded


# The CLI: every command module is imported to register its command, so each keeps its heavy imports
# inside the command functions. A wrapper runs ``provchain scan`` in a fresh interpreter and then prints
# the modules it loaded.
_SCAN = """
import json, sys
from provchain.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def _scan(*args: str) -> tuple[int, str, set[str]]:
    run = subprocess.run([sys.executable, "-c", _SCAN, "scan", *args], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    *lines, last = run.stdout.strip().splitlines()
    result = json.loads(last)
    return result["status"], "\n".join(lines), set(result["modules"])


@pytest.fixture
def code_file(ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, tmp_path: Path) -> Path:
    journey(ledger, parties, "SERUM-0001")
    path = tmp_path / "code.txt"
    path.write_text(code.make(ledger, "SERUM-0001") + "\n", encoding="utf-8")
    return path


def test_scan_of_a_code_text_loads_no_storage_and_no_imaging(code_file: Path, operator: KeyPair) -> None:
    status, out, loaded = _scan(str(code_file), "--operator", operator.vkey, "--at", "2100-01-01T00:00:00Z")
    assert status == 0, out
    assert "SERUM-0001" in out
    assert "provchain.code" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert loaded.isdisjoint(IMAGING), sorted(loaded & set(IMAGING))
    assert loaded.isdisjoint(UNUSED_BY_SCAN), sorted(loaded & set(UNUSED_BY_SCAN))


def test_the_cli_knows_the_epcis_size_cap_without_importing_epcis() -> None:
    from provchain import epcis
    from provchain.cli import _epcis

    assert _epcis._MAX_DOCUMENT == epcis.MAX_DOCUMENT


def test_a_refused_scan_loads_no_storage_either(code_file: Path) -> None:
    other = KeyPair.from_seed("example.com/other", bytes(range(32)))
    status, _, loaded = _scan(str(code_file), "--operator", other.vkey)
    assert status == 1
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_each_command_is_imported_from_the_module_the_cli_names() -> None:
    from provchain import cli as cli_package

    commands = cli_package.cli.commands  # reading the table imports every command module
    assert set(commands) == set(cli_package._COMMANDS)
    for name, command in commands.items():
        assert command.callback is not None
        assert command.callback.__module__ == f"provchain.cli.{cli_package._COMMANDS[name]}", name


def test_looking_up_a_command_imports_its_module_only() -> None:
    lookup = "from provchain.cli import cli\nassert cli.get_command(None, 'history').name == 'history'"
    loaded = _loaded(lookup)
    assert "provchain.cli._ledger" in loaded
    assert loaded.isdisjoint(set(OTHER_COMMANDS) - {"provchain.cli._ledger"}), sorted(loaded & set(OTHER_COMMANDS))
    # Every other way to see the commands imports them all: the table, the list (--help), a mistyped name
    # (click suggests the names near it).
    listed = subprocess.run([sys.executable, "-m", "provchain", "--help"], capture_output=True, text=True, check=True)
    assert all(f"  {name} " in listed.stdout for name in ("audit", "scan", "witness", "verifier-page"))
    typo = subprocess.run([sys.executable, "-m", "provchain", "scna"], capture_output=True, text=True, check=False)
    assert typo.returncode == 2 and "Did you mean 'scan'?" in typo.stderr
    loaded = _loaded("from provchain.cli import cli\nassert len(cli.commands) > 20")
    assert set(OTHER_COMMANDS) <= loaded
