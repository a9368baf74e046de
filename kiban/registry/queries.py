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
import threading
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from functools import partial
from itertools import chain, groupby, islice
from operator import itemgetter
from typing import Any, NamedTuple

from django.db import connection, transaction
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
    "EventPerson",
    "HouseholdAsOf",
    "HouseholdEvent",
    "HouseholdRecord",
    "MemberAsOf",
    "PersonRecord",
    "can_see_protected",
    "find_household",
    "get_household",
    "get_person",
    "household_events",
    "household_history",
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
    household_id: int


class HouseholdAsOf(NamedTuple):
    """A household on the as-of date: its 世帯番号, head (None if none recorded) and members,
    the head first (a tuple too: a city has millions)."""

    household_id: int
    household_no: str
    head: MemberAsOf | None
    members: list[MemberAsOf]


def households_as_of(municipality: Municipality | str, d: date) -> dict[int, HouseholdAsOf]:
    """Households on date ``d`` (household id → members and head), from one set query.

    The members are the ORM's own SQL for ``snapshot_as_of``, sorted by household with the
    head first, read with a plain cursor and grouped as they stream in (a city of millions
    is too big for Django's per-row machinery). The state rows carry everything a member
    needs (住民票コード, birth date and sex are copied onto them), and ``state_household``
    lists them in this very order, so both databases read one table along one index, with
    no join and no sort, and the first rows arrive at once. On SQLite that index holds the
    columns too, so the table itself is not read.

    Household numbers are one more query: on a separate connection at the same time on
    PostgreSQL (outside a transaction), otherwise after the members on the same one.
    Households are never deleted and keep their number, so every household a member points
    at has one; any created after the other connection looked are read at the end.
    """
    code = municipality if isinstance(municipality, str) else municipality.code
    sql, params = _members_sql(code, d)
    numbers = _HouseholdNumbers(code, concurrent=not connection.in_atomic_block)
    result: dict[int, HouseholdAsOf] = {}
    make_member = partial(tuple.__new__, MemberAsOf)
    make_household = partial(tuple.__new__, HouseholdAsOf)
    # Millions of new objects would set off the cyclic garbage collector again and again
    # (each pass walking the whole growing heap); none of them can form a cycle.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    source = _row_batches(sql, params)
    rows: Iterator[tuple[Any, ...]] = chain.from_iterable(source)
    try:
        # The members' query has started (its first rows come at once); on PostgreSQL the
        # numbers are being read on the other connection meanwhile: wait for them here.
        first_row = next(rows, None)
        known = numbers.result()
        if first_row is not None:
            rows = chain([first_row], rows)
        for hid, group in groupby(rows, itemgetter(6)):
            members = list(map(make_member, group))
            first = members[0]
            result[hid] = make_household(
                (hid, known.get(hid, ""), first if first.is_head else None, members)
            )
        missing = [hid for hid, hh in result.items() if not hh.household_no]
        for hid, number in numbers.read(missing).items():
            result[hid] = result[hid]._replace(household_no=number)
    finally:
        source.close()  # ends the query's transaction at once if reading stopped early
        if gc_was_enabled:
            gc.enable()
    return result


def _members_sql(code: str, d: date) -> tuple[str, Sequence[Any]]:
    """SQL for the snapshot's members as MemberAsOf rows, household by household, head
    first, along ``state_household``.

    It reads and filters only columns that index holds on SQLite, so SQLite answers it
    from the index alone (a test checks the plan). SQLite is told to use that index: its
    planner would otherwise, without statistics (no ANALYZE since a load), take the as-of
    index and sort a city's rows.
    """
    members = (
        snapshot_as_of(code, d)
        .filter(household__isnull=False)
        .values_list(
            # MemberAsOf's fields, in order: a member is the row itself.
            "person_id",
            "resident_code",
            "birth_date",
            "sex",
            "relationship",
            "is_head",
            "household_id",
        )
        .order_by("household_id", "-is_head", "person_id")
    )
    sql, params = members.query.sql_with_params()
    if connection.vendor == "sqlite":
        quote = connection.ops.quote_name
        table = f" FROM {quote(PersonState._meta.db_table)} "
        assert sql.count(table) == 1, sql
        sql = sql.replace(table, f"{table}INDEXED BY {quote('state_household')} ")
    return sql, params


