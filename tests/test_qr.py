"""Tests for provchain.qr: real symbols, drawn into real images, read by the real decoder.

Besides round trips through zxing-cpp, a small reference reader below takes a module matrix apart by
hand (format information, data placement, block interleaving, segment headers, per ISO/IEC 18004) to
check what the encoder wrote: level M, a single alphanumeric segment for item-code texts, the smallest
version. The pure-Python ``qrcode`` package is an independent second encoder for cross-checks. Nothing
here measures time; see ``bench/qr_encoders.py``.
"""

from __future__ import annotations

import io
import random
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, cast

import pytest
import qrcode
import qrcode.base
import qrcode.constants
import qrcode.util
import zxingcpp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from provchain import base45, qr
from provchain.errors import CodeFormatError, ImageDecodeError, InputError, QrEncodeError

ALNUM = base45.ALPHABET
LENGTHS = [1, 2, 5, 14, 20, 25, 26, 47, 48, 100, 122, 123, 255, 483, 484, 900, 970, 971, 1300, 1800, 1994]


def code_text(length: int, seed: int = 0) -> str:
    """A text of ``length`` characters shaped like an item code: ``PC1:`` and random Base45 characters."""
    rng = random.Random(seed * 100_003 + length)
    text = "PC1:" + "".join(rng.choice(ALNUM) for _ in range(max(0, length - 4)))
    return text[:length]


# --- a reference reader for QR module matrices (level M only) -------------------------------------

EC_BITS = {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}
MASKS = [
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
]


def _valid_format_words() -> dict[int, int]:
    """The 32 masked format words (BCH(15,5), generator 0x537, mask 0x5412) and their 5 data bits."""
    words = {}
    for data in range(32):
        remainder = data << 10
        for bit in range(14, 9, -1):
            if remainder & (1 << bit):
                remainder ^= 0x537 << (bit - 10)
        words[((data << 10) | remainder) ^ 0x5412] = data
    return words


FORMAT_WORDS = _valid_format_words()


def _function_modules(version: int) -> set[tuple[int, int]]:
    size = 17 + 4 * version
    taken: set[tuple[int, int]] = set()

    def square(top: int, left: int, width: int, height: int) -> None:
        taken.update((r, c) for r in range(top, top + height) for c in range(left, left + width))

    square(0, 0, 9, 9)  # finder, separator, format information (and the timing crossing)
    square(0, size - 8, 8, 9)
    square(size - 8, 0, 9, 8)  # including the dark module at (size - 8, 8)
    square(6, 0, size, 1)  # timing patterns
    square(0, 6, 1, size)
    centres = qrcode.util.pattern_position(version)
    for r in centres:
        for c in centres:
            if (r, c) in {(6, 6), (6, centres[-1]), (centres[-1], 6)}:
                continue
            square(r - 2, c - 2, 5, 5)
    if version >= 7:
        square(0, size - 11, 3, 6)
        square(size - 11, 0, 6, 3)
    return taken


def _bits(modules: tuple[tuple[bool, ...], ...], places: list[tuple[int, int]]) -> int:
    value = 0
    for r, c in places:
        value = value << 1 | modules[r][c]
    return value


def _format(modules: tuple[tuple[bool, ...], ...]) -> tuple[str, int]:
    size = len(modules)
    first = [(8, c) for c in (0, 1, 2, 3, 4, 5, 7, 8)] + [(r, 8) for r in (7, 5, 4, 3, 2, 1, 0)]
    second = [(r, 8) for r in range(size - 1, size - 8, -1)] + [(8, c) for c in range(size - 8, size)]
    word = _bits(modules, first)
    assert word == _bits(modules, second), "the two copies of the format information differ"
    assert word in FORMAT_WORDS, f"format information {word:015b} is not a valid BCH word"
    data = FORMAT_WORDS[word]
    return EC_BITS[data >> 3], data & 7


def _codewords(modules: tuple[tuple[bool, ...], ...], version: int, mask: int) -> list[int]:
    size = len(modules)
    taken = _function_modules(version)
    bits: list[int] = []
    column, upward = size - 1, True
    while column > 0:
        if column == 6:
            column = 5
        for r in range(size - 1, -1, -1) if upward else range(size):
            for c in (column, column - 1):
                if (r, c) not in taken:
                    bits.append(int(modules[r][c] != MASKS[mask](r, c)))
        column, upward = column - 2, not upward
    return [int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits) - 7, 8)]


