"""The moving one-stop in headless Chromium on a phone, then a clerk approves it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from kiban.procedures.models import Application
from kiban.registry.models import OPEN_END, EventKind, PersonState, RegistryEvent, Status
from tests import factories
from tests.procedures.conftest import give_card, make_household, move_out_answers, serve_static

# The README's screenshots are refreshed only on request (KIBAN_SCREENSHOTS=1), so that a
# test run never changes tracked files; otherwise they go to a scratch directory.
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("KIBAN_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "kiban-e2e-screenshots"
)


@pytest.mark.django_db(transaction=True)
def test_resident_moves_out_on_a_phone_and_a_clerk_approves(
    live_server: Any, phone: Any, page: Any
) -> None:
    from kiban.core.actors import staff_actor

    SHOTS.mkdir(parents=True, exist_ok=True)
    m = factories.municipality()
    h = make_household(m, staff_actor(factories.staff(m, "registry_clerk")))
    factories.staff(m, "procedures_reviewer", "registry_clerk", username="e2e-reviewer")
    give_card(h.head)
    url = live_server.url
    serve_static(phone)
    serve_static(page)

    # Resident: card sign-in (demo card), then the moving life event.
    phone.goto(f"{url}/login/?next=/life-events/moving/")
    phone.get_by_test_id(f"demo-login-{h.head.pk}").click()
    phone.wait_for_url(f"{url}/life-events/moving/")
    phone.get_by_role("button", name="まとめて申請を始める").click()

    # Page 1: the move. Prefilled facts are shown, not asked.
    assert phone.get_by_text("見本　太郎（ミホン　タロウ）").is_visible()
    phone.get_by_role("button", name="次へ").click()  # nothing filled: every error at once
    summary = phone.locator("#error-summary")
    assert summary.is_visible()
    assert summary.get_by_role("link").count() == 1  # the date (the applicant is preselected)
    phone.get_by_label("引越し予定日").fill(move_out_answers(h)["planned_date"])
    phone.get_by_label("見本　花子（妻）").check()
    phone.get_by_label("見本　一郎（子）").check()
    phone.screenshot(path=str(SHOTS / "procedures-resident-form.png"), full_page=True)
    phone.get_by_role("button", name="次へ").click()

    # Page 2: the new address (once, for every procedure of the bundle).
    phone.get_by_label("新住所の郵便番号").fill("100-0001")
    phone.get_by_label("新住所", exact=True).fill("東京都千代田区千代田1番1号")
    phone.get_by_role("button", name="次へ").click()
    # Page 3: what only 印鑑登録廃止 asks (optional).
    phone.get_by_role("button", name="次へ").click()

    # Check your answers, then sign every payload in one step.
    assert phone.get_by_role("heading", name="入力内容の確認").is_visible()
    for name in ("転出届", "国民健康保険 資格喪失届", "印鑑登録廃止申請"):
        assert phone.get_by_role("heading", name=name).is_visible()
    phone.screenshot(path=str(SHOTS / "procedures-resident-check.png"), full_page=True)
    phone.get_by_role("link", name="署名に進む").click()
    phone.get_by_label("署名用電子証明書のパスワード").fill("DEMO1234")
    phone.get_by_role("button", name="署名して送信する").click()
    phone.wait_for_url(f"{url}/applications/*")
    assert phone.get_by_text("3件の申請を受け付けました").is_visible()
    phone.screenshot(path=str(SHOTS / "procedures-resident-submitted.png"), full_page=True)
    apps = list(Application.objects.filter(municipality=m).order_by("pk"))
    assert len(apps) == 3 and len({a.bundle_id for a in apps}) == 1
    move_out = apps[0]
    assert move_out.procedure_id == "move-out"

    # Clerk: inbox, side-by-side review, approve.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}/console/login/?next=/console/applications/")
    page.get_by_label("ユーザー名").fill("e2e-reviewer")
    page.get_by_label("パスワード").fill(factories.PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{url}/console/applications/")
    page.get_by_role("link", name=f"#{move_out.pk}", exact=True).click()
    assert page.get_by_role("heading", name="住民記録（現在）").is_visible()
    assert page.get_by_text("検証済み").is_visible()
    page.screenshot(path=str(SHOTS / "procedures-clerk-review.png"), full_page=True)
    page.get_by_role("button", name="承認する").click()
    assert page.get_by_text("判定を記録しました").is_visible()

    # The registry shows the move.
    for person in (h.head, h.spouse, h.child):
        assert PersonState.objects.get(person=person, valid_to=OPEN_END).status == Status.MOVED_OUT
    assert RegistryEvent.objects.filter(municipality=m, kind=EventKind.MOVE_OUT).count() == 1

    # The resident is told: a message in the application's thread (their card session ends
    # with the move, as a JPKI certificate does with an address change).
    move_out.refresh_from_db()
    assert move_out.status == "approved"
    assert move_out.messages.filter(status_after="approved", from_staff=True).exists()
