"""QR codes for item codes: the one place that turns a text into a QR symbol and reads it back.

A version 1 item code is ``"PC1:"`` followed by Base45 text. Every character of it is in the QR
alphanumeric set (``0-9 A-Z``, space and ``$%*+-./:``), so it is written as a QR code (model 2) at error
correction level M, in alphanumeric mode, in the smallest version that holds it. The encoder picks
segments for the shortest bit stream: a run of 7 or more digits (Base45 writes runs of zero bytes as
``0``) may get a numeric segment of its own when that takes fewer bits, so the symbol is never larger
than with one alphanumeric segment, and a code text never gets a byte segment. A URL code (version 2,
``HTTPS://VERIFY.EXAMPLE/#02`` and digits) gets three segments: alphanumeric for the base address (its
scheme and host are upper case; a lower-case path goes to a byte segment), one byte segment for ``#``,
which is not in the alphanumeric set, and a numeric segment for the digits (10 bits for 3). zint's
segmentation, which zxing-cpp uses, was measured to give the same version as these explicit segments
built with the ``qrcode`` package (tests/test_code_url.py, ``bench/code.py``). Other texts may be given
too; the encoder then uses numeric, byte or kanji segments where they are shorter (with an ECI when the
text is neither ISO 8859-1 nor Shift JIS), and :func:`read_image` gives back the exact text.

Encoder choice. Symbols are built by zxing-cpp (``zxingcpp.create_barcode``, which uses zint). The pure
Python ``qrcode`` package builds symbols of the same version at level M, but 20 to 45 times more
slowly: ``bench/qr_encoders.py`` measured 0.15 ms against 6.3 ms for version 5, 1.3 ms against 24 ms
for version 13, 2.0 ms against 46 ms for version 20 and 4.0 ms against 90 ms for version 30 (text to
module matrix, median), and a 970-character version 20 PNG in about 3 ms in all. zxing-cpp is needed
anyway to read images, so writing with it adds no dependency; ``qrcode`` is not used here at all (the
tests and the benchmark use it only as an independent second encoder to cross-check versions), not
even as a fallback: ``qrcode`` 8.2 raises ``ValueError: glog(0)`` on some texts, among them item codes
with long runs of zero bytes such as ``"PC1:" + base45.encode(bytes(150))``. Nor is
zxing-cpp's own SVG writer used: its output has no ``viewBox`` and carries a DOCTYPE and a generator
note, so :func:`render_svg` writes a small SVG from the module grid itself, and :func:`render_png`
scales the one-pixel-per-module bitmap with Pillow, so that both take the same ``scale`` (pixels per
module) and ``border`` (quiet zone, in modules).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

import zxingcpp
from PIL import Image, UnidentifiedImageError

from ._internal.files import write_atomic
from ._internal.validate import check_int, check_path
from .errors import ImageDecodeError, InputError, QrEncodeError

__all__ = [
    "EC_LEVEL",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_SCALE",
    "QrMatrix",
    "make_matrix",
    "qr_version",
    "read_image",
    "read_texts",
    "render_png",
    "render_svg",
    "write",
]

EC_LEVEL: Final = "M"
"""The error correction level of every symbol (about 15 % of the codewords can be restored)."""

MAX_SCALE: Final = 64
"""The largest ``scale`` (pixels per module) and ``border`` (modules) the renderers accept."""

MAX_IMAGE_BYTES: Final = 16 * 1024 * 1024
"""The largest image file :func:`read_image` reads (16 MiB): a photo of a label is a few MiB at most."""

MAX_IMAGE_PIXELS: Final = 16_000_000
"""The most pixels an image may declare (16 Mpx, a 12 Mpx phone photo and some): :func:`read_image` checks
the size in the image's header before it decodes anything, so a small file that declares a huge image (a
PNG of 20000 x 20000 one-bit pixels compresses to a few KiB) is refused instead of filling the memory."""


_DARK: Final = 0
"""The value of a dark module in zxing-cpp's one-pixel-per-module bitmap (light modules are 255)."""

_QR_ONLY: Final = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@dataclass(frozen=True, slots=True)
class QrMatrix:
    """The modules of a QR symbol, without quiet zone: ``modules[row][column]`` is True for dark."""

    version: int
    """The QR version, 1 to 40; the symbol is ``17 + 4 * version`` modules wide."""

    modules: tuple[tuple[bool, ...], ...]
    """The rows of the symbol, top to bottom, each left to right."""

    @property
    def size(self) -> int:
        """The width (and height) of the symbol in modules."""
        return len(self.modules)


@dataclass(frozen=True, slots=True)
class _Bitmap:
    """A symbol as zxing-cpp draws it: ``size * size`` bytes, row by row, 0 for dark and 255 for light."""

    size: int
    pixels: bytes

    @property
    def version(self) -> int:
        return (self.size - 17) // 4


