"""Time the two QR encoders on the same item-code texts, in the same run.

    python bench/qr_encoders.py [--repeat N]

For QR versions of about 5, 13, 20 and 30 (level M, alphanumeric), it builds an item code text
(``"PC1:"`` + Base45 of random bytes, as long as the version holds) and measures, as the median of
several runs:

* build: text to module matrix, with the pure-Python ``qrcode`` package and with zxing-cpp
  (``create_barcode`` + a one-pixel-per-module bitmap);
* png: text to PNG bytes, the matrix from each encoder drawn by the same Pillow code
  (for zxing-cpp this is exactly ``provchain.qr.render_png``);
* decode: ``provchain.qr.read_image`` on each PNG (zxing-cpp reader), which must give the text back.

It prints milliseconds and the ratio qrcode / zxing-cpp, and the version each encoder chose.
Nothing here is asserted by the test suite; timings depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, cast

import qrcode
import qrcode.constants
from PIL import Image

from provchain import base45, qr

ALPHANUMERIC_CAPACITY_M = {5: 122, 13: 483, 20: 970, 30: 1994}
"""Alphanumeric characters a version holds at level M (ISO/IEC 18004 Table 7), for the target versions."""


def item_code_text(version: int, rng: random.Random) -> str:
    """The longest ``"PC1:"`` + Base45 text that fits ``version`` at level M."""
    capacity = ALPHANUMERIC_CAPACITY_M[version]
    count = 0
    while 4 + len(base45.encode(bytes(count + 1))) <= capacity:
        count += 1
    return "PC1:" + base45.encode(rng.randbytes(count))


def qrcode_matrix(text: str) -> tuple[int, list[list[bool]]]:
    """Version and modules from the pure-Python qrcode package (level M, smallest version)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(text)
    code.make(fit=True)
    return code.version, code.get_matrix()


def zxing_bitmap(text: str) -> bytes:
    """One byte per module from zxing-cpp, as provchain.qr builds it (0 dark, 255 light)."""
    import zxingcpp

    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = zxingcpp.write_barcode_to_image(barcode, scale=1, add_quiet_zones=False)
    return bytes(memoryview(cast(Any, image)))  # zxingcpp.Image has the buffer protocol


def png_from_modules(modules: list[list[bool]], scale: int = 4, border: int = 4) -> bytes:
    """The same drawing as provchain.qr.render_png, starting from a boolean matrix."""
    size = len(modules)
    pixels = bytes(0 if dark else 255 for row in modules for dark in row)
    full = size + 2 * border
    canvas = Image.new("L", (full, full), 255)
    canvas.paste(Image.frombytes("L", (size, size), pixels), (border, border))
    canvas = canvas.resize((full * scale, full * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    canvas.convert("1", dither=Image.Dither.NONE).save(out, format="PNG")
    return out.getvalue()


def median_ms(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement for qrcode (default 7)")
    args = parser.parse_args()
    slow_repeat = max(1, args.repeat)
    fast_repeat = 5 * slow_repeat

    print(
        f"python {platform.python_version()} on {platform.machine()}; qrcode {metadata.version('qrcode')}, "
        f"zxing-cpp {metadata.version('zxing-cpp')}, pillow {metadata.version('pillow')}"
    )
    print(f"median of {slow_repeat} runs (qrcode) and {fast_repeat} runs (zxing-cpp), milliseconds\n")
    header = (
        f"{'target':>6} {'chars':>5} {'v(qrcode)':>9} {'v(zxing)':>8} | "
        f"{'build qrcode':>12} {'build zxing':>11} {'ratio':>6} | "
        f"{'png qrcode':>10} {'png zxing':>9} {'ratio':>6} | "
        f"{'decode png':>10}"
    )
    print(header)
    print("-" * len(header))
    rng = random.Random(20240601)
    for target in sorted(ALPHANUMERIC_CAPACITY_M):
        text = item_code_text(target, rng)
        qrcode_version, modules = qrcode_matrix(text)
        zxing_version = qr.qr_version(text)
        qrcode_png = png_from_modules(modules)
        zxing_png = qr.render_png(text)
        if qr.read_image(qrcode_png) != text or qr.read_image(zxing_png) != text:
            print(f"version {target}: a PNG did not decode to its text", file=sys.stderr)
            return 1
        if qr.make_matrix(text).modules != tuple(tuple(row) for row in modules):
            note = "(different masks or segments; both decode)"
        else:
            note = "(identical matrices)"

        build_qrcode = median_ms(lambda: qrcode_matrix(text), slow_repeat)  # noqa: B023
        build_zxing = median_ms(lambda: zxing_bitmap(text), fast_repeat)  # noqa: B023
        png_qrcode = median_ms(lambda: png_from_modules(qrcode_matrix(text)[1]), slow_repeat)  # noqa: B023
        png_zxing = median_ms(lambda: qr.render_png(text), fast_repeat)  # noqa: B023
        decode = median_ms(lambda: qr.read_image(zxing_png), fast_repeat)  # noqa: B023
        print(
            f"{target:>6} {len(text):>5} {qrcode_version:>9} {zxing_version:>8} | "
            f"{build_qrcode:>12.2f} {build_zxing:>11.2f} {build_qrcode / build_zxing:>5.0f}x | "
            f"{png_qrcode:>10.2f} {png_zxing:>9.2f} {png_qrcode / png_zxing:>5.0f}x | "
            f"{decode:>10.2f}  {note}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
