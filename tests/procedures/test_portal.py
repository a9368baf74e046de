"""Portal and console pages with Django's test client (no JavaScript involved anywhere)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from kiban.procedures.models import Application, AppStatus
from kiban.registry.models import OPEN_END, PersonState, Status
from tests import factories
from tests.procedures.conftest import Household, move_out_answers, resident_client, submit

pytestmark = pytest.mark.django_db


def html(r: Any) -> str:
    return r.content.decode()


def walk_to_check(c: Client, url: str, pages: list[dict[str, Any]]) -> str:
    for data in pages:
        r = c.post(url, data)
        assert r.status_code == 302, html(r)[:3000]
        url = r["Location"]
    while "/check/" not in url:  # pages the test has nothing to say on (optional fields)
        r = c.post(url, {})
        assert r.status_code == 302, html(r)[:3000]
        url = r["Location"]
    return url


def test_catalog_search_and_life_events(household: Household) -> None:
    c = Client()
    r = c.get("/procedures/?q=引越し")
    assert "転出届" in html(r) and "罹災証明書" not in html(r)
    r = c.get("/procedures/?event=childbirth")
    assert "児童手当" in html(r) and "転出届" not in html(r)
    r = c.get("/procedures/move-out/")
    body = html(r)
    assert "住民基本台帳法第24条" in body and "添付書類は不要" in body
    assert "/login/?next=/procedures/move-out/" in body


def test_moving_one_stop_signs_once_and_submits_each_procedure(household: Household) -> None:
    c = resident_client(household.head)
    r = c.post("/life-events/moving/start/", {"procedures": ["nhi-withdraw"]})
    first = r["Location"]
    body = html(c.get(first))
    assert "見本　太郎" in body and "山下町1番地" in body  # prefilled facts shown, not asked
    check = walk_to_check(
        c,
        first,
        [
            {
                "move_date": move_out_answers(household)["planned_date"],
                "movers": [
                    household.head.resident_code,
                    household.spouse.resident_code,
                    household.child.resident_code,
                ],
            },
            {
                "new_postcode": "100-0001",
                "new_address": "東京都千代田区千代田1-1",
                "email": "taro@example.jp",
            },
        ],
    )
    body = html(c.get(check))
    assert "転出届" in body and "国民健康保険 資格喪失届" in body
    assert "印鑑登録廃止申請" not in body  # not chosen
    sign = check.replace("/check/", "/sign/")
    r = c.post(sign, {"sign_pin": "wrong"})
    assert r.status_code == 400 and not Application.objects.exists()
    r = c.post(sign, {"sign_pin": "DEMO1234"})
    assert r.status_code == 302
    apps = list(Application.objects.order_by("pk"))
    assert [a.procedure_id for a in apps] == ["move-out", "nhi-withdraw"]
    assert apps[0].bundle_id and apps[0].bundle_id == apps[1].bundle_id
    assert all(a.verification["result"] == "valid" and a.channel == "portal" for a in apps)
    listing = html(c.get(r["Location"]))
    assert f"/applications/{apps[0].pk}/" in listing


def test_every_error_is_listed_and_shown_next_to_its_field(household: Household) -> None:
    c = resident_client(household.head)
    r = c.post("/procedures/move-out/start/")
    r = c.post(r["Location"], {"planned_date": "2026/02/30", "movers": []})
    assert r.status_code == 422
    body = html(r)
    summary = body[
        body.index('class="error-summary"') : body.index("</div>", body.index("error-summary"))
    ]
    assert 'href="#f-planned_date"' in summary and 'href="#f-movers"' in summary
    assert 'id="f-planned_date"' in body and 'aria-invalid="true"' in body
    assert re.search(r'class="field-error" id="f-planned_date-error"', body)
    # Both languages, the resident's first.
    assert "存在しない日付" in body and "not a valid calendar date" in body


def test_english_interface(household: Household) -> None:
    c = resident_client(household.head)
    c.post("/i18n/setlang/", {"language": "en", "next": "/"})
    r = c.post("/procedures/move-out/start/")
    r = c.post(r["Location"], {"planned_date": "", "movers": []})
    body = html(r)
    assert "Moving date" in body
    assert body.index("Enter: Moving date") < body.index("「引越し予定日」を入力してください")


def test_pending_duplicate_is_refused_with_a_link(household: Household) -> None:
    first = submit(household.head, "move-out", move_out_answers(household))
    c = resident_client(household.head)
    r = c.post("/procedures/move-out/start/")
    check = walk_to_check(
        c,
        r["Location"],
        [
            {
                "planned_date": move_out_answers(household)["planned_date"],
                "movers": move_out_answers(household)["movers"],
            },
            {"new_postcode": "1000001", "new_address": "東京都千代田区"},
        ],
    )
    r = c.post(check.replace("/check/", "/sign/"), {"sign_pin": "DEMO1234"})
    assert r.status_code == 400
    assert f'href="/applications/{first.pk}/"' in html(r)
    assert Application.objects.count() == 1


def test_returned_application_is_corrected_and_resubmitted(
    household: Household, reviewer: Any
) -> None:
    staff = factories.logged_in_client(reviewer)
    app = submit(household.head, "move-out", move_out_answers(household))
    r = staff.post(f"/console/applications/{app.pk}/", {"action": "return", "reason": ""})
    assert r.status_code == 400  # the message to the resident is required
    staff.post(
        f"/console/applications/{app.pk}/", {"action": "return", "reason": "番地を確認してください"}
    )
    app.refresh_from_db()
    assert app.status == AppStatus.RETURNED
    c = resident_client(household.head)
    body = html(c.get(f"/applications/{app.pk}/"))
    assert "番地を確認してください" in body and 'value="correct"' in body
    r = c.post(f"/applications/{app.pk}/", {"action": "correct"})
    first_page = r["Location"]
    assert move_out_answers(household)["planned_date"] in html(c.get(first_page))  # prefilled
    check = walk_to_check(
        c,
        first_page,
        [
            {
                "planned_date": move_out_answers(household)["planned_date"],
                "movers": move_out_answers(household)["movers"],
            },
            {"new_postcode": "1000001", "new_address": "東京都千代田区千代田2番"},
        ],
    )
    r = c.post(check.replace("/check/", "/sign/"), {"sign_pin": "DEMO1234"})
    assert r.status_code == 302
    app.refresh_from_db()
    new = Application.objects.exclude(pk=app.pk).get()
    assert app.status == AppStatus.SUPERSEDED and new.supersedes_id == app.pk


def test_clerk_reviews_side_by_side_and_approval_moves_the_registry(
    household: Household, reviewer: Any
) -> None:
    app = submit(household.head, "move-out", move_out_answers(household, days=-1))
    spouse = resident_client(household.spouse)
    # The spouse is in the same household but cannot see the head's application.
    assert spouse.get(f"/applications/{app.pk}/").status_code == 404
    staff = factories.logged_in_client(reviewer)
    inbox = html(staff.get("/console/applications/?status=pending"))
    assert f"/console/applications/{app.pk}/" in inbox
    assert f"/console/applications/{app.pk}/" not in html(
        staff.get("/console/applications/?department=children")
    )
    body = html(staff.get(f"/console/applications/{app.pk}/"))
    assert (
        "検証済み" in body and "住民記録（現在）" in body and household.head.resident_code in body
    )
    r = staff.post(f"/console/applications/{app.pk}/", {"action": "approve"})
    assert r.status_code == 302
    state = PersonState.objects.get(person=household.head, valid_to=OPEN_END)
    assert state.status == Status.MOVED_OUT
    body = html(staff.get(f"/console/applications/{app.pk}/"))
    assert "承認" in body and "転出" in body  # decision and the new registry event shown


def test_resident_downloads_the_decision_letter(household: Household, reviewer: Any) -> None:
    app = submit(household.spouse, "inquiry", {"topic": "a", "message": "b"})
    staff = factories.logged_in_client(reviewer)
    staff.post(f"/console/applications/{app.pk}/", {"action": "reject", "reason": "回答済み"})
    c = resident_client(household.spouse)
    body = html(c.get(f"/applications/{app.pk}/"))
    doc = app.documents.get()
    assert f"/applications/{app.pk}/documents/{doc.pk}/" in body
    r = c.get(f"/applications/{app.pk}/documents/{doc.pk}/")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")


def test_counter_entry_page(household: Household, reviewer: Any) -> None:
    staff = factories.logged_in_client(reviewer)
    url = (
        f"/console/applications/counter/?resident={household.head.resident_code}&procedure=inquiry"
    )
    body = html(staff.get(url))
    token = re.search(r'name="form_token" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]
    data = {"form_token": token, "procedure": "inquiry", "resident": household.head.resident_code}
    r = staff.post(url, {**data, "topic": ""})
    assert r.status_code == 422 and 'href="#f-topic"' in html(r)
    r = staff.post(url, {**data, "topic": "窓口", "message": "紙の申請"})
    assert r.status_code == 302
    r2 = staff.post(url, {**data, "topic": "窓口", "message": "紙の申請"})  # double submit
    assert r2["Location"] == r["Location"]
    app = Application.objects.get()
    assert app.channel == "counter" and app.entered_by == reviewer.username


def test_console_needs_the_reviewer_role(household: Household) -> None:
    clerk = factories.logged_in_client(factories.staff(household.m, "registry_clerk"))
    assert clerk.get("/console/applications/").status_code == 403


def test_admin_turns_procedures_off_and_on(household: Household) -> None:
    admin = factories.logged_in_client(factories.staff(household.m, "municipality_admin"))
    body = html(admin.get("/console/applications/procedures/"))
    assert "inquiry" in body and "受付中" in body
    admin.post("/console/applications/procedures/", {"procedure": "inquiry", "action": "disable"})
    assert "お問い合わせ" not in html(Client().get("/procedures/"))
    admin.post("/console/applications/procedures/", {"procedure": "inquiry", "action": "enable"})
    assert "お問い合わせ" in html(Client().get("/procedures/"))
    reviewer = factories.logged_in_client(factories.staff(household.m, "procedures_reviewer"))
    assert reviewer.get("/console/applications/procedures/").status_code == 403


def test_juminhyo_request_through_the_catalog_is_issued_at_once(household: Household) -> None:
    c = resident_client(household.spouse)
    r = c.post("/procedures/juminhyo-copy-request/start/")
    check = walk_to_check(c, r["Location"], [{"scope": "self", "copies": "1"}])
    r = c.post(check.replace("/check/", "/sign/"), {"sign_pin": "DEMO1234"})
    assert r.status_code == 302
    app = Application.objects.get()
    assert app.status == AppStatus.APPROVED
    doc = app.documents.get(kind="juminhyo")
    r = c.get(f"/applications/{app.pk}/documents/{doc.pk}/")
    assert r.content.startswith(b"%PDF")


def test_repeating_group_adds_rows_without_javascript(household: Household) -> None:
    c = resident_client(household.spouse)
    first = c.post("/procedures/child-allowance/start/")["Location"]
    row0 = {
        "children.count": "1",
        "children.0.name": "見本 一郎",
        "children.0.kana": "ミホン イチロウ",
        "children.0.birth_date": household.child.birth_date.isoformat(),
    }
    r = c.post(first, {**row0, "_add": "children"})
    body = html(r)
    assert r.status_code == 200 and 'name="children.1.name"' in body
    assert 'value="見本 一郎"' in body  # the first row is kept
    r = c.post(
        first,
        {
            **row0,
            "children.count": "2",
            "children.1.name": "見本 二郎",
            "children.1.kana": "ﾐﾎﾝ ｼﾞﾛｳ",
            "children.1.birth_date": "令和7年2月1日",
        },
    )
    assert r.status_code == 302
    draft = next(iter(c.session["kiban_journeys"].values()))
    kids = draft["answers"]["child-allowance"]["children"]
    assert [k["name"] for k in kids] == ["見本 一郎", "見本 二郎"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_attachments_are_signed_with_the_payload_and_reach_the_reviewer(
    household: Household, reviewer: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kiban.procedures.ledger import read_payload

    c = resident_client(household.head)
    first = c.post("/procedures/disaster-certificate/start/")["Location"]
    r = c.post(
        first,
        {"disaster_date": "2026-11-01", "disaster_kind": "storm", "damage": "屋根が破損"},
    )
    r = c.post(r["Location"], {"phone": "045-000-0000"})
    assert r["Location"].endswith("/attachments/")
    bad = c.post(
        r["Location"], {"file-disaster-certificate-photos": SimpleUploadedFile("a.exe", b"MZ")}
    )
    assert bad.status_code == 422 and "PDF・JPEG・PNG" in html(bad)
    ok = c.post(
        r["Location"], {"file-disaster-certificate-photos": SimpleUploadedFile("roof.png", PNG)}
    )
    check = ok["Location"]
    assert "roof.png" in html(c.get(check))
    r = c.post(check.replace("/check/", "/sign/"), {"sign_pin": "DEMO1234"})
    assert r.status_code == 302
    app = Application.objects.get()
    att = app.attachments.get()
    assert read_payload(app.payload)["_attachments"] == {"photos": att.sha256}
    staff = factories.logged_in_client(reviewer)
    assert "roof.png" in html(staff.get(f"/console/applications/{app.pk}/"))
    r = staff.get(f"/console/applications/{app.pk}/attachments/{att.pk}/")
    assert r.content == PNG


def test_reading_the_application_marks_the_municipalitys_messages_read(
    household: Household, reviewer: Any
) -> None:
    app = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    staff = factories.logged_in_client(reviewer)
    staff.post(f"/console/applications/{app.pk}/", {"action": "message", "reason": "確認します"})
    c = resident_client(household.head)
    assert "新着 1件" in html(c.get(f"/applications/{app.pk}/"))
    assert "新着" not in html(c.get(f"/applications/{app.pk}/"))
    assert not app.messages.filter(from_staff=True, read_at__isnull=True).exists()
