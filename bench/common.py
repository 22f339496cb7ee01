"""What the benchmarks share: the ledger's origin, a fixed start time, and the six-step journey they record.

Each bench script runs as ``python bench/NAME.py``, so this folder is on ``sys.path`` and ``import common``
finds this module.
"""

from __future__ import annotations

ORIGIN = "bench.example/ledger"
T0 = 1_760_000_000_000  # ms, a fixed start so runs are comparable

# (stage, role, country, data): the cross-border journey, one party per role
STEPS: list[tuple[str, str, str, dict[str, str | int]]] = [
    ("origin", "origin", "FR", {"batch": "B-17"}),
    ("import", "customs", "CN", {"declaration": "310120251234567"}),
    ("warehouse", "warehouse", "CN", {"bin": "A-07"}),
    ("warehouse", "warehouse", "CN", {"bin": "C-11"}),
    ("appraisal", "appraiser", "CN", {"certificate": "CCIQ-2025-0042", "verdict": "genuine"}),
    ("delivery", "courier", "CN", {"waybill": "SF1234567890"}),
]