def _data(codewords: list[int], version: int) -> bytes:
    counts = [block.data_count for block in qrcode.base.rs_blocks(version, qrcode.constants.ERROR_CORRECT_M)]
    blocks: list[list[int]] = [[] for _ in counts]
    stream = iter(codewords)
    for i in range(max(counts)):
        for block, count in zip(blocks, counts, strict=True):
            if i < count:
                block.append(next(stream))
    return bytes(b for block in blocks for b in block)


def _segments(data: bytes, version: int) -> list[tuple[str, str]]:
    bits = "".join(f"{byte:08b}" for byte in data)
    position = 0

    def take(count: int) -> int:
        nonlocal position
        value = int(bits[position : position + count], 2)
        position += count
        return value

    band = 0 if version <= 9 else 1 if version <= 26 else 2
    segments: list[tuple[str, str]] = []
    while len(bits) - position >= 4:
        mode = take(4)
        if mode == 0:
            break
        if mode == 0b0111:
            first = take(8)
            if first >> 7 == 0b1:
                first = (first & 0x3F) << 8 | take(8) if first >> 6 == 0b10 else (first & 0x1F) << 16 | take(16)
            segments.append(("eci", str(first)))
        elif mode == 0b0001:
            count = take((10, 12, 14)[band])
            digits = ""
            while count >= 3:
                digits += f"{take(10):03d}"
                count -= 3
            digits += f"{take(7):02d}" if count == 2 else f"{take(4):01d}" if count == 1 else ""
            segments.append(("numeric", digits))
        elif mode == 0b0010:
            count = take((9, 11, 13)[band])
            chars = ""
            for _ in range(count // 2):
                high, low = divmod(take(11), 45)
                chars += ALNUM[high] + ALNUM[low]
            if count % 2:
                chars += ALNUM[take(6)]
            segments.append(("alphanumeric", chars))
        elif mode == 0b0100:
            count = take((8, 16, 16)[band])
            segments.append(("byte", bytes(take(8) for _ in range(count)).decode("latin-1")))
        elif mode == 0b1000:
            count = take((8, 10, 12)[band])
            position += 13 * count
            segments.append(("kanji", str(count)))
        else:
            raise AssertionError(f"unknown mode indicator {mode:04b}")
    return segments


def reference_read(matrix: qr.QrMatrix) -> tuple[str, list[tuple[str, str]]]:
    """Return the error correction level and the segments (mode, content) of a level M symbol."""
    assert matrix.size == 17 + 4 * matrix.version
    ec, mask = _format(matrix.modules)
    assert ec == "M"
    return ec, _segments(_data(_codewords(matrix.modules, matrix.version, mask), matrix.version), matrix.version)


def smallest_alphanumeric_version(length: int) -> int:
    """The smallest version whose level M data capacity holds one alphanumeric segment of ``length``."""
    for version in range(1, 41):
        count_bits = 9 if version <= 9 else 11 if version <= 26 else 13
        needed = 4 + count_bits + 11 * (length // 2) + 6 * (length % 2)
        blocks = qrcode.base.rs_blocks(version, qrcode.constants.ERROR_CORRECT_M)
        if needed <= 8 * sum(block.data_count for block in blocks):
            return version
    raise AssertionError("does not fit version 40")


def qrcode_matrix(text: str) -> qr.QrMatrix:
    """The same text encoded by the pure-Python qrcode package (level M, smallest version)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    return qr.QrMatrix(version=code.version, modules=tuple(tuple(row) for row in code.get_matrix()))


def draw(matrix: qr.QrMatrix, *, scale: int = 4, border: int = 4) -> Image.Image:
    """Draw a matrix with Pillow, independently of provchain.qr's renderers."""
    full = matrix.size + 2 * border
    image = Image.new("L", (full * scale, full * scale), 255)
    for r, row in enumerate(matrix.modules):
        for c, dark in enumerate(row):
            if dark:
                x, y = (c + border) * scale, (r + border) * scale
                image.paste(0, (x, y, x + scale, y + scale))
    return image


def png_bytes(image: Image.Image, format: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=format, **options)
    return out.getvalue()


def zxing_read_one(image: Image.Image) -> zxingcpp.Barcode:
    found = zxingcpp.read_barcodes(
        image,
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        text_mode=zxingcpp.TextMode.Plain,
    )
    assert len(found) == 1
    return found[0]


# --- the reference reader reads what it should ----------------------------------------------------


@pytest.mark.parametrize("length", [1, 9, 122, 970])
def test_reference_reader_reads_the_qrcode_package(length: int) -> None:
    """The hand-written reader agrees with an independent encoder, so it can judge zxing-cpp's output."""
    text = code_text(length, seed=7)
    matrix = qrcode_matrix(text)
    ec, segments = reference_read(matrix)
    assert ec == "M"
    assert "".join(content for _, content in segments) == text


# --- make_matrix: level M, alphanumeric, smallest version -------------------------------------------


@pytest.mark.parametrize("length", [*LENGTHS, 2500, 3391])
def test_code_text_is_one_alphanumeric_segment_at_level_m_in_the_smallest_version(length: int) -> None:
    text = code_text(length)
    matrix = qr.make_matrix(text)
    ec, segments = reference_read(matrix)
    assert ec == "M"
    assert segments == [("alphanumeric", text)]
    assert matrix.version == smallest_alphanumeric_version(length) == qr.qr_version(text)
    assert matrix.size == 17 + 4 * matrix.version == len(matrix.modules[0])


@pytest.mark.parametrize("length", [5, 122, 123, 484, 900, 1800])
def test_version_is_the_one_qrcode_picks(length: int) -> None:
    text = code_text(length, seed=3)
    reference = qrcode_matrix(text)
    assert qr.qr_version(text) == reference.version
    # Both encoders' symbols decode with zxing-cpp to the same text.
    assert zxing_read_one(draw(reference)).text == text
    assert zxing_read_one(draw(qr.make_matrix(text))).text == text


def test_versions_grow_with_length() -> None:
    versions = [qr.qr_version(code_text(length)) for length in range(1, 3392, 97)]
    assert versions == sorted(versions)
    assert versions[0] == 1
    assert qr.qr_version(code_text(3391)) == 40


@pytest.mark.parametrize("text", ["0", "00", "000", "0" * 41, "0123456789" * 30])
def test_digit_texts(text: str) -> None:
    """All-digit texts: both encoders build them (no qrcode glog(0) here), and they read back."""
    matrix = qr.make_matrix(text)
    _, segments = reference_read(matrix)
    assert "".join(content for _, content in segments) == text
    assert {mode for mode, _ in segments} <= {"numeric", "alphanumeric"}
    assert qr.read_image(qr.render_png(text)) == text
    assert zxing_read_one(draw(qrcode_matrix(text))).text == text


def test_too_long_is_an_input_error() -> None:
    assert qr.qr_version("A" * 3391) == 40
    with pytest.raises(QrEncodeError, match="does not fit"):
        qr.make_matrix("A" * 3392)
    with pytest.raises(InputError, match="does not fit"):
        qr.render_png(code_text(4000))
    assert qr.qr_version("a" * 2331) == 40
    with pytest.raises(InputError, match="does not fit"):
        qr.qr_version("a" * 2332)


@pytest.mark.parametrize("symbology", ["DataMatrix", "Code128"])
def test_an_encoder_that_draws_no_qr_symbol_is_a_provchain_error(
    monkeypatch: pytest.MonkeyPatch, symbology: str
) -> None:
    # zxing-cpp itself draws another symbology in place of the QR code (as a broken build of it might):
    # the check on the bitmap's geometry refuses it with a provchain error, never a RuntimeError
    real = zxingcpp.create_barcode
    other = getattr(zxingcpp.BarcodeFormat, symbology)
    monkeypatch.setattr(zxingcpp, "create_barcode", lambda text, _fmt, **_kw: real(text, other))
    with pytest.raises(QrEncodeError, match="not a QR symbol") as caught:
        qr.make_matrix("PC1:AB")
    assert isinstance(caught.value, InputError)


@pytest.mark.parametrize("bad", ["", "\udcff", "PC1:\ud800AB"])
def test_bad_text_is_an_input_error(bad: str) -> None:
    with pytest.raises(InputError):
        qr.make_matrix(bad)


def test_non_str_is_an_input_error() -> None:
    with pytest.raises(InputError, match="str"):
        qr.make_matrix(b"PC1:AB")  # type: ignore[arg-type]


def test_matrix_is_immutable_and_boolean() -> None:
    matrix = qr.make_matrix("PC1:BB8")
    assert isinstance(matrix.modules, tuple) and all(isinstance(row, tuple) for row in matrix.modules)
    assert {module for row in matrix.modules for module in row} == {True, False}
    # Finder pattern in the top-left corner: a dark 7x7 ring, light ring, dark 3x3 centre.
    assert all(matrix.modules[0][c] for c in range(7)) and not any(matrix.modules[1][1:6])
    assert all(matrix.modules[r][c] for r in range(2, 5) for c in range(2, 5))


# --- PNG ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", LENGTHS)
def test_png_round_trip(length: int) -> None:
    text = code_text(length, seed=1)
    png = qr.render_png(text)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert qr.read_image(png) == text
    found = zxing_read_one(Image.open(io.BytesIO(png)))
    assert found.ec_level == "M"
    assert cast(dict[str, object], found.extra)["Version"] == str(qr.qr_version(text))
    assert found.symbology_identifier == "]Q1"  # QR model 2, no ECI
    assert found.content_type == zxingcpp.ContentType.Text


def longest_digit_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"[0-9]+", text)), default=0)


