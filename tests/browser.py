"""Headless Chromium for the tests of the HTML outputs: offline, every network request refused and
recorded, console errors collected.

Chromium is the system one (Debian's ``chromium`` package, ``/usr/bin/chromium``; ``$SEMSPACE_CHROMIUM``
names another binary), driven by Playwright; its bundled browsers are not used. A missing browser
or Playwright is a test failure with the command that installs it, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_CHROMIUM = "/usr/bin/chromium"


def chromium_path() -> str:
    """The Chromium binary, or a test failure that says how to install it."""
    wanted = os.environ.get("SEMSPACE_CHROMIUM") or DEFAULT_CHROMIUM
    if Path(wanted).is_file() and os.access(wanted, os.X_OK):
        return wanted
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    pytest.fail(
        f"no Chromium at {wanted} (nor `chromium` on PATH): the HTML tests drive a headless "
        "Chromium; install it with `apt-get install chromium` (Debian/Ubuntu) or set "
        "SEMSPACE_CHROMIUM to a Chromium binary",
        pytrace=False,
    )


@dataclass
class OfflinePage:
    """A Playwright page whose requests other than file:, data: and blob: were aborted."""

    page: Any
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.blocked == [], f"the page tried to reach the network: {self.blocked}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"


LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


@contextlib.contextmanager
def offline_page(viewport: dict[str, int] | None = None) -> Iterator[OfflinePage]:
    """A fresh headless Chromium page that may load local files only."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extra installs it
        pytest.fail(
            "playwright is not installed: `.venv/bin/pip install -e '.[dev]'` (and `apt-get install "
            "chromium` for the browser)",
            pytrace=False,
        )
    executable = chromium_path()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - a broken browser install: say which and how to fix
            pytest.fail(
                f"cannot start Chromium {executable}: {exc}\n(re)install it with `apt-get install chromium`",
                pytrace=False,
            )
        try:
            context = browser.new_context(viewport=viewport or {"width": 1400, "height": 900}, service_workers="block")
            page = context.new_page()
            result = OfflinePage(page)

            def route(r: Any) -> None:
                if r.request.url.startswith(LOCAL_SCHEMES):
                    r.continue_()
                else:
                    result.blocked.append(r.request.url)
                    r.abort()

            def request(req: Any) -> None:  # also what the router does not see (websockets, etc.)
                if not req.url.startswith(LOCAL_SCHEMES) and req.url not in result.blocked:
                    result.blocked.append(req.url)

            page.route("**/*", route)
            page.on("request", request)
            page.on("websocket", lambda ws: result.blocked.append(ws.url))
            page.on("console", lambda msg: result.console_errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: result.console_errors.append(f"uncaught: {exc}"))
            yield result
        finally:
            browser.close()


def wait_until(page: Any, predicate: str, timeout: float = 30_000, interval: float = 0.02) -> None:
    """Wait until ``predicate`` is truthy in ``page``, for at most ``timeout`` ms: a JavaScript
    expression, or a function of no arguments (``"() => ..."``) that is called.

    Playwright's ``page.wait_for_function`` polls by evaluating its string with eval() inside the
    page, which the pages' Content-Security-Policy (no 'unsafe-eval') refuses whenever the first
    check is not already true: a test failed or passed by timing. ``page.evaluate`` is not subject
    to the page's CSP, so this polls with it."""
    import time

    call = predicate if predicate.lstrip().startswith("() =>") else f"() => ({predicate})"
    deadline = time.monotonic() + timeout / 1000
    while True:
        if page.evaluate(call):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout / 1000:g} s: {predicate}")
        time.sleep(interval)