def _encode(text: str) -> _Bitmap:
    """Build the symbol for ``text`` at level M in the smallest version, or raise :class:`InputError`
    (:class:`QrEncodeError` when the text is acceptable but no QR symbol can be made of it)."""
    if not isinstance(text, str):
        raise InputError(f"QR text must be a str, not {type(text).__name__}")
    if not text:
        raise InputError("QR text is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(f"QR text has a character that is not valid Unicode at position {error.start}") from None
    try:
        barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level=EC_LEVEL)
    except ValueError as error:
        raise QrEncodeError(
            f"QR text of {len(text)} characters does not fit a QR code at level {EC_LEVEL} "
            f"(version 40 holds at most 3391 alphanumeric characters or 2331 bytes): {error}"
        ) from None
    image = zxingcpp.write_barcode_to_image(barcode, scale=1, add_quiet_zones=False)
    height, width = image.shape[0], image.shape[1]
    if width != height or width < 21 or width > 177 or (width - 17) % 4:
        raise QrEncodeError(f"zxing-cpp drew a {width}x{height} bitmap for this text, which is not a QR symbol")
    # zxingcpp.Image has the buffer protocol (one byte per pixel), which its type stub does not declare.
    return _Bitmap(size=width, pixels=bytes(memoryview(cast(Any, image))))


def make_matrix(text: str) -> QrMatrix:
    """Return the QR symbol for ``text``: level M, smallest version, alphanumeric mode for code texts.

    Raises :class:`InputError` if ``text`` is empty, :class:`QrEncodeError` (an :class:`InputError`) if it
    does not fit version 40.
    """
    bitmap = _encode(text)
    size, pixels = bitmap.size, bitmap.pixels
    modules = tuple(tuple(pixel == _DARK for pixel in pixels[row : row + size]) for row in range(0, size * size, size))
    return QrMatrix(version=bitmap.version, modules=modules)


def qr_version(text: str) -> int:
    """Return the QR version (1 to 40) that :func:`make_matrix` uses for ``text``."""
    return _encode(text).version


def _check_geometry(scale: int, border: int) -> None:
    pixels = f"scale must be a whole number of pixels per module, 1 to {MAX_SCALE}: {scale!r}"
    check_int(scale, "scale", InputError, 1, MAX_SCALE, message=pixels)
    modules = f"border must be a whole number of modules, 0 to {MAX_SCALE}: {border!r}"
    check_int(border, "border", InputError, 0, MAX_SCALE, message=modules)


def render_png(text: str, *, scale: int = 4, border: int = 4) -> bytes:
    """Return a black-and-white PNG of the QR symbol for ``text``.

    ``scale`` is the number of pixels per module and ``border`` the quiet zone in modules (QR readers
    expect at least 4). Raises :class:`InputError` for a text :func:`make_matrix` refuses or a bad
    ``scale`` or ``border``.
    """
    _check_geometry(scale, border)
    bitmap = _encode(text)
    full = bitmap.size + 2 * border
    canvas = Image.new("L", (full, full), 255)
    canvas.paste(Image.frombytes("L", (bitmap.size, bitmap.size), bitmap.pixels), (border, border))
    if scale != 1:
        canvas = canvas.resize((full * scale, full * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    canvas.convert("1", dither=Image.Dither.NONE).save(out, format="PNG")
    return out.getvalue()


def render_svg(text: str, *, scale: int = 4, border: int = 4) -> str:
    """Return a self-contained SVG of the QR symbol for ``text``.

    The SVG has a ``viewBox`` in modules (symbol plus ``border`` modules of quiet zone on each side), a
    white background and one black path made of one rectangle per horizontal run of dark modules;
    ``width`` and ``height`` are ``scale`` pixels per module. Raises :class:`InputError` like
    :func:`render_png`.
    """
    _check_geometry(scale, border)
    bitmap = _encode(text)
    size, pixels = bitmap.size, bitmap.pixels
    runs: list[str] = []
    for y in range(size):
        row = pixels[y * size : (y + 1) * size]
        x = 0
        while x < size:
            if row[x] != _DARK:
                x += 1
                continue
            start = x
            while x < size and row[x] == _DARK:
                x += 1
            runs.append(f"M{start + border} {y + border}h{x - start}v1h-{x - start}z")
    full = size + 2 * border
    pixels_wide = full * scale
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels_wide}" height="{pixels_wide}" '
        f'viewBox="0 0 {full} {full}" shape-rendering="crispEdges">\n'
        f'<rect width="{full}" height="{full}" fill="#fff"/>\n'
        f'<path fill="#000" d="{"".join(runs)}"/>\n'
        "</svg>\n"
    )