def check_code_segments(text: str, matrix: qr.QrMatrix) -> None:
    """A code text is alphanumeric, with numeric segments only for long digit runs, never bytes.

    Six digits cost 33 bits in an alphanumeric segment and at least 4 + 10 + 20 = 34 bits in a numeric
    one, so an optimal segmentation splits off only runs of 7 or more digits; then the version can only
    be smaller than with one alphanumeric segment.
    """
    ec, segments = reference_read(matrix)
    assert ec == "M"
    assert "".join(content for _, content in segments) == text
    assert {mode for mode, _ in segments} <= {"alphanumeric", "numeric"}
    assert all(len(content) >= 7 for mode, content in segments if mode == "numeric")
    if longest_digit_run(text) < 7:
        assert segments == [("alphanumeric", text)]
        assert matrix.version == smallest_alphanumeric_version(len(text))
    else:
        assert matrix.version <= smallest_alphanumeric_version(len(text))


@given(st.binary(max_size=1300))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_item_codes_round_trip(data: bytes) -> None:
    text = "PC1:" + base45.encode(data)
    check_code_segments(text, qr.make_matrix(text))
    assert qr.read_image(qr.render_png(text, scale=3)) == text


@pytest.mark.parametrize(
    "data",
    [bytes(5), bytes(40), b"\xff" * 9 + bytes(30) + b"\x01" * 9, bytes(range(256)) * 4, bytes(1200)],
    ids=["5-zeros", "40-zeros", "zeros-inside", "all-bytes", "1200-zeros"],
)
def test_item_codes_with_digit_runs(data: bytes) -> None:
    text = "PC1:" + base45.encode(data)
    matrix = qr.make_matrix(text)
    check_code_segments(text, matrix)
    assert qr.read_image(qr.render_png(text)) == text
    try:
        reference = qrcode_matrix(text)
    except ValueError as error:  # qrcode 8.2 fails on long runs of zero codewords
        assert "glog(0)" in str(error)
    else:
        assert matrix.version <= reference.version


