"""Console pages of the procedures domain: review inbox, application review, counter entry."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from kiban.console.auth import console_actor, console_municipality, staff_required
from kiban.core import audit
from kiban.core.errors import KibanError
from kiban.core.models import Role
from kiban.core.wareki import format_wareki
from kiban.procedures import catalog, forms, services
from kiban.procedures.models import (
    PENDING_STATUSES,
    ApplicationAttachment,
    ApplicationDocument,
    AppStatus,
)
from kiban.procedures.schema import Problem
from kiban.registry.models import OPEN_END, Person, PersonState

REVIEWER = Role.PROCEDURES_REVIEWER.value


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@staff_required(REVIEWER)
def inbox(request: HttpRequest) -> HttpResponse:
    m = console_municipality(request)
    actor = console_actor(request)
    procs = catalog.all_procedures(m)
    department = request.GET.get("department", "")
    procedure_id = request.GET.get("procedure", "")
    status = request.GET.get("status", "pending")
    age = _int(request.GET.get("age"))
    qs = services.inbox(
        actor=actor,
        municipality=m,
        department=department or None,
        procedure_id=procedure_id or None,
        status=status,
        older_than_days=age,
    )
    now = timezone.now()
    rows = [
        {
            "id": a.pk,
            "procedure": procs[a.procedure_id].name["ja"]
            if a.procedure_id in procs
            else a.procedure_id,
            "status": AppStatus(a.status).label,
            "status_code": a.status,
            "channel": a.get_channel_display(),
            "created": a.created_at,
            "age_days": (now - a.created_at).days,
            "bundle": a.bundle_id[:8],
        }
        for a in qs[:200]
    ]
    departments = sorted({(p.department["id"], p.department["ja"]) for p in procs.values()})
    return render(
        request,
        "console/applications/inbox.html",
        {
            "rows": rows,
            "departments": departments,
            "procedures": sorted((p.id, p.name["ja"]) for p in procs.values()),
            "statuses": [("pending", "未処理（受付・審査中・差戻し）"), ("all", "すべて")]
            + [(s.value, s.label) for s in AppStatus],
            "f": {
                "department": department,
                "procedure": procedure_id,
                "status": status,
                "age": age or "",
            },
        },
    )


def _registry_side(request: HttpRequest, person: Person) -> dict[str, Any]:
    """The resident's current registry record for the side-by-side view (audited read)."""
    m = console_municipality(request)
    actor = console_actor(request)
    if actor.has_role(Role.REGISTRY_CLERK.value):
        from kiban.registry.queries import get_person

        try:
            rec = get_person(
                actor=actor,
                municipality=m,
                resident_code=person.resident_code,
                purpose="申請審査 / application review",
            )
        except KibanError:
            return {"hidden": True}
        return {"state": rec.state, "members": rec.members, "events": rec.events[-5:]}
    state = (
        PersonState.objects.filter(municipality=m, person=person, valid_to=OPEN_END)
        .select_related("household")
        .first()
    )
    if person.protected or state is None:
        return {"hidden": True}
    audit.record(
        municipality=m,
        actor=actor,
        action="registry.read",
        subject_type="person",
        subject_id=person.resident_code,
        purpose="申請審査 / application review",
        details={"via": "application_review"},
    )
    return {"state": state, "members": services.household_members(person), "events": []}


@require_http_methods(["GET", "POST"])
@staff_required(REVIEWER)
def detail(request: HttpRequest, app_id: int) -> HttpResponse:
    m = console_municipality(request)
    actor = console_actor(request)
    try:
        app = services.get_application(actor=actor, municipality=m, application_id=app_id)
    except KibanError as exc:
        raise Http404() from exc
    error: KibanError | None = None
    reason = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        reason = request.POST.get("reason", "")
        try:
            if action == "start_review":
                services.start_review(actor=actor, municipality=m, application_id=app.pk)
                messages.success(request, "審査を開始しました。 / Review started.")
            elif action in ("approve", "reject", "return"):
                services.decide(
                    actor=actor,
                    municipality=m,
                    application_id=app.pk,
                    decision=action,  # type: ignore[arg-type]
                    reason=reason,
                )
                messages.success(request, "判定を記録しました。 / Decision recorded.")
            elif action == "message":
                services.post_message(
                    actor=actor, municipality=m, application_id=app.pk, text=reason
                )
                messages.success(request, "メッセージを送りました。 / Message sent.")
            else:
                raise Http404()
        except KibanError as exc:
            error = exc
        else:
            return redirect(f"/console/applications/{app.pk}/")
        app.refresh_from_db()
    proc = services.procedure_of(app)
    answers = services.answers_of(app)
    members = {s.person.resident_code: s.full_name for s in services.household_members(app.person)}
    verification = app.verification or {}
    return render(
        request,
        "console/applications/detail.html",
        {
            "app": app,
            "proc": proc,
            "status": AppStatus(app.status).label,
            "open": app.status in (AppStatus.SUBMITTED, AppStatus.IN_REVIEW),
            "pending": app.status in PENDING_STATUSES,
            "rows": [
                {
                    "label": f.label["ja"],
                    "value": forms.display_value(f, answers.get(f.id), "ja", members),
                }
                for f in proc.fields
            ],
            "verification": verification,
            "signed": app.signature is not None,
            "registry": _registry_side(request, app.person),
            "birth": format_wareki(app.person.birth_date),
            "thread": list(app.messages.order_by("created_at", "pk")),
            "documents": list(app.documents.order_by("pk").only("pk", "kind", "filename")),
            "attachments": list(app.attachments.order_by("pk").only("pk", "filename", "sha256")),
            "bundle": list(
                services.inbox(actor=actor, municipality=m, status="all")
                .filter(bundle_id=app.bundle_id)
                .exclude(pk=app.pk)
            )
            if app.bundle_id
            else [],
            "effect": proc.effect,
            "error": error,
            "reason": reason,
        },
        status=400 if error else 200,
    )


