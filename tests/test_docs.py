"""The docs are executed: every code block of README.md and docs/**/*.md runs here.

Rules (they are also stated in docs/index.md, for writers):

* ```` ```python ```` blocks of one file run in order in one namespace, in a fresh temporary working
  directory that holds a copy of ``docs/img/``.
* ```` ```console ```` blocks hold ``$ provchain ...`` commands, each followed by the output it prints;
  they run through click's ``CliRunner`` in the same directory, and the output must match (``...``
  matches anything). A command expected to fail ends with ``# exit N``.
* ```` ```sh ```` blocks run with ``bash -euo pipefail`` in the same directory, with the installed
  ``provchain`` command first on ``PATH``; they must exit 0.
* ```` ```pycon ```` blocks run as doctests in the file's namespace.
* A block of any other language (``text``, ``hex``, ``json``, ...) is not code. A ```` ```text output ````
  block right after a code block is that block's expected standard output.
* A block that cannot run as is must say so: an ``<!-- not-tested: reason -->`` comment on the line
  before it, or ``skip-test`` in its fence (```` ```sh skip-test ````). Anything else that cannot run
  fails the test. In the files this suite owns, a fence without a language fails too.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
import os
import pkgutil
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import provchain
from provchain import qr
from provchain.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOC_FILES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
# Files whose every fence must name its language (the others are written by the spec and design authors).
OWNED = [ROOT / "README.md", DOCS / "index.md", DOCS / "guide.md", DOCS / "api.md", DOCS / "cli.md",
         *sorted((DOCS / "howto").glob("*.md"))]

PYTHON, CONSOLE, SH, PYCON = "python", "console", "sh", "pycon"
LANGS = {"python": PYTHON, "py": PYTHON, "console": CONSOLE, "sh": SH, "bash": SH, "shell": SH, "pycon": PYCON}

# Names a spec's example code uses that the spec defines in its own example blocks.
PRELUDES = {
    "docs/spec/checkpoints.md": (
        'proof_bytes = doc_blocks["proof"].encode()\n'
        'operator_vkey = doc_blocks["vkey"].strip()\n'
    ),
}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_NOT_TESTED = re.compile(r"<!--\s*not-tested:\s*(?P<reason>.*?)\s*-->")
_LABEL = re.compile(r"<!--\s*example:(?P<label>[\w-]+)\s*-->")
_EXIT = re.compile(r"\s+#\s*exit\s+(?P<code>\d+)\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    info: list[str]
    text: str
    skip: str | None  # why it is not tested, if it is marked so
    label: str | None

    @property
    def kind(self) -> str | None:
        """The kind of code (python, console, sh, pycon), or None for a block that is not code."""
        return LANGS.get(self.info[0]) if self.info else None

    @property
    def is_output(self) -> bool:
        return "output" in self.info[1:]

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the comment that precedes it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = len(m["indent"]), m["fence"], m["info"].split()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and not lines[i].strip()[len(fence):].strip()):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1
        before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip_m, label_m = _NOT_TESTED.search(before), _LABEL.search(before)
        skip = skip_m["reason"] if skip_m else "skip-test in the fence" if "skip-test" in info else None
        text = "\n".join(body) + "\n" if body else ""
        blocks.append(Block(path, start + 1, info, text, skip, label_m["label"] if label_m else None))
    return blocks


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- running --------------------------------------------------------------------------------------


def output_matches(expected: str, actual: str) -> bool:
    """Compare outputs line by line, ignoring trailing spaces; ``...`` in ``expected`` matches anything."""
    exp = "\n".join(line.rstrip() for line in expected.strip("\n").splitlines())
    act = "\n".join(line.rstrip() for line in actual.strip("\n").splitlines())
    if "..." not in exp:
        return exp == act
    pattern = ".*?".join(re.escape(part) for part in exp.split("..."))
    return re.fullmatch(pattern, act, re.DOTALL) is not None


def run_console(block: Block) -> str:
    """Run each ``$ provchain ...`` command of a console block and check its output and exit status."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif not steps:
            pytest.fail(f"{block.where}: a console block must start with a '$ provchain ...' command")
        else:
            steps[-1][1].append(line)
    shown = []
    for command, expected in steps:
        exit_m = _EXIT.search(command)
        want = int(exit_m["code"]) if exit_m else 0
        command = command[: exit_m.start()] if exit_m else command
        args = shlex.split(command)
        if not args or args[0] != "provchain":
            pytest.fail(f"{block.where}: cannot run {command!r}: console blocks run provchain commands only")
        result = CliRunner().invoke(cli, args[1:], prog_name="provchain")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            tb = "".join(traceback.format_exception(result.exception))
            pytest.fail(f"{block.where}: {command!r} raised:\n{tb}")
        if result.exit_code != want:
            pytest.fail(f"{block.where}: {command!r} exited {result.exit_code}, the doc says {want}:\n{result.output}")
        if not output_matches("\n".join(expected), result.output):
            pytest.fail(
                f"{block.where}: {command!r} printed something else than the doc shows.\n"
                f"--- doc ---\n{chr(10).join(expected)}\n--- printed ---\n{result.output}"
            )
        shown.append(result.output)
    return "".join(shown)