@pytest.mark.parametrize("zero_bytes", [150, 600, 1250])
def test_zero_heavy_codes_that_the_qrcode_package_cannot_encode(zero_bytes: int) -> None:
    """qrcode 8.2 raises ValueError("glog(0)") for these texts; zxing-cpp encodes them."""
    text = "PC1:" + base45.encode(bytes(zero_bytes))
    matrix = qr.make_matrix(text)
    check_code_segments(text, matrix)
    assert qr.read_image(qr.render_png(text)) == text


@pytest.mark.parametrize("run", range(1, 16))
def test_digit_run_threshold(run: int) -> None:
    for text in ("PC1:ABCD" + "0" * run + "EFGH", "PC1:ABCD" + "0" * run, "0" * run + "PC1:ABCD"):
        check_code_segments(text, qr.make_matrix(text))


@pytest.mark.parametrize(("scale", "border"), [(1, 4), (2, 0), (4, 4), (7, 10)])
def test_png_geometry(scale: int, border: int) -> None:
    text = code_text(300)
    matrix = qr.make_matrix(text)
    image = Image.open(io.BytesIO(qr.render_png(text, scale=scale, border=border)))
    full = matrix.size + 2 * border
    assert image.size == (full * scale, full * scale)
    gray = image.convert("L")
    assert gray.getpixel((0, 0)) == (255 if border else 0)
    for r in range(matrix.size):
        for c in range(matrix.size):
            x, y = (c + border) * scale + scale // 2, (r + border) * scale + scale // 2
            assert (gray.getpixel((x, y)) == 0) == matrix.modules[r][c]
    if border >= 1 and scale >= 2:
        assert qr.read_image(png_bytes(image)) == text


