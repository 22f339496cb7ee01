"""What the docs generators share: write a generated page, or check that it is current."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(target: Path, text: str, script: str, argv: list[str] | None = None) -> int:
    """``python docs/SCRIPT`` writes ``target``; ``python docs/SCRIPT --check`` exits 1 if it is out of date."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is out of date: run python docs/{script}", file=sys.stderr)
            return 1
        return 0
    if args:
        print(f"usage: python docs/{script} [--check]", file=sys.stderr)
        return 2
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0
