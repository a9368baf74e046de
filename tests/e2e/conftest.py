"""Browser tests: Playwright driving Debian's headless Chromium against live_server."""

import os
import shutil
from collections.abc import Iterator

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by
# the test itself are safe here (one thread, no concurrent use).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("KIBAN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's 'chromium' package")
    from playwright.sync_api import sync_playwright

    # Module scope: Playwright's event loop is closed before other test modules run, so
    # tests that call asyncio.run() afterwards are not disturbed.
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(locale="ja-JP")  # type: ignore[attr-defined]
    p = context.new_page()
    yield p
    context.close()


@pytest.fixture
def phone(browser: object) -> Iterator[object]:
    """A phone-sized viewport (iPhone-class width)."""
    context = browser.new_context(  # type: ignore[attr-defined]
        locale="ja-JP", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    p = context.new_page()
    yield p
    context.close()