def test_png_is_deterministic() -> None:
    assert qr.render_png("PC1:QED8WEX0") == qr.render_png("PC1:QED8WEX0")


@pytest.mark.parametrize(("scale", "border"), [(0, 4), (-1, 4), (65, 4), (4, -1), (4, 65), (True, 4), (2.0, 4)])
def test_bad_geometry_is_an_input_error(scale: object, border: int) -> None:
    with pytest.raises(InputError):
        qr.render_png("PC1:AB", scale=scale, border=border)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        qr.render_svg("PC1:AB", scale=scale, border=border)  # type: ignore[arg-type]


# --- SVG ---------------------------------------------------------------------------------------------

RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z")


def svg_grid(svg: str) -> tuple[int, list[list[bool]]]:
    """Rebuild the module grid (quiet zone included) from an SVG written by render_svg."""
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    x0, y0, width, height = map(int, root.attrib["viewBox"].split())
    assert (x0, y0) == (0, 0) and width == height
    rects, paths = root.findall(f"{ns}rect"), root.findall(f"{ns}path")
    assert len(rects) == 1 and len(paths) == 1 and len(root) == 2
    assert rects[0].attrib["fill"] == "#fff" and paths[0].attrib["fill"] == "#000"
    d = paths[0].attrib["d"]
    assert RUN.sub("", d) == "", "the path has commands other than one rectangle per run"
    grid = [[False] * width for _ in range(width)]
    for match in RUN.finditer(d):
        x, y, run, back = map(int, match.groups())
        assert run == back and run > 0
        for column in range(x, x + run):
            assert not grid[y][column], "runs overlap"
            grid[y][column] = True
    return width, grid


@pytest.mark.parametrize("length", [1, 48, 483, 900, 1800])
@pytest.mark.parametrize(("scale", "border"), [(4, 4), (1, 0), (3, 6)])
def test_svg_has_the_matrix(length: int, scale: int, border: int) -> None:
    text = code_text(length, seed=2)
    matrix = qr.make_matrix(text)
    svg = qr.render_svg(text, scale=scale, border=border)
    root = ET.fromstring(svg)
    full = matrix.size + 2 * border
    assert root.attrib["width"] == root.attrib["height"] == str(full * scale)
    width, grid = svg_grid(svg)
    assert width == full
    assert not any(
        grid[r][c]
        for r in range(full)
        for c in range(full)
        if not (border <= r < border + matrix.size and border <= c < border + matrix.size)
    ), "dark modules in the quiet zone"
    inner = tuple(tuple(row[border : border + matrix.size]) for row in grid[border : border + matrix.size])
    assert inner == matrix.modules


@pytest.mark.parametrize("length", [30, 900, 1800])
def test_svg_rasterized_decodes(length: int) -> None:
    text = code_text(length, seed=4)
    width, grid = svg_grid(qr.render_svg(text))
    scale = 3
    image = Image.new("L", (width * scale, width * scale), 255)
    for r, row in enumerate(grid):
        for c, dark in enumerate(row):
            if dark:
                image.paste(0, (c * scale, r * scale, (c + 1) * scale, (r + 1) * scale))
    assert qr.read_image(png_bytes(image)) == text
    found = zxing_read_one(image)
    assert found.ec_level == "M" and found.text == text


# --- write ---------------------------------------------------------------------------------------------


def test_write_png_svg_txt(tmp_path: Path) -> None:
    text = code_text(900, seed=5)
    qr.write(text, tmp_path / "code.png")
    qr.write(text, str(tmp_path / "code.svg"))
    qr.write(text, tmp_path / "code.txt")
    qr.write(text, tmp_path / "CODE.PNG")
    assert qr.read_image(tmp_path / "code.png") == text
    assert qr.read_image(str(tmp_path / "CODE.PNG")) == text
    assert (tmp_path / "code.png").read_bytes() == qr.render_png(text)
    assert (tmp_path / "code.svg").read_text(encoding="utf-8") == qr.render_svg(text)
    assert (tmp_path / "code.txt").read_bytes() == (text + "\n").encode("ascii")


