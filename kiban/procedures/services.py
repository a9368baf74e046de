"""Application workflow: submit (portal, counter), review, decide, message, configure.

Every public function is one transaction, takes the actor and the municipality explicitly,
checks permission, writes one audit entry per state change together with the
:class:`ApplicationMessage` that records it, and schedules the notification after commit.

State machine::

    submitted ──start_review──▶ in_review
    submitted/in_review ──approve──▶ approved   (the procedure's effect is applied)
    submitted/in_review ──reject───▶ rejected   (reason required)
    submitted/in_review ──return───▶ returned   (message required; the resident corrects
                                                 by signing a new payload that supersedes it)
    submitted/in_review/returned ──withdraw (resident)──▶ withdrawn
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.errors import Conflict, Forbidden, KibanError, NotFound, ValidationFailed
from kiban.core.models import Municipality, Role
from kiban.procedures import catalog, effects
from kiban.procedures.ledger import read_payload
from kiban.procedures.models import (
    PENDING_STATUSES,
    Application,
    ApplicationAttachment,
    ApplicationMessage,
    AppStatus,
    Channel,
    CustomProcedure,
)
from kiban.procedures.notify import notify
from kiban.procedures.schema import (
    DefinitionError,
    Problem,
    Procedure,
    clean_answers,
    parse_definition,
    problem,
)
from kiban.registry.models import OPEN_END, Person, PersonState

REVIEWER = Role.PROCEDURES_REVIEWER.value
ADMIN = Role.MUNICIPALITY_ADMIN.value
Decision = Literal["approve", "reject", "return"]

__all__ = [
    "Decision",
    "SignedItem",
    "add_draft_attachment",
    "answers_of",
    "applications_of_resident",
    "context_problems",
    "decide",
    "disable_procedure",
    "enable_procedure",
    "get_application",
    "household_members",
    "inbox",
    "mark_read",
    "needed_attachments",
    "post_message",
    "procedure_of",
    "save_custom_procedure",
    "start_review",
    "submit_counter_application",
    "submit_signed_bundle",
    "withdraw",
]


# --- reading -------------------------------------------------------------------------------


def procedure_of(app: Application) -> Procedure:
    """The definition an application was made under (still resolvable when later disabled)."""
    proc = catalog.all_procedures(app.municipality).get(app.procedure_id)
    if proc is None:
        raise NotFound("手続", "procedure")
    return proc


def answers_of(app: Application) -> dict[str, Any]:
    """The application's answers, normalised as on the day it was submitted."""
    data = read_payload(app.payload)
    cleaned, _ = clean_answers(procedure_of(app), data, today=timezone.localdate(app.created_at))
    return cleaned


def current_state(person: Person) -> PersonState | None:
    return (
        PersonState.objects.filter(
            municipality_id=person.municipality_id, person=person, valid_to=OPEN_END
        )
        .select_related("household")
        .first()
    )


def household_members(person: Person) -> list[PersonState]:
    """Current registry states of ``person``'s household (head first), or just theirs."""
    state = current_state(person)
    if state is None:
        return []
    if state.household_id is None:
        return [state]
    return list(
        PersonState.objects.filter(
            municipality_id=person.municipality_id,
            household_id=state.household_id,
            valid_to=OPEN_END,
            status=state.status,
        )
        .select_related("person")
        .order_by("-is_head", "person__birth_date", "pk")
    )


