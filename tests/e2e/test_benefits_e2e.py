"""Benefit payments in headless Chromium: the resident's 公金受取口座, treasury's four-eyes
batch and its Zengin file, and the dashboard on a phone and a desktop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from kiban.benefits import services
from kiban.benefits.bankdays import next_bank_business_day
from kiban.benefits.models import BankAccount, PaymentBatch
from kiban.benefits.testcity import generate_city
from kiban.core.actors import operator_actor, staff_actor
from kiban.core.models import Municipality
from tests import factories
from tests.benefits.conftest import BASE, household_program
from tests.e2e.test_accessibility import violations
from tests.procedures.conftest import Household, give_card, make_household, serve_static

CRLF = b"\r\n"


@pytest.fixture
def small_phone(browser: Any) -> Iterator[Any]:
    """The narrowest phone in common use (iPhone SE / mini class, 375 CSS px)."""
    context = browser.new_context(
        locale="ja-JP", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    p = context.new_page()
    serve_static(p)
    yield p
    context.close()


def _household_with_program(m: Municipality) -> Household:
    """One registered household (3 people) and a push household program on today's base date."""
    h = make_household(m, staff_actor(factories.staff(m, "registry_clerk")))
    household_program(m, operator_actor("test"), base_date=timezone.localdate().isoformat())
    return h


