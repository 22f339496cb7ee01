"""provchain: tamper-evident, offline-verifiable journeys of physical items."""

from __future__ import annotations

from .errors import ProvchainError
from .keys import KeyPair, Signer

__all__ = ["KeyPair", "ProvchainError", "Signer"]
__version__ = "0.1.0"