def test_write_passes_scale_and_border(tmp_path: Path) -> None:
    qr.write("PC1:BB8", tmp_path / "code.png", scale=2, border=1)
    assert (tmp_path / "code.png").read_bytes() == qr.render_png("PC1:BB8", scale=2, border=1)


@pytest.mark.parametrize("name", ["code.jpg", "code", "code.png.bak", "code.pdf"])
def test_write_other_suffix_is_an_input_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=r"\.png, \.svg or \.txt"):
        qr.write("PC1:BB8", tmp_path / name)
    assert not (tmp_path / name).exists()


def test_write_txt_checks_the_text(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        qr.write("A" * 3392, tmp_path / "code.txt")
    assert not (tmp_path / "code.txt").exists()


# --- read_image ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["héllo €", "日本語", "lower case and UPPER", "a\x00b\x1d\n", "PC1:" + "9" * 40])
def test_read_gives_the_exact_text(text: str) -> None:
    assert qr.read_image(qr.render_png(text)) == text


@pytest.mark.parametrize("quality", [95, 75, 50])
def test_read_jpeg(quality: int) -> None:
    text = code_text(900, seed=6)
    image = Image.open(io.BytesIO(qr.render_png(text))).convert("RGB")
    assert qr.read_image(png_bytes(image, "JPEG", quality=quality)) == text


def test_read_photo_like_image() -> None:
    """A code rotated, scaled and placed off-centre on a grey, noisy page, saved as JPEG."""
    text = code_text(483, seed=8)
    code = Image.open(io.BytesIO(qr.render_png(text, scale=3))).convert("L").rotate(17, expand=True, fillcolor=255)
    page = Image.effect_noise((900, 700), 12).point(lambda v: min(255, v + 60))
    page.paste(code, (130, 90))
    assert qr.read_image(png_bytes(page.convert("RGB"), "JPEG", quality=85)) == text


def test_read_transparent_background() -> None:
    """A PNG whose light modules are transparent black reads as if printed on white."""
    text = code_text(200)
    gray = Image.open(io.BytesIO(qr.render_png(text))).convert("L")
    rgba = Image.new("RGBA", gray.size, (0, 0, 0, 0))
    rgba.putalpha(gray.point(lambda v: 255 - v))
    assert qr.read_image(png_bytes(rgba)) == text


def test_read_palette_and_gif() -> None:
    text = code_text(122)
    image = Image.open(io.BytesIO(qr.render_png(text))).convert("P")
    assert qr.read_image(png_bytes(image, "GIF")) == text
    assert qr.read_image(png_bytes(image, "BMP")) == text


def test_read_same_code_twice_is_fine() -> None:
    text = code_text(60)
    code = Image.open(io.BytesIO(qr.render_png(text))).convert("L")
    page = Image.new("L", (code.width * 2 + 40, code.height + 20), 255)
    page.paste(code, (10, 10))
    page.paste(code, (code.width + 30, 10))
    assert qr.read_image(png_bytes(page)) == text


def test_read_two_different_codes_is_an_error() -> None:
    first = Image.open(io.BytesIO(qr.render_png(code_text(60, seed=1)))).convert("L")
    second = Image.open(io.BytesIO(qr.render_png(code_text(60, seed=2)))).convert("L")
    page = Image.new("L", (first.width + second.width + 40, max(first.height, second.height) + 20), 255)
    page.paste(first, (10, 10))
    page.paste(second, (first.width + 30, 10))
    with pytest.raises(ImageDecodeError, match="2 different QR codes"):
        qr.read_image(png_bytes(page))


@pytest.mark.parametrize(
    "image",
    [
        Image.new("L", (300, 300), 255),
        Image.new("RGB", (64, 48), (200, 30, 30)),
        Image.effect_noise((400, 400), 80),
    ],
    ids=["white", "red", "noise"],
)
def test_read_image_without_code(image: Image.Image) -> None:
    with pytest.raises(ImageDecodeError, match="no QR code found"):
        qr.read_image(png_bytes(image))


def test_read_other_barcode_is_no_qr_code() -> None:
    barcode = zxingcpp.create_barcode("PC1:BB8", zxingcpp.BarcodeFormat.DataMatrix)
    image = zxingcpp.write_barcode_to_image(barcode, scale=6)
    pil = Image.frombytes("L", (image.shape[1], image.shape[0]), bytes(memoryview(cast(Any, image))))
    with pytest.raises(ImageDecodeError, match="no QR code found"):
        qr.read_image(png_bytes(pil))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        bytes(range(256)) * 10,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x89PNG\r\n\x1a\n",
    ],
    ids=["empty", "text", "binary", "svg", "png-signature-only"],
)
def test_read_garbage_bytes(data: bytes) -> None:
    with pytest.raises(ImageDecodeError, match=r"not an image|cannot be read"):
        qr.read_image(data)