def context_problems(
    procedure: Procedure, *, person: Person, answers: dict[str, Any]
) -> list[Problem]:
    """Checks that need the registry: chosen members belong to the household, towns exist."""
    problems: list[Problem] = []
    codes = {s.person.resident_code for s in household_members(person)}
    for f in procedure.fields:
        if f.type == "members":
            unknown = [c for c in answers.get(f.id, []) if c not in codes]
            if unknown:
                problems.append(
                    problem(
                        f.id,
                        "not_household_member",
                        f"「{f.label['ja']}」には世帯の方だけを選べます。",
                        f"{f.label['en']}: choose members of your household only.",
                    )
                )
    if procedure.effect in ("registry.move_out", "registry.move_within"):
        members = household_members(person)
        movers = set(answers.get("movers") or [])
        head = next((s for s in members if s.is_head), None)
        staying = [s for s in members if s.person.resident_code not in movers]
        if head is not None and head.person.resident_code in movers and staying:
            # Who heads the household that stays is a separate notification (世帯主変更届).
            problems.append(
                problem(
                    "movers",
                    "head_leaves_members",
                    "世帯主が引越し、世帯の方が残る場合は、新しい世帯主の届出が必要です。"
                    "残る方も一緒に選ぶか、窓口でご相談ください。",
                    "The head of household is moving and others stay: the new head must be "
                    "notified too. Include everyone, or ask at the counter.",
                )
            )
    if procedure.effect == "registry.move_within" and answers.get("new_town"):
        town = effects.resolve_town(
            person.municipality_id, answers.get("new_postcode", ""), answers["new_town"]
        )
        if town is None:
            problems.append(
                problem(
                    "new_town",
                    "town_unknown",
                    "町名が市内に見つかりません。市外への引越しは転出届です。",
                    "That town is not in this city. Moving out of the city is a move-out.",
                )
            )
    return problems


def _scoped(municipality: Municipality) -> QuerySet[Application]:
    return Application.objects.filter(municipality=municipality).select_related("person")


def get_application(
    *, actor: Actor, municipality: Municipality, application_id: int
) -> Application:
    """One application: residents see only their own, reviewers any of their municipality."""
    actor.require(municipality)
    app = _scoped(municipality).filter(pk=application_id).first()
    if app is None:
        raise NotFound("申請", "application")
    if actor.kind == "resident":
        if app.person_id != actor.resident_pk:
            raise NotFound("申請", "application")
    else:
        actor.require(municipality, REVIEWER)
    return app


def applications_of_resident(*, actor: Actor, municipality: Municipality) -> QuerySet[Application]:
    actor.require(municipality)
    if actor.kind != "resident" or actor.resident_pk is None:
        raise Forbidden()
    return _scoped(municipality).filter(person_id=actor.resident_pk).order_by("-created_at")


def inbox(
    *,
    actor: Actor,
    municipality: Municipality,
    department: str | None = None,
    procedure_id: str | None = None,
    status: str | None = None,
    older_than_days: int | None = None,
) -> QuerySet[Application]:
    """Applications for review, oldest first; ``status`` "pending" means any open state."""
    actor.require(municipality, REVIEWER)
    qs = _scoped(municipality)
    if department:
        ids = [
            p.id
            for p in catalog.all_procedures(municipality).values()
            if p.department["id"] == department
        ]
        qs = qs.filter(procedure_id__in=ids)
    if procedure_id:
        qs = qs.filter(procedure_id=procedure_id)
    if status == "pending" or not status:
        qs = qs.filter(status__in=PENDING_STATUSES)
    elif status != "all":
        qs = qs.filter(status=status)
    if older_than_days:
        qs = qs.filter(created_at__lte=timezone.now() - timedelta(days=older_than_days))
    return qs.order_by("created_at", "pk")


# --- state changes -------------------------------------------------------------------------


def _message(
    app: Application, *, actor: Actor, status_after: str, text: str, from_staff: bool
) -> ApplicationMessage:
    msg = ApplicationMessage.objects.create(
        application=app,
        from_staff=from_staff,
        author=actor.label or actor.id,
        status_after=status_after,
        text=text,
    )
    notify(app, msg)
    return msg


def _locked(municipality: Municipality, application_id: int) -> Application:
    app = (
        Application.objects.select_for_update()
        .filter(municipality=municipality, pk=application_id)
        .first()
    )
    if app is None:
        raise NotFound("申請", "application")
    return app