class _HouseholdNumbers:
    """household id → 世帯番号 for a municipality, read while the members are being read."""

    def __init__(self, code: str, *, concurrent: bool) -> None:
        self.code = code
        self.numbers: dict[int, str] = {}
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if concurrent and connection.vendor == "postgresql":
            params = connection.get_connection_params()
            self.thread = threading.Thread(
                target=self._read_elsewhere, args=(params,), name="kiban-household-numbers"
            )
            self.thread.start()
        else:  # now, before the members' rows stream in on this connection
            with connection.cursor() as cur:
                self.numbers = self._read(cur)

    def _read(self, cur: Any) -> dict[int, str]:
        cur.execute(
            "SELECT id, household_no FROM registry_household WHERE municipality_id = %s",
            [self.code],
        )
        return dict(cur.fetchall())

    def _read_elsewhere(self, params: dict[str, Any]) -> None:
        try:
            side = connection.get_new_connection(dict(params))
            try:
                with side.cursor() as cur:
                    self.numbers = self._read(cur)
            finally:
                side.close()
        except BaseException as e:  # raised in the caller's thread
            self.error = e

    def result(self) -> dict[int, str]:
        if self.thread is None:
            return self.numbers
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.numbers

    def read(self, ids: list[int]) -> dict[int, str]:
        """Numbers of households the first read did not see (created since)."""
        if not ids:
            return {}
        found = Household.objects.filter(municipality_id=self.code, id__in=ids)
        return dict(found.values_list("id", "household_no"))


_BATCH_ROWS = 50_000
#: SQLite rows per fetch: small, so that the rows are grouped while SQLite's pages for them
#: are still in the processor's cache (3.77M rows: 11.2 s in lists of 50,000, 9.2–9.9 s in
#: lists of 500–1,000).
_SQLITE_BATCH_ROWS = 1_000


