"""The exceptions provchain raises.

Every error has one root, :class:`ProvchainError`, and falls into one of four branches:

* :class:`FormatError`: the input cannot be parsed (bad bytes, bad text, bad file).
* :class:`VerificationError`: the input parses, but a check fails (signature, chain, policy, proof).
* :class:`InputError`: an argument given to the API is not acceptable (unknown country, data too large).
* :class:`LedgerError`: the ledger cannot do what was asked (missing file, busy, stale head, disk full).

Messages are written for the person who reads them: they name the thing that is wrong and, where it
helps, what was expected. They never contain secret key material.
"""

from __future__ import annotations

__all__ = [
    "BadPrefixError",
    "Base45Error",
    "BundleFormatError",
    "ChainError",
    "CheckpointError",
    "CodeFormatError",
    "ConsistencyError",
    "CosignatureError",
    "CountryError",
    "DamagedLedgerError",
    "DataError",
    "DigitsError",
    "EncodingError",
    "EpcisError",
    "EquivocationError",
    "ExpiredKeyError",
    "ExportFormatError",
    "ForeignLedgerError",
    "FormatError",
    "ImageDecodeError",
    "InclusionError",
    "InputError",
    "ItemError",
    "KeyFileError",
    "KeyFormatError",
    "LedgerBusyError",
    "LedgerError",
    "LedgerExistsError",
    "LedgerNotFoundError",
    "NoteFormatError",
    "NoteVerificationError",
    "OperatorKeyError",
    "OriginError",
    "PassphraseError",
    "PolicyError",
    "ProofError",
    "ProofFormatError",
    "ProofUnavailableError",
    "ProvchainError",
    "PublishedLogError",
    "QrEncodeError",
    "QuorumError",
    "RevokedKeyError",
    "RoleError",
    "SignatureError",
    "StageError",
    "StageNameError",
    "StageOrderError",
    "StaleHeadError",
    "StorageError",
    "TileFetchError",
    "TileFormatError",
    "TimeError",
    "UnknownKeyError",
    "VerificationError",
    "VerifierBundleError",
    "WitnessKeyError",
    "WitnessPolicyError",
    "WitnessRequestError",
    "WitnessStateError",
    "WrongKeyError",
]


class ProvchainError(Exception):
    """Root of every error raised by provchain."""


# --- cannot parse -------------------------------------------------------------------------------


class FormatError(ProvchainError, ValueError):
    """The input cannot be parsed."""


class EncodingError(FormatError):
    """Bytes are not canonical provchain msgpack, or do not match an entry's schema."""


class EpcisError(FormatError):
    """An EPCIS document cannot be read, breaks GS1's schema, or holds an event provchain cannot record."""


class KeyFormatError(FormatError):
    """A key string (verifier key, signer key) is malformed."""


class KeyFileError(FormatError):
    """A key file is missing, malformed, or has unsafe permissions."""


class WitnessKeyError(KeyFileError):
    """A witness key file was given where another key belongs, or another key where a witness key belongs."""


class PassphraseError(KeyFileError):
    """A key file's passphrase is wrong or missing."""


class NoteFormatError(FormatError):
    """A signed note or checkpoint is malformed."""


class CodeFormatError(FormatError):
    """An item code cannot be read."""


class BadPrefixError(CodeFormatError):
    """An item code does not start with a known version prefix such as ``PC1:``."""


class Base45Error(CodeFormatError):
    """An item code's text is not valid Base45 (RFC 9285)."""


class DigitsError(CodeFormatError):
    """A URL item code's fragment is not the decimal form of a bundle (``provchain.digits``)."""


class BundleFormatError(CodeFormatError):
    """An item code's binary bundle is malformed or not canonical."""


class ImageDecodeError(CodeFormatError):
    """No item code could be read from an image."""


class VerifierBundleError(FormatError):
    """The verifier page's built script (``verifier.js``) is missing from this installation or cannot be
    inlined: a damaged install, not a problem of the input."""


class ExportFormatError(FormatError):
    """A ledger export file is malformed or truncated."""


class WitnessPolicyError(FormatError):
    """A witness policy (C2SP tlog-policy) or a list of witness keys and a quorum is malformed."""


class WitnessRequestError(FormatError):
    """A tlog-witness ``add-checkpoint`` request body is malformed (bad old-size line, proof line or note)."""


class ProofFormatError(FormatError):
    """A tlog-proof cannot be parsed (bad header, index, hash line or checkpoint)."""


class TileFormatError(FormatError):
    """A published tile, entry bundle, signature bundle or tile path is malformed (docs/spec/tiles.md)."""


# --- parsed, but false --------------------------------------------------------------------------


class VerificationError(ProvchainError):
    """The input parses, but a check fails."""