def _not_open(app: Application) -> Conflict:
    return Conflict(
        f"この申請はすでに「{AppStatus(app.status).label}」です。",
        f"This application is already {app.status}.",
        code="application_not_open",
    )


_TEXTS = {
    "in_review": ("審査を開始しました。", "Review has started."),
    "approved": ("申請を承認しました。", "Your application has been approved."),
    "rejected": ("申請を却下しました。理由: ", "Your application has been rejected. Reason: "),
    "returned": (
        "申請を差し戻しました。内容を訂正して再申請してください: ",
        "Your application was returned for correction. Please correct and resubmit: ",
    ),
    "withdrawn": ("申請を取り下げました。", "The application was withdrawn."),
}


@transaction.atomic
def start_review(*, actor: Actor, municipality: Municipality, application_id: int) -> Application:
    """submitted → in_review (tells the resident someone is looking at it)."""
    actor.require(municipality, REVIEWER)
    app = _locked(municipality, application_id)
    if app.status != AppStatus.SUBMITTED:
        raise _not_open(app)
    app.status = AppStatus.IN_REVIEW
    app.save(update_fields=["status", "updated_at"])
    ja, en = _TEXTS["in_review"]
    _message(app, actor=actor, status_after=app.status, text=f"{ja} / {en}", from_staff=True)
    audit.record(
        municipality=municipality,
        actor=actor,
        action="application.in_review",
        subject_type="application",
        subject_id=str(app.pk),
        details={"procedure": app.procedure_id},
    )
    return app


@transaction.atomic
def decide(
    *,
    actor: Actor,
    municipality: Municipality,
    application_id: int,
    decision: Decision,
    reason: str = "",
) -> Application:
    """Approve, reject (``reason`` required) or return for correction (``reason`` = message).

    Approval applies the procedure's effect (registry event, entitlement, certificate) in
    this same transaction: either the decision and its effect are both recorded, or
    neither is. A decided application cannot be decided again (``application_not_open``).
    """
    actor.require(municipality, REVIEWER)
    if decision not in ("approve", "reject", "return"):
        raise ValidationFailed("判定が不正です。", "Unknown decision.", code="decision_invalid")
    reason = (reason or "").strip()
    if decision in ("reject", "return") and not reason:
        raise ValidationFailed(
            "理由（住民へのメッセージ）を入力してください。",
            "Give the reason (the message to the resident).",
            code="reason_required",
            details={"field": "reason"},
        )
    app = _locked(municipality, application_id)
    if app.status not in (AppStatus.SUBMITTED, AppStatus.IN_REVIEW):
        raise _not_open(app)
    result: dict[str, Any] = {}
    if decision == "approve":
        proc = procedure_of(app)
        result = effects.apply_effect(actor, app, proc, answers_of(app))
        app.status = AppStatus.APPROVED
    elif decision == "reject":
        app.status = AppStatus.REJECTED
    else:
        app.status = AppStatus.RETURNED
    app.decision_reason = reason
    app.decided_by = actor.id
    app.decided_at = timezone.now()
    app.save(update_fields=["status", "decision_reason", "decided_by", "decided_at", "updated_at"])
    ja, en = _TEXTS[app.status]
    text = f"{ja}{reason} / {en}{reason}" if reason else f"{ja} / {en}"
    _message(app, actor=actor, status_after=app.status, text=text, from_staff=True)
    if decision != "return":
        from kiban.procedures.letters import attach_decision_letter

        attach_decision_letter(app, procedure_of(app))
    audit.record(
        municipality=municipality,
        actor=actor,
        action=f"application.{app.status}",
        subject_type="application",
        subject_id=str(app.pk),
        details={"procedure": app.procedure_id, "effect": result, "reason": reason[:200]},
    )
    return app