@staff_required(REVIEWER)
def document(request: HttpRequest, app_id: int, doc_id: int) -> HttpResponse:
    m = console_municipality(request)
    actor = console_actor(request)
    try:
        app = services.get_application(actor=actor, municipality=m, application_id=app_id)
    except KibanError as exc:
        raise Http404() from exc
    doc = ApplicationDocument.objects.filter(application=app, pk=doc_id).first()
    if doc is None:
        raise Http404()
    response = HttpResponse(bytes(doc.content), content_type=doc.content_type)
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    return response


@staff_required(REVIEWER)
def attachment(request: HttpRequest, app_id: int, att_id: int) -> HttpResponse:
    m = console_municipality(request)
    actor = console_actor(request)
    try:
        app = services.get_application(actor=actor, municipality=m, application_id=app_id)
    except KibanError as exc:
        raise Http404() from exc
    att = ApplicationAttachment.objects.filter(application=app, pk=att_id).first()
    if att is None:
        raise Http404()
    response = HttpResponse(bytes(att.content), content_type=att.content_type)
    response["Content-Disposition"] = f'attachment; filename="{att.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_http_methods(["GET", "POST"])
@staff_required(REVIEWER)
def counter(request: HttpRequest) -> HttpResponse:
    """代理入力: choose the resident (住民票コード) and the procedure, then fill the form."""
    m = console_municipality(request)
    procs = catalog.enabled_procedures(m)
    pid = request.GET.get("procedure") or request.POST.get("procedure") or ""
    code = (request.GET.get("resident") or request.POST.get("resident") or "").strip()
    proc = catalog.get_procedure(m, pid) if pid else None
    person = Person.objects.filter(municipality=m, resident_code=code).first() if code else None
    problems: list[Problem] = []
    error: KibanError | None = None
    values: dict[str, Any] = {}
    token = request.POST.get("form_token") or secrets.token_urlsafe(16)
    if request.method == "POST" and proc is not None and person is not None:
        values = forms.parse_post(proc.fields, request.POST)
        if not request.POST.get("_add"):
            try:
                app, created = services.submit_counter_application(
                    actor=console_actor(request),
                    municipality=m,
                    person=person,
                    procedure_id=proc.id,
                    answers=values,
                    form_token=token,
                    email=request.POST.get("contact_email", "").strip(),
                )
            except KibanError as exc:
                if exc.code == "payload_invalid" and isinstance(exc.details, list):
                    problems = exc.details
                else:
                    error = exc
                    if exc.code == "application_pending":  # link to the console's page
                        pending = exc.details["application_id"]
                        exc.details = {**exc.details, "url": f"/console/applications/{pending}/"}
            else:
                messages.success(
                    request,
                    "窓口申請を登録しました。 / Counter application recorded."
                    if created
                    else "この申請はすでに登録済みです。 / Already recorded.",
                )
                return redirect(f"/console/applications/{app.pk}/")
    members = (
        [(s.person.resident_code, s.full_name) for s in services.household_members(person)]
        if person
        else []
    )
    extra = {request.POST["_add"]: 1} if request.POST.get("_add") else {}
    return render(
        request,
        "console/applications/counter.html",
        {
            "procedures": [(p.id, p.name["ja"]) for p in procs],
            "proc": proc,
            "person": person,
            "state": services.current_state(person) if person else None,
            "code": code,
            "pid": pid,
            "token": token,
            "not_found": bool(code) and person is None,
            "widgets": forms.widgets(
                proc.fields, values, problems, "ja", members=members, extra_rows=extra
            )
            if proc and person
            else [],
            "summary": forms.error_summary(problems, "ja"),
            "error": error,
        },
        status=422 if problems else 200,
    )


@require_http_methods(["GET", "POST"])
@staff_required(Role.MUNICIPALITY_ADMIN.value)
def catalog_admin(request: HttpRequest) -> HttpResponse:
    """団体管理者: turn procedures on and off for this municipality (no code, no deploy)."""
    m = console_municipality(request)
    actor = console_actor(request)
    if request.method == "POST":
        pid = request.POST.get("procedure", "")
        try:
            if request.POST.get("action") == "enable":
                services.enable_procedure(actor=actor, municipality=m, procedure_id=pid)
            else:
                services.disable_procedure(actor=actor, municipality=m, procedure_id=pid)
        except KibanError as exc:
            messages.error(request, f"{exc.message_ja} / {exc.message_en}")
        else:
            messages.success(request, "設定を変更しました。 / Saved.")
        return redirect("/console/applications/procedures/")
    m.refresh_from_db()
    rows = [
        {
            "id": p.id,
            "name": p.name["ja"],
            "department": p.department["ja"],
            "effect": p.effect,
            "standard": p.standard,
            "enabled": catalog.is_enabled(m, p.id),
        }
        for p in catalog.all_procedures(m).values()
    ]
    return render(request, "console/applications/catalog.html", {"rows": rows})
