"""The verifier page as a person uses it: real headless Chromium (Debian's), driven by Playwright.

The page is written by ``provchain verifier-page``, opened from ``file://`` (and over http for the
service worker), with codes from tests/vectors/code: it must show VERIFIED with the item and every event
of a genuine code, REFUSED or UNREADABLE with the verifier's error type for every other vector, echo
nothing of a forged code, make no request at all, read a code from a camera (Chromium's fake capture
device playing a photo of a printed label), and keep working offline once a service worker holds it.

Chromium is /usr/bin/chromium (``apt-get install chromium``; .ci/deps installs it); Playwright never downloads a
browser here. Set ``PROVCHAIN_SCREENSHOT=1`` to (re)write docs/img/verifier-page.png (the README's picture).
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageFilter

from provchain import KeyPair, Ledger, code, errors, qr
from provchain._internal.text import escape, quote
from provchain.cli import cli

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors" / "code"
CHROMIUM = Path("/usr/bin/chromium")
BUNDLE = ROOT / "src" / "provchain" / "web" / "verifier.js"
SCREENSHOT = ROOT / "docs" / "img" / "verifier-page.png"

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is in the test extra: pip install -e '.[test]'"
)
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is missing (apt-get install -y chromium; .ci/deps does)", allow_module_level=True)
if not BUNDLE.exists():
    pytest.skip("the page's script is not built (cd web && npm ci && node build.mjs)", allow_module_level=True)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _vector(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))


GENUINE = _vector("url_valid_compact")
OPERATOR = GENUINE["operator_vkey"]
OTHER_OPERATOR = _vector("url_other_operator")["operator_vkey"]
ALL_VECTORS = sorted(p.stem for p in VECTORS.glob("*.json"))


def _fragment(payload: str) -> str:
    return payload.split("#", 1)[1]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _write_page(
    outdir: Path, *operators: str, witnesses: dict[str, Any] | None = None, log_url: str | None = None
) -> Path:
    args = ["verifier-page", str(outdir)]
    if log_url is not None:
        args += ["--log-url", log_url]
    for key in operators:
        args += ["--operator", key]
    if witnesses is not None:
        for key in witnesses["keys"]:
            args += ["--witness", key]
        args += ["--quorum", str(witnesses["quorum"])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return outdir / "index.html"


# --- the fake camera: a photo of a printed label, as a Y4M video --------------------------------


def _label_photo(text: str, size: tuple[int, int] = (960, 720)) -> Image.Image:
    """A phone's view of a printed code: paper on a darker desk, slightly turned, out of focus."""
    code = Image.open(io.BytesIO(qr.render_png(text, scale=6, border=4))).convert("L")
    side = int(min(size) * 0.8)
    code = code.resize((side, side), Image.Resampling.BILINEAR).point(lambda v: 30 + v * 0.82)  # ink, paper
    code = code.rotate(4, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=90)
    photo = Image.new("L", size, 90)
    photo.paste(code, ((size[0] - code.width) // 2, (size[1] - code.height) // 2))
    return photo.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB")


def write_y4m(image: Image.Image, path: Path, frames: int = 2) -> None:
    """Write ``image`` as a Y4M video (4:2:0, the format Chromium's fake capture device plays)."""
    width, height = image.size
    y, cb, cr = image.convert("YCbCr").split()
    half = (width // 2, height // 2)
    chroma = [plane.resize(half, Image.Resampling.BOX).tobytes() for plane in (cb, cr)]
    planes = y.tobytes() + chroma[0] + chroma[1]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "label.y4m"
    write_y4m(_label_photo(GENUINE["payload"]), path)
    return path


@pytest.fixture(scope="module")
def browser(camera_video: Path) -> Iterator[Any]:
    fake_camera = [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_video}",
    ]
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS + fake_camera)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_page(tmp_path_factory.mktemp("site") / "verify", OPERATOR)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 412, "height": 915}, device_scale_factor=1)
    pg = context.new_page()
    yield pg
    context.close()


def _open(page: Any, url: str) -> str:
    """Open ``url`` and wait for the verdict; return it."""
    page.goto(url)
    page.wait_for_selector("body[data-verdict]", timeout=30_000)
    return str(page.get_attribute("body", "data-verdict"))


