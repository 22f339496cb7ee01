"""URL item codes (version 2): the digits, the base address, the bundle, the QR segments, the CLI."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import qrcode
from click.testing import CliRunner
from conftest import HOUR, ORIGIN, T0, journey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, MODE_NUMBER, QRData
from witnessing import store_cosigned, witness_keys

from provchain import code, demo, digits, errors, qr
from provchain._internal import bundle2
from provchain.cli import cli
from provchain.keys import KeyPair
from provchain.ledger import Ledger
from provchain.policy import DEFAULT_POLICY, Policy
from provchain.tlog import publish

ITEM = "SERUM-0001"
ISSUED = T0 + 10 * HOUR
AT = T0 + 24 * HOUR
BASE = "https://verify.example/"


@pytest.fixture
def url(ledger: Ledger, parties: dict[str, KeyPair]) -> str:
    journey(ledger, parties, ITEM)
    return code.make(ledger, ITEM, at=ISSUED, url=BASE)


# --- digits ---------------------------------------------------------------------------------------


@given(st.binary(max_size=200))
def test_digits_round_trip(data: bytes) -> None:
    text = digits.encode(data)
    assert text.isdigit() or not text
    assert digits.decode(text) == data
    assert len(text) == 53 * (len(data) // 22) + digits.digits_for(len(data) % 22)


@given(st.text(alphabet="0123456789", max_size=120))
def test_digits_decoder_is_strict(text: str) -> None:
    try:
        data = digits.decode(text)
    except digits.DigitsError:
        return
    assert digits.encode(data) == text  # one text per byte string


def test_digits_errors_name_a_position() -> None:
    with pytest.raises(digits.DigitsError, match="character 3 of the code is not a decimal digit"):
        digits.decode("00a58", offset=1)
    with pytest.raises(digits.DigitsError, match="length"):
        digits.decode("0025")
    with pytest.raises(digits.DigitsError, match="out of range"):
        digits.decode("65536")  # two bytes hold at most 65535
    assert digits.decode("65535") == b"\xff\xff"
    assert digits.digits_for(7) == 17 and digits.digits_for(22) == 53
    assert digits.DigitsError is errors.DigitsError and issubclass(errors.DigitsError, errors.CodeFormatError)


def test_digits_arguments() -> None:
    for call in (
        lambda: digits.encode("12"),  # type: ignore[arg-type]
        lambda: digits.decode(b"12"),  # type: ignore[arg-type]
        lambda: digits.decode("12", offset=-1),
        lambda: digits.digits_for(23),
        lambda: digits.digits_for(True),
    ):
        with pytest.raises(errors.InputError):
            call()
    assert digits.encode(bytearray(b"\xff")) == digits.encode(memoryview(b"\xff")) == "255"


# --- the base address -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "normal"),
    [
        ("https://verify.example/", "HTTPS://VERIFY.EXAMPLE/"),
        ("HTTPS://Verify.Example", "HTTPS://VERIFY.EXAMPLE/"),
        ("https://verify.example:8443/v/Item", "HTTPS://VERIFY.EXAMPLE:8443/v/Item"),
        ("https://verify.example?x=1", "HTTPS://VERIFY.EXAMPLE/?x=1"),
    ],
)
def test_check_base_normalizes_scheme_and_host_only(base: str, normal: str) -> None:
    assert code.check_base(base) == normal


@pytest.mark.parametrize(
    ("base", "rule"),
    [
        ("http://verify.example/", "https://"),
        ("https://verify.example/#x", "fragment"),
        ("https://me:pw@verify.example/", "user name"),
        ("https://verify example/", "host"),
        ("https:///path", "host"),
        ("https://verify.example:65536/", "host"),
        ("https://verify.example/a b", "path"),
        ("https://verify.example/é", "path"),
        ("https://verify.example/" + "A" * 200, "more than 200"),
        (42, "text"),
    ],
)
def test_check_base_refuses(base: object, rule: str) -> None:
    with pytest.raises(errors.InputError, match=rule):
        code.check_base(base)


# --- the code -------------------------------------------------------------------------------------


def test_url_code_verifies_like_its_pc1_twin(ledger: Ledger, url: str, operator: KeyPair) -> None:
    assert url.startswith("HTTPS://VERIFY.EXAMPLE/#02") and url.partition("#")[2].isdigit()
    pc1 = code.make(ledger, ITEM, at=ISSUED)
    r1, r2 = code.verify(pc1, operator.vkey, at=AT), code.verify(url, operator.vkey, at=AT)
    assert (r1.version, r2.version) == (1, 2)
    assert r2.events == r1.events and r2.item == r1.item and r2.root == r1.root
    assert r2.checks == {**{k: v for k, v in r1.checks.items() if k != "base45"}, "digits": "ok"}
    assert "VERIFY" not in json.dumps(r2.to_json())  # the unsigned address is not part of the report
    bundle = code.parse(url, ORIGIN)
    assert bundle.version == 2 and bundle.payload(BASE) == url  # format(parse(x)) == x
    assert len(bundle.to_bytes()) < len(code.parse(pc1, ORIGIN).to_bytes()) * 0.75


def test_url_code_clock_rule(url: str, operator: KeyPair) -> None:
    slow = code.verify(url, operator.vkey, at=ISSUED - 23 * HOUR)  # a phone a day slow: verified, with the skew
    assert slow.clock_skew_ms == 23 * HOUR
    with pytest.raises(errors.TimeError):
        code.verify(url, operator.vkey, at=ISSUED - 25 * HOUR)


def test_url_base_is_not_signed(url: str, operator: KeyPair) -> None:
    other = "HTTPS://ELSEWHERE.EXAMPLE/X/#" + url.partition("#")[2]
    assert code.verify(other, operator.vkey, at=AT).item == ITEM


@pytest.mark.parametrize("profile", code.PROFILES)
def test_times_roles_and_countries_at_any_precision(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, profile: str, ledger_path: Path, tmp_path: Path
) -> None:
    """Times in ms, s and min, a role the policy does not name, a country that changes back: rebuilt exactly."""
    recall = {"after": ["origin"], "roles": ["origin"], "start": False}
    ledger.set_policy(Policy.from_map({**DEFAULT_POLICY.to_map(), "recall": recall}), at=T0 + 1)
    extra = KeyPair.from_seed("odd-origin", bytes([9]) * 32)
    ledger.register_party("odd-origin", ["origin", "zz-auditor"], extra.public_key, at=T0 + 2, valid_from=T0 + 1234)
    ledger.append(ITEM, "origin", extra, country="FR", at=T0 + 60_000 + 7)
    ledger.append(ITEM, "import", parties["customs"], country="CN", at=T0 + 61_000)
    ledger.append(ITEM, "warehouse", parties["warehouse"], country="FR", at=T0 + 2 * 60_000)
    if profile.startswith("witnessed"):
        store_cosigned(ledger, witness_keys(2))
    text = code.make(ledger, ITEM, profile, at=ISSUED + 5, url=BASE)
    publish(ledger_path, tmp_path / "log")  # a witnessed-published code's proof is read from the published tiles
    report = code.verify(text, operator.vkey, at=AT, log=tmp_path / "log")
    assert [e.leaf_hash for e in report.events] == [h.leaf_hash for h in ledger.history(ITEM)]
    assert report.events[0].roles == ("origin", "zz-auditor") and report.issued == ISSUED + 5


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_a_mutated_digit_is_refused_or_changes_nothing(url: str, operator: KeyPair, data: st.DataObject) -> None:
    """A changed digit is refused, unless it only changes bits that DEFLATE ignores (the unused bits of the
    stream's last byte): then the verified content is the genuine code's, byte for byte."""
    genuine = code.verify(url, operator.vkey, at=AT)
    base, _, fragment = url.partition("#")
    i = data.draw(st.integers(2, len(fragment) - 1))
    digit = data.draw(st.sampled_from([d for d in "0123456789" if d != fragment[i]]))
    try:
        report = code.verify(f"{base}#{fragment[:i]}{digit}{fragment[i + 1 :]}", operator.vkey, at=AT)
    except errors.ProvchainError:
        return
    assert report == genuine
    assert i >= len(fragment) - 6  # only in the last bytes


def test_inflate_is_bounded() -> None:
    bomb = bundle2._deflate(b"\x00" * 100_000)
    with pytest.raises(errors.BundleFormatError, match="more than 4096 bytes"):
        bundle2.decode_bundle_v2(bytes(96) + bomb, ORIGIN)
    with pytest.raises(errors.BundleFormatError, match="not a valid DEFLATE"):
        bundle2.decode_bundle_v2(bytes(96) + b"\xff" * 20, ORIGIN)


def test_refusals_quote_nothing_of_the_code(url: str, operator: KeyPair) -> None:
    base, _, fragment = url.partition("#")
    for bad in (f"{base}#02{fragment[2:40]}X{fragment[41:]}", f"{base}#07{fragment[2:]}", url[:-1]):
        with pytest.raises(errors.FormatError) as info:
            code.verify(bad, operator.vkey, at=AT)
        assert fragment[2:12] not in str(info.value) and "VERIFY" not in str(info.value)


# --- the QR symbol --------------------------------------------------------------------------------


def _optimal_version(text: str) -> int:
    """The version of explicit segments: alphanumeric base, byte '#', numeric digits (qrcode package)."""
    base, _, fragment = text.partition("#")
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    symbol.add_data(QRData(base.encode(), MODE_ALPHA_NUM))
    symbol.add_data(QRData(b"#", MODE_8BIT_BYTE))
    symbol.add_data(QRData(fragment.encode(), MODE_NUMBER))
    symbol.make(fit=True)
    return int(symbol.version)


def test_zxing_picks_segments_as_small_as_explicit_ones(url: str, operator: KeyPair) -> None:
    assert qr.qr_version(url) == _optimal_version(url) <= 16
    png = qr.render_png(url)
    assert qr.read_image(png) == url
    assert code.verify(qr.read_image(png), operator.vkey, at=AT).item == ITEM


# --- the CLI --------------------------------------------------------------------------------------


@pytest.fixture
def setup(
    ledger: Ledger, parties: dict[str, KeyPair], operator: KeyPair, tmp_path: Path, ledger_path: Path
) -> tuple[Path, Path]:
    journey(ledger, parties, ITEM)
    ledger.close()
    key = tmp_path / "operator.key"
    operator.save(key)
    return ledger_path, key


def test_cli_url_code_txt_png_and_scan(setup: tuple[Path, Path], operator: KeyPair, tmp_path: Path) -> None:
    ledger, key = setup
    runner = CliRunner()
    for name in ("item.txt", "item.png"):
        args = ["code", str(ledger), ITEM, "-o", str(tmp_path / name), "--operator-key", str(key), "--url", BASE]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "URL code" in result.output and re.search(r"QR version 1[0-6] at level M", result.output)
    text = (tmp_path / "item.txt").read_text().strip()
    assert text.startswith("HTTPS://VERIFY.EXAMPLE/#02") and qr.read_image(tmp_path / "item.png").startswith(text[:26])
    for source in (text, str(tmp_path / "item.txt"), str(tmp_path / "item.png")):
        result = runner.invoke(cli, ["scan", source, "--operator", operator.vkey])
        assert result.exit_code == 0, result.output
        assert "VERIFIED" in result.output and "URL code" in result.output
        assert "web address before '#' is not signed" in result.output and "VERIFY.EXAMPLE" not in result.output


def test_cli_scan_refuses_a_bad_url_code(setup: tuple[Path, Path], operator: KeyPair, tmp_path: Path) -> None:
    ledger, key = setup
    out = tmp_path / "item.txt"
    assert (
        CliRunner()
        .invoke(cli, ["code", str(ledger), ITEM, "-o", str(out), "--operator-key", str(key), "--url", BASE])
        .exit_code
        == 0
    )
    text = out.read_text().strip()
    result = CliRunner().invoke(cli, ["scan", text[:-1], "--operator", operator.vkey, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"]["type"] == "DigitsError"


def test_cli_bad_url_is_a_bad_argument(setup: tuple[Path, Path], tmp_path: Path) -> None:
    ledger, key = setup
    args = [
        "code",
        str(ledger),
        ITEM,
        "-o",
        str(tmp_path / "x.png"),
        "--operator-key",
        str(key),
        "--url",
        "http://x.example/",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "https://" in result.output
    assert not (tmp_path / "x.png").exists()


def test_cli_scan_image_with_a_shop_address_beside_the_url_code(url: str, operator: KeyPair, tmp_path: Path) -> None:
    shop = Image.open(io.BytesIO(qr.render_png("https://shop.example/serum")))
    item = Image.open(io.BytesIO(qr.render_png(url)))
    photo = Image.new("L", (shop.width + item.width, max(shop.height, item.height)), 255)
    photo.paste(shop, (0, 0))
    photo.paste(item, (shop.width, 0))
    photo.save(tmp_path / "box.png")
    result = CliRunner().invoke(
        cli, ["scan", str(tmp_path / "box.png"), "--operator", operator.vkey, "--at", "2100-01-01"]
    )
    assert result.exit_code == 0, result.output


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_bodies_are_refused_cleanly(url: str, operator: KeyPair, data: st.DataObject) -> None:
    """A body changed byte by byte and compressed again (what a forger can write) is refused with a
    ProvchainError, never another exception, and never verifies."""
    base, _, fragment = url.partition("#")
    raw = digits.decode(fragment[2:])
    genuine = bundle2._inflate(raw[96:])
    body = bytearray(genuine)
    for _ in range(data.draw(st.integers(1, 3))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    assume(body != genuine)
    forged = f"{base}#02" + digits.encode(raw[:96] + bundle2._deflate(bytes(body)))
    with pytest.raises(errors.ProvchainError):
        code.verify(forged, operator.vkey, at=AT)


# --- the size targets (issue 13): the serum at v16 or less, three short events at v12 or less --------


def _demo_url(folder: Path, steps: list[tuple[str, str, str, str, dict[str, str | int], int]]) -> str:
    op = KeyPair.from_seed(demo.ORIGIN, bytes(range(32)))
    names = {role: demo.PARTIES[role] for _, role, *_ in steps}
    keys = {role: KeyPair.from_seed(name, bytes([i + 1]) * 32) for i, (role, name) in enumerate(names.items())}
    registered = demo.START - 48 * HOUR
    with Ledger.create(folder / "demo.db", origin=demo.ORIGIN, operator=op, at=registered) as led:
        for role, kp in keys.items():
            led.register_party(kp.name, [role], kp.public_key, at=registered, valid_from=registered)
        for stage, role, country, place, data, hours in steps:
            led.append(
                demo.ITEM, stage, keys[role], country=country, place=place, data=data, at=demo.START + hours * HOUR
            )
        text = code.make(led, demo.ITEM, at=demo.START + 22 * 24 * HOUR, url=BASE)
    assert code.verify(text, op.vkey, at=demo.START + 22 * 24 * HOUR).item == demo.ITEM
    return text


def test_the_serum_url_code_is_version_16_or_less(tmp_path: Path) -> None:
    assert qr.qr_version(_demo_url(tmp_path, demo.JOURNEY)) <= 16


def test_a_short_three_event_url_code_is_version_12_or_less(tmp_path: Path) -> None:
    short: list[tuple[str, str, str, str, dict[str, str | int], int]] = [
        ("origin", "origin", "FR", "Grasse", {"lot": "L17"}, 0),
        ("import", "customs", "CN", "Shanghai", {}, 14 * 24),
        ("warehouse", "warehouse", "CN", "Hangzhou", {"bin": "A7"}, 15 * 24),
    ]
    assert qr.qr_version(_demo_url(tmp_path, short)) <= 12