@transaction.atomic
def withdraw(*, actor: Actor, municipality: Municipality, application_id: int) -> Application:
    """The resident withdraws their own pending application."""
    actor.require(municipality)
    app = _locked(municipality, application_id)
    if actor.kind != "resident" or app.person_id != actor.resident_pk:
        raise NotFound("申請", "application")
    if app.status not in PENDING_STATUSES:
        raise _not_open(app)
    app.status = AppStatus.WITHDRAWN
    app.save(update_fields=["status", "updated_at"])
    ja, en = _TEXTS["withdrawn"]
    _message(app, actor=actor, status_after=app.status, text=f"{ja} / {en}", from_staff=False)
    audit.record(
        municipality=municipality,
        actor=actor,
        action="application.withdrawn",
        subject_type="application",
        subject_id=str(app.pk),
    )
    return app


@transaction.atomic
def post_message(
    *, actor: Actor, municipality: Municipality, application_id: int, text: str
) -> ApplicationMessage:
    """A message in the application's thread (resident or reviewer); status unchanged."""
    app = get_application(actor=actor, municipality=municipality, application_id=application_id)
    text = text.strip()
    if not text:
        raise ValidationFailed(
            "メッセージを入力してください。", "Enter a message.", details={"field": "text"}
        )
    if len(text) > 2000:
        raise ValidationFailed(
            "メッセージは2000文字以内です。", "At most 2000 characters.", details={"field": "text"}
        )
    msg = _message(
        app, actor=actor, status_after="", text=text, from_staff=actor.kind != "resident"
    )
    audit.record(
        municipality=municipality,
        actor=actor,
        action="application.message",
        subject_type="application",
        subject_id=str(app.pk),
    )
    return msg


def mark_read(*, actor: Actor, municipality: Municipality, application_id: int) -> int:
    """The resident has seen the municipality's messages; returns how many were unread."""
    app = get_application(actor=actor, municipality=municipality, application_id=application_id)
    if actor.kind != "resident":
        return 0
    return ApplicationMessage.objects.filter(
        application=app, from_staff=True, read_at__isnull=True
    ).update(read_at=timezone.now())


# --- submission ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedItem:
    """One signed payload of a submission (a bundle has one per procedure)."""

    procedure_id: str
    payload: bytes
    signature: bytes


def submit_signed_bundle(
    *,
    municipality: Municipality,
    items: Sequence[SignedItem],
    channel: str = "portal",
    source_ip: str = "",
    draft_key: str = "",
) -> list[Application]:
    """Submit several signed payloads (a life-event bundle) all together or not at all.

    Each goes through identity's verification (signature, certificate, resident match,
    payload schema) and the ledger rules (one pending per event). If any is refused, none
    is stored and the refusal is raised. Draft attachments (``draft_key``) whose SHA-256
    the signed payload lists under ``_attachments`` are linked to their application.
    """
    from kiban.identity.intake import submit_signed_application

    with transaction.atomic():
        apps = [
            submit_signed_application(
                municipality=municipality,
                procedure_id=item.procedure_id,
                payload=item.payload,
                signature=item.signature,
                channel=channel,
                source_ip=source_ip,
            )[0]
            for item in items
        ]
        for app in apps:
            _link_attachments(app, draft_key)
        return apps


def _link_attachments(app: Application, draft_key: str) -> None:
    listed = read_payload(app.payload).get("_attachments") or {}
    if not isinstance(listed, dict) or not listed:
        return
    drafts = ApplicationAttachment.objects.select_for_update().filter(
        municipality=app.municipality,
        person=app.person,
        draft_key=draft_key,
        procedure_id=app.procedure_id,
        application__isnull=True,
    )
    found = {d.attachment_id: d for d in drafts} if draft_key else {}
    for attachment_id, digest in listed.items():
        draft = found.get(attachment_id)
        if draft is None or draft.sha256 != digest:
            raise ValidationFailed(
                "署名された添付書類が見つかりません。もう一度添付してください。",
                "A signed attachment is missing; attach it again.",
                code="attachment_missing",
                details={"attachment": attachment_id},
            )
        draft.application = app
        draft.draft_key = ""
        draft.save(update_fields=["application", "draft_key"])


