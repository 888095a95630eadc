"""Headless Debian Chromium driven by Playwright, for tests that look at pages; skips with the fix if absent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# Flags for a machine without network: no background connections, no sandbox (root in CI), no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    """Debian's chromium, or skip the test saying how to install it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("browser tests need Debian's chromium: apt-get install chromium")
    return path


@contextmanager
def chromium_page(width: int = 1280, height: int = 900) -> Iterator[object]:
    """A fresh headless page of the given viewport."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (the test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            # bypass_csp: the tests evaluate JavaScript in pages whose CSP forbids eval (the study app)
            yield browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
        finally:
            browser.close()
