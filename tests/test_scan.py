"""``provchain scan``: what it reads, how it decides, and what it prints, on real codes and real QR images.

Every image here is drawn by provchain's qr module and read back by zxing-cpp. The rules under test:
a SOURCE that starts with ``PC1:`` is code text and never a path, any other SOURCE is a path; reads are
bounded; once a symbol is decoded (or text given), any fault of the code is REFUSED (exit 1), and only a
file that cannot be read or holds no QR code is UNREADABLE (exit 2); a refusal never prints the forged
code's content; a device whose clock is up to a day slow verifies a fresh code and is told so.
"""

from __future__ import annotations

import copy
import io
import json
import struct
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import HOUR, ORIGIN, T0, journey
from PIL import Image

from provchain import base45, code, encoding, qr
from provchain.cli import cli
from provchain.cli._code import MAX_TEXT_BYTES
from provchain.entries import ms_to_iso
from provchain.errors import ProvchainError, RoleError
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.policy import Policy

ITEM = "SERUM-0001"
ISSUED = T0 + 10 * HOUR
AT = T0 + 24 * HOUR
MARK = "x7q"  # in every forged field below; a refusal must never print it


@pytest.fixture
def genuine(ledger: Ledger, parties: dict[str, KeyPair]) -> str:
    journey(ledger, parties, ITEM)
    return code.make(ledger, ITEM, at=ISSUED)


def scan(source: str | Path, vkey: str, *extra: str, at: int = AT) -> Result:
    return CliRunner().invoke(cli, ["scan", str(source), "--operator", vkey, "--at", ms_to_iso(at), *extra])


def png_of(text: str, path: Path) -> Path:
    qr.write(text, path)
    assert qr.read_image(path) == text  # every image here is decoded by zxing-cpp, as a phone would
    return path


# --- what SOURCE is -------------------------------------------------------------------------------


def test_code_text_with_slashes_is_a_code_not_a_path(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair
) -> None:
    journey(ledger, parties, ITEM)
    # Many full codes have more than 255 characters between two '/': taken for a path, that part is a file
    # name too long for the file system ("File name too long"), and the scan failed. Find one, and scan it.
    for k in range(200):
        text = code.make(ledger, ITEM, "full", at=ISSUED + k)
        if "/" in text and max(len(part) for part in text.split("/")) > 255:
            break
    else:
        raise AssertionError("no code with a long part found")
    result = scan(text, operator.vkey)
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output