def _row_batches(sql: str, params: Sequence[Any]) -> Generator[list[tuple[Any, ...]], None, None]:
    """The rows of a big read-only query as plain tuples, streamed in lists of rows (one
    Python step per list, not per row: flatten with ``chain.from_iterable``).

    On PostgreSQL the rows arrive in chunks as the server sends them (libpq's chunked-rows
    mode) instead of all being gathered in the driver's memory first, and the query gets
    room for a hash join or sort over a city to stay in memory (one that spills to disk is
    several times slower) and skips JIT compilation, for this transaction only.
    """
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL work_mem = '256MB'")
            cur.execute("SET LOCAL jit = off")
            with connection.wrap_database_errors:
                stream = cur.cursor.stream(sql, params, size=_BATCH_ROWS)
                with closing(stream):  # a reader that stops early ends the query at once
                    while batch := list(islice(stream, _BATCH_ROWS)):
                        yield batch
            return
        cur.execute(sql, params)
        while batch := cur.fetchmany(_SQLITE_BATCH_ROWS):
            yield batch


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
    """Every event that concerns ``person``, oldest first.

    Two index look-ups, not a join: the events that opened one of the person's states
    (``state_person``), then those events or the ones naming the person. A join through
    the states would make the database scan the whole municipality's events.
    """
    opened = list(
        PersonState.objects.filter(
            municipality_id=person.municipality_id, person=person, event__isnull=False
        ).values_list("event_id", flat=True)
    )
    return (
        RegistryEvent.objects.filter(municipality_id=person.municipality_id)
        .filter(Q(person=person) | Q(pk__in=opened))
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


def find_household(
    *, actor: Actor, municipality: Municipality, household_no: str, purpose: str = ""
) -> Household:
    """The household with 世帯番号 ``household_no`` (full-width digits accepted; audited).

    The look-up is audited with the number searched for, like a person search; reading
    the household's members is a separate ``get_household`` call.
    """
    actor.require(municipality, Role.REGISTRY_CLERK)
    number = normalize_digits(household_no.strip())
    if not number:
        raise ValidationFailed(
            "世帯番号を入力してください。",
            "Enter the household number.",
            details={"field": "household_no"},
        )
    if len(number) > 16:
        raise ValidationFailed(
            "世帯番号は16文字以内です。",
            "The household number is at most 16 characters.",
            details={"field": "household_no"},
        )
    household = Household.objects.filter(municipality=municipality, household_no=number).first()
    audit.record(
        municipality=municipality,
        actor=actor,
        action="registry.household.search",
        subject_type="registry",
        purpose=purpose,
        details={"household_no": number, "found": household is not None},
    )
    if household is None:
        raise NotFound("世帯", "household")
    return household


def household_events(household: Household) -> list[RegistryEvent]:
    """Every event that changed who belonged to ``household`` or their record while they did.

    That is each event that opened a state in the household (move in, birth, join, name
    change of a member, ...) and each event that closed one (move out, death, leaving for
    another household), oldest first. Not audited: callers read the household through
    ``get_household`` first. A person's states form one chain ordered by start date (ties
    in creation order), so the event that closed a state is the event of the next one.
    """
    ever_members = PersonState.objects.filter(
        municipality_id=household.municipality_id, household=household
    ).values("person_id")
    chains = (
        PersonState.objects.filter(
            municipality_id=household.municipality_id, person_id__in=ever_members
        )
        .order_by("person_id", "valid_from", "id")
        .values_list("person_id", "household_id", "event_id")
    )
    event_ids: set[int] = set()
    previous: tuple[int, int | None] | None = None
    for person_id, household_id, event_id in chains:
        closes_membership = (
            previous is not None and previous[0] == person_id and previous[1] == household.pk
        )
        if event_id is not None and (household_id == household.pk or closes_membership):
            event_ids.add(event_id)
        previous = (person_id, household_id)
    return list(
        RegistryEvent.objects.filter(municipality_id=household.municipality_id)
        .filter(Q(pk__in=event_ids) | Q(household=household))
        .order_by("event_date", "recorded_at", "id")
    )


class EventPerson(NamedTuple):
    """A person an event concerns, as the household history shows them."""

    resident_code: str
    full_name: str
    protected: bool


@dataclass
class HouseholdEvent:
    event: RegistryEvent
    persons: list[EventPerson]


def household_history(
    *, actor: Actor, municipality: Municipality, household: Household, purpose: str = ""
) -> list[HouseholdEvent]:
    """The household's events (``household_events``) with the persons each one concerns.

    Read it after ``get_household``, which audits the read. Protected persons are left
    out of each event unless ``can_see_protected(actor, purpose)``, and an event that
    concerns only protected persons is left out entirely, so the history says nothing
    the member list would not. Each protected person shown is audited as an access.
    """
    actor.require(municipality, Role.REGISTRY_CLERK)
    if household.municipality_id != municipality.code:
        raise NotFound("世帯", "household")
    events = household_events(household)
    codes_of: dict[int, list[str]] = {}
    person_codes = dict(
        Person.objects.filter(
            municipality=municipality, pk__in={e.person_id for e in events if e.person_id}
        ).values_list("pk", "resident_code")
    )
    for e in events:
        codes = [str(c) for c in (e.details or {}).get("resident_codes", [])]
        if not codes and e.person_id in person_codes:
            codes = [person_codes[e.person_id]]
        codes_of[e.pk] = codes
    wanted = {c for codes in codes_of.values() for c in codes}
    persons = {
        p.resident_code: p
        for p in Person.objects.filter(municipality=municipality, resident_code__in=wanted)
    }
    names: dict[int, str] = {}
    for s in (
        PersonState.objects.filter(
            municipality=municipality, person_id__in=[p.pk for p in persons.values()]
        )
        .order_by("person_id", "valid_from", "id")
        .only("person_id", "family_name", "given_name")
    ):
        names[s.person_id] = s.full_name  # the latest name wins
    authorised = can_see_protected(actor, purpose)
    shown_protected: dict[int, Person] = {}
    result: list[HouseholdEvent] = []
    for e in events:
        concerned = [persons[c] for c in codes_of[e.pk] if c in persons]
        visible = [p for p in concerned if authorised or not p.protected]
        if concerned and not visible:
            continue
        for p in visible:
            if p.protected:
                shown_protected[p.pk] = p
        result.append(
            HouseholdEvent(
                event=e,
                persons=[
                    EventPerson(p.resident_code, names.get(p.pk, ""), p.protected) for p in visible
                ],
            )
        )
    for p in shown_protected.values():
        _audit_protected_access(
            municipality=municipality,
            actor=actor,
            person=p,
            purpose=purpose,
            via="household_history",
        )
    return result
