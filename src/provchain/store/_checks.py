"""What every store checks when one of its indexes hands it a row: the signed body behind it says the same.

A store keeps indexes (an entry's item, its previous event, whether it is an operator entry) that it
derives from the signed body; readers never trust them alone. These checks are the same for every backend,
only the words for where the damage is differ (``damaged``: "the ledger file was edited or damaged", "the
database was edited or damaged").
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator

from ..entries import Entry, Event
from ..errors import DamagedLedgerError, EncodingError, InputError
from ..rules import Head

__all__ = ["chain_of", "event_of", "head_of", "non_events", "queued_heads"]


def event_of(entry: Entry, item: str, damaged: str) -> Event:
    """The body of an entry that the item index lists under ``item``, checked to be an event of ``item``."""
    try:
        content = entry.content
    except EncodingError as exc:
        raise DamagedLedgerError(
            f"entry {entry.index}: the stored body is not a well-formed entry ({exc}); audit the ledger"
        ) from None
    if type(content) is not Event or content.item != item:
        raise DamagedLedgerError(
            f"entry {entry.index}: the item index lists it under another item than its signed body names; "
            f"{damaged} (audit it)"
        )
    return content


def head_of(entry: Entry, item: str, damaged: str) -> Head:
    """The head that ``entry`` (the newest the item index lists under ``item``) is, from its signed body."""
    ev = event_of(entry, item, damaged)
    return Head(entry.index or 0, entry.leaf_hash, ev.stage, ev.at)


def chain_of(entries: list[Entry], item: str, damaged: str) -> list[Entry]:
    """``entries`` (what the item index lists under ``item``, in order), each checked by its signed body to
    be an event of ``item`` that names the one before it as its ``prev``: an index that leaves an event out
    is found here, not passed on as a shorter journey."""
    prev = None
    for e in entries:
        if event_of(e, item, damaged).prev != prev:
            raise DamagedLedgerError(
                f"entry {e.index}: the item index lists the events of {item!r} with one missing before it "
                f"(its signed body names another previous event); {damaged} (audit it)"
            )
        prev = e.leaf_hash
    return entries


def non_events(entries: Iterable[Entry], damaged: str) -> Iterator[Entry]:
    """``entries`` (what the operator index lists), each checked by its body to be no event (a malformed
    body passes: the caller, which parses it, names it)."""
    for e in entries:
        try:
            is_event = type(e.content) is Event
        except EncodingError:
            is_event = False
        if is_event:
            raise DamagedLedgerError(f"entry {e.index}: the operator index lists an event; {damaged} (audit it)")
        yield e


def queued_heads(
    items: Iterable[str], queued: Container[str], head: Callable[[str], Head | None]
) -> tuple[dict[str, Head], list[str]]:
    """The first step of a store's ``heads``: the heads of the ``items`` whose last event is still in the
    store's write queue (``queued``), each from ``head``, and, in order and once each, the items left to read
    from the storage."""
    out: dict[str, Head] = {}
    ask: list[str] = []
    for item in dict.fromkeys(items):
        if type(item) is not str:
            raise InputError(f"an item id is text, not {type(item).__name__}")
        if item in queued:
            found = head(item)
            assert found is not None
            out[item] = found
        else:
            ask.append(item)
    return out, ask
