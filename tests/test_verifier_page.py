"""``provchain verifier-page`` and :func:`provchain.web.verifier_page`: the files, their policy, their
weight, the keys they pin, the refusals, and the reproducible build of the page's script.

What the page shows in a browser is tested in tests/test_browser.py (real Chromium).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html.parser
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from provchain.cli import cli
from provchain.errors import InputError, KeyFormatError, WitnessPolicyError
from provchain.web import LICENSES_NAME, MAX_OPERATORS, PAGE_NAME, WORKER_NAME, verifier_page

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
PACKAGE_WEB = ROOT / "src" / "provchain" / "web"
VECTORS = ROOT / "tests" / "vectors" / "code"

OPERATOR = json.loads((VECTORS / "url_valid_compact.json").read_text())["operator_vkey"]
OTHER = json.loads((VECTORS / "url_other_operator.json").read_text())["operator_vkey"]
WITNESSES = json.loads((VECTORS / "url_valid_witnessed.json").read_text())["witnesses"]["keys"]

WEIGHT_GOAL = 250_000
"""The page's weight goal, gzipped, decoder included (issue #13)."""

needs_bundle = pytest.mark.skipif(
    not (PACKAGE_WEB / "verifier.js").exists(),
    reason="the page's script is not built (cd web && npm ci && node build.mjs)",
)