def run_sh(block: Block, cwd: Path) -> str:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("PROVCHAIN_PASSPHRASE", None)
    env.pop("PROVCHAIN_OPERATOR_KEY", None)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.text], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        pytest.fail(f"{block.where}: the sh block exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def run_python(block: Block, namespace: dict[str, object]) -> str:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block.text, block.where, "exec"), namespace)
    except Exception:
        pytest.fail(f"{block.where}: the python block failed:\n{traceback.format_exc()}\n{out.getvalue()}")
    return out.getvalue()


def run_pycon(block: Block, namespace: dict[str, object]) -> str:
    test = doctest.DocTestParser().get_doctest(block.text, namespace, block.where, block.where, block.line)
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=out.write, clear_globs=False)
    if runner.failures:
        pytest.fail(f"{block.where}: the pycon block failed:\n{out.getvalue()}")
    return ""


def run_file(path: Path, workdir: Path) -> list[Block]:
    """Run every code block of ``path`` in ``workdir``; return the blocks that ran."""
    blocks = parse_blocks(path)
    img = DOCS / "img"
    if img.is_dir():
        shutil.copytree(img, workdir / "docs" / "img")
    labelled = {b.label: b.text for b in blocks if b.label}
    namespace: dict[str, object] = {"__name__": "__doc__", "doc_blocks": labelled}
    prelude = PRELUDES.get(_id(path))
    if prelude:
        exec(prelude, namespace)
    ran: list[Block] = []
    stdout: str | None = None
    previous: Block | None = None
    for block in blocks:
        if block.is_output and block.skip is None:
            if previous is None or stdout is None:
                pytest.fail(f"{block.where}: an output block must follow a code block that ran")
            if not output_matches(block.text, stdout):
                pytest.fail(f"{block.where}: {previous.where} printed:\n{stdout}\nbut the doc shows:\n{block.text}")
            stdout = None
            continue
        stdout = None
        if block.skip is not None:
            if not block.skip.strip():
                pytest.fail(f"{block.where}: a not-tested block must give its reason")
            continue
        if block.kind is None:
            continue
        if block.kind == PYTHON:
            stdout = run_python(block, namespace)
        elif block.kind == CONSOLE:
            stdout = run_console(block)
        elif block.kind == SH:
            stdout = run_sh(block, workdir)
        else:
            stdout = run_pycon(block, namespace)
        previous = block
        ran.append(block)
    return ran


@pytest.mark.parametrize("path", DOC_FILES, ids=_id)
def test_doc_code_blocks_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVCHAIN_PASSPHRASE", raising=False)
    monkeypatch.delenv("PROVCHAIN_OPERATOR_KEY", raising=False)
    run_file(path, tmp_path)


@pytest.mark.parametrize("path", [p for p in OWNED if p.exists()], ids=_id)
def test_owned_fences_name_their_language(path: Path) -> None:
    unlabelled = [b.where for b in parse_blocks(path) if not b.info]
    assert not unlabelled, f"fences without a language (write ```text for plain text): {unlabelled}"


