"""Plain-text tables for the CLI, drawn by rich (imported only when a table is drawn).

Cells must already be display-safe: every untrusted text goes through
:func:`provchain._internal.text.escape` or :func:`~provchain._internal.text.quote` before it gets here.
This module adds no interpretation of its own on top: each cell is a :class:`rich.text.Text`, so rich
markup (``[red]``, ``[link=...]``) and emoji codes (``:smile:``) are shown as typed, never rendered; no
colour or control sequence is written, on a terminal or not; and a row is one line whatever its length
(the table is laid out on a console as wide as the table itself, so no cell is wrapped or cut). Columns
are aligned by the width a terminal gives each character (a CJK character takes two cells, an isolate
or a combining mark none), which is why long or wide names keep the columns after them in line.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import JustifyMethod

# Wide enough that rich never shrinks, wraps or crops a column: the table keeps its natural width.
_UNLIMITED = 1_000_000


def draw(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Collection[int] = (), indent: str = "") -> str:
    """A table as text: the header, a rule, then one line per row (columns in ``right`` right-aligned).

    Each line is prefixed with ``indent`` and has no trailing spaces; there is no final newline.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a table row has {len(row)} cells for {len(header)} columns")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="none", highlight=False)
    sides: list[JustifyMethod] = ["right" if n in right else "left" for n in range(len(header))]
    for title, side in zip(header, sides, strict=True):
        table.add_column(Text(title, justify=side), no_wrap=True, overflow="ignore", justify=side)
    for row in rows:
        table.add_row(*(Text(cell, justify=side) for cell, side in zip(row, sides, strict=True)))
    out = io.StringIO()
    console = Console(
        file=out,
        width=_UNLIMITED,
        color_system=None,
        force_terminal=False,
        force_interactive=False,
        no_color=True,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )
    console.print(table)
    return "\n".join(indent + line.rstrip() for line in out.getvalue().rstrip("\n").split("\n"))