ATTACHMENT_TYPES = {
    b"%PDF": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG": "image/png",
}
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


@transaction.atomic
def add_draft_attachment(
    *,
    actor: Actor,
    municipality: Municipality,
    person: Person,
    draft_key: str,
    procedure_id: str,
    attachment_id: str,
    filename: str,
    content: bytes,
) -> ApplicationAttachment:
    """Keep a resident's upload for a draft (replacing the previous one for the same slot).

    Only PDF, JPEG and PNG (recognised by their first bytes, not the name), at most 5 MB.
    """
    actor.require(municipality)
    if actor.kind != "resident" or actor.resident_pk != person.pk:
        raise Forbidden()
    proc = catalog.get_procedure(municipality, procedure_id)
    if proc is None or attachment_id not in {a["id"] for a in proc.attachments}:
        raise NotFound("添付書類", "attachment")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ValidationFailed(
            "ファイルが大きすぎます（5 MB まで）。",
            "The file is too large (5 MB at most).",
            code="attachment_too_large",
            details={"field": attachment_id},
        )
    kind = next((t for magic, t in ATTACHMENT_TYPES.items() if content.startswith(magic)), None)
    if kind is None:
        raise ValidationFailed(
            "PDF・JPEG・PNG のファイルを選んでください。",
            "Choose a PDF, JPEG or PNG file.",
            code="attachment_type",
            details={"field": attachment_id},
        )
    ApplicationAttachment.objects.filter(
        municipality=municipality,
        person=person,
        draft_key=draft_key,
        procedure_id=procedure_id,
        attachment_id=attachment_id,
        application__isnull=True,
    ).delete()
    return ApplicationAttachment.objects.create(
        municipality=municipality,
        person=person,
        draft_key=draft_key,
        procedure_id=procedure_id,
        attachment_id=attachment_id,
        filename=(filename or "attachment")[-128:],
        content_type=kind,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
    )


def needed_attachments(procedure: Procedure) -> list[dict[str, Any]]:
    """Attachments to ask for: only those the municipality cannot look up itself."""
    return [a for a in procedure.attachments if a.get("unless_known", "never") == "never"]


def canonical_payload(municipality: Municipality, procedure_id: str, data: dict[str, Any]) -> bytes:
    """The bytes that are signed: sorted, compact UTF-8 JSON with procedure and municipality."""
    body = {**data, "procedure": procedure_id, "municipality": municipality.code}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@transaction.atomic
def submit_counter_application(
    *,
    actor: Actor,
    municipality: Municipality,
    person: Person,
    procedure_id: str,
    answers: dict[str, Any],
    form_token: str,
    email: str = "",
) -> tuple[Application, bool]:
    """代理入力: a clerk enters a paper application for ``person`` (channel ``counter``).

    Same validation and ledger as online channels, so a paper and an online application
    for the same event cannot both be pending. ``form_token`` (issued when the form was
    shown) makes a double-submitted form one application: ``(application, created)``.
    """
    actor.require(municipality, REVIEWER)
    if actor.kind != "staff":
        raise Forbidden("窓口入力は職員のみです。", "Only staff enter counter applications.")
    if person.municipality_id != municipality.code:
        raise NotFound("住民", "resident")
    proc = catalog.get_procedure(municipality, procedure_id)
    if proc is None:
        raise KibanError(
            "この手続は受け付けていません。",
            "This procedure is not offered.",
            code="procedure_unknown",
            status=404,
        )
    dedupe = hashlib.sha256(f"counter:{municipality.code}:{form_token}".encode()).hexdigest()
    existing = Application.objects.filter(municipality=municipality, dedupe_key=dedupe).first()
    if existing is not None:
        return existing, False
    data = {k: v for k, v in answers.items() if not k.startswith("_")}
    cleaned, problems = clean_answers(proc, data)
    problems += context_problems(proc, person=person, answers=cleaned)
    if problems:
        raise ValidationFailed(
            "申請内容に誤りがあります。",
            "The application data is not valid.",
            code="payload_invalid",
            details=problems,
        )
    envelope = {"_entered_by": actor.label, "_form_token": form_token}
    if email:
        envelope["_email"] = email
    payload = canonical_payload(municipality, procedure_id, {**data, **envelope})
    app = Application.objects.create(
        municipality=municipality,
        procedure_id=procedure_id,
        person=person,
        channel=Channel.COUNTER,
        status=AppStatus.SUBMITTED,
        payload=payload,
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        signature=None,
        verification={
            "result": "counter",
            "entered_by": actor.id,
            "note": "窓口で本人確認のうえ代理入力 / entered at the counter",
        },
        dedupe_key=dedupe,
        entered_by=actor.label or actor.id,
    )
    audit.record(
        municipality=municipality,
        actor=actor,
        action="application.submitted",
        subject_type="application",
        subject_id=str(app.pk),
        details={
            "procedure": procedure_id,
            "channel": "counter",
            "person": person.pk,
            "payload_sha256": app.payload_sha256,
        },
    )
    return app, True