def test_text_that_starts_with_the_prefix_is_never_read_as_a_file(
    genuine: str, operator: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("PC1:item.txt").write_text(genuine + "\n", encoding="utf-8")  # a genuine code in a file so named
    result = scan("PC1:item.txt", operator.vkey)
    assert result.exit_code == 1 and "REFUSED" in result.output  # the argument itself is the (bad) code
    result = scan("./PC1:item.txt", operator.vkey)  # the path form reads the file
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("source", ["missing.png", "missing.txt", "PC2:ABC", "pc1:ABC", "x" * 300 + "/y"])
def test_any_other_text_is_a_path(operator: KeyPair, tmp_path: Path, source: str) -> None:
    result = scan(tmp_path / source if len(source) < 100 else source, operator.vkey)
    assert result.exit_code == 2 and result.output.startswith("UNREADABLE"), result.output
    assert "no such file" in result.output or "cannot be read" in result.output


def test_text_file_with_bom_crlf_and_blanks(genuine: str, operator: KeyPair, tmp_path: Path) -> None:
    for n, raw in enumerate(
        [
            b"\xef\xbb\xbf" + genuine.encode() + b"\r\n",
            genuine.encode() + b"\r\n\r\n",
            b"  " + genuine.encode() + b" \t\n",
            genuine.encode(),
        ]
    ):
        path = tmp_path / f"code{n}.txt"
        path.write_bytes(raw)
        result = scan(path, operator.vkey)
        assert result.exit_code == 0, (raw[:8], result.output)


def test_text_files_are_bounded(genuine: str, operator: KeyPair, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(genuine.encode() + b"\n" + b" " * MAX_TEXT_BYTES)
    result = scan(big, operator.vkey)
    assert result.exit_code == 2 and "larger than 64 KiB" in result.output
    edge = tmp_path / "edge.txt"  # exactly at the cap: read, and judged
    edge.write_bytes(genuine.encode() + b" " * (MAX_TEXT_BYTES - len(genuine)))
    assert scan(edge, operator.vkey).exit_code == 0
    binary = tmp_path / "photo.dat"
    binary.write_bytes(qr.render_png(genuine))
    result = scan(binary, operator.vkey)
    assert result.exit_code == 2 and "not a UTF-8 text file" in result.output
    result = scan(tmp_path, operator.vkey)
    assert result.exit_code == 2 and "folder" in result.output


def test_text_file_that_is_not_a_code_is_refused(operator: KeyPair, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("Dear customer, this item is genuine. x7q\n", encoding="utf-8")
    result = scan(note, operator.vkey)
    assert result.exit_code == 1 and "BadPrefixError" in result.output and MARK not in result.output


def test_png_scans(genuine: str, operator: KeyPair, tmp_path: Path) -> None:
    result = scan(png_of(genuine, tmp_path / "item.png"), operator.vkey)
    assert result.exit_code == 0 and "VERIFIED" in result.output


# --- images: one code, bounded ----------------------------------------------------------------------


def _side_by_side(*texts: str) -> bytes:
    images = [Image.open(io.BytesIO(qr.render_png(t))).convert("L") for t in texts]
    width = sum(i.width for i in images) + 20 * (len(images) + 1)
    page = Image.new("L", (width, max(i.height for i in images) + 40), 255)
    x = 20
    for image in images:
        page.paste(image, (x, 20))
        x += image.width + 20
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()


def test_image_with_two_different_codes_is_refused(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, tmp_path: Path
) -> None:
    journey(ledger, parties, ITEM)
    journey(ledger, parties, "SERUM-0002", start=T0 + 2 * HOUR)
    first, second = (code.make(ledger, item, at=ISSUED) for item in (ITEM, "SERUM-0002"))
    page = tmp_path / "two.png"
    page.write_bytes(_side_by_side(first, second))
    assert set(qr.read_texts(page)) == {first, second}  # zxing-cpp does see both
    result = scan(page, operator.vkey)
    assert result.exit_code == 1 and "REFUSED" in result.output and "2 different item codes" in result.output
    assert "SERUM" not in result.output
    result = scan(page, operator.vkey, "--json")
    assert result.exit_code == 1 and json.loads(result.output)["verdict"] == "refused"
    same = tmp_path / "same.png"
    same.write_bytes(_side_by_side(first, first))  # the same label twice is one code
    assert scan(same, operator.vkey).exit_code == 0


def test_a_qr_code_of_another_kind_beside_the_item_code(genuine: str, operator: KeyPair, tmp_path: Path) -> None:
    page = tmp_path / "box.png"
    page.write_bytes(_side_by_side("HTTPS://SHOP.EXAMPLE/SERUM", genuine))
    assert len(qr.read_texts(page)) == 2
    result = scan(page, operator.vkey)  # the shop's address is left aside; the item code is verified
    assert result.exit_code == 0 and "VERIFIED" in result.output
    only = tmp_path / "only.png"
    only.write_bytes(_side_by_side("HTTPS://SHOP.EXAMPLE/SERUM", "WIFI:S:shop;;"))
    result = scan(only, operator.vkey)
    assert result.exit_code == 1 and "none of them an item code" in result.output and "SHOP" not in result.output
    single = png_of("HTTPS://SHOP.EXAMPLE/SERUM", tmp_path / "url.png")  # a symbol, read: not a code
    result = scan(single, operator.vkey)
    assert result.exit_code == 1 and "BadPrefixError" in result.output and "SHOP" not in result.output


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid one-bit greyscale PNG of ``width x height`` white pixels: 50 MB of pixels in about 50 KiB."""
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# 36 Mpx: over provchain's limit; 100 Mpx: Pillow warns too; 400 Mpx: over Pillow's own limit
@pytest.mark.parametrize("side", [6_000, 10_000, 20_000])
def test_huge_declared_image_is_refused_before_decoding(operator: KeyPair, tmp_path: Path, side: int) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(huge_png(side, side))
    assert bomb.stat().st_size < 128 * 1024
    result = scan(bomb, operator.vkey)
    assert result.exit_code == 2 and result.output.startswith("UNREADABLE  ImageDecodeError"), result.output
    assert "pixels" in result.output and "not decoded" in result.output
    assert result.stderr == ""  # not even Pillow's DecompressionBombWarning


# --- verdicts ---------------------------------------------------------------------------------------


def _mutations(text: str) -> list[tuple[str, str]]:
    """A table of altered copies of ``text`` (the prefix kept, so that each is code text)."""
    body = text[len(code.PREFIX) :]
    alphabet = base45.ALPHABET
    out: list[tuple[str, str]] = []
    for i in (0, 1, 7, len(body) // 3, len(body) // 2, len(body) - 40, len(body) - 2, len(body) - 1):
        c = body[i]
        for new in {alphabet[(alphabet.index(c) + 1) % 45], alphabet[(alphabet.index(c) + 22) % 45], "a"}:
            out.append((f"char {i} -> {new!r}", code.PREFIX + body[:i] + new + body[i + 1 :]))
    for cut in (1, 2, 3, 30, len(body) // 2, len(body) - 1):
        out.append((f"cut {cut}", code.PREFIX + body[:-cut]))
    out.append(("char deleted", code.PREFIX + body[:100] + body[101:]))
    out.append(("char inserted", code.PREFIX + body[:100] + "0" + body[100:]))
    out.append(("appended", text + "00"))
    out.append(("doubled", text + body))
    out.append(("prefix only", code.PREFIX))
    return out


def test_every_altered_code_is_refused_and_never_echoed(genuine: str, operator: KeyPair, tmp_path: Path) -> None:
    table = _mutations(genuine)
    assert len(table) > 30
    secrets = ["SERUM-0001", "grasse", "Shanghai", "Hangzhou", "CCIQ", "genuine", "B-2025-17"]
    for n, (what, text) in enumerate(table):
        assert text != genuine
        for source in (text, png_of(text, tmp_path / f"m{n}.png")) if n % 4 == 0 else (text,):
            for extra in ((), ("--json",)):
                result = scan(source, operator.vkey, *extra)
                assert result.exit_code == 1, (what, result.output)
                assert "REFUSED" in result.output or '"refused"' in result.output, (what, result.output)
                for word in secrets:
                    assert word.lower() not in result.output.lower(), (what, word, result.output)


def _value(text: str) -> Any:
    return encoding.decode(base45.decode(text[len(code.PREFIX) :]))


def _payload(value: Any) -> str:
    return code.PREFIX + base45.encode(encoding.encode(value))


def _forgeries(genuine: str, operator: KeyPair) -> list[tuple[str, str]]:
    """Codes whose every attacker-chosen text carries MARK, each wrong in another way."""
    v = _value(genuine)
    marked = copy.deepcopy(v)
    marked[1] = f"FAKE-{MARK}"  # the item id
    marked[3][0][0] = f"evil-{MARK}"  # a party name
    marked[4][0][4] = f"Lab {MARK}"  # a place
    marked[4][0][5] = {"batch": f"B-{MARK}"}  # a data value
    out = [("unsigned forgery", _payload(marked))]

    def bad(path: tuple[Any, ...], value: Any, what: str) -> None:
        forged = copy.deepcopy(marked)
        target = forged
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        out.append((what, _payload(forged)))

    bad((1,), f"FAKE {MARK}", "item id with a space")
    bad((1,), f"FAKE-\x01{MARK}", "item id with a control character")
    bad((3, 0, 0), f"evil {MARK}", "party name with a space")
    bad((3, 0, 1), [f"Role-{MARK}"], "bad role name")
    bad((4, 0, 3), MARK.upper()[:2], "unknown country")
    bad((4, 0, 4), f"\x07{MARK}", "place with a control character")
    bad((4, 0, 5), {f"Bad-{MARK}": "1"}, "bad data key")
    bad((4, 0, 5), {"batch": f"\x00{MARK}"}, "bad data value")
    bad((2,), {f"Stage-{MARK}": {"after": [], "roles": ["origin"], "start": True}}, "bad policy")
    bad((2,), {f"stage-{MARK}": {"after": [], "roles": ["origin"], "start": True}}, "policy without the stages")
    # Signed, by another operator key with the same name, and by the genuine operator against the rules.
    bundle = code.parse(_payload(marked), ORIGIN)
    impostor = KeyPair.from_seed(ORIGIN, bytes([9]) * 32)
    out.append(("another operator's signature", code.sign_bundle(bundle, impostor).payload()))
    made, sold = f"made-{MARK}", f"sold-{MARK}"
    policy = Policy.build({made: (["origin"], [], True), sold: (["courier"], [made], False)})
    events = tuple(replace(e, stage=f"made-{MARK}") for e in bundle.events)  # the origin party may not sell
    ruled = replace(bundle, policy=policy, events=events)
    out.append(("operator-signed, against the rules", code.sign_bundle(ruled, operator).payload()))
    return out


def test_forged_content_is_never_printed(genuine: str, operator: KeyPair, tmp_path: Path) -> None:
    table = _forgeries(genuine, operator)
    for n, (what, text) in enumerate(table):
        assert MARK.encode() in base45.decode(text[len(code.PREFIX) :]).lower()  # the bundle holds it
        with pytest.raises(ProvchainError) as info:
            code.verify(text, operator.vkey, at=AT)
        assert MARK not in str(info.value).lower(), (what, info.value)
        for source in (text, png_of(text, tmp_path / f"f{n}.png")):
            for extra in ((), ("--json",)):
                result = scan(source, operator.vkey, *extra)
                assert result.exit_code == 1, (what, result.output)
                assert MARK not in result.output.lower(), (what, result.output)
                assert "fake" not in result.output.lower(), (what, result.output)
                assert "evil" not in result.output.lower(), (what, result.output)
    with pytest.raises(RoleError, match=r"^event 2: its signer holds no role that may record its stage$"):
        code.verify(table[-1][1], operator.vkey, at=AT)


# --- the clock ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slow", "shown"),
    [(10 * 60_000, "10 min"), (23 * HOUR, "23 h"), (90_000, "2 min"), (30_000, "30 s"), (65 * 60_000, "1 h 5 min")],
)
def test_slow_clock_verifies_and_says_so(genuine: str, operator: KeyPair, slow: int, shown: str) -> None:
    result = scan(genuine, operator.vkey, at=ISSUED - slow)
    assert result.exit_code == 0, result.output
    assert f"note: this device's clock is {shown} behind the code's issue time" in result.output
    result = scan(genuine, operator.vkey, "--json", at=ISSUED - slow)
    assert json.loads(result.output)["clock_skew_ms"] == slow


def test_clock_right_or_fast_shows_no_note(genuine: str, operator: KeyPair) -> None:
    for at in (ISSUED, AT):
        result = scan(genuine, operator.vkey, at=at)
        assert result.exit_code == 0 and "clock" not in result.output
        assert json.loads(scan(genuine, operator.vkey, "--json", at=at).output)["clock_skew_ms"] == 0


def test_clock_more_than_a_day_slow_is_refused(genuine: str, operator: KeyPair) -> None:
    result = scan(genuine, operator.vkey, at=ISSUED - 25 * HOUR)
    assert result.exit_code == 1 and "REFUSED" in result.output and "TimeError" in result.output
    assert "24 hours" in result.output


# --- arguments -------------------------------------------------------------------------------------


def test_bad_operator_key_is_a_bad_argument(genuine: str) -> None:
    result = CliRunner().invoke(cli, ["scan", genuine, "--operator", "not-a-key"])
    assert result.exit_code == 2 and "REFUSED" not in result.output
