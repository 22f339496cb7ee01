"""The operator's side of witnessing: ask witnesses to cosign a new checkpoint (C2SP tlog-witness v1.0.0).

:func:`collect` signs a checkpoint of the ledger, sends it to every witness in parallel (one thread each,
one deadline for all), starting from the size each witness is believed to have cosigned last (the largest
stored checkpoint that carries its cosignature, else 0). A witness that answers ``409`` with its size
(``text/x.tlog.size``) gets one more request, with the consistency proof from that size. Every returned
cosignature is verified with the witness's key: one that does not verify is ignored, not counted, and
reported. The valid ones are stored with the checkpoint (:meth:`provchain.ledger.Ledger.add_cosignatures`).

A witness that is down or slow costs at most the timeout: the requests run on daemon threads and
:func:`collect` returns at the deadline with whatever arrived.
"""

from __future__ import annotations

import http.client
import itertools
import re
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._internal.text import escape
from .errors import FormatError, InputError, QuorumError, VerificationError, WitnessPolicyError
from .ledger import Ledger
from .witness import Cosignature, CosignatureVerifier, WitnessPolicy, split_note
from .witness_server import ADD_CHECKPOINT_PATH, SIZE_CONTENT_TYPE, format_add_checkpoint

__all__ = [
    "MAX_REPLY_BYTES",
    "CollectResult",
    "WitnessEndpoint",
    "collect",
    "endpoints",
    "parse_witness_arg",
]

_HINT_SCAN = 1000

MAX_REPLY_BYTES = 65536
"""The most bytes read from a witness's reply."""

_SIZE_REPLY = re.compile(rb"(0|[1-9][0-9]{0,19})\n")


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    """A witness to ask: its name in the policy, its submission URL prefix and its key."""

    name: str
    url: str
    verifier: CosignatureVerifier


@dataclass(frozen=True)
class CollectResult:
    """What :func:`collect` got: the stored cosigned note, who cosigned and who did not (and why)."""

    note: bytes
    """The checkpoint note as stored: the operator's signature and every valid cosignature."""
    size: int
    """The checkpoint's tree size."""
    cosigned: dict[str, Cosignature]
    """The valid cosignatures received, by witness (policy name)."""
    failed: dict[str, str]
    """The witnesses that did not cosign, with the reason."""
    policy: WitnessPolicy = field(repr=False)
    """The policy whose quorum is judged."""

    @property
    def satisfied(self) -> bool:
        """Whether the cosignatures received satisfy the policy's quorum."""
        return self.policy.satisfied(self.cosigned)

    def check(self) -> None:
        """Raise :class:`QuorumError` unless the quorum is met (naming every witness that failed)."""
        if self.satisfied:
            return
        why = "; ".join(f"{escape(n)}: {r}" for n, r in sorted(self.failed.items()))
        raise QuorumError(
            f"{len(self.cosigned)} witness(es) cosigned the checkpoint of size {self.size}; the policy requires "
            f"{self.policy.describe()}" + (f" ({why})" if why else "")
        )


def parse_witness_arg(text: str) -> tuple[str, str]:
    """Split the CLI form ``URL=WITNESS_VKEY`` into the URL and the verifier key (the URL holds no ``=``)."""
    if not isinstance(text, str):
        raise InputError("a witness is given as URL=WITNESS_VKEY")
    url, sep, vkey = text.partition("=")
    if not sep or not url or not vkey:
        raise InputError(f"a witness is given as URL=WITNESS_VKEY, not {escape(text[:100])}")
    _check_url(url)
    return url, vkey