# --- catalog configuration -----------------------------------------------------------------


def _require_admin(actor: Actor, municipality: Municipality) -> None:
    actor.require(municipality, ADMIN)


@transaction.atomic
def enable_procedure(*, actor: Actor, municipality: Municipality, procedure_id: str) -> None:
    """Offer ``procedure_id`` (standard or custom) in this municipality."""
    _require_admin(actor, municipality)
    m = Municipality.objects.select_for_update().get(pk=municipality.pk)
    if procedure_id not in catalog.all_procedures(m):
        raise NotFound("手続", "procedure")
    settings = dict(m.settings or {})
    disabled = [p for p in settings.get("disabled_procedures", []) if p != procedure_id]
    enabled = list(settings.get("enabled_procedures") or [])
    if enabled and procedure_id not in enabled:
        enabled.append(procedure_id)
    settings.update(enabled_procedures=enabled, disabled_procedures=disabled)
    m.settings = settings
    m.save(update_fields=["settings"])
    municipality.settings = settings
    audit.record(
        municipality=m,
        actor=actor,
        action="procedure.enabled",
        subject_type="procedure",
        subject_id=procedure_id,
    )


@transaction.atomic
def disable_procedure(*, actor: Actor, municipality: Municipality, procedure_id: str) -> None:
    """Stop offering ``procedure_id``; pending applications stay reviewable."""
    _require_admin(actor, municipality)
    m = Municipality.objects.select_for_update().get(pk=municipality.pk)
    settings = dict(m.settings or {})
    disabled = list(settings.get("disabled_procedures", []))
    if procedure_id not in disabled:
        disabled.append(procedure_id)
    settings["disabled_procedures"] = disabled
    m.settings = settings
    m.save(update_fields=["settings"])
    municipality.settings = settings
    audit.record(
        municipality=m,
        actor=actor,
        action="procedure.disabled",
        subject_type="procedure",
        subject_id=procedure_id,
    )


@transaction.atomic
def save_custom_procedure(
    *, actor: Actor, municipality: Municipality, definition: dict[str, Any]
) -> Procedure:
    """Add (or replace) a municipality's own procedure definition, validated first."""
    _require_admin(actor, municipality)
    try:
        proc = parse_definition(definition, standard=False)
    except DefinitionError as e:
        raise ValidationFailed(
            "手続定義が不正です。",
            "The procedure definition is not valid.",
            code="definition_invalid",
            details=e.problems,
        ) from e
    CustomProcedure.objects.update_or_create(
        municipality=municipality,
        procedure_id=proc.id,
        defaults={"definition": definition, "updated_by": actor.id},
    )
    audit.record(
        municipality=municipality,
        actor=actor,
        action="procedure.saved",
        subject_type="procedure",
        subject_id=proc.id,
        details={"version": proc.version},
    )
    return proc


def today() -> date:
    return timezone.localdate()
