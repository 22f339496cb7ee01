"""provchain: tamper-evident, offline-verifiable journeys of physical items.

The main names are re-exported here; the modules hold the rest:

* :mod:`provchain.ledger`: :class:`Ledger`, the append-only ledger;
* :mod:`provchain.keys`: :class:`KeyPair` and the :class:`Signer` protocol;
* :mod:`provchain.entries`, :mod:`provchain.encoding`: entry bodies and canonical msgpack;
* :mod:`provchain.policy`: journey policies;
* :mod:`provchain.merkle`, :mod:`provchain.note`, :mod:`provchain.checkpoint`: RFC 9162 proofs and C2SP notes;
* :mod:`provchain.errors`: every exception, rooted at :class:`ProvchainError`.

The names are bound on first use (a module ``__getattr__``), so that importing a verifier such as
:mod:`provchain.code` loads neither the ledger nor its SQLite store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._internal.lazy import lazy_getattr

if TYPE_CHECKING:
    from .entries import Entry, Event
    from .errors import FormatError, InputError, LedgerError, ProvchainError, VerificationError
    from .keys import KeyPair, Signer
    from .ledger import HistoryEvent, Ledger
    from .policy import DEFAULT_POLICY, Policy

__all__ = [
    "DEFAULT_POLICY",
    "Entry",
    "Event",
    "FormatError",
    "HistoryEvent",
    "InputError",
    "KeyPair",
    "Ledger",
    "LedgerError",
    "Policy",
    "ProvchainError",
    "Signer",
    "VerificationError",
]
__version__ = "0.1.0"

_HOME = {
    "DEFAULT_POLICY": "policy",
    "Entry": "entries",
    "Event": "entries",
    "FormatError": "errors",
    "HistoryEvent": "ledger",
    "InputError": "errors",
    "KeyPair": "keys",
    "Ledger": "ledger",
    "LedgerError": "errors",
    "Policy": "policy",
    "ProvchainError": "errors",
    "Signer": "keys",
    "VerificationError": "errors",
}


__getattr__ = lazy_getattr(__name__, _HOME, globals())  # each name imported from its module on first use


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
