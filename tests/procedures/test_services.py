"""Workflow services: approval effects, decisions, duplicates, counter entry, tenancy, roles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from kiban.core.actors import operator_actor, staff_actor
from kiban.core.errors import Conflict, Forbidden, KibanError, NotFound, ValidationFailed
from kiban.core.models import AuditEntry
from kiban.procedures import catalog, services
from kiban.procedures.effects import child_allowance_amount
from kiban.procedures.models import Application, ApplicationMessage, AppStatus
from kiban.registry.models import OPEN_END, EventKind, PersonState, RegistryEvent, Status
from tests import factories
from tests.procedures.conftest import Household, make_household, move_out_answers, signed, submit

pytestmark = pytest.mark.django_db


def state(person: Any) -> PersonState:
    return PersonState.objects.get(person=person, valid_to=OPEN_END)


def approve(
    reviewer: Any, app: Application, decision: str = "approve", reason: str = ""
) -> Application:
    return services.decide(
        actor=staff_actor(reviewer),
        municipality=app.municipality,
        application_id=app.pk,
        decision=decision,
        reason=reason,  # type: ignore[arg-type]
    )


def test_approved_move_out_records_the_registry_event(
    household: Household, reviewer: Any, django_capture_on_commit_callbacks: Any
) -> None:
    answers = move_out_answers(household, days=-2)
    app = submit(household.head, "move-out", {**answers, "email": "taro@example.jp"})
    assert app.subject_key == f"move-out:{household.head.pk}"
    assert app.email == "taro@example.jp"
    with django_capture_on_commit_callbacks(execute=True):
        approve(reviewer, app)
    app.refresh_from_db()
    assert app.status == AppStatus.APPROVED
    event = RegistryEvent.objects.get(municipality=household.m, kind=EventKind.MOVE_OUT)
    assert event.event_date.isoformat() == answers["planned_date"]
    assert "千代田区千代田1番1号" in event.details["destination"]
    for p in (household.head, household.spouse, household.child):
        assert state(p).status == Status.MOVED_OUT
    # Status message in the portal thread, email through the notification plugin, audit entry.
    assert app.messages.filter(status_after=AppStatus.APPROVED, from_staff=True).exists()
    assert [m.to for m in mail.outbox] == [["taro@example.jp"]]
    assert AuditEntry.objects.filter(action="application.approved", subject_id=str(app.pk)).exists()
    assert app.documents.filter(kind="decision_letter").exists()


def test_approved_move_within_records_the_new_address(household: Household, reviewer: Any) -> None:
    app = submit(
        household.spouse,
        "move-within",
        {
            "moved_date": (timezone.localdate() - timedelta(days=3)).isoformat(),
            "movers": [
                household.head.resident_code,
                household.spouse.resident_code,
                household.child.resident_code,
            ],
            "new_postcode": "2310062",
            "new_town": "桜木町1丁目",
            "new_address_detail": "2番地3",
            "new_building": "みなとハイツ101",
        },
    )
    approve(reviewer, app)
    s = state(household.child)
    assert s.status == Status.RESIDENT
    assert s.town_name == "桜木町"
    assert s.address_detail == "1丁目2番地3"
    assert s.building == "みなとハイツ101"
    assert RegistryEvent.objects.filter(kind=EventKind.MOVE_WITHIN).count() == 1


def test_approved_child_allowance_creates_the_entitlement(
    household: Household, reviewer: Any
) -> None:
    from kiban.benefits.models import Entitlement

    app = submit(
        household.spouse,
        "child-allowance",
        {
            "children": [
                {
                    "name": "見本 一郎",
                    "kana": "ミホン イチロウ",
                    "birth_date": household.child.birth_date.isoformat(),
                    "lives_with": True,
                }
            ],
            "account": {
                "bank_code": "0001",
                "branch_code": "001",
                "account_type": "1",
                "account_number": "1234567",
                "holder_kana": "ミホン ハナコ",
            },
        },
    )
    approve(reviewer, app)
    ent = Entitlement.objects.get(person=household.spouse)
    assert ent.amount == 15000  # one child under 3
    assert ent.reference == f"application:{app.pk}"


def test_child_allowance_amounts() -> None:
    today = timezone.localdate()
    params = {"amount_under_3": 15000, "amount_standard": 10000, "amount_third_child": 30000}
    kids = [
        {"birth_date": (today - timedelta(days=365 * 10)).isoformat()},
        {"birth_date": (today - timedelta(days=365 * 5)).isoformat()},
        {"birth_date": (today - timedelta(days=100)).isoformat()},
        {"birth_date": (today - timedelta(days=365 * 19)).isoformat()},  # too old
    ]
    # Ranked by age among eligible: 10y standard, 5y standard, third child 30,000.
    assert child_allowance_amount(kids, params, on=today) == 10000 + 10000 + 30000


def test_effect_failure_rolls_the_decision_back(household: Household) -> None:
    """A reviewer without the registry role cannot approve a 転出届; nothing half-done."""
    only_reviewer = factories.staff(household.m, "procedures_reviewer")
    app = submit(household.head, "move-out", move_out_answers(household))
    with pytest.raises(Forbidden):
        approve(only_reviewer, app)
    app.refresh_from_db()
    assert app.status == AppStatus.SUBMITTED
    assert not app.messages.exists()
    assert not RegistryEvent.objects.filter(kind=EventKind.MOVE_OUT).exists()
    assert state(household.head).status == Status.RESIDENT


def test_reject_and_return_need_a_reason_and_decide_once(
    household: Household, reviewer: Any
) -> None:
    app = submit(household.head, "inquiry", {"topic": "ごみ", "message": "質問です"})
    with pytest.raises(ValidationFailed) as info:
        approve(reviewer, app, "reject")
    assert info.value.code == "reason_required"
    approve(reviewer, app, "reject", "対象外です")
    app.refresh_from_db()
    assert app.status == AppStatus.REJECTED and app.decision_reason == "対象外です"
    with pytest.raises(Conflict) as again:
        approve(reviewer, app)
    assert again.value.code == "application_not_open"


def test_second_pending_application_for_the_same_event_is_refused(household: Household) -> None:
    first = submit(household.head, "move-out", move_out_answers(household))
    with pytest.raises(KibanError) as info:
        submit(household.head, "move-out", move_out_answers(household, days=12))
    assert info.value.code == "application_pending"
    assert info.value.status == 409
    assert info.value.details["url"] == f"/applications/{first.pk}/"
    assert Application.objects.filter(procedure_id="move-out").count() == 1


def test_after_a_decision_the_event_may_be_applied_for_again(
    household: Household, reviewer: Any
) -> None:
    first = submit(household.head, "move-out", move_out_answers(household))
    approve(reviewer, first, "reject", "日付の誤り")
    second = submit(household.head, "move-out", move_out_answers(household, days=5))
    assert second.pk != first.pk


def test_counter_entry_shares_the_ledger_and_the_duplicate_check(
    household: Household, reviewer: Any
) -> None:
    actor = staff_actor(reviewer)
    app, created = services.submit_counter_application(
        actor=actor,
        municipality=household.m,
        person=household.head,
        procedure_id="move-out",
        answers=move_out_answers(household),
        form_token="tok-1",
    )
    assert created and app.channel == "counter" and app.entered_by == reviewer.username
    assert app.signature is None
    # The same form submitted twice is one application.
    again, created2 = services.submit_counter_application(
        actor=actor,
        municipality=household.m,
        person=household.head,
        procedure_id="move-out",
        answers=move_out_answers(household),
        form_token="tok-1",
    )
    assert again.pk == app.pk and not created2
    # Online after paper for the same event: refused.
    with pytest.raises(KibanError) as info:
        submit(household.head, "move-out", move_out_answers(household))
    assert info.value.code == "application_pending"
    audit = AuditEntry.objects.get(action="application.submitted", subject_id=str(app.pk))
    assert audit.actor_id == actor.id and audit.details["channel"] == "counter"


def test_counter_entry_validates_like_the_portal(household: Household, reviewer: Any) -> None:
    other = make_household(household.m, household.clerk, "別所", "ベッショ")
    with pytest.raises(ValidationFailed) as info:
        services.submit_counter_application(
            actor=staff_actor(reviewer),
            municipality=household.m,
            person=household.head,
            procedure_id="move-out",
            answers={
                **move_out_answers(household),
                "movers": [other.head.resident_code],
                "new_postcode": "x",
            },
            form_token="tok-2",
        )
    fields = {p["field"]: p["code"] for p in info.value.details}
    assert fields == {"new_postcode": "postcode_invalid", "movers": "not_household_member"}
    assert not Application.objects.exists()


def test_return_for_correction_and_resubmission_supersedes(
    household: Household, reviewer: Any
) -> None:
    first = submit(household.head, "move-out", move_out_answers(household))
    approve(reviewer, first, "return", "転出先の番地を確認してください")
    first.refresh_from_db()
    assert first.status == AppStatus.RETURNED
    corrected = submit(
        household.head, "move-out", {**move_out_answers(household), "_supersedes": first.pk}
    )
    first.refresh_from_db()
    assert first.status == AppStatus.SUPERSEDED
    assert corrected.supersedes_id == first.pk
    # Both signed payloads are kept as evidence.
    assert bytes(first.payload) != bytes(corrected.payload)
    assert first.signature and corrected.signature


def test_only_a_returned_application_can_be_superseded(household: Household) -> None:
    first = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    with pytest.raises(KibanError) as info:
        submit(household.head, "inquiry", {"topic": "a", "message": "c", "_supersedes": first.pk})
    assert info.value.code == "not_returned"


def test_resident_sees_only_own_applications_and_can_withdraw(household: Household) -> None:
    from kiban.core.actors import resident_actor

    app = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    me = resident_actor(person_pk=household.head.pk, municipality_code=household.m.code, label="t")
    spouse = resident_actor(
        person_pk=household.spouse.pk, municipality_code=household.m.code, label="s"
    )
    assert services.get_application(actor=me, municipality=household.m, application_id=app.pk)
    with pytest.raises(NotFound):
        services.get_application(actor=spouse, municipality=household.m, application_id=app.pk)
    with pytest.raises(NotFound):
        services.withdraw(actor=spouse, municipality=household.m, application_id=app.pk)
    services.withdraw(actor=me, municipality=household.m, application_id=app.pk)
    app.refresh_from_db()
    assert app.status == AppStatus.WITHDRAWN


def test_other_tenant_and_missing_role_are_refused(household: Household, reviewer: Any) -> None:
    app = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    other = factories.municipality(factories.CHIYODA[0])
    foreign = factories.staff(other, "procedures_reviewer", "registry_clerk")
    clerk = factories.staff(household.m, "registry_clerk")
    with pytest.raises(NotFound):
        services.decide(
            actor=staff_actor(foreign),
            municipality=household.m,
            application_id=app.pk,
            decision="approve",
        )
    with pytest.raises(NotFound):  # their own municipality does not hold it either
        services.decide(
            actor=staff_actor(foreign),
            municipality=other,
            application_id=app.pk,
            decision="approve",
        )
    with pytest.raises(Forbidden):
        services.inbox(actor=staff_actor(clerk), municipality=household.m)
    assert [
        a.pk for a in services.inbox(actor=staff_actor(reviewer), municipality=household.m)
    ] == [app.pk]


def test_inbox_filters(household: Household, reviewer: Any) -> None:
    a1 = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    a2 = submit(
        household.spouse, "move-out", move_out_answers(household, movers=[household.spouse])
    )
    Application.objects.filter(pk=a1.pk).update(created_at=timezone.now() - timedelta(days=10))
    actor = staff_actor(reviewer)
    m = household.m
    assert [a.pk for a in services.inbox(actor=actor, municipality=m, department="citizens")] == [
        a2.pk
    ]
    assert [a.pk for a in services.inbox(actor=actor, municipality=m, older_than_days=7)] == [a1.pk]
    approve(reviewer, a1, "reject", "x")
    assert [a.pk for a in services.inbox(actor=actor, municipality=m)] == [a2.pk]
    assert {a.pk for a in services.inbox(actor=actor, municipality=m, status="all")} == {
        a1.pk,
        a2.pk,
    }


def test_start_review_and_messages_notify(
    household: Household, reviewer: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.KIBAN_NOTIFY = ["portal", "demo"]
    from kiban.procedures.notify import DemoChannel

    DemoChannel.outbox.clear()
    app = submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    with pytest.raises(KibanError):
        services.post_message(
            actor=staff_actor(reviewer), municipality=household.m, application_id=app.pk, text="  "
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.start_review(
            actor=staff_actor(reviewer), municipality=household.m, application_id=app.pk
        )
        services.post_message(
            actor=staff_actor(reviewer),
            municipality=household.m,
            application_id=app.pk,
            text="確認中です",
        )
    texts = list(ApplicationMessage.objects.filter(application=app).values_list("text", flat=True))
    assert "確認中です" in texts and any("審査" in t for t in texts)
    # One notification per message, sent after commit (captured by the demo channel).
    assert [pk for pk, _ in DemoChannel.outbox] == [app.pk, app.pk]
    assert DemoChannel.outbox[1][1] == "確認中です"


def test_enable_disable_and_custom_procedures(household: Household) -> None:
    m = household.m
    op = operator_actor("t")
    assert catalog.get_procedure(m, "inquiry") is not None
    services.disable_procedure(actor=op, municipality=m, procedure_id="inquiry")
    assert catalog.get_procedure(m, "inquiry") is None
    with pytest.raises(KibanError) as info:
        submit(household.head, "inquiry", {"topic": "a", "message": "b"})
    assert info.value.code == "procedure_unknown"
    services.enable_procedure(actor=op, municipality=m, procedure_id="inquiry")
    assert catalog.get_procedure(m, "inquiry") is not None
    definition = dict(catalog.standard_procedure("inquiry").raw)  # type: ignore[union-attr]
    definition = {
        **definition,
        "id": "pet-registration",
        "name": {"ja": "犬の登録", "en": "Dog registration"},
    }
    services.save_custom_procedure(actor=op, municipality=m, definition=definition)
    assert catalog.get_procedure(m, "pet-registration") is not None
    other = factories.municipality(factories.CHIYODA[0])
    assert catalog.get_procedure(other, "pet-registration") is None
    with pytest.raises(ValidationFailed):
        services.save_custom_procedure(actor=op, municipality=m, definition={"id": "x"})
    admin_less = staff_actor(factories.staff(m, "procedures_reviewer"))
    with pytest.raises(Forbidden):
        services.disable_procedure(actor=admin_less, municipality=m, procedure_id="inquiry")


def test_an_enabled_list_restricts_the_catalog(household: Household) -> None:
    m = household.m
    m.settings = {**m.settings, "enabled_procedures": ["move-out"]}
    m.save()
    assert [p.id for p in catalog.enabled_procedures(m)] == ["move-out"]
    services.enable_procedure(actor=operator_actor("t"), municipality=m, procedure_id="inquiry")
    assert {p.id for p in catalog.enabled_procedures(m)} == {"move-out", "inquiry"}


def test_signed_payload_problems_are_refused_as_payload_invalid(household: Household) -> None:
    from kiban.identity.intake import submit_signed_application

    payload, signature = signed(household.head, "move-out", {"planned_date": "someday"})
    with pytest.raises(KibanError) as info:
        submit_signed_application(
            municipality=household.m,
            procedure_id="move-out",
            payload=payload,
            signature=signature,
            channel="api",
        )
    assert info.value.code == "payload_invalid"
    assert len(info.value.details) >= 3  # date, movers, postcode, address
    assert not Application.objects.exists()


def test_the_database_backs_the_one_pending_rule(
    household: Household, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even if the check were skipped (a race), the partial unique index refuses the row."""
    from kiban.procedures import ledger

    first = submit(household.head, "move-out", move_out_answers(household))
    monkeypatch.setattr(ledger, "prepare_new_application", lambda app: None)
    dup = Application(
        municipality=household.m,
        procedure_id="move-out",
        person=household.head,
        channel="counter",
        payload=b"{}",
        payload_sha256="0" * 64,
        dedupe_key="another",
        subject_key=first.subject_key,
    )
    with pytest.raises(Conflict) as info:
        dup.save()
    assert info.value.code == "application_pending"
    assert info.value.details["application_id"] == first.pk
    # A decided application no longer blocks the subject.
    Application.objects.filter(pk=first.pk).update(status=AppStatus.REJECTED)
    dup.save()
    assert dup.pk is not None


def test_head_moving_out_alone_is_caught_before_signing(household: Household) -> None:
    proc = catalog.standard_procedure("move-out")
    assert proc is not None
    alone = {**move_out_answers(household, movers=[household.head])}
    problems = services.context_problems(proc, person=household.head, answers=alone)
    assert [p["code"] for p in problems] == ["head_leaves_members"]
    spouse_alone = move_out_answers(household, movers=[household.spouse])
    assert services.context_problems(proc, person=household.spouse, answers=spouse_alone) == []