class _Page(html.parser.HTMLParser):
    """The parts of the page the tests look at: the CSP, the inline scripts and styles, every URL attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.csp: str | None = None
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.lang: str | None = None
        self._in: tuple[str, dict[str, str | None]] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content")
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            if a.get(name) is not None:
                self.urls.append((tag, name, str(a[name])))
        if tag in ("script", "style"):
            self._in, self._text = (tag, a), []

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._in is not None and tag == self._in[0]:
            text = "".join(self._text)
            if tag == "script":
                self.scripts.append((self._in[1], text))
            else:
                self.styles.append(text)
            self._in = None


def _parse(page: bytes) -> _Page:
    parser = _Page()
    parser.feed(page.decode("utf-8"))
    return parser


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# --- the files ----------------------------------------------------------------------------------


@needs_bundle
def test_the_page_is_self_contained_and_its_policy_forbids_the_network() -> None:
    files = verifier_page([OPERATOR])
    assert sorted(files) == sorted([PAGE_NAME, WORKER_NAME, LICENSES_NAME])
    assert files[LICENSES_NAME] == (PACKAGE_WEB / LICENSES_NAME).read_bytes()
    for package in ("jsqr", "@noble/curves", "pako"):  # named in the page, their licences beside it
        assert package.encode() in files[PAGE_NAME].split(b"-->")[0]
        assert f"\n{package} ".encode() in files[LICENSES_NAME]
    page = _parse(files[PAGE_NAME])
    assert page.lang == "en"
    assert page.csp is not None
    directives = dict(d.strip().split(" ", 1) for d in page.csp.split(";"))
    assert directives["default-src"] == "'none'"  # so connect-src, font-src, frame-src, ... are 'none'
    assert not any(k in directives for k in ("connect-src", "font-src", "frame-src", "object-src"))
    assert directives["base-uri"] == "'none'" and directives["form-action"] == "'none'"
    assert directives["img-src"] == "data: blob:"
    assert directives["worker-src"] == "'self'"
    # Only the page's own script and style run: pinned by their hashes, no 'unsafe-inline'.
    code = [text for attrs, text in page.scripts if attrs.get("type") is None]
    assert len(code) == 1 and code[0] == (PACKAGE_WEB / "verifier.js").read_text(encoding="utf-8")
    assert directives["script-src"] == _sha(code[0])
    assert len(page.styles) == 1 and directives["style-src"] == _sha(page.styles[0])
    assert "unsafe" not in page.csp
    # No element loads anything: no script src, no stylesheet link, the icon is inline.
    assert page.urls == [("link", "href", "data:,")]
    assert not any(attrs.get("src") for attrs, _ in page.scripts)


def _pinned(page: bytes) -> list[str]:
    pinned = [text for attrs, text in _parse(page).scripts if attrs.get("id") == "pinned-operators"]
    assert len(pinned) == 1
    keys: list[str] = json.loads(pinned[0])
    return keys


@needs_bundle
def test_the_operator_keys_are_pinned_in_the_page() -> None:
    assert _pinned(verifier_page([OPERATOR, OTHER])[PAGE_NAME]) == [OPERATOR, OTHER]


@needs_bundle
def test_the_page_weighs_less_than_the_goal_gzipped() -> None:
    page = verifier_page([OPERATOR])[PAGE_NAME]
    weight = len(gzip.compress(page, 9, mtime=0))
    print(f"\nverifier page: {len(page)} bytes, {weight} bytes gzipped (goal {WEIGHT_GOAL})")
    assert weight <= WEIGHT_GOAL


@needs_bundle
def test_the_service_worker_cache_follows_the_page() -> None:
    one = verifier_page([OPERATOR])
    two = verifier_page([OTHER])
    assert one == verifier_page([OPERATOR])  # deterministic
    name = re.compile(rb'provchain-verifier-([0-9a-f]{16})"')
    m1, m2 = name.search(one[WORKER_NAME]), name.search(two[WORKER_NAME])
    assert m1 and m2 and m1.group(1) != m2.group(1)
    assert m1.group(1).decode() == hashlib.sha256(one[PAGE_NAME]).hexdigest()[:16]


def _pinned_witnesses(page: bytes) -> object:
    pinned = [text for attrs, text in _parse(page).scripts if attrs.get("id") == "pinned-witnesses"]
    assert len(pinned) == 1
    return json.loads(pinned[0])


@needs_bundle
def test_the_witnesses_are_pinned_in_the_page() -> None:
    assert _pinned_witnesses(verifier_page([OPERATOR])[PAGE_NAME]) is None
    page = verifier_page([OPERATOR], WITNESSES, 2)[PAGE_NAME]
    assert _pinned_witnesses(page) == {"keys": WITNESSES, "quorum": 2}
    two = verifier_page([OPERATOR], WITNESSES[:2])[PAGE_NAME]
    assert _pinned_witnesses(two) == {"keys": WITNESSES[:2], "quorum": 2}
    assert _pinned(page) == [OPERATOR]


@pytest.mark.parametrize(
    ("witnesses", "quorum", "error"),
    [
        ([], 1, InputError),
        (WITNESSES[0], None, InputError),  # a string, not a list
        (WITNESSES, 4, WitnessPolicyError),
        (WITNESSES, 0, WitnessPolicyError),
        (WITNESSES, True, InputError),
        ([WITNESSES[0], WITNESSES[0]], None, WitnessPolicyError),
        (["</script>+00000000+BA=="], None, KeyFormatError),
        ([OPERATOR[:-2] + "AA"], None, KeyFormatError),
    ],
)
def test_bad_witnesses_are_refused(witnesses: object, quorum: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        verifier_page([OPERATOR], witnesses, quorum)  # type: ignore[arg-type]


def test_the_command_pins_witnesses(tmp_path: Path) -> None:
    args = ["verifier-page", str(tmp_path / "site"), "--operator", OPERATOR]
    for key in WITNESSES:
        args += ["--witness", key]
    result = CliRunner().invoke(cli, [*args, "--quorum", "2"])
    assert result.exit_code == 0, result.output
    assert "requiring 2 of 3 witnesses" in result.output
    assert _pinned_witnesses((tmp_path / "site" / PAGE_NAME).read_bytes()) == {"keys": WITNESSES, "quorum": 2}
    bad = CliRunner().invoke(cli, [*args, "--quorum", "5", "--force"])
    assert bad.exit_code == 2 and "quorum" in bad.output and "Traceback" not in bad.output


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operators", "error"),
    [
        ([], InputError),
        (OPERATOR, InputError),  # a string, not a list of keys
        ([OPERATOR, OPERATOR], InputError),
        ([OPERATOR[:-2] + "AA"], KeyFormatError),
        (["not a key"], KeyFormatError),
        ([OPERATOR.replace("ce664fde", "ce664fdf")], KeyFormatError),
        ([OPERATOR] * (MAX_OPERATORS + 1), InputError),
        (["</script><script>alert(1)</script>+00000000+AQ=="], KeyFormatError),
    ],
)
def test_bad_operator_keys_are_refused(operators: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        verifier_page(operators)  # type: ignore[arg-type]


# --- the command --------------------------------------------------------------------------------


@needs_bundle
def test_the_command_writes_the_page_and_its_worker(tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["verifier-page", str(out), "--operator", OPERATOR, "--operator", OTHER])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out / PAGE_NAME} (") and "trusting 2 operator keys" in result.output
    files = verifier_page([OPERATOR, OTHER])
    assert sorted(p.name for p in out.iterdir()) == sorted(files)
    for name, data in files.items():
        assert (out / name).read_bytes() == data


@needs_bundle
def test_the_command_replaces_files_only_with_force(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["verifier-page", str(tmp_path), "--operator", OPERATOR]).exit_code == 0
    again = runner.invoke(cli, ["verifier-page", str(tmp_path), "--operator", OTHER])
    assert again.exit_code == 2
    assert again.output.count("\n") == 1 and "already exists" in again.output
    assert _pinned((tmp_path / PAGE_NAME).read_bytes()) == [OPERATOR]
    forced = runner.invoke(cli, ["verifier-page", str(tmp_path), "--operator", OTHER, "--force"])
    assert forced.exit_code == 0, forced.output
    assert _pinned((tmp_path / PAGE_NAME).read_bytes()) == [OTHER]


@needs_bundle
def test_the_command_never_writes_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.html"
    target.write_text("keep")
    (tmp_path / PAGE_NAME).symlink_to(target)
    result = CliRunner().invoke(cli, ["verifier-page", str(tmp_path), "--operator", OPERATOR, "--force"])
    assert result.exit_code == 2 and "symbolic link" in result.output
    assert target.read_text() == "keep" and not (tmp_path / WORKER_NAME).exists()
    assert not (tmp_path / LICENSES_NAME).exists()


def _directives(page: bytes) -> dict[str, str]:
    csp = _parse(page).csp
    assert csp is not None
    return dict(d.strip().split(" ", 1) for d in csp.split(";"))


def _log_url(page: bytes) -> object:
    found = [text for attrs, text in _parse(page).scripts if attrs.get("id") == "published-log"]
    assert len(found) == 1
    return json.loads(found[0])


@needs_bundle
@pytest.mark.parametrize(
    ("log_url", "connect"),
    [
        ("log/", "'self'"),
        ("../log/", "'self'"),
        ("/tiles/log/", "'self'"),
        ("https://log.example/acme/", "https://log.example"),
        ("http://127.0.0.1:8080/log/", "http://127.0.0.1:8080"),
    ],
)
def test_the_log_url_is_baked_in_and_only_it_may_be_fetched(log_url: str, connect: str) -> None:
    page = verifier_page([OPERATOR], log_url=log_url)[PAGE_NAME]
    assert _log_url(page) == log_url
    assert _directives(page)["connect-src"] == connect
    # With a scan register too: one connect-src directive naming both (a second one would be ignored).
    both = verifier_page([OPERATOR], log_url=log_url, register="https://register.example/")[PAGE_NAME]
    sources = _directives(both)["connect-src"].split()
    assert sources == ["https://register.example", connect]
    assert _parse(both).csp.count("connect-src") == 1  # type: ignore[union-attr]
    assert _log_url(verifier_page([OPERATOR])[PAGE_NAME]) is None


@needs_bundle
@pytest.mark.parametrize(
    "log_url",
    ["log", "//evil.example/log/", "http://evil.example/log/", "javascript:alert(1)/", "a/../b/", "log/?x=1/", "",
     "https://x.example/" + "a/" * 100, 42],
)
def test_a_bad_log_url_is_refused(log_url: object) -> None:
    with pytest.raises(InputError, match="log_url"):
        verifier_page([OPERATOR], log_url=log_url)  # type: ignore[arg-type]


@needs_bundle
def test_the_command_takes_a_log_url(tmp_path: Path) -> None:
    args = ["verifier-page", str(tmp_path / "s"), "--operator", OPERATOR, "--log-url", "log/"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "reading published proofs from log/" in result.output
    assert _log_url((tmp_path / "s" / PAGE_NAME).read_bytes()) == "log/"
    bad = CliRunner().invoke(cli, ["verifier-page", str(tmp_path / "t"), "--operator", OPERATOR, "--log-url", "x"])
    assert bad.exit_code == 2 and "log_url" in bad.output and not (tmp_path / "t").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--operator", "nonsense"], "verifier key"),
        ([], "Missing option '--operator'"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["verifier-page", str(tmp_path / "site"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "site").exists()


def test_the_command_refuses_a_missing_parent_or_a_file(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["verifier-page", str(tmp_path / "a" / "b"), "--operator", OPERATOR])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    (tmp_path / "file").write_text("x")
    a_file = runner.invoke(cli, ["verifier-page", str(tmp_path / "file"), "--operator", OPERATOR])
    assert a_file.exit_code == 2 and "is a file" in a_file.output


# --- the build ----------------------------------------------------------------------------------


@needs_bundle
@pytest.mark.skipif(not (WEB / "node_modules").is_dir(), reason="web/node_modules is absent: run npm ci in web/")
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_build_reproduces_the_committed_script(tmp_path: Path) -> None:
    """``node build.mjs`` (with the pinned packages) writes exactly the committed verifier.js and licences."""
    subprocess.run(["node", "build.mjs", str(tmp_path)], cwd=WEB, check=True, capture_output=True, env=dict(os.environ))
    for name in ("verifier.js", "THIRD_PARTY_LICENSES.txt"):
        assert (tmp_path / name).read_bytes() == (PACKAGE_WEB / name).read_bytes(), f"rebuild {name}: node build.mjs"