def write(
    text: str,
    path: str | os.PathLike[str],
    *,
    scale: int = 4,
    border: int = 4,
    force: bool = False,
    protect: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Write ``text`` to ``path`` as a QR code, in the format the file name's suffix asks for.

    ``.png`` writes :func:`render_png`, ``.svg`` writes :func:`render_svg`, ``.txt`` writes the text
    itself and a newline (after checking that it fits a QR code). Any other suffix raises
    :class:`InputError`. The file is written whole or not at all, through a new temporary file, never
    through a link; an existing file is replaced only with ``force``, and never when it is a ledger or one
    of the ``protect`` files (the ledger the code comes from): :class:`InputError` or
    :class:`~provchain.errors.LedgerExistsError` then. A file that cannot be written raises
    :class:`OSError` or :class:`~provchain.errors.StorageError`.
    """
    target = check_path(path, "the QR code file", InputError)
    suffix = target.suffix.lower()
    if suffix == ".png":
        data = render_png(text, scale=scale, border=border)
    elif suffix == ".svg":
        data = render_svg(text, scale=scale, border=border).encode("utf-8")
    elif suffix == ".txt":
        _check_geometry(scale, border)
        _encode(text)
        data = (text + "\n").encode("utf-8")
    else:
        raise InputError(f"cannot write a QR code to {target.name!r}: the file name must end in .png, .svg or .txt")
    write_atomic(target, data, force=force, protect=protect)


def read_texts(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> tuple[str, ...]:
    """Return the distinct texts of every QR code in an image, in the order found (empty if there is none).

    ``source`` is a file path or the image file's content (PNG, JPEG or another format Pillow reads). The
    file is read only up to :data:`MAX_IMAGE_BYTES`, and the image is decoded only if its header declares
    at most :data:`MAX_IMAGE_PIXELS` pixels. Raises :class:`ImageDecodeError` if the file is missing, too
    large, or not an image. The same code shown twice gives one text.
    """
    name, data = _image_bytes(source)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > MAX_IMAGE_PIXELS:
                raise ImageDecodeError(
                    f"{name} declares {width} x {height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                    "a photo of a code needs; it is not decoded"
                )
            image.load()
            gray = _to_gray(image)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, checked in Image.open, is far above ours
        raise ImageDecodeError(
            f"{name} declares more than {MAX_IMAGE_PIXELS:,} pixels, more than a photo of a code needs; "
            "it is not decoded"
        ) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{name} is not an image in a format Pillow reads (PNG, JPEG, ...)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageDecodeError(f"{name} cannot be read as an image: {error}") from None
    barcodes = zxingcpp.read_barcodes(gray, formats=_QR_ONLY, text_mode=zxingcpp.TextMode.Plain)
    return tuple(dict.fromkeys(str(barcode.text) for barcode in barcodes if barcode.valid))


def read_image(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    """Return the text of the one QR code in an image (PNG, JPEG or another format Pillow reads).

    ``source`` is a file path or the image file's content; it is read within the bounds of
    :func:`read_texts`. The image may show the same code more than once. Raises :class:`ImageDecodeError`
    if the file is missing, too large or not an image, if no QR code is found, or if the image holds
    several different QR codes (their texts are not repeated in the message).
    """
    texts = read_texts(source)
    name = _source_name(source)
    if not texts:
        raise ImageDecodeError(f"no QR code found in {name}")
    if len(texts) > 1:
        raise ImageDecodeError(f"{name} holds {len(texts)} different QR codes; expected exactly one")
    return texts[0]


def _source_name(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> str:
    if isinstance(source, bytes | bytearray | memoryview):
        return "the image data"
    check_path(source, "the image", InputError)
    return os.fspath(source)


def _image_bytes(source: str | os.PathLike[str] | bytes | bytearray | memoryview) -> tuple[str, bytes]:
    """The name of ``source`` for messages and its content, read at most :data:`MAX_IMAGE_BYTES` + 1 bytes."""
    name = _source_name(source)
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source[: MAX_IMAGE_BYTES + 1])
    else:
        try:
            with open(name, "rb") as file:
                data = file.read(MAX_IMAGE_BYTES + 1)
        except FileNotFoundError:
            raise ImageDecodeError(f"image file {name} does not exist") from None
        except IsADirectoryError:
            raise ImageDecodeError(f"{name} is a folder, not an image file") from None
        except OSError as error:
            raise ImageDecodeError(f"{name} cannot be read: {error.strerror or error}") from None
        except ValueError:  # a NUL in the name
            raise ImageDecodeError(f"{name!r} is not a file name") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageDecodeError(f"{name} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB; it is not read")
    return name, data


def _to_gray(image: Image.Image) -> Image.Image:
    """Return ``image`` as 8-bit grey, with any transparency laid on white (as on paper)."""
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return image.convert("L")
