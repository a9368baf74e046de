"""A resident signs in with a demo card, requests 住民票の写し and downloads the PDF."""

from __future__ import annotations

from typing import Any

import pytest

from kiban.identity import demo
from kiban.identity.cards import SoftCard
from kiban.identity.services import DEMO_SIGN_PIN
from tests import factories
from tests.identity.helpers import resident


@pytest.mark.django_db(transaction=True)
def test_demo_card_login_request_and_download(
    live_server: Any, page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SoftCard, "kdf_rounds", 1000)
    m = factories.municipality()
    person = resident(m, family="試験", given="花子")
    demo.seed(municipality=m, residents=0, cards=1)

    page.goto(f"{live_server.url}/mypage/")
    assert "/login/" in page.url
    assert page.get_by_role("heading", name="デモ用カードでログイン").is_visible()
    page.get_by_test_id(f"demo-login-{person.pk}").click()
    page.wait_for_url(f"{live_server.url}/mypage/")
    assert page.get_by_test_id("resident-name").inner_text().startswith("試験")

    page.get_by_role("link", name="請求する").click()
    page.get_by_label("世帯全員").check()
    page.get_by_label("世帯主の氏名と続柄を記載する").check()
    page.get_by_role("button", name="確認へ進む").click()
    page.wait_for_url(f"{live_server.url}/juminhyo/confirm/")

    # A wrong PIN is reported next to the form, in both languages, and costs a try.
    page.get_by_label("署名用パスワード（6〜16文字）").fill("WRONG99")
    page.get_by_role("button", name="署名して請求する").click()
    assert "暗証番号が違います" in page.get_by_role("alert").inner_text()
    page.get_by_label("署名用パスワード（6〜16文字）").fill(DEMO_SIGN_PIN)
    page.get_by_role("button", name="署名して請求する").click()
    page.wait_for_url(f"{live_server.url}/mypage/**")
    assert page.get_by_text("承認").first.is_visible()

    link = page.locator("a[data-testid^=download-]").filter(has_text="juminhyo").first
    with page.expect_download() as info:
        link.click()
    download = info.value
    path = download.path()
    with open(path, "rb") as handle:
        assert handle.read(5) == b"%PDF-"
    assert download.suggested_filename.startswith("juminhyo-")
