"""Registry console in headless Chromium: household browsing, then 支援措置 hides a person."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from kiban.core.actors import staff_actor
from kiban.core.models import AuditEntry
from kiban.registry.models import Person
from tests import factories
from tests.e2e.test_accessibility import violations
from tests.procedures.conftest import serve_static
from tests.registry.core_factories import current, family


def sign_in(page: Any, url: str, username: str, next_path: str) -> None:
    page.goto(f"{url}/console/login/?next={next_path}")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(factories.PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def second_factor(page: Any, user: Any) -> None:
    """Answer the TOTP challenge with the code an authenticator app would show now."""
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="e2e", confirmed=True)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    page.get_by_label("確認コード").fill(f"{code:0{device.digits}d}")
    page.get_by_role("button", name="確認").click()


@pytest.mark.django_db(transaction=True)
def test_clerk_browses_household_and_admin_sets_support_measure(
    live_server: Any, browser: Any, page: Any
) -> None:
    m = factories.municipality()
    clerk = factories.staff(m, "registry_clerk", username="e2e-registry-clerk")
    admin = factories.staff(
        m, "municipality_admin", "registry_clerk", username="e2e-registry-admin"
    )
    _, head, spouse = family(staff_actor(clerk), m)
    hh = current(head).household
    assert hh is not None
    url = live_server.url
    serve_static(page)
    found: dict[str, list[str]] = {}

    # The clerk finds the spouse by reading and opens her household from her page.
    sign_in(page, url, "e2e-registry-clerk", "/console/registry/")
    page.wait_for_url(f"{url}/console/registry/")
    page.get_by_label("氏名（カナまたは漢字、一部でも可）").fill("ヤマダ")
    page.get_by_role("button", name="検索", exact=True).click()
    results = page.get_by_role("table")
    expect(results.get_by_role("link", name="山田\u3000花子")).to_be_visible()
    results.get_by_role("link", name="山田\u3000花子").click()
    page.wait_for_url(f"{url}/console/registry/persons/{spouse.resident_code}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("花子")
    page.get_by_role("link", name=re.compile("世帯の記録")).click()
    page.wait_for_url(re.compile(rf"/console/registry/households/{hh.household_no}/"))
    members = page.locator("table").first
    expect(members.get_by_role("link", name="山田\u3000太郎")).to_be_visible()
    expect(members.get_by_role("cell", name="妻", exact=True)).to_be_visible()
    found["household"] = violations(page)
    # The same household before the couple moved in: nobody.
    page.get_by_role("textbox", name=re.compile("基準日")).fill("2019-12-31")
    page.get_by_role("button", name="この日の世帯を表示").click()
    expect(page.get_by_text("この日に住民である世帯員はいません。")).to_be_visible()
    # A malformed date is a message next to the field, not an error page.
    page.get_by_role("textbox", name=re.compile("基準日")).fill("2026-02-30")
    page.get_by_role("button", name="この日の世帯を表示").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#id_as_of_error")).to_be_visible()
    found["household-with-errors"] = violations(page)

    # An administrator (second factor required) sets 支援措置 on the spouse.
    admin_context = browser.new_context(locale="ja-JP")
    try:
        admin_page = admin_context.new_page()
        serve_static(admin_page)
        person_path = f"/console/registry/persons/{spouse.resident_code}/"
        sign_in(admin_page, url, "e2e-registry-admin", person_path)
        admin_page.wait_for_url(re.compile("/console/otp/"))
        second_factor(admin_page, admin)
        admin_page.wait_for_url(f"{url}{person_path}")
        found["person-with-protection-form"] = violations(admin_page)
        admin_page.get_by_role("button", name="支援措置を設定する").click()  # no reason yet
        expect(admin_page.locator("#error-summary").get_by_role("link")).to_have_count(1)
        expect(admin_page.locator("#id_reason_error")).to_be_visible()
        found["protection-with-errors"] = violations(admin_page)
        admin_page.get_by_label("設定の理由").fill("支援措置申出書を受理（受付番号 R8-0001）")
        admin_page.get_by_role("button", name="支援措置を設定する").click()
        admin_page.wait_for_url(re.compile(r"purpose=support_measure"))
        expect(admin_page.get_by_text("支援措置を設定しました")).to_be_visible()
        expect(admin_page.locator("h1 .badge", has_text="支援措置対象")).to_be_visible()
    finally:
        admin_context.close()
    assert Person.objects.get(pk=spouse.pk).protected
    assert AuditEntry.objects.filter(
        action="registry.protection.set", subject_id=spouse.resident_code
    ).exists()

    # The clerk, not working on support measures, can no longer find her anywhere.
    page.goto(f"{url}/console/registry/")
    page.get_by_label("氏名（カナまたは漢字、一部でも可）").fill("ヤマダ")
    page.get_by_role("button", name="検索", exact=True).click()
    results = page.get_by_role("table")
    expect(results.get_by_role("link", name="山田\u3000太郎")).to_be_visible()
    expect(results.get_by_role("link", name="山田\u3000花子")).to_have_count(0)
    page.goto(f"{url}/console/registry/households/{hh.household_no}/")
    expect(page.get_by_role("link", name="山田\u3000太郎").first).to_be_visible()
    expect(page.get_by_text("山田\u3000花子")).to_have_count(0)
    response = page.goto(f"{url}/console/registry/persons/{spouse.resident_code}/")
    assert response is not None and response.status == 404
    assert {k: v for k, v in found.items() if v} == {}
