"""GS1 item ids (issue #17, item 3): Digital Link and SGTIN EPC URN forms, validation by biip, one canonical
id per item, refusal at record, and the item's own Digital Link as the base of its URL code."""

from __future__ import annotations

import pytest
from clirun import fails, ok
from conftest import HOUR, T0
from hypothesis import given
from hypothesis import strategies as st

from provchain import code, errors, gs1, qr
from provchain.entries import check_item
from provchain.keys import KeyPair
from provchain.ledger import Ledger

GTIN = "09506000134352"  # GS1's example GTIN (check digit 2)
DL = f"https://id.gs1.org/01/{GTIN}/21/ABC123"


@pytest.mark.parametrize(
    ("given_id", "canonical"),
    [
        (DL, DL),
        (f"https://brand.example/01/{GTIN}/21/ABC123", DL),  # any host: the canonical host is id.gs1.org
        (f"http://brand.example/shop/01/{GTIN}/21/ABC123", DL),  # a path prefix
        ("https://id.gs1.org/01/9506000134352/21/ABC123", DL),  # a GTIN-13, padded to 14 digits
        (f"https://id.gs1.org/01/{GTIN}/10/LOT7/21/ABC123?17=261231", DL),  # lot and query: not the item's name
        (f"HTTPS://ID.GS1.ORG/01/{GTIN}/21/ABC123", DL),
        ("urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"),
        ("urn:epc:id:sgtin:9506000.013435.A%2F1", f"https://id.gs1.org/01/{GTIN}/21/A%2F1"),
        (f"https://id.gs1.org/01/{GTIN}/21/A%2f1", f"https://id.gs1.org/01/{GTIN}/21/A%2F1"),
        (f"https://id.gs1.org/01/{GTIN}/21/x!y", f"https://id.gs1.org/01/{GTIN}/21/x%21y"),
    ],
)
def test_one_item_has_one_id(given_id: str, canonical: str) -> None:
    assert gs1.canonical_item(given_id) == canonical
    assert gs1.canonical_item(canonical) == canonical
    assert check_item(canonical) == canonical


def test_the_sgtin_urn_and_the_digital_link_of_gs1_examples_agree() -> None:
    # GS1's EPCIS examples name the same item both ways (JSON/Example_9.6.1 and its WithDigitalLinkID twin).
    assert gs1.canonical_item("urn:epc:id:sgtin:0614141.107346.2018") == "https://id.gs1.org/01/10614141073464/21/2018"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (f"https://id.gs1.org/01/{GTIN[:-1]}3/21/A", "check digit"),
        ("https://id.gs1.org/01/12345/21/A", "8, 12, 13 or 14 digits"),
        (f"https://id.gs1.org/01/{GTIN}/21/{'A' * 21}", "1 to 20 characters"),
        (f"https://id.gs1.org/01/{GTIN}/21/A%C3%A9", "1 to 20 characters"),  # é is outside GS1's set
        (f"https://id.gs1.org/01/{GTIN}/21/A%23B", "1 to 20 characters"),  # so is #
        (f"https://id.gs1.org/01/{GTIN}/21/", "1 to 20 characters"),
        (f"https://id.gs1.org/01/{GTIN}", "not one item"),
        (f"https://id.gs1.org/01/{GTIN}/21/A/B", "key/value pairs"),
        (f"https://id.gs1.org/01/{GTIN}/00/1/21/A", "may be followed only by"),
        (f"https://id.gs1.org/01/{GTIN}/21/A/21/B", "may be followed only by"),
        (f"https://id.gs1.org/01/{GTIN}/21/%FF", "percent-encoded"),
        ("urn:epc:id:sscc:0614141.1234567890", "only urn:epc:id:sgtin:"),
        ("urn:epc:id:sgtin:0614141.10734.2017", "13 digits"),
        ("urn:epc:id:sgtin:0614141.107346.20/17", "SGTIN EPC URN"),
        ("urn:epc:class:lgtin:0614141.107346.LOT1", "only urn:epc:id:sgtin:"),
        ("https://user@id.gs1.org/01/09506000134352/21/A", "with a host name"),
        ("http://shop.example/1/01", "key/value pairs"),  # a URL with a /01/ segment claims to be a GS1 id
    ],
)
def test_invalid_gs1_ids_are_refused(bad: str, words: str) -> None:
    with pytest.raises(errors.ItemError, match=words):
        gs1.parse_item(bad)
    with pytest.raises(errors.ItemError):
        check_item(bad)


