"""Untrusted text: the identifier profile, and display that no value can use to fake another.

Two halves, one set of character classes (normative text: docs/spec/entries.md, "Identifier profile"
and "Displaying entries"):

* :func:`identifier_problem` judges an item id or a key (party) name: NFC and NFKC-stable, no space,
  control, format, invisible, private-use or unassigned code point, no leading or piled-up combining
  marks, and one script (UTS #39 "highly restrictive": one script, or Latin with Han and Japanese kana,
  with Han and Bopomofo, or with Han and Hangul). It returns a reason code, or None when the text passes.
* :func:`escape` and :func:`quote` render free text (places, data values, names) so that no code point
  can hide, reorder the line or imitate a separator.

Script_Extensions and Default_Ignorable_Code_Point come from the ``regex`` package, imported on the
first non-ASCII text: ASCII passes or fails on its own, and an ASCII-only ledger never loads it.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any

__all__ = [
    "MAX_MARKS",
    "REASONS",
    "describe",
    "escape",
    "identifier_problem",
    "quote",
    "script_set",
]

MAX_MARKS = 4
"""The most combining marks in a row that an identifier may hold, or that display shows as they are."""

REASONS = {
    "space": "a space",
    "control": "a control character, a line or paragraph separator, or a surrogate code point",
    "unassigned": "an unassigned code point",
    "private-use": "a private-use code point",
    "invisible": "an invisible (format or default-ignorable) character",
    "not-nfc": "text that is not in Unicode normalization form NFC",
    "compatibility": "a compatibility character (it changes under NFKC, such as a full-width letter)",
    "combining": f"a combining mark at the start, or more than {MAX_MARKS} combining marks in a row",
    "mixed-script": "letters of more than one script",
}
"""Why an identifier is refused: each reason code and what it means, in the order the rules apply."""

_CONTROL = frozenset(("Cc", "Zl", "Zp", "Cs"))
_MARKS = frozenset(("Mn", "Mc", "Me"))
_RTL = frozenset(("R", "AL", "AN"))

# Every script value of Unicode 17 (ISO 15924 codes) except Common, Inherited and Unknown, and
# Katakana_Or_Hiragana, which no code point has. regex knows them by these codes; a code that an older
# regex does not know is skipped, since no code point of its Unicode version can have it either.
_SCRIPT_CODES = """
    Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Berf Bhks Bopo Brah Brai Bugi Buhd Cakm
    Cans Cari Cham Cher Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Gara Geor
    Glag Gong Gonm Goth Gran Grek Gujr Gukh Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital
    Java Jurc Kali Kana Kawi Khar Khmr Khoj Kits Knda Krai Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu
    Lyci Lydi Mahj Maka Mand Mani Marc Medf Mend Merc Mero Miao Mlym Modi Mong Mroo Mtei Mult Mymr Nagm
    Nand Narb Nbat Newa Nkoo Nshu Ogam Olck Onao Orkh Orya Osge Osma Ougr Palm Pauc Pcun Perm Phag Phli
    Phlp Phnx Prti Rjng Rohg Runr Samr Sarb Saur Sgnw Shaw Shrd Sidd Sidt Sind Sinh Sogd Sogo Sora Soyo
    Sund Sunu Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt Tayo Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa
    Todr Tols Toto Tutg Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb
""".split()  # noqa: SIM905 - a table reads better than 175 quoted strings

# UTS #39 section 5.1: Han, kana, Hangul and Bopomofo also count as the writing systems they belong to,
# so that Japanese (Han + kana), Korean (Han + Hangul) and Han with Bopomofo resolve to one script.
_AUGMENT = {
    "Hani": ("Hanb", "Jpan", "Kore"),
    "Hira": ("Jpan",),
    "Kana": ("Jpan",),
    "Hang": ("Kore",),
    "Bopo": ("Hanb",),
}
_WITH_LATIN = frozenset(("Jpan", "Hanb", "Kore"))  # "highly restrictive": Latin may join these


class _Props:
    """Compiled ``regex`` patterns, built on first use."""

    def __init__(self) -> None:
        import regex

        # U+2800 BRAILLE PATTERN BLANK shows as nothing, yet is neither default-ignorable nor a format character.
        self.ignorable: Any = regex.compile(r"[\p{Default_Ignorable_Code_Point}\u2800]")
        self.common: Any = regex.compile(r"[\p{scx=Zyyy}\p{scx=Zinh}]")
        self.scripts: list[tuple[str, Any]] = []
        for code in _SCRIPT_CODES:
            try:
                self.scripts.append((code, regex.compile(rf"\p{{scx={code}}}")))
            except regex.error:  # pragma: no cover - a regex older than this list
                continue


@lru_cache(maxsize=1)
def _props() -> _Props:
    return _Props()


def _ignorable(ch: str) -> bool:
    """Default-ignorable, or U+2800 (the one blank character that is neither ignorable nor a format one)."""
    return bool(_props().ignorable.match(ch))


@lru_cache(maxsize=4096)
def script_set(ch: str) -> frozenset[str] | None:
    """The augmented Script_Extensions of ``ch``; None for Common and Inherited (they go with any script)."""
    props = _props()
    if props.common.match(ch):
        return None
    found = {code for code, pattern in props.scripts if pattern.match(ch)}
    for code in list(found):
        found.update(_AUGMENT.get(code, ()))
    return frozenset(found)


def _resolved(sets: list[frozenset[str]]) -> frozenset[str] | None:
    """The intersection of ``sets`` (None, meaning every script, when there are none)."""
    out: frozenset[str] | None = None
    for s in sets:
        out = s if out is None else out & s
    return out


def _single_script(text: str) -> bool:
    sets = [s for s in map(script_set, text) if s is not None]
    resolved = _resolved(sets)
    if resolved is None or resolved:
        return True
    # Highly restrictive: the letters that are not Latin resolve to Japanese, Korean or Han with Bopomofo.
    rest = _resolved([s for s in sets if "Latn" not in s])
    return rest is None or bool(rest & _WITH_LATIN)


@lru_cache(maxsize=4096)
def identifier_problem(text: str) -> str | None:
    """Why ``text`` is not acceptable as an item id or key name (a :data:`REASONS` code), or None.

    The rules apply in the order of :data:`REASONS`; the first that ``text`` breaks is the reason.
    Length and the characters that one kind of identifier refuses on its own (``+`` in key names) are
    the caller's to check. Verdicts are cached: an item id comes back with every event of its journey.
    """
    if text.isascii():  # printable ASCII is NFC, NFKC-stable, Latin or Common, with no mark
        if " " in text:
            return "space"
        return None if text.isprintable() else "control"
    cats = [unicodedata.category(c) for c in text]
    if "Zs" in cats:
        return "space"
    if any(c in _CONTROL for c in cats):
        return "control"
    if "Cn" in cats:
        return "unassigned"
    if "Co" in cats:
        return "private-use"
    if "Cf" in cats or _props().ignorable.search(text):
        return "invisible"
    if not unicodedata.is_normalized("NFC", text):
        return "not-nfc"
    if not unicodedata.is_normalized("NFKC", text):
        return "compatibility"
    if cats[0] in _MARKS:
        return "combining"
    run = 0
    for cat in cats:
        run = run + 1 if cat in _MARKS else 0
        if run > MAX_MARKS:
            return "combining"
    if not _single_script(text):
        return "mixed-script"
    return None


def describe(reason: str, text: str = "") -> str:
    """The reason code as words, for messages; for ``mixed-script``, which character of ``text`` is foreign."""
    words = REASONS.get(reason, reason)
    if reason == "mixed-script" and text:
        sets = [(ch, s) for ch in text if (s := script_set(ch)) is not None]
        first = sets[0][1]
        for ch, s in sets:
            if not s & first:
                return f"{words}: U+{ord(ch):04X} {unicodedata.name(ch, '')} among {'/'.join(sorted(first))} letters"
    return words


# --- display --------------------------------------------------------------------------------------

_PLAIN_ASCII = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset('"\\;=,')
_FSI, _PDI = "\u2068", "\u2069"  # FIRST STRONG ISOLATE, POP DIRECTIONAL ISOLATE


def _code(ch: str) -> str:
    n = ord(ch)
    return f"\\u{n:04x}" if n <= 0xFFFF else f"\\U{n:08x}"


def escape(text: str) -> str:
    """``text`` made safe to show on one line of a terminal or page.

    Shown as a visible escape (``\\u202e``, ``\\U000e0041``): controls, line and paragraph separators,
    format characters (bidi controls, zero-width characters), default-ignorable and other blank
    characters, spaces other than U+0020, private-use, surrogate and unassigned code points, and a
    combining mark that has no character shown as it is to sit on (at the start, after an escape) or that
    would be the fifth in a row, and every mark after it. A backslash is doubled, so an escape is never
    ambiguous. Text holding a right-to-left character is wrapped in FIRST STRONG ISOLATE
    ... POP DIRECTIONAL ISOLATE, so it cannot reorder what surrounds it (no bidi control is left inside).
    """
    if not isinstance(text, str):
        raise TypeError("escape() takes text")
    if all(c in _PLAIN_ASCII or c == " " for c in text):
        return text
    out: list[str] = []
    run = 0  # combining marks in a row, shown as they are
    base = False  # whether the last character shown as it is may carry a mark
    rtl = False
    for ch in text:
        cat = unicodedata.category(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch != " " and (cat[0] in "CZ" or (not ch.isascii() and _ignorable(ch))):
            out.append(_code(ch))  # tested before marks: variation selectors and U+034F are marks too
        elif cat in _MARKS:
            if base and run < MAX_MARKS:
                out.append(ch)
                run += 1
                continue
            out.append(_code(ch))  # no base to sit on (start, after an escape), or one too many
        else:
            out.append(ch)
            rtl = rtl or unicodedata.bidirectional(ch) in _RTL
            run, base = 0, True
            continue
        run, base = 0, False
    shown = "".join(out)
    return f"{_FSI}{shown}{_PDI}" if rtl else shown


def quote(text: str) -> str:
    """``text`` as one unambiguous field value: :func:`escape`, and in double quotes unless plain.

    Plain text is shown as it is: not empty, no leading or trailing space, nothing :func:`escape`
    changes, and none of ``"`` ``\\`` ``;`` ``=`` ``,`` (the separators of a table's place / data
    column). Anything else is quoted, with ``"`` shown as ``\\"``, so no value can pass for two.
    """
    shown = escape(text)
    if shown == text and text and text[0] != " " and text[-1] != " " and not any(c in '"\\;=,' for c in text):
        return text
    return '"' + shown.replace('"', '\\"') + '"'
