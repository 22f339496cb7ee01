"""The verifier page: one self-contained HTML file that verifies item codes in the browser, offline.

:func:`verifier_page` fills the page template (``page.html``) with its style sheet, the built verifier
script (``verifier.js``, made from ``web/`` by ``web/build.mjs``) and the operator keys it trusts, and
returns the files to publish: ``index.html``, ``sw.js`` (a service worker that keeps the page for offline
use when it is served over https) and ``THIRD_PARTY_LICENSES.txt`` (the licences of the bundled
packages). The page makes no request to any server: its Content-Security-Policy forbids every fetch (only
the service worker script, from the page's own site, may load), and it works opened from ``file://``. The
one exception is opt-in: a page made with ``register=`` posts each code it verified to that provchain
service's scan register (and may connect to that address only), and still verifies offline.

The service itself, :func:`create_app` (an ASGI application; docs/howto/run-the-service.md) and its
:class:`ScanRegister`, load on first use, so that importing the page helpers never imports Starlette.

Opened at a URL code's address (``https://.../#02...``) the page verifies the fragment with the pinned keys
and shows VERIFIED, REFUSED or UNREADABLE, the item and every event, or why the code was refused. See
docs/howto/publish-your-verifier-page.md.

A page may also pin witness keys and a quorum (``witnesses``, ``quorum``): it then refuses every code
that is not a witnessed code whose checkpoint a quorum of those witnesses cosigned, and shows the
cosignatures and their time. A page made with ``log_url=`` (where the operator publishes its log as
tiles) also checks ``witnessed-published`` codes: it fetches the hash tiles that the code's inclusion
proof needs from that address (its policy allows that one address), and refuses such a code when it
cannot (offline, or without ``log_url``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

from ..errors import InputError, VerifierBundleError
from ..keys import parse_vkey
from ..witness import WitnessPolicy

__all__ = [
    "LICENSES_NAME",
    "MAX_OPERATORS",
    "PAGE_NAME",
    "WORKER_NAME",
    "ScanRegister",
    "VerifierBundleError",
    "create_app",
    "verifier_page",
]


def __getattr__(name: str) -> Any:
    # The service pulls in Starlette: loaded on first use, so that the page helpers never import it.
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ScanRegister":
        from .register import ScanRegister

        return ScanRegister
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PAGE_NAME = "index.html"
"""The file name of the page."""

WORKER_NAME = "sw.js"
"""The file name of the service worker (the page registers it by this name, beside itself)."""

LICENSES_NAME = "THIRD_PARTY_LICENSES.txt"
"""The file name of the licences of the third-party code in the page's script, published beside the page."""

MAX_OPERATORS = 64
"""The most operator keys one page pins."""

_PLACEHOLDER = re.compile(r"\{\{([A-Z]+)\}\}")


