"""JSON API of the registry domain (mounted under /api/v1/ by kiban.api).

Reads (search, person, as-of, household) and one POST per registry event. Handlers only
parse, call ``kiban.registry.services`` / ``kiban.registry.queries`` (which check tenancy
and role and audit) and shape the answer. Persons are named by 住民票コード, households by
世帯番号. My Number is masked unless the caller is a registry clerk who states a
``purpose`` (the reveal is audited).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema

from kiban.api import actor_of
from kiban.core.actors import Actor
from kiban.core.models import Municipality, Role
from kiban.core.services import get_municipality
from kiban.registry import queries, services
from kiban.registry.models import PersonState, RegistryEvent

router = Router(tags=["registry"])


# --- schemas --------------------------------------------------------------------------------


class ErrorOut(Schema):
    code: str
    message_ja: str
    message_en: str
    details: Any = None


ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


class AddressIn(Schema):
    postcode: str = Field(..., description="郵便番号 (7 digits)", examples=["2310023"])
    town_code: str = Field(..., description="町字ID (7 digits)", examples=["0001000"])
    town_name: str = Field(..., description="町字", examples=["山下町"])
    address_detail: str = Field(..., description="番地以下", examples=["1番地"])
    building: str = Field("", description="方書")

    def to_address(self) -> services.Address:
        return services.Address(**self.dict())


class NewPersonIn(Schema):
    family_name: str = Field(..., description="氏 (kanji kept as given)")
    given_name: str = Field(..., description="名")
    family_kana: str = Field(..., description="氏のフリガナ (normalised to katakana)")
    given_kana: str = Field(..., description="名のフリガナ")
    birth_date: date
    sex: Literal["1", "2"] = Field(..., description="1 male, 2 female")
    relationship: str = Field("", description="続柄 (世帯主 when is_head)")
    is_head: bool = False
    nationality: str = Field("", description="ISO 3166 alpha-2 for foreign residents")
    honseki: str = Field("", description="本籍")
    resident_code: str = Field("", description="住民票コード held from elsewhere; empty = new")
    mynumber: str = Field("", description="個人番号 (stored encrypted)")

    def to_new_person(self) -> services.NewPerson:
        return services.NewPerson(**self.dict())


class EventBase(Schema):
    event_date: date = Field(..., description="異動日")
    reported_date: date = Field(..., description="届出日")


class MoveInIn(EventBase):
    persons: list[NewPersonIn]
    address: AddressIn
    household_no: str | None = Field(None, description="join this household instead")
    previous_address: str = Field("", description="前住所")


class MoveOutIn(EventBase):
    event_date: date = Field(..., description="転出予定日 (may be after reported_date)")
    resident_codes: list[str]
    destination: str = Field(..., description="転出先")
    new_head: str | None = None


class MoveWithinIn(EventBase):
    resident_codes: list[str]
    address: AddressIn
    household_no: str | None = Field(None, description="join this household at the address")
    new_household: bool = False
    head: str | None = Field(None, description="head of the new household")
    new_head: str | None = Field(None, description="new head of the household left behind")
    relationships: dict[str, str] = Field(default_factory=dict)


class BirthIn(Schema):
    reported_date: date
    child: NewPersonIn
    mother: str | None = Field(None, description="mother's 住民票コード")
    household_no: str | None = None


class DeathIn(EventBase):
    resident_code: str
    new_head: str | None = None


class HouseholdChangeIn(EventBase):
    kind: Literal["new_household", "join", "change_head"]
    resident_codes: list[str] = Field(default_factory=list)
    household_no: str | None = None
    head: str | None = None
    new_head: str | None = None
    relationships: dict[str, str] = Field(default_factory=dict)


class NameChangeIn(EventBase):
    resident_code: str
    family_name: str | None = None
    given_name: str | None = None
    family_kana: str | None = None
    given_kana: str | None = None


class CorrectionIn(Schema):
    resident_code: str
    changes: dict[str, Any]
    reason: str
    event_date: date | None = None
    reported_date: date | None = None


class EventOut(Schema):
    id: int
    kind: str
    event_date: date
    reported_date: date
    recorded_at: datetime
    recorded_by: str
    reason: str
    household_no: str | None
    resident_codes: list[str]
    details: dict[str, Any]


class StateOut(Schema):
    valid_from: date
    valid_to: date
    status: str
    household_no: str | None
    relationship: str
    is_head: bool
    family_name: str
    given_name: str
    family_kana: str
    given_kana: str
    postcode: str
    town_code: str
    town_name: str
    address_detail: str
    building: str
    address: str


class PersonSummaryOut(Schema):
    resident_code: str
    birth_date: date
    sex: str
    nationality: str
    protected: bool
    state: StateOut


class PersonOut(PersonSummaryOut):
    mynumber: str = Field(..., description="masked unless revealed for a stated purpose")
    mynumber_revealed: bool
    household: list[PersonSummaryOut]
    events: list[EventOut]
    history: list[StateOut]


class HouseholdOut(Schema):
    household_no: str
    created_on: date
    as_of: date | None
    head: str | None
    members: list[PersonSummaryOut]


# --- shaping --------------------------------------------------------------------------------


def _state(s: PersonState) -> dict[str, Any]:
    return {
        "valid_from": s.valid_from,
        "valid_to": s.valid_to,
        "status": s.status,
        "household_no": s.household.household_no if s.household else None,
        "relationship": s.relationship,
        "is_head": s.is_head,
        "family_name": s.family_name,
        "given_name": s.given_name,
        "family_kana": s.family_kana,
        "given_kana": s.given_kana,
        "postcode": s.postcode,
        "town_code": s.town_code,
        "town_name": s.town_name,
        "address_detail": s.address_detail,
        "building": s.building,
        "address": s.address,
    }


def _summary(s: PersonState) -> dict[str, Any]:
    p = s.person
    return {
        "resident_code": p.resident_code,
        "birth_date": p.birth_date,
        "sex": p.sex,
        "nationality": p.nationality,
        "protected": p.protected,
        "state": _state(s),
    }


def _event(e: RegistryEvent) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "event_date": e.event_date,
        "reported_date": e.reported_date,
        "recorded_at": e.recorded_at,
        "recorded_by": e.recorded_by,
        "reason": e.reason,
        "household_no": e.household.household_no if e.household else None,
        "resident_codes": list(e.details.get("resident_codes", [])),
        "details": e.details,
    }


def _context(request: HttpRequest, code: str) -> tuple[Actor, Municipality]:
    actor = actor_of(request)
    m = get_municipality(code)
    # Tenancy first so another municipality's token learns nothing, then the role.
    actor.require(m, Role.REGISTRY_CLERK)
    return actor, m


# --- reads ----------------------------------------------------------------------------------


@router.get(
    "/municipalities/{code}/residents",
    response={200: list[PersonSummaryOut], **ERRORS},
    summary="Search residents (住民検索)",
)
def search_residents(
    request: HttpRequest,
    code: str,
    q: str = "",
    birth_date: date | None = None,
    address: str = "",
    resident_code: str = "",
    purpose: str = "",
    current_only: bool = True,
    limit: int = 50,
) -> Any:
    """Name in kana (prefix) or kanji (substring), date of birth, address, 住民票コード.
    Protected (支援措置) persons appear only for purpose=support_measure."""
    actor, m = _context(request, code)
    results = queries.search(
        actor=actor,
        municipality=m,
        text=q,
        birth_date=birth_date,
        address=address,
        resident_code=resident_code,
        purpose=purpose,
        current_only=current_only,
        limit=limit,
    )
    return [_summary(s) for s in results]


@router.get(
    "/municipalities/{code}/residents/{resident_code}",
    response={200: PersonOut, **ERRORS},
    summary="A resident's record, household and events",
)
def get_resident(request: HttpRequest, code: str, resident_code: str, purpose: str = "") -> Any:
    """My Number is masked unless a purpose is given (then revealed and audited)."""
    actor, m = _context(request, code)
    record = queries.get_person(
        actor=actor, municipality=m, resident_code=resident_code, purpose=purpose
    )
    mynumber = record.mynumber_masked
    revealed = False
    if purpose.strip() and record.person.mynumber_enc:
        mynumber = queries.reveal_mynumber(
            actor=actor, municipality=m, resident_code=resident_code, purpose=purpose
        )
        revealed = True
    return {
        **_summary(record.state),
        "mynumber": mynumber,
        "mynumber_revealed": revealed,
        "household": [_summary(s) for s in record.members],
        "events": [_event(e) for e in record.events],
        "history": [_state(s) for s in record.history],
    }


@router.get(
    "/municipalities/{code}/residents/{resident_code}/as-of/{as_of}",
    response={200: PersonSummaryOut, **ERRORS},
    summary="A resident's record as it stood on a date",
)
def resident_as_of(
    request: HttpRequest, code: str, resident_code: str, as_of: date, purpose: str = ""
) -> Any:
    actor, m = _context(request, code)
    state = queries.read_person_as_of(
        actor=actor, municipality=m, resident_code=resident_code, d=as_of, purpose=purpose
    )
    return _summary(state)


@router.get(
    "/municipalities/{code}/households/{household_no}",
    response={200: HouseholdOut, **ERRORS},
    summary="A household's members (now or as of a date)",
)
def household(
    request: HttpRequest,
    code: str,
    household_no: str,
    as_of: date | None = None,
    purpose: str = "",
) -> Any:
    actor, m = _context(request, code)
    record = queries.get_household(
        actor=actor, municipality=m, household_no=household_no, as_of=as_of, purpose=purpose
    )
    head = record.head
    return {
        "household_no": record.household.household_no,
        "created_on": record.household.created_on,
        "as_of": as_of,
        "head": head.person.resident_code if head else None,
        "members": [_summary(s) for s in record.members],
    }


class ProtectionIn(Schema):
    protected: bool
    reason: str = Field(..., description="理由 (e.g. the 支援措置申出書 received)")


class ProtectionOut(Schema):
    resident_code: str
    protected: bool


@router.post(
    "/municipalities/{code}/residents/{resident_code}/protection",
    response={200: ProtectionOut, **ERRORS},
    summary="支援措置 (DV/stalking support measures): suppress or restore a record",
)
def protection(request: HttpRequest, code: str, resident_code: str, payload: ProtectionIn) -> Any:
    """Municipality admins and registry clerks; audited with the reason."""
    actor = actor_of(request)
    m = get_municipality(code)
    person = services.set_protection(
        actor=actor,
        municipality=m,
        person=resident_code,
        protected=payload.protected,
        reason=payload.reason,
    )
    return {"resident_code": person.resident_code, "protected": person.protected}


# --- events ---------------------------------------------------------------------------------


def _created(event: RegistryEvent) -> tuple[int, dict[str, Any]]:
    event = RegistryEvent.objects.select_related("household").get(pk=event.pk)
    return 201, _event(event)


EVENT_RESPONSES: dict[int, type[Schema]] = {201: EventOut, **ERRORS}


@router.post(
    "/municipalities/{code}/events/move-in",
    response=EVENT_RESPONSES,
    summary="転入 (move in)",
)
def move_in(request: HttpRequest, code: str, payload: MoveInIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_move_in(
            actor=actor,
            municipality=m,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
            persons=[p.to_new_person() for p in payload.persons],
            address=payload.address.to_address(),
            household=payload.household_no,
            previous_address=payload.previous_address,
        )
    )


@router.post(
    "/municipalities/{code}/events/move-out",
    response=EVENT_RESPONSES,
    summary="転出 (move out, with planned date)",
)
def move_out(request: HttpRequest, code: str, payload: MoveOutIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_move_out(
            actor=actor,
            municipality=m,
            persons=payload.resident_codes,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
            destination=payload.destination,
            new_head=payload.new_head,
        )
    )


@router.post(
    "/municipalities/{code}/events/move-within",
    response=EVENT_RESPONSES,
    summary="転居 (move within the municipality)",
)
def move_within(request: HttpRequest, code: str, payload: MoveWithinIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_move_within(
            actor=actor,
            municipality=m,
            persons=payload.resident_codes,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
            address=payload.address.to_address(),
            household=payload.household_no,
            new_household=payload.new_household,
            head=payload.head,
            new_head=payload.new_head,
            relationships=payload.relationships,
        )
    )


@router.post(
    "/municipalities/{code}/events/birth",
    response=EVENT_RESPONSES,
    summary="出生 (birth)",
)
def birth(request: HttpRequest, code: str, payload: BirthIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_birth(
            actor=actor,
            municipality=m,
            reported_date=payload.reported_date,
            child=payload.child.to_new_person(),
            mother=payload.mother,
            household=payload.household_no,
        )
    )


@router.post(
    "/municipalities/{code}/events/death",
    response=EVENT_RESPONSES,
    summary="死亡 (death)",
)
def death(request: HttpRequest, code: str, payload: DeathIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_death(
            actor=actor,
            municipality=m,
            person=payload.resident_code,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
            new_head=payload.new_head,
        )
    )


@router.post(
    "/municipalities/{code}/events/household-change",
    response=EVENT_RESPONSES,
    summary="世帯変更 (new household, join, change of head)",
)
def household_change(request: HttpRequest, code: str, payload: HouseholdChangeIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_household_change(
            actor=actor,
            municipality=m,
            kind=payload.kind,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
            persons=payload.resident_codes,
            household=payload.household_no,
            head=payload.head,
            new_head=payload.new_head,
            relationships=payload.relationships,
        )
    )


@router.post(
    "/municipalities/{code}/events/name-change",
    response=EVENT_RESPONSES,
    summary="氏名変更 (name change)",
)
def name_change(request: HttpRequest, code: str, payload: NameChangeIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_name_change(
            actor=actor,
            municipality=m,
            person=payload.resident_code,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
            family_name=payload.family_name,
            given_name=payload.given_name,
            family_kana=payload.family_kana,
            given_kana=payload.given_kana,
        )
    )


@router.post(
    "/municipalities/{code}/events/correction",
    response=EVENT_RESPONSES,
    summary="職権修正 (correction by the municipality, with reason)",
)
def correction(request: HttpRequest, code: str, payload: CorrectionIn) -> Any:
    actor, m = _context(request, code)
    return _created(
        services.record_correction(
            actor=actor,
            municipality=m,
            person=payload.resident_code,
            changes=payload.changes,
            reason=payload.reason,
            event_date=payload.event_date,
            reported_date=payload.reported_date,
        )
    )