def _shown(page: Any) -> dict[str, Any]:
    """What the page shows, read from the DOM as a person reads it."""
    return dict(
        page.evaluate(
            """() => {
        const pairs = (dl) => {
          const out = {};
          for (const dt of dl.querySelectorAll(':scope > dt')) out[dt.textContent] = dt.nextElementSibling.innerText;
          return out;
        };
        const visible = (id) => !document.getElementById(id).closest('[hidden]');
        return {
          verdict: document.getElementById('verdict').textContent,
          verdictVisible: visible('verdict'),
          item: visible('item') ? document.getElementById('item').textContent : null,
          events: [...document.querySelectorAll('#events > li')].map((li) => ({
            title: li.querySelector('h3').textContent, fields: pairs(li.querySelector('dl')) })),
          why: visible('why') ? document.getElementById('why').innerText : null,
          text: document.body.innerText,
          verifyMs: Number(document.getElementById('result').dataset.verifyMs),
        };
      }"""
        )
    )


def _expected_events(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The events as the display rules write them (the Python escape/quote of the CLI)."""
    out = []
    for n, e in enumerate(report["events"], 1):
        data = "\n".join(
            f"{escape(k)} = {v if isinstance(v, int) else quote(v)}" for k, v in sorted(e["data"].items())
        )
        fields = {
            "Party": f"{escape(e['party'])} (key {e['key_id']})",
            "Role": ", ".join(escape(r) for r in e["roles"]) or "-",
            "Country": e["country"],
            "Time": _utc(e["at_ms"]),
            "Place": "-" if e["place"] is None else quote(e["place"]),
            "Data": data or "-",
        }
        if e["key_revoked_later"]:
            fields["Note"] = "This party's key was revoked after this event."
        out.append({"title": f"{n}. {escape(e['stage'])}", "fields": fields})
    return out


def _journey_strings(report: dict[str, Any]) -> set[str]:
    """Every text of the genuine journey that a refused page must not show."""
    strings = {report["item"]}
    for e in report["events"]:
        strings |= {e["party"], e["leaf_hash"]}
        if e["place"]:
            strings.add(e["place"])
        strings |= {str(v) for v in e["data"].values()}
    # A short common word ("genuine") may be in a fixed message ("... the code is not genuine").
    return {s for s in strings if len(s) >= 8}


def _verdict_for(error_type: str) -> str:
    """Every error in the code is a refusal; UNREADABLE is for the page's own keys or clock (an InputError
    or KeyFormatError: the scanner's exit 2)."""
    assert issubclass(getattr(errors, error_type), errors.ProvchainError)
    return "UNREADABLE" if error_type in ("InputError", "KeyFormatError") else "REFUSED"


# --- witnesses ------------------------------------------------------------------------------------


def _facts(page: Any) -> list[tuple[str, str]]:
    return [
        (str(a), str(b))
        for a, b in page.evaluate(
            "() => [...document.querySelectorAll('#facts > dt')].map((dt) => [dt.textContent, "
            "dt.nextElementSibling.textContent])"
        )
    ]


def test_a_page_that_requires_witnesses(page: Any, tmp_path: Path) -> None:
    """A page pinning witnesses (2 of 3): the witnessed URL code verifies and the page shows each
    cosignature and its time; the compact code of the same journey, genuine, is refused there."""
    witnessed = _vector("url_valid_witnessed")
    required = witnessed["witnesses"]
    site = _write_page(tmp_path / "witnessed", OPERATOR, witnesses=required)
    html = site.read_text(encoding="utf-8")
    assert all(k in html for k in required["keys"])
    page.clock.set_fixed_time(datetime.fromtimestamp(witnessed["at"] / 1000, UTC))
    assert _open(page, site.as_uri() + "#" + _fragment(witnessed["payload"])) == "VERIFIED"
    facts = _facts(page)
    report = witnessed["want_report"]["witnesses"]
    assert ("Witnesses", f"3 cosigned the log ({report['policy']})") in facts
    cosigned = [value for term, value in facts if term == "Cosigned"]
    assert cosigned == [
        f"{c['name']} (key {c['key_id']}) at {_utc(c['time_s'] * 1000)}" for c in report["cosignatures"]
    ]
    fresh = dict(facts)["Freshness"]
    minutes = round(report["age_ms"] / 60000)
    assert fresh == f"last cosigned {_utc(report['newest_s'] * 1000)}, {minutes} min before this check"
    assert "witness.example/w1" in page.inner_text("#witnesses")
    # The genuine compact code of the same journey carries no cosignatures: refused on this page.
    assert _open(page, site.as_uri() + "#" + _fragment(GENUINE["payload"])) == "REFUSED"
    shown = _shown(page)
    assert "QuorumError:" in shown["why"] and shown["item"] is None
    # On a page without witnesses, the compact code verifies.
    plain = _write_page(tmp_path / "plain", OPERATOR)
    assert _open(page, plain.as_uri() + "#" + _fragment(GENUINE["payload"])) == "VERIFIED"


def test_a_page_that_pins_a_witness_policy_file(page: Any, tmp_path: Path) -> None:
    """verifier-page --policy: the groups and quorum of a C2SP policy file are pinned; a code that meets
    them verifies, and one that does not is refused with QuorumError."""
    witnessed = _vector("url_valid_witnessed")
    keys = witnessed["witnesses"]["keys"]  # the code carries cosignatures by w1, w2 and w3
    policy = tmp_path / "policy"
    lines = [f"witness A{n} {k}" for n, k in enumerate(keys)]
    policy.write_text("\n".join([*lines, "group both all A0 A1", "quorum both", ""]), encoding="utf-8")
    page_dir = tmp_path / "policy-page"
    result = CliRunner().invoke(cli, ["verifier-page", str(page_dir), "--operator", OPERATOR, "--policy", str(policy)])
    assert result.exit_code == 0, result.output
    site = page_dir / "index.html"
    page.clock.set_fixed_time(datetime.fromtimestamp(witnessed["at"] / 1000, UTC))
    assert _open(page, site.as_uri() + "#" + _fragment(witnessed["payload"])) == "VERIFIED"
    assert "A0: " in page.inner_text("#witnesses")
    # A policy that needs a witness the code has no cosignature from: refused.
    policy.write_text(f"witness Z {_foreign_witness()}\nquorum Z\n", encoding="utf-8")
    strict_dir = tmp_path / "strict-page"
    args = ["verifier-page", str(strict_dir), "--operator", OPERATOR, "--policy", str(policy)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert _open(page, (strict_dir / "index.html").as_uri() + "#" + _fragment(witnessed["payload"])) == "REFUSED"
    assert "QuorumError:" in _shown(page)["why"]


def _foreign_witness() -> str:
    from provchain.keys import KeyPair
    from provchain.witness import WitnessKey

    return WitnessKey(KeyPair.from_seed("witness.example/w9", bytes([0x99]) * 32)).vkey


# --- a genuine code -----------------------------------------------------------------------------


def test_genuine_fragment_shows_verified_item_and_every_event(page: Any, page_file: Path) -> None:
    verdict = _open(page, page_file.as_uri() + "#" + _fragment(GENUINE["payload"]))
    shown = _shown(page)
    report = GENUINE["want_report"]
    assert verdict == "VERIFIED" and shown["verdict"] == "VERIFIED"
    assert shown["item"] == "SERUM-0001" == report["item"]
    assert shown["events"] == _expected_events(report)
    assert len(shown["events"]) == 6
    assert shown["why"] is None
    assert page.get_attribute("#verdict", "aria-live") == "polite"
    page.evaluate("() => { delete document.body.dataset.verdict; }")
    page.fill("#paste", GENUINE["payload"])  # the same code again: the script is warm
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-verdict]", timeout=30_000)
    warm = _shown(page)
    assert warm["verdict"] == "VERIFIED" and warm["events"] == shown["events"]
    print(
        f"\nverify time in Chromium (performance.now around verifyCode): first {shown['verifyMs']:.1f} ms, "
        f"again {warm['verifyMs']:.1f} ms"
    )


def test_every_vector_pasted_gives_the_python_verdict(page: Any, page_file: Path) -> None:
    """Each code of tests/vectors/code, pasted into the text box (the page pinning that vector's operator
    key, the clock at the vector's time), gets the verdict and error type of provchain.code.verify."""
    pages: dict[tuple[str, str], Path] = {(OPERATOR, "null"): page_file}
    genuine_strings = _journey_strings(GENUINE["want_report"])
    for name in ALL_VECTORS:
        v = _vector(name)
        if v.get("log"):  # checked against a served log: test_witnessed_published_codes_fetch_their_proof
            continue
        key = (v["operator_vkey"], json.dumps(v.get("witnesses")))
        if key not in pages:  # a page pinning this vector's operator key and witnesses
            folder = page_file.parent.parent / f"page-{len(pages)}"
            pages[key] = _write_page(folder, key[0], witnesses=v.get("witnesses"))
        page.clock.set_fixed_time(datetime.fromtimestamp(v["at"] / 1000, UTC))
        page.goto(pages[key].as_uri())
        page.fill("#paste", v["payload"])
        page.click("button[type=submit]")
        page.wait_for_selector("body[data-verdict]", timeout=30_000)
        shown = _shown(page)
        if v["want_error"] is None:
            assert shown["verdict"] == "VERIFIED", name
            assert shown["item"] == v["want_report"]["item"], name
            assert shown["events"] == _expected_events(v["want_report"]), name
        else:
            assert shown["verdict"] == _verdict_for(v["want_error"]), name
            assert shown["why"] is not None and f"{v['want_error']}:" in shown["why"], name
            assert shown["item"] is None and shown["events"] == [], name
            leaked = {s for s in genuine_strings if s in shown["text"]}
            assert not leaked, f"{name}: the refused page shows {leaked}"


def _luminance(rgb: str) -> float:
    channels = [int(c) / 255 for c in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize(("name", "verdict"), [("url_valid_compact", "VERIFIED"), ("url_signature_flipped", "REFUSED")])
def test_the_verdict_is_large_readable_and_fits_a_small_phone(
    browser: Any, page_file: Path, name: str, verdict: str
) -> None:
    """On a 320-pixel-wide screen: no sideways scrolling, a verdict at least 32 px high with a WCAG AA contrast,
    announced (aria-live), and every control named."""
    context = browser.new_context(viewport={"width": 320, "height": 640})
    pg = context.new_page()
    try:
        assert _open(pg, page_file.as_uri() + "#" + _fragment(_vector(name)["payload"])) == verdict
        look = pg.evaluate(
            """() => {
            const v = getComputedStyle(document.getElementById('verdict'));
            const named = [...document.querySelectorAll('button, textarea, video')].every((el) =>
              (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.textContent.trim());
            return { size: parseFloat(v.fontSize), color: v.color, background: v.backgroundColor,
                     scroll: document.documentElement.scrollWidth, width: document.documentElement.clientWidth,
                     named, h1: document.querySelectorAll('h1').length, lang: document.documentElement.lang };
          }"""
        )
    finally:
        context.close()
    assert look["scroll"] <= look["width"]
    assert look["size"] >= 32
    assert _contrast(look["color"], look["background"]) >= 4.5
    assert look["named"] and look["h1"] == 1 and look["lang"] == "en"


def test_hostile_values_of_a_genuine_code_are_shown_as_text(page: Any, tmp_path: Path) -> None:
    """A genuine code whose place and data hold markup, a value that imitates another field, and an integer
    beyond 2^53: the page shows them, escaped and quoted as the CLI does; no element is made from them."""
    operator = KeyPair.from_seed("example.com/acme-ledger", bytes(range(32)))
    maker = KeyPair.from_seed("grasse-labs", bytes([1]) * 32)
    t0 = 1_762_156_800_000
    place = '<img src=x onerror="document.title=1">'
    data: dict[str, str | int] = {"note": "</script><b>x</b>; verdict=genuine", "n": 2**62 + 1}
    with Ledger.create(tmp_path / "h.db", origin="example.com/acme-ledger", operator=operator, at=t0) as led:
        led.register_party("grasse-labs", ["origin"], maker.public_key, at=t0, valid_from=t0)
        led.append("SERUM-0001", "origin", maker, country="FR", place=place, data=data, at=t0 + 1)
        text = code.make(led, "SERUM-0001", url="HTTPS://VERIFY.EXAMPLE/", at=t0 + 10)
    site = _write_page(tmp_path / "site", operator.vkey)
    assert _open(page, site.as_uri() + "#" + _fragment(text)) == "VERIFIED"
    shown = _shown(page)
    fields = shown["events"][0]["fields"]
    assert fields["Place"] == quote(place)
    assert fields["Data"] == f"n = {2**62 + 1}\nnote = {quote(data['note'])}"  # exact, not rounded to a double
    assert page.evaluate("document.querySelectorAll('main img, main b, main script').length") == 0
    assert page.title() != "1"


def test_a_returned_and_redelivered_item_shows_every_stage(
    page: Any, tmp_path: Path, parties: dict[str, KeyPair]
) -> None:
    """A journey with the default policy's return loop (delivery -> return by the courier -> warehouse ->
    appraisal -> delivery again): the page verifies it and shows the ten events, the return among them, as the
    Python verifier reports them. (The return stage came after the first six in the code's stage list, so its
    index is one a page that knew only those would misread.)"""
    from conftest import ORIGIN, T0, journey

    keys = parties
    operator = KeyPair.from_seed(ORIGIN, bytes(range(32)))
    hour = 3_600_000
    with Ledger.create(tmp_path / "r.db", origin=ORIGIN, operator=operator, at=T0) as led:
        for role, kp in keys.items():
            led.register_party(kp.name, [role], kp.public_key, at=T0, valid_from=T0)
        journey(led, keys, "BAG-77")
        later = T0 + 10 * hour
        led.append("BAG-77", "return", keys["courier"], country="CN", place="Beijing",
                   data={"reason": "buyer refused"}, at=later)  # fmt: skip
        led.append("BAG-77", "warehouse", keys["warehouse"], country="CN", place="Hangzhou", at=later + hour)
        led.append("BAG-77", "appraisal", keys["appraiser"], country="CN", data={"verdict": "genuine"},
                   at=later + 2 * hour)  # fmt: skip
        led.append("BAG-77", "delivery", keys["courier"], country="CN", place="Shanghai", at=later + 3 * hour)
        text = code.make(led, "BAG-77", url="HTTPS://VERIFY.EXAMPLE/", at=later + 4 * hour)
    report = code.verify(text, operator.vkey, at=later + 4 * hour).to_json()
    assert [e["stage"] for e in report["events"]][5:8] == ["delivery", "return", "warehouse"]
    site = _write_page(tmp_path / "site", operator.vkey)
    page.clock.set_fixed_time(datetime.fromtimestamp((later + 4 * hour) / 1000, UTC))
    assert _open(page, site.as_uri() + "#" + _fragment(text)) == "VERIFIED"
    shown = _shown(page)
    assert shown["item"] == "BAG-77"
    assert shown["events"] == _expected_events(report)
    assert len(shown["events"]) == 10 and shown["events"][6]["title"] == "7. return"


# --- forged and foreign codes -------------------------------------------------------------------


FORGED = ["url_signature_flipped", "url_verdict_changed", "url_trailing_bytes", "url_truncated_chunk",
          "url_noncanonical_time", "url_bad_version", "url_pc1_signature"]


@pytest.mark.parametrize("name", FORGED)
def test_forged_fragment_is_refused_and_not_echoed(page: Any, page_file: Path, name: str) -> None:
    v = _vector(name)
    page.clock.set_fixed_time(datetime.fromtimestamp(v["at"] / 1000, UTC))
    verdict = _open(page, page_file.as_uri() + "#" + _fragment(v["payload"]))
    shown = _shown(page)
    assert verdict == _verdict_for(v["want_error"]) == shown["verdict"]
    assert f"{v['want_error']}:" in shown["why"]
    assert shown["item"] is None and shown["events"] == []
    leaked = {s for s in _journey_strings(GENUINE["want_report"]) if s in shown["text"]}
    assert not leaked, f"the refused page shows {leaked}"


def test_another_operators_code_is_refused(page: Any, tmp_path: Path) -> None:
    """The genuine code, opened on a page that pins another operator's key (same ledger name)."""
    other = _write_page(tmp_path / "other", OTHER_OPERATOR)
    verdict = _open(page, other.as_uri() + "#" + _fragment(GENUINE["payload"]))
    shown = _shown(page)
    assert verdict == "REFUSED"
    assert "OperatorKeyError:" in shown["why"]
    assert "SERUM-0001" not in shown["text"]


def test_a_page_pinning_two_operators_verifies_either(page: Any, tmp_path: Path) -> None:
    both = _write_page(tmp_path / "both", OTHER_OPERATOR, OPERATOR)
    assert _open(page, both.as_uri() + "#" + _fragment(GENUINE["payload"])) == "VERIFIED"


# --- no network ---------------------------------------------------------------------------------


def test_the_page_makes_no_request_with_the_network_off(browser: Any, page_file: Path) -> None:
    context = browser.new_context()
    context.set_offline(True)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page_uri = page_file.as_uri()
    # Every request fails, but the page's own file (else nothing opens).
    context.route(
        "**/*", lambda route: route.continue_() if route.request.url.split("#")[0] == page_uri else route.abort()
    )
    pg = context.new_page()
    url = page_uri + "#" + _fragment(GENUINE["payload"])
    try:
        assert _open(pg, url) == "VERIFIED"
        pg.fill("#paste", _vector("valid_compact")["payload"])  # a PC1 code too
        pg.click("button[type=submit]")
        pg.wait_for_function(
            "document.body.dataset.verdict === 'VERIFIED' && document.querySelectorAll('#events li.event').length === 6"
        )
    finally:
        context.close()
    # The one load is the page itself, from the disk; nothing else was even attempted.
    assert [r.split("#")[0] for r in requests] == [page_file.as_uri()]


def test_the_page_forbids_network_in_its_policy(page: Any, page_file: Path) -> None:
    """The Content-Security-Policy is enforced: a fetch from the page is blocked by the browser."""
    _open(page, page_file.as_uri() + "#" + _fragment(GENUINE["payload"]))
    blocked = page.evaluate(
        "() => fetch('https://example.com/').then(() => 'fetched', (e) => 'blocked: ' + e.name)"
    )
    assert blocked.startswith("blocked")


# --- the camera ---------------------------------------------------------------------------------


def test_camera_scan_of_a_printed_label_verifies(page: Any, page_file: Path) -> None:
    """The camera button, fed by Chromium's fake capture device playing a photo of the label."""
    page.goto(page_file.as_uri())
    assert page.get_attribute("body", "data-verdict") is None
    page.click("#camera")
    page.wait_for_selector("body[data-verdict]", timeout=60_000)
    shown = _shown(page)
    assert shown["verdict"] == "VERIFIED"
    assert shown["item"] == "SERUM-0001"
    assert len(shown["events"]) == 6
    decoder = page.get_attribute("body", "data-decoder")
    assert decoder in ("BarcodeDetector", "jsQR")
    assert page.is_hidden("#video")  # the camera is off once the code is read
    print(f"\ncamera scan decoded with {decoder}")


# --- the service worker -------------------------------------------------------------------------


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_served_over_http_the_service_worker_keeps_the_page_offline(page: Any, page_file: Path) -> None:
    handler = functools.partial(_Quiet, directory=str(page_file.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://localhost:{server.server_address[1]}/index.html#" + _fragment(GENUINE["payload"])
        assert _open(page, url) == "VERIFIED"
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")  # installed: the page is cached
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)  # and it serves it
    finally:
        server.shutdown()
        server.server_close()
    # The server is gone: the page still opens (from the service worker's copy) and verifies.
    page.context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-verdict]", timeout=30_000)
    assert _shown(page)["verdict"] == "VERIFIED"
    assert page.evaluate("navigator.serviceWorker.controller !== null")  # answered by the service worker
    # A new tab, another code: the copy answers for any fragment.
    tab = page.context.new_page()
    tab.goto(url.split("#")[0] + "#" + _fragment(_vector("url_signature_flipped")["payload"]))
    tab.wait_for_selector("body[data-verdict]", timeout=30_000)
    assert _shown(tab)["verdict"] == "REFUSED"


# --- witnessed-published codes: the proof fetched from the published log ----------------------------


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static site served over loopback HTTP: the vectors' published logs (log-a: the genuine ledger,
    log-b: its fork, log-no-tiles: a checkpoint without tiles), and the pages the test writes beside them."""
    root = tmp_path / "site"
    for name in ("log-a", "log-b", "log-no-tiles"):
        shutil.copytree(VECTORS / name, root / name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _paste(page: Any, text: str) -> dict[str, Any]:
    page.evaluate("() => { delete document.body.dataset.verdict; }")
    page.fill("#paste", text)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-verdict]", timeout=30_000)
    return _shown(page)


def test_witnessed_published_codes_fetch_their_proof(page: Any, site: tuple[Path, str]) -> None:
    """Pages made with --log-url ../log-X/ beside the logs they read: every vector that names a published log
    gets the Python verdict (the genuine code verifies with its proof fetched; the fork-attack codes and the
    log without tiles are refused); offline, or on a page without --log-url, the genuine code is refused."""
    root, base = site
    pages: dict[tuple[str, str], str] = {}
    for name in ALL_VECTORS:
        v = _vector(name)
        if not v.get("log"):
            continue
        key = (v["log"], json.dumps(v.get("witnesses")))
        if key not in pages:
            folder = f"page-{len(pages)}"
            _write_page(root / folder, v["operator_vkey"], witnesses=v.get("witnesses"), log_url=f"../{v['log']}/")
            pages[key] = f"{base}{folder}/index.html"
        page.clock.set_fixed_time(datetime.fromtimestamp(v["at"] / 1000, UTC))
        page.goto(pages[key])
        shown = _paste(page, v["payload"])
        if v["want_error"] is None:
            assert shown["verdict"] == "VERIFIED", (name, shown["why"])
            assert shown["events"] == _expected_events(v["want_report"]), name
            assert ("Proof", f"built from the log published at {base}{v['log']}/") in _facts(page)
            assert "with the log's proof fetched from the network" in shown["text"]
        else:
            assert shown["verdict"] == "REFUSED", name
            assert f"{v['want_error']}:" in shown["why"] and shown["item"] is None, name
    assert len(pages) >= 3
    genuine = _vector("url_valid_published")
    page_a = pages[("log-a", json.dumps(genuine["witnesses"]))]
    page.clock.set_fixed_time(datetime.fromtimestamp(genuine["at"] / 1000, UTC))
    assert _open(page, page_a + "#" + _fragment(genuine["payload"])) == "VERIFIED"  # opened from the code's URL
    # Offline: the tiles cannot be fetched; the page refuses and says what to do.
    page.context.set_offline(True)
    try:
        shown = _paste(page, genuine["payload"])
    finally:
        page.context.set_offline(False)
    assert shown["verdict"] == "REFUSED" and shown["item"] is None
    assert "but the log's proof could not be fetched" in shown["text"]
    offline = "ProofUnavailableError: could not fetch the log's proof: connect to the internet and scan again"
    assert offline in shown["why"]
    # A page without --log-url cannot check such a code at all.
    _write_page(root / "no-log", genuine["operator_vkey"], witnesses=genuine["witnesses"])
    page.goto(f"{base}no-log/index.html")
    shown = _paste(page, genuine["payload"])
    assert shown["verdict"] == "REFUSED" and "ProofUnavailableError:" in shown["why"]


# --- the README's picture -----------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("PROVCHAIN_SCREENSHOT"), reason="set PROVCHAIN_SCREENSHOT=1 to rewrite it")
def test_write_the_readme_screenshot(page: Any, page_file: Path) -> None:
    """docs/img/verifier-page.png: the page verifying the serum on a phone-sized screen."""
    page.clock.set_fixed_time(datetime.fromtimestamp(GENUINE["at"] / 1000, UTC))
    assert _open(page, page_file.as_uri() + "#" + _fragment(GENUINE["payload"])) == "VERIFIED"
    page.evaluate("() => { document.getElementById('timing').textContent = ''; }")  # no machine-dependent time
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert Image.open(SCREENSHOT).size[0] == 412
