"""Core endpoints: who am I, municipality info, audit log (auditors)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from kiban.api import actor_of
from kiban.core import audit
from kiban.core.models import AuditEntry, Role
from kiban.core.services import get_municipality

router = Router(tags=["core"])


class MeOut(Schema):
    kind: str
    label: str
    municipality: str | None
    roles: list[str]


class MunicipalityOut(Schema):
    code: str
    name: str
    name_en: str
    prefecture: str


class AuditOut(Schema):
    seq: int
    at: datetime
    actor_kind: str
    actor_id: str
    actor_label: str
    action: str
    subject_type: str
    subject_id: str
    purpose: str
    details: dict[str, Any]


@router.get("/me", response=MeOut, summary="The authenticated client or staff member")
def me(request: HttpRequest) -> dict[str, Any]:
    actor = actor_of(request)
    return {
        "kind": actor.kind,
        "label": actor.label,
        "municipality": actor.municipality_code,
        "roles": sorted(actor.roles),
    }


@router.get("/municipalities/{code}", response=MunicipalityOut, summary="A municipality")
def municipality(request: HttpRequest, code: str) -> Any:
    actor = actor_of(request)
    m = get_municipality(code)
    actor.require(m)
    return m


@router.get(
    "/municipalities/{code}/audit",
    response=list[AuditOut],
    summary="Audit log entries (auditors)",
)
def audit_log(
    request: HttpRequest, code: str, action: str = "", subject_id: str = "", limit: int = 100
) -> Any:
    actor = actor_of(request)
    m = get_municipality(code)
    actor.require(m, Role.AUDITOR)
    qs = AuditEntry.objects.filter(municipality=m).order_by("-seq")
    if action:
        qs = qs.filter(action__startswith=action)
    if subject_id:
        qs = qs.filter(subject_id=subject_id)
    rows = list(qs[: max(1, min(limit, 1000))])
    audit.record(
        municipality=m,
        actor=actor,
        action="audit.read",
        subject_type="audit",
        details={"filter_action": action, "filter_subject": subject_id, "rows": len(rows)},
    )
    return rows