class SignatureError(VerificationError):
    """A signature does not verify."""


class UnknownKeyError(VerificationError):
    """A signature names a key that is not registered (or not the pinned operator key)."""


class OperatorKeyError(UnknownKeyError):
    """Data was signed by a key other than the operator key the verifier pinned."""


class RevokedKeyError(VerificationError):
    """A key was used after it was revoked."""


class ExpiredKeyError(VerificationError):
    """A key was used outside its validity window."""


class ChainError(VerificationError):
    """An item's hash chain is broken (``prev`` does not name the item's previous entry)."""


class OriginError(VerificationError):
    """An entry or checkpoint belongs to another ledger (its origin differs)."""


class PolicyError(VerificationError):
    """The journey policy does not allow an event."""


class StageError(PolicyError):
    """A stage is not defined by the journey policy (a name that is not even well formed is a
    :class:`StageNameError`)."""


class RoleError(PolicyError):
    """The signer does not hold a role that may record this stage."""


class StageOrderError(PolicyError):
    """A stage may not follow the item's previous stage (or may not start a journey)."""


class TimeError(VerificationError):
    """An event's time is out of order, in the future, or outside its signer's validity."""


class ProofError(VerificationError):
    """A Merkle proof does not verify."""


class InclusionError(ProofError):
    """An inclusion proof does not verify."""


class ProofUnavailableError(ProofError):
    """A proof that a check needs could not be had: an item code whose inclusion proof is published with the
    log, not carried, was verified without the log, or the published log could not be read or lacks the
    tiles. Nothing was found wrong, but nothing was proven either: the code is refused."""


class ConsistencyError(ProofError):
    """A consistency proof does not verify, or two checkpoints disagree."""


class EquivocationError(ConsistencyError):
    """Two checkpoints signed by one operator for one origin cannot both be true: the same size with two
    roots, or two sizes where the larger does not extend the smaller."""


class CosignatureError(SignatureError):
    """A cosignature by a witness the verifier trusts does not verify, or its time is out of range."""


class QuorumError(VerificationError):
    """A checkpoint does not carry the valid cosignatures its witness policy requires."""


class NoteVerificationError(VerificationError):
    """A signed note has no valid signature by a known key, or a known key's signature fails."""


class CheckpointError(VerificationError):
    """A checkpoint does not match the log it claims to describe."""


class PublishedLogError(VerificationError):
    """A published log (static tiles) does not serve what its signed checkpoint commits to: a file is
    missing, malformed, too large, or its hashes disagree."""


# --- bad argument -------------------------------------------------------------------------------


class InputError(ProvchainError, ValueError):
    """An argument is not acceptable."""


class CountryError(InputError):
    """A country is not an ISO 3166-1 alpha-2 code."""


class DataError(InputError):
    """Event data, a place or a name is too large, of the wrong type, or not serializable."""


class ItemError(InputError):
    """An item id is empty, too long, or contains characters that are not allowed."""


class WrongKeyError(InputError):
    """A key given to run a command is not the one it needs (another ledger's operator key): a bad
    argument, not a finding."""


class QrEncodeError(InputError):
    """A text cannot be drawn as a QR symbol: it does not fit version 40 at level M, or the encoder
    (zxing-cpp) produced something that is not a QR symbol, which no text should cause."""


class StageNameError(InputError):
    """A stage name is not well formed (1 to 32 of lowercase ASCII letters, digits, ``_`` and ``-``,
    starting with a letter). A well-formed name that the journey policy does not define is a
    :class:`StageError`: a refusal, not a bad argument."""


# --- the ledger cannot do it --------------------------------------------------------------------


class LedgerError(ProvchainError):
    """The ledger cannot carry out the request."""


class LedgerNotFoundError(LedgerError):
    """The ledger file does not exist."""


class LedgerExistsError(LedgerError):
    """A ledger already exists where a new one should be created."""


class ForeignLedgerError(LedgerError):
    """The file is not a provchain ledger, or belongs to another origin or operator."""


class LedgerBusyError(LedgerError):
    """Other writers held the ledger for longer than the bounded retry allows."""


class StaleHeadError(LedgerError):
    """A submitted entry was built on an item head that is no longer current."""


class StorageError(LedgerError):
    """The storage refused a write (disk full, read-only file, I/O error)."""


class WitnessStateError(LedgerError):
    """A witness's state file cannot be opened or used: missing, damaged, or kept for another witness key."""


class TileFetchError(LedgerError):
    """A published log could not be read (no connection, a timeout, a server error after retries)."""


class DamagedLedgerError(LedgerError):
    """The ledger file holds what provchain never writes (a value of the wrong type or size, an index that
    disagrees with the signed bodies): it was edited or damaged. Audit it."""