def _check_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InputError(f"a witness URL is http(s)://HOST[:PORT][/PREFIX], not {escape(url[:100])}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InputError(f"the witness URL {escape(url[:100])} has a bad port") from None
    return parts


def endpoints(
    witnesses: WitnessPolicy | Sequence[tuple[str, str]], quorum: int | None = None
) -> tuple[WitnessPolicy, list[WitnessEndpoint], dict[str, str]]:
    """The policy and the witnesses to ask, from a policy (its witness lines carry the URLs) or from
    ``(url, vkey)`` pairs with ``quorum`` (default: all). The third value lists the policy's witnesses
    that cannot be asked (no URL)."""
    if isinstance(witnesses, WitnessPolicy):
        if quorum is not None:
            raise InputError("a policy file carries its own quorum; give no separate quorum")
        policy = witnesses
        out, missing = [], {}
        for name, v in policy.witnesses.items():
            url = policy.url(name)
            if url is None:
                missing[name] = "the policy gives no URL for it"
                continue
            _check_url(url)
            out.append(WitnessEndpoint(name, url, v))
        return policy, out, missing
    if isinstance(witnesses, str) or not isinstance(witnesses, Sequence):
        raise InputError("witnesses are a WitnessPolicy or a list of (url, witness vkey) pairs")
    pairs = list(witnesses)
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            raise InputError("each witness is a (url, witness vkey) pair")
        _check_url(pair[0])
    if not pairs:
        raise WitnessPolicyError("name at least one witness to ask")
    policy = WitnessPolicy.from_witnesses([vkey for _, vkey in pairs], quorum)
    by_key = {(v.name, v.key_id): name for name, v in policy.witnesses.items()}
    out = []
    for url, vkey in pairs:
        v = CosignatureVerifier.from_vkey(vkey)
        out.append(WitnessEndpoint(by_key[(v.name, v.key_id)], url, v))
    return policy, out, {}


def _cosigned_sizes(ledger: Ledger, endpoints: Sequence[WitnessEndpoint]) -> dict[str, int]:
    """The largest stored checkpoint size each witness cosigned, as far as the stored notes tell (a hint:
    a wrong one costs a 409 and a second request)."""
    wanted = {(e.verifier.name, e.verifier.key_id): e.name for e in endpoints}
    found: dict[str, int] = {}

    def scan(size: int, note: bytes) -> None:
        try:
            _, lines = split_note(note)
            cosigs = [Cosignature.from_line(line) for line in lines]
        except FormatError:
            return
        for c in cosigs:
            name = wanted.get((c.name, c.key_id)) if c is not None else None
            if name is not None and size > found.get(name, -1):
                found[name] = size

    # The newest line of each witness first; a witness not seen in the last _HINT_SCAN checkpoints starts
    # from 0 and learns its size from the 409, so a collection never reads the whole table.
    for size, note in itertools.islice(ledger.store.checkpoints(newest_first=True), _HINT_SCAN):
        scan(size, note)
        if len(found) == len(wanted):
            break
    return found


@dataclass
class _Exchange:
    """One witness's request and what came back."""

    endpoint: WitnessEndpoint
    body: bytes
    status: int | None = None
    content_type: str = ""
    reply: bytes = b""
    error: str | None = None


def _post(ex: _Exchange, deadline: float) -> None:
    """POST the request to the witness, within the deadline; fills ``ex`` in (never raises)."""
    parts = urllib.parse.urlsplit(ex.endpoint.url)
    path = parts.path.rstrip("/") + ADD_CHECKPOINT_PATH
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        ex.error = "timed out"
        return
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname or "", parts.port, timeout=remaining)
    try:
        conn.request("POST", path, body=ex.body, headers={"Content-Type": "text/plain; charset=utf-8"})
        resp = conn.getresponse()
        ex.content_type = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
        data = resp.read(MAX_REPLY_BYTES + 1)
        if len(data) > MAX_REPLY_BYTES:
            ex.error = f"its reply is over {MAX_REPLY_BYTES} bytes"
            return
        ex.status, ex.reply = resp.status, data
    except TimeoutError:
        ex.error = "timed out"
    except (OSError, http.client.HTTPException) as exc:
        ex.error = f"cannot reach it ({escape(str(exc)[:200]) or type(exc).__name__})"
    finally:
        conn.close()


def _run(exchanges: Sequence[_Exchange], deadline: float) -> None:
    threads = [threading.Thread(target=_post, args=(ex, deadline), daemon=True) for ex in exchanges]
    for t in threads:
        t.start()
    for t, ex in zip(threads, exchanges, strict=True):
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive() and ex.status is None and ex.error is None:
            ex.error = "timed out"


