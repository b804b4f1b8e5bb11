"""A headless Chromium shared by the browser tests of a session (Debian's chromium, driven by playwright).

Tests that need it take the ``browser`` fixture and open their own page (``browser.new_page()``);
without /usr/bin/chromium or the playwright package those tests are skipped with the reason.
"""
from __future__ import annotations

import os

import pytest

CHROMIUM = os.environ.get("VIZTRACER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session; each test opens (and closes) its own pages."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
