"""JSON API of the procedures domain (mounted under /api/v1/ by kiban.api).

Every route needs a token (or console session) of that municipality, any role; the portal's
HTML catalog is the public view.

* ``GET  /municipalities/{code}/procedures`` — what the municipality offers.
* ``GET  /municipalities/{code}/procedures/{id}`` — one definition (the JSON form of the
  YAML document) so a client app can build its form and payload.
* ``POST /municipalities/{code}/procedures/{id}/validate`` — check a payload without
  submitting: ``{"ok": bool, "problems": [...]}``.
* ``GET  /municipalities/{code}/applications/inbox`` — reviewer inbox (``procedures_reviewer``;
  ``GET .../applications`` is not used because identity's POST owns that path).
* ``GET  /municipalities/{code}/applications/{id}`` — one application with its answers.
* ``POST /municipalities/{code}/applications/{id}/decision`` — approve / reject / return.

Signed applications themselves are submitted to identity's
``POST /municipalities/{code}/applications`` (signature verification lives there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Body, Query, Router, Schema

from kiban.api import actor_of
from kiban.core.errors import NotFound
from kiban.core.services import get_municipality
from kiban.procedures import catalog, services
from kiban.procedures.schema import clean_answers

router = Router(tags=["procedures"])


def _tenant(request: HttpRequest, code: str) -> Any:
    """The municipality, for a client of that municipality (any role); else not found."""
    actor = actor_of(request)
    actor.require(code)
    return get_municipality(code)


class ProcedureOut(Schema):
    id: str
    version: int
    name_ja: str
    name_en: str
    department: str
    department_ja: str
    effect: str
    life_events: list[str]
    standard: bool


def _out(p: Any) -> dict[str, Any]:
    return {
        "id": p.id,
        "version": p.version,
        "name_ja": p.name["ja"],
        "name_en": p.name["en"],
        "department": p.department["id"],
        "department_ja": p.department["ja"],
        "effect": p.effect,
        "life_events": list(p.life_events),
        "standard": p.standard,
    }


@router.get(
    "/municipalities/{code}/procedures",
    response=list[ProcedureOut],
    summary="Procedures the municipality offers online",
)
def list_procedures(request: HttpRequest, code: str, q: str = "") -> list[dict[str, Any]]:
    m = _tenant(request, code)
    return [_out(p) for p in catalog.enabled_procedures(m) if not q or p.matches(q)]


@router.get(
    "/municipalities/{code}/procedures/{procedure_id}",
    response=dict[str, Any],
    summary="One procedure definition (fields, prefill, effect)",
)
def get_definition(request: HttpRequest, code: str, procedure_id: str) -> dict[str, Any]:
    m = _tenant(request, code)
    p = catalog.get_procedure(m, procedure_id)
    if p is None:
        raise NotFound("手続", "procedure")
    return dict(p.raw)


class ValidationOut(Schema):
    ok: bool
    problems: list[dict[str, str]]
    answers: dict[str, Any]


@router.post(
    "/municipalities/{code}/procedures/{procedure_id}/validate",
    response=ValidationOut,
    summary="Check a payload against its procedure without submitting it",
)
def validate(
    request: HttpRequest, code: str, procedure_id: str, body: Body[dict[str, Any]]
) -> dict[str, Any]:
    m = _tenant(request, code)
    p = catalog.get_procedure(m, procedure_id)
    if p is None:
        raise NotFound("手続", "procedure")
    answers, problems = clean_answers(p, body)
    return {"ok": not problems, "problems": problems, "answers": answers if not problems else {}}


class ApplicationOut(Schema):
    id: int
    procedure: str
    status: str
    channel: str
    person: str  # 住民票コード
    created_at: datetime
    bundle_id: str
    subject_key: str
    signed: bool
    verification: str


class ApplicationDetailOut(ApplicationOut):
    answers: dict[str, Any]
    decision_reason: str
    documents: list[str]


def _app(a: Any) -> dict[str, Any]:
    return {
        "id": a.pk,
        "procedure": a.procedure_id,
        "status": a.status,
        "channel": a.channel,
        "person": a.person.resident_code,
        "created_at": a.created_at,
        "bundle_id": a.bundle_id,
        "subject_key": a.subject_key,
        "signed": a.signature is not None,
        "verification": (a.verification or {}).get("result", ""),
    }


class InboxFilter(Schema):
    department: str | None = None
    procedure: str | None = None
    status: str = "pending"
    older_than_days: int | None = None
    limit: int = 100


@router.get(
    "/municipalities/{code}/applications/inbox",
    response=list[ApplicationOut],
    summary="Review inbox (procedures_reviewer)",
)
def inbox(request: HttpRequest, code: str, filters: Query[InboxFilter]) -> list[dict[str, Any]]:
    m = get_municipality(code)
    qs = services.inbox(
        actor=actor_of(request),
        municipality=m,
        department=filters.department,
        procedure_id=filters.procedure,
        status=filters.status,
        older_than_days=filters.older_than_days,
    )
    return [_app(a) for a in qs[: max(1, min(filters.limit, 500))]]


def _detail(a: Any) -> dict[str, Any]:
    return {
        **_app(a),
        "answers": services.answers_of(a),
        "decision_reason": a.decision_reason,
        "documents": [d.filename for d in a.documents.order_by("pk")],
    }


@router.get(
    "/municipalities/{code}/applications/{application_id}",
    response=ApplicationDetailOut,
    summary="One application with its answers (procedures_reviewer)",
)
def application(request: HttpRequest, code: str, application_id: int) -> dict[str, Any]:
    m = get_municipality(code)
    a = services.get_application(
        actor=actor_of(request), municipality=m, application_id=application_id
    )
    return _detail(a)


class DecisionIn(Schema):
    decision: Literal["approve", "reject", "return"]
    reason: str = ""


@router.post(
    "/municipalities/{code}/applications/{application_id}/decision",
    response=ApplicationDetailOut,
    summary="Approve, reject (reason required) or return for correction (message required)",
)
def decision(
    request: HttpRequest, code: str, application_id: int, body: DecisionIn
) -> dict[str, Any]:
    m = get_municipality(code)
    a = services.decide(
        actor=actor_of(request),
        municipality=m,
        application_id=application_id,
        decision=body.decision,
        reason=body.reason,
    )
    return _detail(a)
