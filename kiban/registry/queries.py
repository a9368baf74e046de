"""Reading the resident registry: as-of-date snapshots, search and a person's record.

``snapshot_as_of``, ``households_as_of`` and ``person_state_as_of`` are building blocks
for other domains (benefits compute eligibility from them) and do not audit: their
callers audit what they do with the result. ``search``, ``get_person``,
``get_household`` and ``read_person_as_of`` are what staff and API clients call: they
check role and tenancy and audit every call.

支援措置 (support measures): protected persons are left out of searches and household
listings, and their records refused, unless the caller is *authorised*: a registry clerk
(or the system / operator CLI) who states the purpose ``support_measure``
(``PROTECTED_PURPOSE``). Every read of a protected person's record is audited
separately under that person's 住民票コード with the stated purpose, so the person's own
access log shows it.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from django.db import connection
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Concat

from kiban.core import audit, crypto
from kiban.core.actors import Actor
from kiban.core.errors import Forbidden, NotFound, ValidationFailed
from kiban.core.identifiers import IdentifierError, normalize_digits, validate_resident_code
from kiban.core.kana import search_key
from kiban.core.models import Municipality, Role
from kiban.registry.models import (
    OPEN_END,
    Household,
    Person,
    PersonState,
    RegistryEvent,
    Status,
)

PROTECTED_PURPOSE = "support_measure"
KEY_END = "\uffff"  # greater than any character a search key holds

__all__ = [
    "PROTECTED_PURPOSE",
    "HouseholdAsOf",
    "HouseholdRecord",
    "MemberAsOf",
    "PersonRecord",
    "can_see_protected",
    "get_household",
    "get_person",
    "households_as_of",
    "person_state_as_of",
    "read_person_as_of",
    "reveal_mynumber",
    "search",
    "snapshot_as_of",
]


# --- as-of building blocks (not audited) --------------------------------------------------


def snapshot_as_of(municipality: Municipality | str, d: date) -> QuerySet[PersonState]:
    """Residents on date ``d``: their states valid on ``d``, as one indexed range query."""
    code = municipality if isinstance(municipality, str) else municipality.code
    return PersonState.objects.filter(
        municipality_id=code, valid_to__gt=d, valid_from__lte=d, status=Status.RESIDENT
    )


class MemberAsOf(NamedTuple):
    """One member of a household on the as-of date (a tuple: cheap by the million)."""

    person_id: int
    resident_code: str
    birth_date: date
    sex: str
    relationship: str
    is_head: bool


@dataclass(slots=True)
class HouseholdAsOf:
    household_id: int
    household_no: str
    head: MemberAsOf | None = None
    members: list[MemberAsOf] = field(default_factory=list)


def households_as_of(municipality: Municipality | str, d: date) -> dict[int, HouseholdAsOf]:
    """Households on date ``d`` (household id → members and head), from one set query.

    The query is the ORM's own SQL for ``snapshot_as_of``; rows are read with a plain
    cursor in large batches and kept as tuples, because at a city of millions Django's
    per-row machinery costs more than the database does.
    """
    qs = (
        snapshot_as_of(municipality, d)
        .filter(household__isnull=False)
        .values_list(
            "household_id",
            "household__household_no",
            "person_id",
            "person__resident_code",
            "person__birth_date",
            "person__sex",
            "relationship",
            "is_head",
        )
        .order_by()
    )
    sql, params = qs.query.sql_with_params()
    result: dict[int, HouseholdAsOf] = {}
    make_member = tuple.__new__
    # Millions of new objects would set off the cyclic garbage collector again and again
    # (each pass walking the whole growing heap); none of them can form a cycle.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with connection.cursor() as cur:
            cur.execute(sql, params)
            while rows := cur.fetchmany(50_000):
                for row in rows:
                    hid = row[0]
                    hh = result.get(hid)
                    if hh is None:
                        hh = result[hid] = HouseholdAsOf(hid, row[1])
                    member = make_member(MemberAsOf, (*row[2:7], bool(row[7])))
                    hh.members.append(member)
                    if member.is_head:
                        hh.head = member
    finally:
        if gc_was_enabled:
            gc.enable()
    return result


def person_state_as_of(person: Person, d: date) -> PersonState | None:
    """The person's state (of any status) on ``d``; None before they were first recorded."""
    return (
        PersonState.objects.filter(
            municipality_id=person.municipality_id,
            person=person,
            valid_from__lte=d,
            valid_to__gt=d,
        )
        .select_related("household")
        .first()
    )


# --- access rules -------------------------------------------------------------------------


def can_see_protected(actor: Actor, purpose: str) -> bool:
    """Whether ``actor`` may see 支援措置 persons when stating ``purpose``."""
    if actor.kind in {"system", "operator"}:
        return True
    return actor.has_role(Role.REGISTRY_CLERK) and purpose == PROTECTED_PURPOSE


def _audit_protected_access(
    *, municipality: Municipality, actor: Actor, person: Person, purpose: str, via: str
) -> None:
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.protected_access",
        subject_type="person",
        subject_id=person.resident_code,
        purpose=purpose,
        details={"via": via},
    )


