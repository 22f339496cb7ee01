"""The CLI's tables (``history``, ``scan``, ``party list``, ``witness status``), drawn by rich.

What is checked: long and wide names keep the columns after them aligned on screen (the bug of the
hand-drawn table), rich markup and emoji codes in signed text are shown as typed, no escape sequence is
written even when the environment asks for colour, the output does not depend on the terminal's width,
and a row is one line however long it is. The on-screen width of a line is computed here from the
Unicode tables (East Asian Width, general category), not with rich's own measure.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from clirun import ok
from conftest import HOUR, T0
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from provchain import KeyPair, Ledger
from provchain._internal.text import escape, quote
from provchain.cli import render_journey
from provchain.cli._table import draw

MARKUP = ["[red]x[/red]", "[link=https://evil.example/pay]genuine[/link]", "[bold]acme", ":smile:", "[/]"]


def cells(text: str) -> int:
    """The columns a terminal gives ``text``: two for a wide character, none for a mark or a format
    character (the isolates FSI and PDI), one otherwise."""
    width = 0
    for c in text:
        if unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return width


def column_at(line: str, needle: str) -> int:
    """The screen column where ``needle`` starts in ``line``."""
    return cells(line[: line.index(needle)])


def _event(party: str, key_id: str, place: str | None = "Grasse", **kw: Any) -> dict[str, Any]:
    e = {
        "stage": "origin",
        "party": party,
        "key_id": key_id,
        "roles": ["maker"],
        "country": "FR",
        "at": "2025-11-03T08:00:00.000Z",
        "place": place,
        "data": {"batch": "B-1"},
    }
    e.update(kw)
    return e


NAMES = [
    "sf",
    "grasse-labs",
    "a-very-long-party-name-for-the-hangzhou-bonded-warehouse-number-3",
    "杭州保税仓库",  # six wide characters: twelve columns
    "\u05de\u05e2\u05d1\u05d3\u05d4-1",  # right to left: isolated by escape()
    "caf\u0065\u0301-x",  # a combining mark (escape keeps up to four)
    "x" * 128,
]


def test_long_and_wide_names_keep_the_columns_aligned() -> None:
    events = [_event(name, f"{n:08x}") for n, name in enumerate(NAMES)]
    lines = render_journey("SERUM-0001", events).split("\n")
    assert len(lines) == 3 + len(events)
    header, rows = lines[1], lines[3:]
    for n, (row, name) in enumerate(zip(rows, NAMES, strict=True)):
        assert f"{escape(name)} ({n:08x})" in row  # the key id beside the name, always
    # Each column after the party starts at the same screen column on every row, under its heading.
    for heading, value in [("role", "maker"), ("ctry", "FR"), ("time (UTC)", "2025-11-03 08:00:00")]:
        starts = {column_at(row, f" {value}") + 1 for row in rows}
        assert starts == {column_at(header, heading)}, heading
    assert {column_at(row, "Grasse") for row in rows} == {column_at(header, "place / data")}


def test_party_list_aligns_long_names(ledger: Ledger, ledger_path: Path, tmp_path: Path) -> None:
    names = [name for name in NAMES[2:] if unicodedata.is_normalized("NFC", name)]  # a key name is NFC
    for n, name in enumerate(names):
        kp = KeyPair.from_seed(name, bytes([40 + n]) * 32)
        ledger.register_party(name, ["courier"], kp.public_key, at=T0 + HOUR, valid_from=T0 + HOUR)
    ledger.close()
    os.chdir(tmp_path)
    lines = ok("party", "list", str(ledger_path)).stdout.rstrip("\n").split("\n")
    header, rule, rows = lines[0], lines[1], lines[2:]
    assert header.split() == ["name", "key", "id", "roles", "state"] and set(rule) == {"─"}
    assert len(rows) == 5 + len(names)
    for row in rows:
        name, key_id = row.split()[:2]
        assert len(key_id) == 8 and int(key_id, 16) >= 0
        assert column_at(row, key_id) == column_at(header, "key id")
        assert column_at(row, "active") == column_at(header, "state")


def test_markup_and_emoji_codes_are_shown_as_typed(ledger: Ledger, ledger_path: Path, tmp_path: Path) -> None:
    keys = [KeyPair.from_seed(name, bytes([60 + n]) * 32) for n, name in enumerate(MARKUP)]
    for n, kp in enumerate(keys):
        ledger.register_party(kp.name, ["origin"], kp.public_key, at=T0 + HOUR, valid_from=T0 + HOUR)
        place, note = MARKUP[n - 1], MARKUP[n - 2]  # every name also as a place and as a data value
        ledger.append(f"VIAL-{n}", "origin", kp, country="FR", place=place, at=T0 + 2 * HOUR, data={"note": note})
    ledger.close()
    os.chdir(tmp_path)
    listing = ok("party", "list", str(ledger_path)).stdout
    assert "\x1b" not in listing and "\N{SMILING FACE WITH SMILING EYES}" not in listing
    for n, kp in enumerate(keys):
        out = ok("history", str(ledger_path), f"VIAL-{n}").stdout
        assert "\x1b" not in out and "\N{SMILING FACE WITH SMILING EYES}" not in out
        # The name, the place and the value exactly as signed (quoted where the display rules say so).
        assert f"{kp.name} ({kp.key_id.hex()})" in out
        assert f"{quote(MARKUP[n - 1])}; note={quote(MARKUP[n - 2])}" in out
        [row] = [line.split() for line in listing.splitlines() if kp.key_id.hex() in line]
        assert row == [kp.name, kp.key_id.hex(), "origin", "active"]


def test_the_environment_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [_event(name, "395bfbb3", place="x" * 300) for name in NAMES]
    plain = render_journey("SERUM-0001", events)
    for name, value in [("FORCE_COLOR", "1"), ("COLUMNS", "20"), ("TERM", "xterm-256color"), ("LINES", "3")]:
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert render_journey("SERUM-0001", events) == plain
    assert "\x1b" not in plain
    assert all(line == line.rstrip() for line in plain.split("\n"))
    assert all("x" * 300 in line for line in plain.split("\n")[3:])  # never wrapped nor cut


def test_a_table_refuses_a_row_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="3 cells for 2 columns"):
        draw(["a", "b"], [["1", "2", "3"]])
    assert draw(["a", "b"], []).split("\n")[0].split() == ["a", "b"]


SAFE = st.text(st.characters(codec=None, exclude_categories=()), max_size=40).map(escape)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(SAFE, SAFE), min_size=1, max_size=5))
def test_any_escaped_text_makes_one_line_per_row_and_is_shown_verbatim(rows: list[tuple[str, str]]) -> None:
    out = draw(["left", "right"], [list(r) for r in rows]).split("\n")
    assert len(out) == 2 + len(rows)
    for (a, b), line in zip(rows, out[2:], strict=True):
        # lines carry no trailing blanks: with nothing visible on the right, the left cell's are gone too
        assert line.startswith(a if b.rstrip() else a.rstrip()) and line.endswith(b.rstrip())
        assert "\x1b" not in line


def rich_table(header: list[str], rows: list[list[str]]) -> str:
    """The table as rich's ``Table`` lays it out (the options the CLI drew its tables with before)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="none", highlight=False)
    for title in header:
        table.add_column(Text(title), no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    out = io.StringIO()
    Console(
        file=out, width=1_000_000, color_system=None, force_terminal=False, force_interactive=False, no_color=True,
        markup=False, emoji=False, highlight=False, soft_wrap=False,
    ).print(table)  # fmt: skip
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").split("\n"))


WIDE = st.text(
    st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.sampled_from(["\u65e5", "\u0301", "\u2068", "\u2069", "\u200b", "\U0001f600", "\ufe0f", "\u1100", " "]),
    ),
    max_size=12,
).map(escape)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(WIDE, min_size=n, max_size=n), st.lists(st.lists(WIDE, min_size=n, max_size=n), max_size=4)
        )
    )
)
def test_the_table_is_laid_out_as_rich_lays_it_out(table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    # rich drops a column whose every cell measures 0 cells wide (such as a lone skin-tone modifier), text
    # and all; draw never drops text (see the test below), so those tables are not compared
    assume(all(any(cell_len(r[c]) for r in [header, *rows]) for c in range(len(header))))
    assert draw(header, rows) == rich_table(header, rows)


def test_a_column_of_zero_width_text_keeps_its_text() -> None:
    lines = draw(["", "\U0001f3fb"], [["x", "\U0001f3fb"]]).split("\n")
    assert "\U0001f3fb" in lines[0] and "\U0001f3fb" in lines[2]


def test_right_aligned_columns_are_right_aligned() -> None:
    lines = draw(["#", "stage"], [["1", "origin"], ["100", "import"]], right={0}).split("\n")
    assert lines == ["  #   stage", "\u2500" * 12, "  1   origin", "100   import"]
    wide = draw(["#", "x"], [["\u65e5\u672c", "a"], ["1", "b"]], right={0}).split("\n")  # two cells per character
    assert wide == ["   #   x", "\u2500" * 8, "\u65e5\u672c   a", "   1   b"]


def test_rich_is_imported_only_to_draw_a_table() -> None:
    """The CLI loads rich when it prints a table that needs its measure, not before: a command that prints
    none, or a table of printable ASCII only (one cell a character), does not pay for it."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from provchain.cli import cli, render_journey\n"
        "assert 'rich' not in sys.modules, 'imported with the CLI'\n"
        "CliRunner().invoke(cli, ['--version'])\n"
        "assert 'rich' not in sys.modules, 'imported by --version'\n"
        "render_journey('X', [])\n"
        "assert 'rich' not in sys.modules, 'imported for a table of printable ASCII'\n"
        "e = {'stage': 'origin', 'party': '\u4e2d\u6587', 'country': 'CN', 'at': '2025-01-01T00:00:00Z'}\n"
        "render_journey('X', [e])\n"
        "assert 'rich' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_printable_ascii_is_one_cell_a_character_for_rich() -> None:
    # draw() measures a table of printable ASCII with len(), without importing rich's measure: it must
    # agree with rich on every such character, and a table with any other character goes to rich.
    from provchain.cli._table import _measure

    printable = [chr(c) for c in range(0x20, 0x7F)]
    assert all(cell_len(c * 3) == 3 for c in printable)
    assert _measure([["abc", "".join(printable)], [""]]) is len
    for other in ("\u00e9", "\u4e2d", "\x1b", "\x7f", "\u2068"):
        assert _measure([["abc", f"x{other}"]]) is cell_len