def test_the_runner_refuses_what_it_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unmarked block that cannot run fails; the same block marked not-tested is skipped."""
    monkeypatch.chdir(tmp_path)
    doc = tmp_path / "doc.md"
    bad = [
        "```sh\nprovchain party add ledger.db --vkey 'hz-bonded-wh-3+...'\n```\n",
        "```console\n$ ls -l\n```\n",
        "```python\nprint(undefined_name)\n```\n",
        "```console\n$ provchain --version\nprovchain, version 0.0.0\n```\n",
        "```python\nprint('a')\n```\n```text output\nb\n```\n",
    ]
    for text in bad:
        doc.write_text(text)
        monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
        with pytest.raises(pytest.fail.Exception):
            run_file(doc, tmp_path / "work")
        shutil.rmtree(tmp_path / "work", ignore_errors=True)
        doc.write_text("<!-- not-tested: shows a placeholder -->\n" + text.replace("```text output", "```text"))
        assert run_file(doc, tmp_path / "work") == []
        shutil.rmtree(tmp_path / "work", ignore_errors=True)


def test_output_matching() -> None:
    assert output_matches("a\nb  \n", "a\nb\n")
    assert output_matches("key example.com/x+...\ndone", "key example.com/x+1234+AAA\ndone\n")
    assert output_matches("first\n...\nlast", "first\n2\n3\nlast")
    assert not output_matches("a\nb", "a\nc")
    assert not output_matches("a...z", "ab")


# --- generated references -------------------------------------------------------------------------


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    gen = _load("gen_cli")
    assert (DOCS / "cli.md").read_text(encoding="utf-8") == gen.render(), "run: python docs/gen_cli.py"


def test_cli_reference_covers_every_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path in _load("gen_cli").commands(cli):
        assert f"## {' '.join(('provchain', *path))}\n" in text


def test_api_reference_is_current() -> None:
    gen = _load("gen_api")
    assert (DOCS / "api.md").read_text(encoding="utf-8") == gen.render(), "run: python docs/gen_api.py"


def test_api_reference_covers_every_public_name() -> None:
    gen = _load("gen_api")
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    for modname, _ in gen.MODULES:
        module = importlib.import_module(modname)
        for name in module.__all__:
            assert f"`{name}`" in text, f"{modname}.{name} is not in docs/api.md"


def _modules() -> list[str]:
    found = pkgutil.walk_packages(provchain.__path__, "provchain.")
    return sorted(m.name for m in found if not m.name.startswith("provchain.cli"))


@pytest.mark.parametrize("modname", ["provchain", *_modules()])
def test_module_doctests(modname: str) -> None:
    """The ``>>>`` examples of the docstrings (shown in docs/api.md) run."""
    module = importlib.import_module(modname)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# --- the README's picture and scan output ---------------------------------------------------------


def _console_blocks(path: Path) -> list[str]:
    return [b.text for b in parse_blocks(path) if b.kind == CONSOLE]


def test_readme_scan_output_is_what_scan_prints(tmp_path: Path) -> None:
    gen = _load("gen_assets")
    png, transcript = gen.generate(tmp_path)
    text = transcript.read_text(encoding="utf-8")
    assert text in _console_blocks(ROOT / "README.md"), "README.md must show docs/img/scan-output.txt verbatim"
    assert (DOCS / "img" / "scan-output.txt").read_text(encoding="utf-8") == text, "run: python docs/gen_assets.py"
    assert qr.read_image(DOCS / "img" / "item-code.png") == qr.read_image(png), "run: python docs/gen_assets.py"
    assert "![" in (ROOT / "README.md").read_text() and "docs/img/item-code.png" in (ROOT / "README.md").read_text()


# --- links --------------------------------------------------------------------------------------------

_LINK = re.compile(r"\]\((?!https?:|mailto:|#)(?P<target>[^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", DOC_FILES, ids=_id)
def test_relative_links_resolve(path: Path) -> None:
    missing = []
    for m in _LINK.finditer(path.read_text(encoding="utf-8")):
        target = (path.parent / m["target"]).resolve()
        if not target.exists() and target != DOCS / "security.md":
            missing.append(m["target"])
    assert not missing, f"{_id(path)} links to files that do not exist: {missing}"


def test_security_doc_is_linked() -> None:
    """docs/security.md is written with the reliability work; the index links it from the start."""
    assert "(security.md)" in (DOCS / "index.md").read_text(encoding="utf-8")
    if not (DOCS / "security.md").exists():
        pytest.skip("docs/security.md is not written yet")
