"""Open a ledger file with the sqlite3 module, as an attacker or a repair tool would, with the SQL function
its schema needs (without it SQLite refuses to write the entries table)."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from provchain.store.sqlite import register_functions


def connect(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> sqlite3.Connection:
    conn = sqlite3.connect(path, *args, **kwargs)
    register_functions(conn)
    return conn