def _resource(name: str) -> str:
    try:
        return (resources.files(__name__) / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VerifierBundleError(
            f"{name} is missing from this provchain installation (build it: cd web && npm ci && node build.mjs)"
        ) from None


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _operators_json(operators: object) -> str:
    """The value as JSON safe inside a ``<script>`` element (no ``<``, ``>`` or ``&`` unescaped)."""
    text = json.dumps(operators, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _witnesses_value(witnesses: object, quorum: object) -> dict[str, object] | None:
    """The pinned witness policy, ``{"keys": [...], "quorum": n}`` (None without witnesses), checked as
    :meth:`WitnessPolicy.from_witnesses` checks it."""
    if isinstance(witnesses, str) or not isinstance(witnesses, Sequence):
        raise InputError("witnesses must be a list of witness verifier keys (name+hex8+base64)")
    keys = list(witnesses)
    if not keys:
        if quorum is not None:
            raise InputError("a quorum counts witness keys: give at least one")
        return None
    if quorum is not None and (isinstance(quorum, bool) or not isinstance(quorum, int)):
        raise InputError("the quorum must be an integer")
    WitnessPolicy.from_witnesses(keys, quorum)  # KeyFormatError or WitnessPolicyError name the fault
    return {"keys": keys, "quorum": len(keys) if quorum is None else quorum}


def _check_operators(operators: object) -> list[str]:
    if isinstance(operators, str) or not isinstance(operators, Sequence):
        raise InputError("operators must be a list of verifier keys (name+hex8+base64)")
    keys = list(operators)
    if not keys:
        raise InputError("a verifier page needs at least one operator key to trust")
    if len(keys) > MAX_OPERATORS:
        raise InputError(f"a verifier page pins at most {MAX_OPERATORS} operator keys, not {len(keys)}")
    seen: set[bytes] = set()
    for key in keys:
        _, kid, public = parse_vkey(key)  # KeyFormatError names what is wrong
        if public in seen:
            raise InputError(f"operator key {kid.hex()} is given twice")
        seen.add(public)
    return keys


def _notice(licenses: str) -> str:
    """One line naming the bundled packages (from the licence file's headings), for a comment in the page."""
    names = re.findall(r"^=+\n(\S+ \S+ \(.+?\)) ", licenses, re.MULTILINE)
    text = "; ".join(names) if names else "none"
    if "--" in text or ">" in text:
        raise VerifierBundleError(f"{LICENSES_NAME} has a heading that cannot go in an HTML comment")
    return f"The script bundles: {text}. Their licences: {LICENSES_NAME}, published beside this page."


def _worker(page: bytes) -> bytes:
    """The service worker: caches the page on install (under a name that changes with the page, so that
    a new page replaces the old copy) and answers from the cache first, so the page opens offline."""
    version = hashlib.sha256(page).hexdigest()[:16]
    return f"""// provchain verifier page: keeps a copy of the page for offline use. Generated; do not edit.
const CACHE = "provchain-verifier-{version}";
const PAGE = "./{PAGE_NAME}";
self.addEventListener("install", (event) => {{
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll([PAGE, "./"])).then(() => self.skipWaiting()));
}});
self.addEventListener("activate", (event) => {{
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("provchain-verifier-") && n !== CACHE)
        .map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
}});
self.addEventListener("fetch", (event) => {{
  if (event.request.method !== "GET") return;
  event.respondWith(
    caches.open(CACHE)
      .then((cache) => cache.match(event.request, {{ ignoreSearch: true }}))
      .then((hit) => hit || fetch(event.request)),
  );
}});
""".encode()


_REGISTER_URL = re.compile(r"(https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|http://(?:127\.0\.0\.1|localhost)(?::[0-9]{1,5})?)?/[A-Za-z0-9._~/-]*")


_LOG_URL = re.compile(
    r"(https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/|http://(?:127\.0\.0\.1|localhost)(?::[0-9]{1,5})?/|/|"
    r"(?:\./|(?:\.\./)+)?[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*/)*"
)


def _connect_csp(register: str | None, log_url: str | None) -> list[str]:
    """The page's one ``connect-src`` directive: the scan register's origin and the published log's, or
    nothing at all (two directives of one name would leave the second ignored)."""
    sources: list[str] = []
    for directive in (*_register_csp(register), *_log_csp(log_url)):
        for source in directive.split()[1:]:
            if source not in sources:
                sources.append(source)
    return [" ".join(["connect-src", *sources])] if sources else []


def _log_csp(log_url: str | None) -> list[str]:
    """The page's permission to fetch the published log's tiles: ``connect-src`` its origin, or nothing."""
    if log_url is None:
        return []
    if not isinstance(log_url, str) or len(log_url) > 200 or not _LOG_URL.fullmatch(log_url):
        raise InputError(
            "log_url must be the published log's URL prefix ending in '/': https://HOST[:PORT]/PATH/ (http only "
            "on 127.0.0.1 or localhost), or a path on the page's own site such as log/, ../log/ or /log/"
        )
    if "://" not in log_url:
        return ["connect-src 'self'"]
    scheme, _, rest = log_url.partition("://")
    return [f"connect-src {scheme}://{rest.split('/', 1)[0]}"]


def _register_csp(register: str | None) -> list[str]:
    """The page's permission to reach the scan register: ``connect-src`` its origin, or nothing at all."""
    if register is None:
        return []
    if (
        not isinstance(register, str)
        or len(register) > 200
        or not _REGISTER_URL.fullmatch(register)
        or register.startswith("//")  # another site, in the page's scheme
    ):
        raise InputError(
            "register must be the scan register's base address: https://HOST[:PORT]/PATH/ (http only on "
            "127.0.0.1 or localhost), or a path such as /service/ on the page's own site"
        )
    if not register.endswith("/"):
        raise InputError("register must end with '/': the page posts to register + 'v1/scans'")
    if register.startswith("/"):
        return ["connect-src 'self'"]
    scheme, _, rest = register.partition("://")
    return [f"connect-src {scheme}://{rest.split('/', 1)[0]}"]


def verifier_page(
    operators: Sequence[str],
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
    *,
    register: str | None = None,
    policy: WitnessPolicy | None = None,
    log_url: str | None = None,
) -> dict[str, bytes]:
    """The files of a verifier page that trusts ``operators`` (C2SP verifier keys, ``name+hex8+base64``).

    With ``witnesses`` (witness verifier keys) the page requires ``quorum`` of them (default: all) to have
    cosigned a code's checkpoint: it refuses every code that is not witnessed so
    (:func:`provchain.code.verify` with ``WitnessPolicy.from_witnesses(witnesses, quorum)``). Instead of
    ``witnesses``, ``policy`` pins a whole :class:`~provchain.witness.WitnessPolicy` (a policy file's groups and
    quorum).

    With ``register`` (the base address of a provchain service, such as ``https://verify.example/``, or a path
    on the page's own site, such as ``/``), the page reports each code it verified to the service's scan
    register (``register + "v1/scans"``) and shows how often and since when the item was scanned, and whether
    it was claimed. It still verifies on the device, and offline; its policy allows that one address and no
    other. Without it, the page makes no request at all.

    With ``log_url`` (the URL prefix of the operator's published log, ``provchain publish LEDGER SITE/log``:
    ``https://HOST/PATH/``, or a relative path such as ``log/`` resolved against the page's own address),
    the page fetches a ``witnessed-published`` code's hash tiles from there to build its inclusion proof
    (and may connect to that address only); without it, or offline, it refuses such codes.

    Returns ``{"index.html": ..., "sw.js": ..., "THIRD_PARTY_LICENSES.txt": ...}``. Each key is checked with
    :func:`provchain.keys.parse_vkey` (raises :class:`~provchain.errors.KeyFormatError`); an empty list,
    more than :data:`MAX_OPERATORS` keys or a key given twice raise :class:`~provchain.errors.InputError`;
    a missing script raises :class:`VerifierBundleError`.
    """
    keys = _check_operators(operators)
    if policy is not None:
        if witnesses or quorum is not None:
            raise InputError("give witness keys (and a quorum) or a witness policy, not both")
        if not isinstance(policy, WitnessPolicy):
            raise InputError("policy must be a WitnessPolicy")
    pinned_witnesses = _witnesses_value(witnesses, quorum) if policy is None else policy.to_json()
    connect = _connect_csp(register, log_url)
    template = _resource("page.html")
    style = _resource("page.css")
    script = _resource("verifier.js")
    licenses = _resource(LICENSES_NAME)
    if re.search(r"</script|<!--", script, re.IGNORECASE):
        raise VerifierBundleError("verifier.js holds '</script' or '<!--' and cannot be inlined; rebuild it")
    if "</style" in style.lower():
        raise VerifierBundleError("page.css holds '</style' and cannot be inlined")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_csp_hash(script)}",
            f"style-src {_csp_hash(style)}",
            "img-src data: blob:",
            "media-src blob: mediastream:",
            "worker-src 'self'",
            *connect,
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    values = {
        "CSP": csp,
        "STYLE": style,
        "OPERATORS": _operators_json(keys),
        "WITNESSES": _operators_json(pinned_witnesses),
        "REGISTER": _operators_json(register) if register is not None else "null",
        "LOG": _operators_json(log_url) if log_url is not None else "null",
        "SCRIPT": script,
        "NOTICE": _notice(licenses),
    }
    # One pass: a value is never scanned for placeholders.
    page = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template).encode("utf-8")
    return {PAGE_NAME: page, WORKER_NAME: _worker(page), LICENSES_NAME: licenses.encode("utf-8")}
