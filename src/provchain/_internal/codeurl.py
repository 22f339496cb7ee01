"""The URL form of an item code: ``BASE#02<digits>`` (docs/spec/item-code.md, *The URL form*).

``BASE`` is an https address the operator chooses (the verifier page); it is not signed, and a verifier
never shows it as verified. The fragment, which a browser never sends to a server, is the format version
``02`` and the decimal digits (:mod:`provchain.digits`) of a version 2 bundle.

The scheme and the host are case-insensitive, so :func:`check_base` writes them in upper case: the text
``HTTPS://VERIFY.EXAMPLE/`` is all in the QR alphanumeric set and rides in an alphanumeric segment. A
path is case-sensitive and kept as given; an upper-case path stays in that segment too, a path with a
lower-case letter needs a byte segment (8 bits a character instead of 5.5).
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import BadPrefixError, InputError

__all__ = ["FRAGMENT_VERSION", "MAX_BASE_CHARS", "MAX_URL_CHARS", "check_base", "is_url", "split_url"]

FRAGMENT_VERSION: Final = "02"
"""The digits every version 2 fragment starts with (the format version, two digits)."""

MAX_BASE_CHARS: Final = 200
"""The longest base address: every character of it costs room in the QR code."""

MAX_URL_CHARS: Final = MAX_BASE_CHARS + 1 + 7089
"""The longest text read as a URL code: a base, ``#``, and 7089 digits, the most digits any QR symbol
holds (version 40 at level L; at level M, 5596). A bound checked before anything is copied."""

_SCHEME: Final = "https://"
# Patterns compiled on first use (by re's cache), not at import: a scan of a PC1: code needs neither.
_HOST: Final = r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?"
_PATH_CHARS: Final = r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*"


def is_url(text: str) -> bool:
    """True if ``text`` starts with ``https://`` in any case: it is a URL code (or no code), never a path."""
    return text[: len(_SCHEME)].lower() == _SCHEME


def check_base(base: object) -> str:
    """Return the base address ``base`` normalized: scheme and host in upper case, ``/`` for an empty path.

    A base is an https URL of at most :data:`MAX_BASE_CHARS` printable ASCII characters without spaces: a
    host name (letters, digits, ``.`` and ``-``; an international name in its ``xn--`` form) and an optional
    port, then an optional path and query. It has no user name or password and no fragment (``#``): the code
    is the fragment. Raises :class:`InputError` naming the rule it breaks.
    """
    if not isinstance(base, str):
        raise InputError("the base address must be text")
    if len(base) > MAX_BASE_CHARS:
        raise InputError(f"the base address has {len(base)} characters, more than {MAX_BASE_CHARS}")
    if not is_url(base):
        raise InputError("the base address must start with https:// (a code's page is served over https)")
    rest = base[len(_SCHEME) :]
    if "#" in rest:
        raise InputError("the base address must not have a fragment ('#'): the code is the fragment")
    host, _, path = rest.partition("/")
    if "@" in host:
        raise InputError("the base address must not hold a user name or password ('@' before the path)")
    if "?" in host:
        host, _, query = host.partition("?")
        path = "?" + query
    if not re.fullmatch(_HOST, host) or ".." in host or int(host.partition(":")[2] or 443) > 65535:
        raise InputError("the base address's host must be a DNS name (letters, digits, '.', '-') and an optional port")
    if not re.fullmatch(_PATH_CHARS, path):
        raise InputError(
            "the base address's path may hold only URL characters (letters, digits and -._~!$&'()*+,;=:@/%?), "
            "no spaces, no non-ASCII text"
        )
    return f"HTTPS://{host.upper()}/{path}"


def split_url(text: str) -> tuple[str, str, int]:
    """Split a URL code into its base, its digits (after the version) and the position of the digits.

    Raises :class:`BadPrefixError` when ``text`` is not an https URL whose fragment starts with
    :data:`FRAGMENT_VERSION` (with "not supported" when the fragment starts with two other digits).
    Nothing of the base is checked but its form: it is not signed.
    """
    base, hash_sign, fragment = text.partition("#")
    if not is_url(base) or not hash_sign:
        raise BadPrefixError("not a provchain item code: a URL code is an https address with a '#' fragment")
    try:
        check_base(base)
    except InputError as exc:
        raise BadPrefixError(f"not a provchain item code: the web address before '#' is malformed ({exc})") from None
    if not fragment.startswith(FRAGMENT_VERSION):
        if len(fragment) >= 2 and fragment[:2].isascii() and fragment[:2].isdigit():
            raise BadPrefixError(
                f"this item code's version is not supported (its fragment must start with {FRAGMENT_VERSION!r})"
            )
        raise BadPrefixError(f"not a provchain item code: its fragment does not start with {FRAGMENT_VERSION!r}")
    start = len(base) + 1 + len(FRAGMENT_VERSION)
    return base, fragment[len(FRAGMENT_VERSION) :], start