def _console_login(page: Any, url: str, username: str, next_path: str) -> None:
    page.goto(f"{url}/console/login/?next={next_path}")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(factories.PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{url}{next_path}")


def _post_status(page: Any, path: str) -> int:
    """POST from the signed-in page with its CSRF token (what a crafted form would do)."""
    return int(
        page.evaluate(
            """async (path) => {
                const token = document.querySelector('input[name=csrfmiddlewaretoken]').value;
                const body = new FormData();
                body.append('csrfmiddlewaretoken', token);
                const r = await fetch(path, {method: 'POST', body, redirect: 'manual'});
                return r.status;
            }""",
            path,
        )
    )


def _described_by(page: Any, field_id: str) -> str:
    """The text a screen reader announces with the field (every referenced id must exist)."""
    return str(
        page.evaluate(
            """(id) => (document.getElementById(id).getAttribute('aria-describedby') || '')
                .split(/\\s+/).filter(Boolean)
                .map(ref => document.getElementById(ref).textContent).join(' ')""",
            field_id,
        )
    )


def _overflow(page: Any) -> dict[str, Any]:
    """Widths that would mean something sticks out sideways."""
    return dict(
        page.evaluate(
            """() => ({
                cards: [...document.querySelectorAll('.card, main figure, main table, dl')]
                    .filter(c => c.scrollWidth > c.clientWidth)
                    .map(c => c.textContent.trim().slice(0, 40)),
                doc: document.documentElement.scrollWidth,
                win: window.innerWidth,
                count: document.querySelectorAll('.card').length,
            })"""
        )
    )


# --------------------------------------------------------------------------- (a) portal


@pytest.mark.django_db(transaction=True)
def test_resident_registers_an_account_errors_first_then_saved_masked(
    live_server: Any, page: Any
) -> None:
    m = factories.municipality()
    h = _household_with_program(m)
    give_card(h.head)
    url = live_server.url
    serve_static(page)
    form_path = f"/benefits/{m.code}/flat/account/"  # what the notice letter's QR code opens

    page.goto(f"{url}{form_path}")
    assert "/login/" in page.url
    page.get_by_test_id(f"demo-login-{h.head.pk}").click()
    page.wait_for_url(f"{url}{form_path}")
    assert page.get_by_text("定額給付金テスト").is_visible()
    # The holder name is prefilled from the registry's kana.
    assert page.get_by_label("口座名義（カタカナ）").input_value() == "ミホン タロウ"
    assert violations(page) == []

    # An unknown bank: the message is next to the field and in the summary, in both languages.
    page.get_by_label("金融機関コード（4桁）").fill("9999")
    page.get_by_label("支店コード（3桁）").fill("001")
    page.get_by_label("口座番号（7桁以内）").fill("1234567")
    page.get_by_role("button", name="登録する").click()
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    inline = page.locator("#id_bank_code_error")
    for where in (summary, inline):
        text = where.inner_text()
        assert "金融機関コード 9999 の銀行が見つかりません" in text
        assert "No bank has the code 9999" in text
    assert summary.get_by_role("link").get_attribute("href") == "#id_bank_code"
    assert page.get_by_label("金融機関コード（4桁）").get_attribute("aria-invalid") == "true"
    assert "No bank has the code 9999" in _described_by(page, "id_bank_code")
    assert violations(page) == []
    assert not BankAccount.objects.exists()

    # A holder name in kanji cannot be written into a Zengin file: refused at that field.
    page.get_by_label("金融機関コード（4桁）").fill("0001")
    page.get_by_label("口座名義（カタカナ）").fill("見本 太郎")
    page.get_by_role("button", name="登録する").click()
    inline = page.locator("#id_holder_kana_error")
    assert "振込データに使えない文字です" in inline.inner_text()
    assert "cannot be used in a bank transfer file" in inline.inner_text()
    assert page.locator("#id_bank_code_error").count() == 0
    described = _described_by(page, "id_holder_kana")
    assert "ご本人名義に限ります" in described and "振込データに使えない文字です" in described
    assert summary.get_by_role("link").get_attribute("href") == "#id_holder_kana"
    assert not BankAccount.objects.exists()

    # A good entry is saved and shown masked: never the full account number.
    page.get_by_label("口座名義（カタカナ）").fill("ミホン　タロウ")
    page.get_by_label("口座番号（7桁以内）").fill("7654321")
    page.get_by_role("button", name="登録する").click()
    page.wait_for_url(f"{url}/benefits/")
    status = page.get_by_role("status")
    assert status.count() == 1  # shown once, by the base layout
    assert status.inner_text().startswith("公金受取口座を登録しました")
    body = page.locator("main").inner_text()
    assert "****321" in body and "7654321" not in body
    acc = BankAccount.objects.get()
    assert (acc.person_id, acc.account_number, acc.holder_zengin) == (
        h.head.pk,
        "7654321",
        "ﾐﾎﾝ ﾀﾛｳ",
    )
    assert acc.registered_via == "portal"


# --------------------------------------------------------------------------- (b) four eyes


def _zengin_records(data: bytes) -> list[bytes]:
    assert data.endswith(CRLF)
    records = data.split(CRLF)[:-1]
    assert all(len(r) == 120 for r in records), [len(r) for r in records]
    return records


@pytest.mark.django_db(transaction=True)
def test_treasury_four_eyes_then_a_valid_zengin_file(
    live_server: Any, page: Any, browser: Any
) -> None:
    m = factories.municipality()
    h = _household_with_program(m)
    clerk = staff_actor(factories.staff(m, "benefits_clerk"))
    services.register_account(
        actor=clerk, municipality=m, person=h.head, bank_code="0001", branch_code="001",
        account_type="1", account_number="1234567", holder_kana="ミホン タロウ", via="console",
    )  # fmt: skip
    services.compute_eligibility(actor=clerk, municipality=m, program_id="flat")
    alice = factories.staff(m, "benefits_clerk", username="e2e-alice")
    bob = factories.staff(m, "benefits_clerk", username="e2e-bob")
    day = next_bank_business_day(timezone.localdate() + timedelta(days=7))
    url, dash = live_server.url, "/console/benefits/flat/"

    # Clerk A prepares the batch.
    _console_login(page, url, "e2e-alice", dash)
    page.get_by_label("振込指定日").fill(day.isoformat())
    page.get_by_role("button", name="支払バッチを作成").click()
    page.wait_for_url(f"{url}{dash}")
    assert "を作成しました" in page.get_by_role("status").first.inner_text()
    batch = PaymentBatch.objects.get(municipality=m)
    assert (batch.state, batch.count, batch.total) == ("prepared", 1, 300_000)
    row = page.locator(f"tr[data-batch='{batch.pk}']")
    assert row.get_by_text("別の職員の承認待ち").is_visible()
    assert row.get_by_role("button", name="承認").count() == 0
    assert row.get_by_role("link", name="振込ファイル").count() == 0

    # A cannot approve their own batch nor fetch its file, even by crafting the requests.
    download = f"/console/benefits/batches/{batch.pk}/download/"
    assert _post_status(page, f"/console/benefits/batches/{batch.pk}/approve/") == 403
    assert page.request.get(f"{url}{download}").status == 403
    batch.refresh_from_db()
    assert batch.state == "prepared" and batch.approved_by == ""

    # Clerk B, in another browser, approves.
    other = browser.new_context(locale="ja-JP")
    try:
        b_page = other.new_page()
        _console_login(b_page, url, "e2e-bob", dash)
        b_row = b_page.locator(f"tr[data-batch='{batch.pk}']")
        b_row.get_by_role("button", name="承認").click()
        b_page.wait_for_url(f"{url}{dash}")
        assert b_page.get_by_role("status").count() == 1
        assert "承認しました" in b_page.get_by_role("status").inner_text()
    finally:
        other.close()
    batch.refresh_from_db()
    assert batch.state == "approved" and batch.approved_by == f"staff:{bob.pk}"
    assert batch.prepared_by == f"staff:{alice.pk}"

    # Now the file downloads (for the preparer too) and is a valid 総合振込 file.
    page.reload()
    row = page.locator(f"tr[data-batch='{batch.pk}']")
    with page.expect_download() as info:
        row.get_by_role("link", name="振込ファイル").click()
    with open(info.value.path(), "rb") as handle:
        data = handle.read()
    header, *body, trailer, end = _zengin_records(data)
    assert header[:1] == b"1" and header[1:3] == b"21" and header[3:4] == b"0"
    assert header[4:14] == b"1234567890"  # 依頼人コード from the municipality's settings
    assert header[54:58] == day.strftime("%m%d").encode()
    assert [r[:1] for r in body] == [b"2"] and trailer[:1] == b"8" and end[:1] == b"9"
    (record,) = body
    assert record[1:5] == b"0001" and record[20:23] == b"001" and record[43:50] == b"1234567"
    assert record[50:80].decode("cp932").rstrip() == "ﾐﾎﾝ ﾀﾛｳ"
    assert int(record[80:90]) == 300_000  # ¥100,000 × the household's 3 members
    assert int(trailer[1:7]) == len(body)
    assert int(trailer[7:19]) == sum(int(r[80:90]) for r in body)
    assert end[1:] == b" " * 119


# --------------------------------------------------------------------------- (c) dashboard


@pytest.mark.django_db(transaction=True)
def test_dashboard_chart_action_list_and_no_sideways_overflow(
    live_server: Any, page: Any, small_phone: Any
) -> None:
    m = factories.municipality()
    op = operator_actor("test")
    generate_city(m, households=60, base_date=BASE, seed=11)
    # A large per-person amount gives city-scale totals (hundreds of billions of yen, as a
    # ¥100,000 benefit for 3.77 million residents would) on a small synthetic city.
    household_program(m, op, amount={"fixed": 2_500_000_000})
    services.compute_eligibility(actor=op, municipality=m, program_id="flat")
    services.generate_demo_accounts(actor=op, municipality=m, share=0.6)
    rows = services.program_status(actor=op, municipality=m, program_id="flat")
    assert sum(r.amount for r in rows) >= 100_000_000_000
    no_account = next(r for r in rows if r.state == "no_account")
    assert no_account.count > 0
    factories.staff(m, "benefits_clerk", username="e2e-dash")
    url = live_server.url
    serve_static(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    _console_login(page, url, "e2e-dash", "/console/benefits/flat/")
    small_phone.context.add_cookies(page.context.cookies())
    for p in (page, small_phone):
        for path in ("/console/benefits/", "/console/benefits/flat/"):
            p.goto(f"{url}{path}")
            found = _overflow(p)
            width = p.viewport_size["width"]
            assert found["cards"] == [], (width, path, found)
            assert found["doc"] <= found["win"], (width, path, found)
            if path == "/console/benefits/":
                assert found["count"] >= 1

    # The chart by state draws one bar per state, the chart by town at least one row.
    for p in (page, small_phone):
        bars = p.locator("#chart-state rect")
        assert bars.count() == len(rows)
        assert p.locator("#chart-state").bounding_box()["width"] > 0
        assert p.locator("#chart-town g").count() >= 1
        action = p.locator("#action tbody tr")
        assert action.count() == min(no_account.count, 50)
        first = action.first
        assert first.get_by_text("口座未登録").is_visible()
        href = first.get_by_role("link", name="口座を登録・訂正").get_attribute("href")
        assert href.startswith("/console/benefits/accounts/")
    assert violations(page) == []
    assert violations(small_phone) == []
