"""Plain-text tables for the CLI, laid out by terminal cells as rich measures them.

Cells must already be display-safe: every untrusted text goes through
:func:`provchain._internal.text.escape` or :func:`~provchain._internal.text.quote` before it gets here.
This module adds no interpretation of its own on top: a cell is shown as typed (rich markup such as
``[red]`` or ``[link=...]`` and emoji codes such as ``:smile:`` are text like any other), no colour or
control sequence is written, on a terminal or not, and a row is one line whatever its length (nothing is
wrapped or cut, whatever the terminal's width). Columns are aligned by the width a terminal gives each
character (a CJK character takes two cells, an isolate or a combining mark none), measured by
:func:`rich.cells.cell_len`, which is why long or wide names keep the columns after them in line.

The layout is rich's ``Table`` with the ``SIMPLE_HEAD`` box and no edge (tests/test_tables.py compares the
two on escaped text), drawn here: importing rich's console and table took about a third of a scan's
start-up, and the measure alone is a lighter import, made when a table holds a character other than
printable ASCII (to which rich gives one cell each: such a table is measured by ``len``, the same widths
without the import, issue #20).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence


def draw(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = (), indent: str = "") -> str:
    """A table as text: the header, a rule, then one line per row (columns in ``right`` right-aligned).

    Each line is prefixed with ``indent`` and has no trailing spaces; there is no final newline.
    """
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a table row has {len(row)} cells for {len(header)} columns")
    lines = [header, *rows]
    cell_len = _measure(lines)
    widths = [max(cell_len(line[n]) for line in lines) for n in range(len(header))]
    out = []
    for line in lines:
        cells = []
        for n, (cell, width) in enumerate(zip(line, widths, strict=True)):
            pad = " " * (width - cell_len(cell))
            cells.append(pad + cell if n in right else cell + pad)
        out.append(indent + "   ".join(cells).rstrip())
    # the rule under the header spans the columns and the padding between them (one space on each side)
    out.insert(1, indent + "\u2500" * max(1, sum(widths) + 3 * (len(widths) - 1)))  # rich's is never empty
    return "\n".join(out)


def _measure(lines: Sequence[Sequence[str]]) -> Callable[[str], int]:
    """How to measure the cells of ``lines``: rich's :func:`~rich.cells.cell_len`, or ``len`` when every cell
    is printable ASCII, each character of which rich measures as one cell (a test checks that it does)."""
    if all(cell.isascii() and cell.isprintable() for line in lines for cell in line):
        return len
    from rich.cells import cell_len

    return cell_len