def test_non_canonical_forms_are_refused_with_the_canonical_one() -> None:
    with pytest.raises(errors.ItemError, match=f"write it as '{DL}'"):
        check_item("urn:epc:id:sgtin:9506000.013435.ABC123")


@pytest.mark.parametrize("other", ["SERUM-FR-0731", "https://shop.example/item/42", "urn:isbn:0451450523", "https://x/01x/1"])
def test_other_ids_are_untouched(other: str) -> None:
    assert gs1.canonical_item(other) == other
    assert check_item(other) == other


def test_parse_item_refuses_what_is_not_a_gs1_id() -> None:
    for bad in ["", "SERUM-1", "https://x.example/a", "a" * 2000, "https://id.gs1.org/01/09506000134352/21/A B"]:
        with pytest.raises(errors.ItemError):
            gs1.parse_item(bad)
    with pytest.raises(errors.ItemError):
        gs1.parse_item(42)


@given(st.text(max_size=60))
def test_fuzz_any_text_parses_or_is_refused_with_an_item_error(text: str) -> None:
    for candidate in (text, "https://id.gs1.org/01/" + text, "urn:epc:id:sgtin:" + text, f"{DL[:-6]}{text}"):
        try:
            item = gs1.parse_item(candidate)
        except errors.ItemError:
            continue
        assert gs1.parse_item(item.uri) == item and check_item(item.uri) == item.uri


@given(st.text(alphabet="!\"%&'()*+,-./0123456789:;<=>?ABCXYZ_abcxyz", min_size=1, max_size=20))
def test_fuzz_every_serial_of_gs1s_set_round_trips(serial: str) -> None:
    item = gs1.Gs1Item(GTIN, serial)
    assert gs1.parse_item(item.uri) == item
    assert gs1.canonical_item(item.uri) == item.uri


def _party(ledger: Ledger, operator: KeyPair) -> KeyPair:
    kp = KeyPair.from_seed("brand", bytes([9]) * 32)
    ledger.register_party("brand", roles=["origin"], public_key=kp.public_key, at=T0, valid_from=T0)
    return kp


def test_record_refuses_an_invalid_or_non_canonical_gs1_id(ledger: Ledger, operator: KeyPair) -> None:
    kp = _party(ledger, operator)
    size = ledger.size
    for bad in (f"https://id.gs1.org/01/{GTIN[:-1]}3/21/A", "urn:epc:id:sgtin:9506000.013435.ABC123"):
        with pytest.raises(errors.ItemError):
            ledger.append(bad, "origin", kp, country="FR", at=T0 + HOUR)
    assert ledger.size == size
    ledger.append(DL, "origin", kp, country="FR", at=T0 + HOUR)
    assert [e.stage for e in ledger.history(DL)] == ["origin"]


def test_cli_record_refuses_a_bad_gtin(tmp_path: object, ledger: Ledger, operator: KeyPair) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    kp = _party(ledger, operator)
    ledger.close()
    kp.save(folder / "brand.key", None)
    led = str(folder / "ledger.db")
    fails(2, "check digit", "record", led, f"https://id.gs1.org/01/{GTIN[:-1]}3/21/A", "origin",
          "--key", str(folder / "brand.key"), "--country", "FR", "--at", "2025-10-09T10:00:00Z")  # fmt: skip
    fails(2, f"write it as '{DL}'", "record", led, "urn:epc:id:sgtin:9506000.013435.ABC123", "origin",
          "--key", str(folder / "brand.key"), "--country", "FR", "--at", "2025-10-09T10:00:00Z")  # fmt: skip
    ok("record", led, DL, "origin", "--key", str(folder / "brand.key"), "--country", "FR", "--at", "2025-10-09T10:00Z")


