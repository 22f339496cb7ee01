#!/usr/bin/env bash
# Rewrite docs/img/verifier-page.png, the README's picture of the verifier page verifying the serum, with the
# test suite's browser run (Debian's chromium, driven by Playwright: tests/test_browser.py). Needs the built
# page script (cd web && npm ci && node build.mjs) and `pip install -e '.[test]'`.
set -euo pipefail
cd "$(dirname "$0")/.."
PROVCHAIN_SCREENSHOT=1 .venv/bin/python -m pytest -q tests/test_browser.py -k test_write_the_readme_screenshot