def _reason(ex: _Exchange) -> str:
    if ex.error is not None:
        return ex.error
    first = ex.reply.split(b"\n", 1)[0].decode("utf-8", "replace")[:200]
    return f"it answered {ex.status}" + (f": {escape(first)}" if first else "")


def _cosignature(ex: _Exchange, text: bytes) -> Cosignature | str:
    """The witness's valid cosignature in a 200 reply, or the reason there is none."""
    try:
        reply = ex.reply.decode("utf-8")
    except UnicodeDecodeError:
        return "its reply is not UTF-8 text"
    if not reply.endswith("\n"):
        return "its reply is not signature lines"
    v = ex.endpoint.verifier
    bad = None
    for line in reply.splitlines(keepends=True):
        try:
            c = Cosignature.from_line(line)
        except FormatError as exc:
            return f"its reply holds a malformed signature line ({exc})"
        if c is None or (c.name, c.key_id) != (v.name, v.key_id):
            continue  # another key's: ignored
        try:
            v.check(text, c)
        except VerificationError:
            bad = "it returned a cosignature that does not verify (ignored, not counted)"
            continue
        return c
    return bad or "its reply holds no cosignature by its key"


def collect(
    ledger: Ledger,
    witnesses: WitnessPolicy | Sequence[tuple[str, str]],
    *,
    quorum: int | None = None,
    timeout: float = 10.0,
) -> CollectResult:
    """Sign a checkpoint of ``ledger`` (opened with its operator key), have it cosigned by the witnesses,
    store the valid cosignatures with it and return the :class:`CollectResult` (check
    :attr:`CollectResult.satisfied`, or call :meth:`CollectResult.check`).

    ``witnesses`` is a :class:`WitnessPolicy` whose witness lines carry URLs, or ``(url, witness vkey)``
    pairs of which ``quorum`` (default: all) must cosign. ``timeout`` (seconds) bounds the whole exchange.
    """
    if not isinstance(ledger, Ledger):
        raise InputError("ledger must be a Ledger opened with its operator key")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
        raise InputError("the timeout is a number of seconds from 0 to 3600")
    policy, eps, failed = endpoints(witnesses, quorum)
    deadline = time.monotonic() + timeout
    hints = _cosigned_sizes(ledger, eps)
    note = ledger.checkpoint()
    text, lines = split_note(note)
    operator_note = text + b"\n" + lines[0].encode("utf-8")  # what witnesses are sent: the operator's signature
    size = int(text.split(b"\n")[1])

    bodies: dict[int, bytes] = {}  # by old size: the witnesses are usually all at the same one

    def request(ep: WitnessEndpoint, old: int) -> _Exchange:
        if old not in bodies:
            proof = ledger.consistency_proof(old, size) if 0 < old < size else []
            bodies[old] = format_add_checkpoint(old, proof, operator_note)
        return _Exchange(ep, bodies[old])

    first = [request(ep, min(hints.get(ep.name, 0), size)) for ep in eps]
    _run(first, deadline)
    results: dict[str, _Exchange] = {}
    retry: list[_Exchange] = []
    for ex in first:
        if ex.status == 409 and ex.content_type == SIZE_CONTENT_TYPE:
            m = _SIZE_REPLY.fullmatch(ex.reply)
            if m is None:
                ex.error = "it answered 409 with a malformed size"
            elif int(m.group(1)) > size:
                ex.error = (
                    f"it has cosigned size {int(m.group(1))}, more than this ledger's {size}: it saw another "
                    "version of this log (a fork or a rollback)"
                )
            else:
                retry.append(request(ex.endpoint, int(m.group(1))))
                continue
        results[ex.endpoint.name] = ex
    _run(retry, deadline)
    for ex in retry:
        results[ex.endpoint.name] = ex
    cosigned: dict[str, Cosignature] = {}
    for name, ex in results.items():
        got = _cosignature(ex, text) if ex.status == 200 else _reason(ex)
        if isinstance(got, Cosignature):
            cosigned[name] = got
        else:
            failed[name] = got
    if cosigned:
        extra = "".join(c.line() for c in cosigned.values()).encode("utf-8")
        note = ledger.add_cosignatures(note + extra, [e.verifier.vkey for e in eps if e.name in cosigned])
    return CollectResult(note, size, cosigned, failed, policy)