def test_the_url_code_can_be_the_items_own_digital_link(ledger: Ledger, operator: KeyPair) -> None:
    """One QR: a GS1 resolver reads the Digital Link (and ignores the fragment), the verifier reads the code."""
    kp = _party(ledger, operator)
    ledger.append(DL, "origin", kp, country="FR", place="Grasse", at=T0 + HOUR)
    text = code.make(ledger, DL, "compact", at=T0 + 2 * HOUR, url=DL)
    base, _, fragment = text.partition("#")
    assert base == f"HTTPS://ID.GS1.ORG/01/{GTIN}/21/ABC123" and fragment.startswith("02")
    assert gs1.canonical_item(base) == DL  # the resolver's view: the same item
    read = qr.read_image(qr.render_png(text))  # a real QR image, decoded by zxing-cpp
    assert read == text
    report = code.verify(read, operator.vkey, at=T0 + 2 * HOUR)
    assert report.item == DL and [e.stage for e in report.events] == ["origin"]


# --- the JS verifier holds item ids to the same rule ----------------------------------------------------


def _corpus() -> list[str]:
    """GS1-looking ids, valid and not, in every form, and mutations of them (deterministic)."""
    import random

    rng = random.Random(17)
    seeds = [DL, f"https://id.gs1.org/01/{GTIN}/21/A%2F1", f"https://id.gs1.org/01/{GTIN}/21/x%21y%22%25",
             "urn:epc:id:sgtin:0614141.107346.2017", f"http://id.gs1.org/01/{GTIN}/21/A",
             f"https://ID.gs1.org/01/{GTIN}/21/A", "https://shop.example/item/42", "SERUM-1",
             "Https://x/01"]  # fmt: skip
    alphabet = "0123456789AZaz%/!'()*~._-?#:&=2F"
    out = list(seeds)
    for _ in range(1500):
        s = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(s) + 1)
            op = rng.random()
            if op < 0.4 and i < len(s):
                s[i] = rng.choice(alphabet)
            elif op < 0.7:
                s.insert(i, rng.choice(alphabet))
            elif i < len(s):
                del s[i]
        out.append("".join(s))
    return out


def _python_accepts(item: str) -> bool:
    try:
        check_item(item)
    except errors.ItemError:
        return False
    return True


def test_js_item_rule_agrees_with_python() -> None:
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    web = Path(__file__).resolve().parent.parent / "web"
    if node is None or not (web / "node_modules").is_dir():
        pytest.fail("the JS verifier's item rule needs node and web/node_modules (npm ci in web/)")
    corpus = [c for c in _corpus() if c]
    script = (
        "import { isItem } from './src/verifier/checks.js';"
        "import { readFileSync } from 'node:fs';"
        "const ids = JSON.parse(readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(ids.map((i) => isItem(i))));"
    )
    done = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(corpus), cwd=web,
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    js = json.loads(done.stdout)
    differ = [(c, p, j) for c, j in zip(corpus, js, strict=True) if (p := _python_accepts(c)) != j]
    assert differ == []
    assert 50 < sum(js) < len(corpus) - 50  # the corpus holds both verdicts in number


def test_codes_with_gs1_items_get_the_same_verdict_in_js(ledger: Ledger, operator: KeyPair) -> None:
    """A code with a GS1 item verifies in both, and so does one whose item the operator swapped for another
    canonical GS1 id and signed again (a compact code rests on the operator's signature). Invalid and
    non-canonical ids cannot even be encoded: the item rule itself is compared above."""
    from dataclasses import replace

    from test_js_verifier import compare

    from provchain._internal.bundle import sign_bundle

    kp = _party(ledger, operator)
    ledger.append(DL, "origin", kp, country="FR", place="Grasse", at=T0 + HOUR)
    at = T0 + 2 * HOUR
    genuine = code.make(ledger, DL, "compact", at=at)
    cases = [(genuine, operator.vkey, at, None)]
    for item in (f"https://id.gs1.org/01/{GTIN}/21/ABC124", f"https://id.gs1.org/01/{GTIN}/21/A%2F1"):
        swapped = sign_bundle(replace(code.parse(genuine, ledger.origin), item=item), operator).payload()
        cases.append((swapped, operator.vkey, at, None))
    bad, verdicts = compare(cases)
    assert bad == []
    assert verdicts == {"VERIFIED": 3}
