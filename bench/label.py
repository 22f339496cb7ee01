"""Printed labels: the smallest label width that two independent decoders read from a simulated phone photo.

    python bench/label.py [--distance MM] [--blur PX] [--quality Q]

For each code (the docs' serum journey as a PC1 code and as a URL code, and a three-event journey with
short fields as a URL code; the journeys of ``bench/code.py``), the QR symbol with its 4-module quiet zone
is printed at 300 dpi at decreasing widths (40 mm down to 8 mm, in 1 mm steps). Each print is then
photographed by a simulated phone: the camera sees a field of ``2 * distance * tan(fov / 2)`` mm (fov 68
degrees, a phone's main camera) across a 1920-pixel preview frame, so the label is downscaled to its size in
that frame (box filter: the sensor averages), blurred (Gaussian, ``--blur`` preview pixels: focus and hand
shake) and saved as a JPEG of quality ``--quality`` (Pillow). zxing-cpp and OpenCV's ``QRCodeDetector``
(``opencv-python-headless``, the ``bench`` extra; on the frame upscaled 2x) each decode the photo; a
width counts as read when both return the exact code text. The smallest width reads at it and at every larger width.

The simulation is a model, not a phone: it has no perspective, no glare, no uneven light, and a real
camera's autofocus may not focus at 15 cm at all (phones then need 20 cm or more, which is the same as
a smaller label here). Use it to compare codes, not as a promise.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import math
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from PIL import Image, ImageFilter

from provchain import qr

# bench/code.py, loaded by its path: its name is also the standard library's ``code`` module.
_spec = importlib.util.spec_from_file_location("bench_code", Path(__file__).resolve().parent / "code.py")
assert _spec is not None and _spec.loader is not None
bench_code = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_code)

DPI = 300
PREVIEW_PX = 1920
FOV_DEG = 68.0
WIDTHS_MM = list(range(40, 7, -1))


def printed(text: str, width_mm: float) -> Image.Image:
    """The label printed at :data:`DPI`: the symbol and a 4-module quiet zone, ``width_mm`` wide."""
    matrix = qr.make_matrix(text)
    modules = matrix.size + 8
    grid = Image.new("L", (modules, modules), 255)
    dark = [(x + 4, y + 4) for y, row in enumerate(matrix.modules) for x, on in enumerate(row) if on]
    for xy in dark:
        grid.putpixel(xy, 0)
    pixels = max(1, round(width_mm / 25.4 * DPI))
    return grid.resize((pixels, pixels), Image.Resampling.NEAREST)


def photographed(label: Image.Image, width_mm: float, distance_mm: float, blur: float, quality: int) -> bytes:
    """The label as a phone preview frame sees it at ``distance_mm``: downscaled, blurred, JPEG."""
    field_mm = 2 * distance_mm * math.tan(math.radians(FOV_DEG / 2))
    side = max(8, round(width_mm * PREVIEW_PX / field_mm))
    small = label.resize((side, side), Image.Resampling.BOX)
    margin = side // 2  # the paper around the label
    frame = Image.new("L", (side + 2 * margin, side + 2 * margin), 235)
    frame.paste(small, (margin, margin))
    frame = frame.filter(ImageFilter.GaussianBlur(blur))
    out = io.BytesIO()
    frame.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def read_zxing(jpeg: bytes) -> set[str]:
    image = Image.open(io.BytesIO(jpeg)).convert("L")
    return {str(b.text) for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode) if b.valid}


_DETECTOR = cv2.QRCodeDetector()


def read_opencv(jpeg: bytes) -> set[str]:
    """OpenCV's classic detector on the frame upscaled 2x (cubic): on the frame itself it misses codes of
    3 to 4 pixels a module at random widths (it read the serum's URL code at 32 mm but not at 36 mm),
    and its ArUco-based detector did no better."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    image = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    text, _points, _straight = _DETECTOR.detectAndDecode(image)
    return {text} if text else set()


def smallest(text: str, distance: float, blur: float, quality: int) -> tuple[int | None, int | None, int | None]:
    """The smallest width (mm) read by zxing-cpp, by OpenCV, and by both, each at every larger width too."""
    ok_z: int | None = None
    ok_o: int | None = None
    ok_both: int | None = None
    alive_z = alive_o = True
    for width in WIDTHS_MM:
        jpeg = photographed(printed(text, width), width, distance, blur, quality)
        z = alive_z and text in read_zxing(jpeg)
        o = alive_o and text in read_opencv(jpeg)
        alive_z, alive_o = z, o
        ok_z = width if z else ok_z
        ok_o = width if o else ok_o
        ok_both = width if z and o else ok_both
        if not (alive_z or alive_o):
            break
    return ok_z, ok_o, ok_both


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--distance", type=float, default=150.0, help="phone to label, mm (default 150)")
    parser.add_argument("--blur", type=float, default=1.0, help="Gaussian blur radius, preview pixels (default 1)")
    parser.add_argument("--quality", type=int, default=70, help="JPEG quality (default 70)")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        codes = bench_code._journey_codes(Path(tmp), "https://verify.example/")
    cases = {
        "serum, PC1": codes["serum"][0],
        "serum, URL": codes["serum"][1],
        "3 events, PC1": codes["3 events"][0],
        "3 events, URL": codes["3 events"][1],
    }
    field_mm = 2 * args.distance * math.tan(math.radians(FOV_DEG / 2))
    print(
        f"print {DPI} dpi; phone at {args.distance:.0f} mm, field {field_mm:.0f} mm over {PREVIEW_PX} px "
        f"({PREVIEW_PX / field_mm:.1f} px/mm); blur {args.blur} px; JPEG quality {args.quality}"
    )
    print(f"{'code':<15} {'QR':>4} {'modules':>7} {'zxing':>7} {'opencv':>7} {'both':>6} {'px/module':>10}")
    for name, text in cases.items():
        version = qr.qr_version(text)
        modules = 17 + 4 * version
        z, o, both = smallest(text, args.distance, args.blur, args.quality)
        per_module = "-" if both is None else f"{both * PREVIEW_PX / field_mm / (modules + 8):.2f}"

        def mm(value: int | None) -> str:
            return "> 40" if value is None else f"{value} mm"

        print(f"{name:<15} {'v' + str(version):>4} {modules:>7} {mm(z):>7} {mm(o):>7} {mm(both):>6} {per_module:>10}")
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