def test_read_truncated_png() -> None:
    png = qr.render_png(code_text(900))
    with pytest.raises(ImageDecodeError):
        qr.read_image(png[: len(png) // 2])


def test_read_garbage_files(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_bytes(b"GIF89a but not really")
    (tmp_path / "code.svg").write_text(qr.render_svg("PC1:BB8"), encoding="utf-8")
    with pytest.raises(ImageDecodeError, match=r"fake\.png is not an image"):
        qr.read_image(tmp_path / "fake.png")
    with pytest.raises(ImageDecodeError, match="not an image"):
        qr.read_image(tmp_path / "code.svg")
    with pytest.raises(ImageDecodeError, match="does not exist"):
        qr.read_image(tmp_path / "missing.png")
    with pytest.raises(CodeFormatError):
        qr.read_image(tmp_path)


def test_read_accepts_bytearray_and_memoryview() -> None:
    png = qr.render_png("PC1:BB8")
    assert qr.read_image(bytearray(png)) == "PC1:BB8"
    assert qr.read_image(memoryview(png)) == "PC1:BB8"


# --- bounds -------------------------------------------------------------------------------------------


def _bilevel_png(width: int, height: int) -> bytes:
    """A valid PNG of ``width x height`` white one-bit pixels, compressed to a few KiB."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_image_over_the_pixel_limit_is_refused_from_its_header() -> None:
    side = 4001  # 16,008,001 pixels: just over the limit (4000 x 4000 is at it)
    assert side * side > qr.MAX_IMAGE_PIXELS >= (side - 1) * (side - 1)
    png = _bilevel_png(side, side)
    with pytest.raises(ImageDecodeError, match=r"declares 4001 x 4001 pixels.*not decoded"):
        qr.read_texts(png)
    # The same bytes with the pixel data cut off: refused just the same, so nothing was decoded.
    with pytest.raises(ImageDecodeError, match="declares 4001 x 4001 pixels"):
        qr.read_texts(png[:200])
    with pytest.raises(ImageDecodeError, match="declares more than"):  # past Pillow's own limit
        qr.read_image(_bilevel_png(20_000, 20_000)[:200])


def test_image_at_the_pixel_limit_is_decoded() -> None:
    text = code_text(40)
    symbol = Image.open(io.BytesIO(qr.render_png(text))).convert("L")
    page = Image.new("L", (4000, 4000), 255)
    page.paste(symbol, (100, 100))
    assert qr.MAX_IMAGE_PIXELS == 4000 * 4000
    assert qr.read_image(png_bytes(page)) == text


def test_image_file_size_is_bounded(tmp_path: Path) -> None:
    png = qr.render_png(code_text(40))
    padded = png + bytes(qr.MAX_IMAGE_BYTES + 1 - len(png))  # trailing bytes after IEND
    with pytest.raises(ImageDecodeError, match="larger than 16 MiB"):
        qr.read_image(padded)
    (tmp_path / "big.png").write_bytes(padded)
    with pytest.raises(ImageDecodeError, match="larger than 16 MiB"):
        qr.read_image(tmp_path / "big.png")
    assert qr.read_image(padded[:-1]) == code_text(40)  # at the limit: read


def test_read_texts_gives_every_distinct_code_once() -> None:
    first, second = code_text(60, seed=1), code_text(60, seed=2)
    symbols = [Image.open(io.BytesIO(qr.render_png(t))).convert("L") for t in (first, second, first)]
    page = Image.new("L", (sum(s.width for s in symbols) + 80, symbols[0].height + 20), 255)
    x = 10
    for symbol in symbols:
        page.paste(symbol, (x, 10))
        x += symbol.width + 30
    assert sorted(qr.read_texts(png_bytes(page))) == sorted([first, second])
    assert qr.read_texts(png_bytes(Image.new("L", (100, 100), 255))) == ()