def _find_person(
    municipality: Municipality, resident_code: str, actor: Actor, purpose: str
) -> Person:
    code = normalize_digits(resident_code)
    person = Person.objects.filter(municipality=municipality, resident_code=code).first()
    if person is None or (person.protected and not can_see_protected(actor, purpose)):
        # A protected record is indistinguishable from a missing one for the unauthorised.
        raise NotFound("住民", "resident")
    return person


# --- search -------------------------------------------------------------------------------


def _is_kana_query(key: str) -> bool:
    return all("\u30a0" <= ch <= "\u30ff" for ch in key)


def _name_filter(text: str) -> Q:
    """Name in kana (prefix of the reading, family+given or given alone) or kanji (substring).

    Kana prefixes are range predicates ``key >= k AND key < k || U+FFFF``, which SQLite and
    PostgreSQL both answer from the (municipality, key) btree index, whatever the collation
    of LIKE.
    """
    key = search_key(text)
    if _is_kana_query(key):
        return Q(name_key__gte=key, name_key__lt=key + KEY_END) | Q(
            given_key__gte=key, given_key__lt=key + KEY_END
        )
    parts = text.replace("\u3000", " ").split()
    if len(parts) >= 2:
        return Q(family_name__startswith=parts[0], given_name__startswith="".join(parts[1:]))
    word = parts[0]
    return Q(family_name__contains=word) | Q(given_name__contains=word)


def search(
    *,
    actor: Actor,
    municipality: Municipality,
    text: str = "",
    birth_date: date | None = None,
    address: str = "",
    resident_code: str = "",
    purpose: str = "",
    current_only: bool = True,
    limit: int = 50,
) -> list[PersonState]:
    """Search persons by name (kana or kanji, partial), birth date, address, 住民票コード.

    Returns states (with ``person`` loaded) ordered by reading; by default only current
    records (any status: moved-out and deceased persons are found too). Protected persons
    are left out unless ``can_see_protected(actor, purpose)``; then each one returned is
    audited. The search itself is audited with its criteria, never the results' data.
    """
    actor.require(municipality, Role.REGISTRY_CLERK)
    text = text.strip()
    address = address.strip()
    resident_code = resident_code.strip()
    if not (text or birth_date or address or resident_code):
        raise ValidationFailed(
            "検索条件を1つ以上入力してください。",
            "Enter at least one search criterion.",
            details={"field": "text"},
        )
    qs = PersonState.objects.filter(municipality=municipality)
    if current_only:
        # ">= OPEN_END" equals "= OPEN_END" (nothing lies beyond it), but SQLite's planner
        # then prefers the name-key index over the as-of index: 0.3 ms instead of 185 ms.
        qs = qs.filter(valid_to__gte=OPEN_END)
    if text:
        if not search_key(text):
            raise ValidationFailed(
                "氏名の検索語に文字が含まれていません。",
                "The name to search for has no letters.",
                details={"field": "text"},
            )
        qs = qs.filter(_name_filter(text))
    if birth_date is not None:
        qs = qs.filter(person__birth_date=birth_date)
    if address:
        # Town and street number as one text, so "山下町1番地" and "1番地" both match.
        compact = "".join(address.split())
        qs = qs.annotate(
            _full_address=Concat(
                "town_name", "address_detail", "building", output_field=CharField()
            )
        ).filter(_full_address__contains=compact)
    if resident_code:
        try:
            code = validate_resident_code(resident_code)
        except IdentifierError as exc:
            raise ValidationFailed(
                exc.message_ja, exc.message_en, details={"field": "resident_code"}
            ) from None
        qs = qs.filter(person__resident_code=code)
    authorised = can_see_protected(actor, purpose)
    if not authorised:
        qs = qs.exclude(person__protected=True)
    limit = max(1, min(limit, 500))
    results = list(
        qs.select_related("person", "household").order_by("name_key", "person_id", "valid_from")[
            :limit
        ]
    )
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.search",
        subject_type="registry",
        purpose=purpose,
        details={
            "text": text[:80],
            "birth_date": birth_date.isoformat() if birth_date else "",
            "address": address[:80],
            "resident_code": resident_code[:11],
            "current_only": current_only,
            "count": len(results),
        },
    )
    seen: set[int] = set()
    for state in results:
        if state.person.protected and state.person_id not in seen:
            seen.add(state.person_id)
            _audit_protected_access(
                municipality=municipality,
                actor=actor,
                person=state.person,
                purpose=purpose,
                via="search",
            )
    return results


# --- a person's record --------------------------------------------------------------------


@dataclass
class PersonRecord:
    person: Person
    state: PersonState
    household: Household | None
    members: list[PersonState]
    events: list[RegistryEvent]
    history: list[PersonState]
    mynumber_masked: str
    mynumber: str | None = None  # only when revealed for a stated purpose


def _household_members(
    municipality: Municipality, household_id: int | None, actor: Actor, purpose: str
) -> list[PersonState]:
    if household_id is None:
        return []
    qs = (
        PersonState.objects.filter(
            municipality=municipality,
            household_id=household_id,
            valid_to=OPEN_END,
            status=Status.RESIDENT,
        )
        .select_related("person")
        .order_by("-is_head", "person__birth_date", "person_id")
    )
    if not can_see_protected(actor, purpose):
        qs = qs.exclude(person__protected=True)
    return list(qs)


