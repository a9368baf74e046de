"""Take the README's screenshots from a running demo server (`make run`).

    .venv/bin/python scripts/screenshots.py [http://127.0.0.1:8000]
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def login(page: Page, username: str) -> None:
    page.goto(f"{BASE}/console/login/")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill("kiban-demo-2026")
    page.get_by_role("button", name="ログイン").click()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        ctx = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        page.goto(f"{BASE}/")
        page.screenshot(path=str(OUT / "portal-landing.png"))
        login(page, "yokohama-clerk")
        page.goto(f"{BASE}/console/registry/?q=やま")
        page.screenshot(path=str(OUT / "console-registry-search.png"))
        link = page.locator("a[href*='/console/registry/persons/']").first
        if link.count():
            link.click()
            page.screenshot(path=str(OUT / "console-person.png"), full_page=True)
        ctx.close()
        ctx = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
        page = ctx.new_page()
        login(page, "yokohama-benefits")
        page.goto(f"{BASE}/console/benefits/")
        page.screenshot(path=str(OUT / "console-benefits.png"), full_page=True)
        ctx.close()
        browser.close()


if __name__ == "__main__":
    main()
