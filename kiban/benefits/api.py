"""JSON API of the benefits domain (mounted under /api/v1/ by kiban.api).

Routes live under ``/municipalities/{code}/``; the services check the caller's municipality
(another tenant's data answers 404) and role (benefits clerk).
"""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Router, Schema

from kiban.api import actor_of
from kiban.benefits import services
from kiban.benefits.models import Program
from kiban.core.errors import NotFound
from kiban.core.models import Municipality
from kiban.registry.models import Person

router = Router(tags=["benefits"])


def _municipality(request: HttpRequest, code: str) -> Municipality:
    actor = actor_of(request)
    actor.require(code)  # tenancy first: another municipality is "not found"
    m = Municipality.objects.filter(code=code).first()
    if m is None:
        raise NotFound("自治体", "municipality")
    return m


class ProgramOut(Schema):
    program_id: str
    name: str
    name_en: str
    legal_basis: str
    base_date: date | None
    unit: str
    push: bool
    application_start: date | None
    application_end: date | None


class StatusRowOut(Schema):
    state: str
    label_ja: str
    label_en: str
    count: int
    amount: int


class ProgramStatusOut(Schema):
    program_id: str
    states: list[StatusRowOut]
    total_count: int
    total_amount: int


class AccountIn(Schema):
    bank_code: str
    branch_code: str
    account_type: str
    account_number: str
    holder_kana: str


class AccountOut(Schema):
    person_id: int
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: str
    account_number_masked: str
    holder_zengin: str


class EntitlementOut(Schema):
    entitlement_id: int
    program_id: str
    program_name: str
    unit: str
    amount: int
    members: int
    status: str
    payment_state: str


def _program_out(p: Program) -> ProgramOut:
    return ProgramOut(
        program_id=p.program_id, name=p.name, name_en=p.name_en, legal_basis=p.legal_basis,
        base_date=p.base_date, unit=p.unit, push=p.push,
        application_start=p.application_start, application_end=p.application_end,
    )  # fmt: skip


@router.get("/municipalities/{code}/benefits/programs", response=list[ProgramOut])
def list_programs(request: HttpRequest, code: str) -> list[ProgramOut]:
    """Benefit programs of the municipality."""
    m = _municipality(request, code)
    actor_of(request).require(m, services.CLERK, "auditor")
    return [_program_out(p) for p in Program.objects.filter(municipality=m).order_by("program_id")]


@router.get("/municipalities/{code}/benefits/programs/{program_id}/status",
            response=ProgramStatusOut)  # fmt: skip
def program_status(request: HttpRequest, code: str, program_id: str) -> ProgramStatusOut:
    """Counts and amounts by payment state."""
    m = _municipality(request, code)
    rows = services.program_status(actor=actor_of(request), municipality=m, program_id=program_id)
    return ProgramStatusOut(
        program_id=program_id,
        states=[StatusRowOut(**r.__dict__) for r in rows],
        total_count=sum(r.count for r in rows),
        total_amount=sum(r.amount for r in rows),
    )


def _person(m: Municipality, person_id: int) -> Person:
    person = Person.objects.filter(municipality=m, pk=person_id).first()
    if person is None:
        raise NotFound("住民", "resident")
    return person


@router.put("/municipalities/{code}/persons/{person_id}/benefit-account", response=AccountOut)
def register_account(
    request: HttpRequest, code: str, person_id: int, payload: AccountIn
) -> AccountOut:
    """Register or replace the person's 公金受取口座 (validated against the bank master)."""
    m = _municipality(request, code)
    actor = actor_of(request)
    actor.require(m, services.CLERK)
    acc = services.register_account(
        actor=actor, municipality=m, person=_person(m, person_id), via="api",
        **payload.dict(),
    )  # fmt: skip
    return AccountOut(
        person_id=person_id, bank_code=acc.bank_code, bank_name=acc.bank_name,
        branch_code=acc.branch_code, branch_name=acc.branch_name,
        account_type=acc.account_type, account_number_masked=acc.masked_number,
        holder_zengin=acc.holder_zengin,
    )  # fmt: skip


@router.get("/municipalities/{code}/persons/{person_id}/entitlements",
            response=list[EntitlementOut])  # fmt: skip
def person_entitlements(request: HttpRequest, code: str, person_id: int) -> list[EntitlementOut]:
    """The person's entitlements and where their payment stands."""
    m = _municipality(request, code)
    rows = services.entitlements_for_person(
        actor=actor_of(request), municipality=m, person_id=person_id
    )
    return [EntitlementOut(**r) for r in rows]