def _masked(person: Person) -> str:
    if not person.mynumber_enc:
        return ""
    return crypto.mask_mynumber(crypto.decrypt(person.mynumber_enc))


def person_events(person: Person) -> QuerySet[RegistryEvent]:
    """Every event that concerns ``person``, oldest first."""
    return (
        RegistryEvent.objects.filter(municipality_id=person.municipality_id)
        .filter(Q(person=person) | Q(personstate__person=person))
        .distinct()
        .order_by("event_date", "recorded_at", "id")
    )


def get_person(
    *, actor: Actor, municipality: Municipality, resident_code: str, purpose: str = ""
) -> PersonRecord:
    """A person's current record, household members and full event history (audited read).

    Another municipality's person, or a protected one without authorisation, is NotFound.
    My Number is masked; use ``reveal_mynumber`` to see it.
    """
    actor.require(municipality, Role.REGISTRY_CLERK)
    person = _find_person(municipality, resident_code, actor, purpose)
    history = list(
        PersonState.objects.filter(municipality=municipality, person=person)
        .select_related("household")
        .order_by("valid_from", "id")
    )
    state = next(s for s in reversed(history) if s.valid_to == OPEN_END)
    record = PersonRecord(
        person=person,
        state=state,
        household=state.household,
        members=_household_members(municipality, state.household_id, actor, purpose),
        events=list(person_events(person)),
        history=history,
        mynumber_masked=_masked(person),
    )
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.read",
        subject_type="person",
        subject_id=person.resident_code,
        purpose=purpose,
        details={"protected": person.protected},
    )
    if person.protected:
        _audit_protected_access(
            municipality=municipality, actor=actor, person=person, purpose=purpose, via="read"
        )
    return record


def reveal_mynumber(
    *, actor: Actor, municipality: Municipality, resident_code: str, purpose: str
) -> str:
    """The person's My Number in clear, for a registry clerk stating a purpose (audited)."""
    actor.require(municipality, Role.REGISTRY_CLERK)
    purpose = purpose.strip()
    if not purpose:
        raise Forbidden(
            "個人番号の表示には利用目的の入力が必要です。",
            "State the purpose to see the My Number.",
        )
    person = _find_person(municipality, resident_code, actor, purpose)
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.mynumber.read",
        subject_type="person",
        subject_id=person.resident_code,
        purpose=purpose,
    )
    return crypto.decrypt(person.mynumber_enc) if person.mynumber_enc else ""


def read_person_as_of(
    *, actor: Actor, municipality: Municipality, resident_code: str, d: date, purpose: str = ""
) -> PersonState:
    """The person's record as it stood on ``d`` (audited read)."""
    actor.require(municipality, Role.REGISTRY_CLERK)
    person = _find_person(municipality, resident_code, actor, purpose)
    state = person_state_as_of(person, d)
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.read_as_of",
        subject_type="person",
        subject_id=person.resident_code,
        purpose=purpose,
        details={"as_of": d.isoformat()},
    )
    if person.protected:
        _audit_protected_access(
            municipality=municipality, actor=actor, person=person, purpose=purpose, via="as_of"
        )
    if state is None:
        raise NotFound(f"{d.isoformat()}時点の記録", f"record as of {d.isoformat()}")
    return state


@dataclass
class HouseholdRecord:
    household: Household
    as_of: date | None
    members: list[PersonState]

    @property
    def head(self) -> PersonState | None:
        return next((m for m in self.members if m.is_head), None)


def get_household(
    *,
    actor: Actor,
    municipality: Municipality,
    household_no: str,
    as_of: date | None = None,
    purpose: str = "",
) -> HouseholdRecord:
    """A household's resident members, now or on ``as_of`` (audited read)."""
    actor.require(municipality, Role.REGISTRY_CLERK)
    household = Household.objects.filter(
        municipality=municipality, household_no=household_no
    ).first()
    if household is None:
        raise NotFound("世帯", "household")
    if as_of is None:
        qs = PersonState.objects.filter(municipality=municipality, valid_to=OPEN_END)
    else:
        qs = PersonState.objects.filter(
            municipality=municipality, valid_from__lte=as_of, valid_to__gt=as_of
        )
    qs = (
        qs.filter(household=household, status=Status.RESIDENT)
        .select_related("person")
        .order_by("-is_head", "person__birth_date", "person_id")
    )
    authorised = can_see_protected(actor, purpose)
    if not authorised:
        qs = qs.exclude(person__protected=True)
    members = list(qs)
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.household.read",
        subject_type="household",
        subject_id=household.household_no,
        purpose=purpose,
        details={"as_of": as_of.isoformat() if as_of else ""},
    )
    for m in members:
        if m.person.protected:
            _audit_protected_access(
                municipality=municipality,
                actor=actor,
                person=m.person,
                purpose=purpose,
                via="household",
            )
    return HouseholdRecord(household=household, as_of=as_of, members=members)
