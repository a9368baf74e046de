# ruff: noqa: S608 - SQL text is built from model table names and constants only; every value is a parameter.
"""Benefit operations: programs, eligibility, 公金受取口座, payment batches, reconciliation.

Every public function takes the acting ``actor`` and the ``municipality`` explicitly, checks
permission, runs in one transaction (eligibility: one per chunk) and writes audit entries
inside it. Bulk steps are set-based SQL (``INSERT ... SELECT``), never a Python loop per
person, so a 3.77-million-resident city is computed in seconds.

Exactly once: a ``Payment`` row is one attempt to pay one entitlement, and the database
refuses a second *live* attempt (pending, sent or paid) for the same entitlement through a
partial unique index. Batch creation also takes a lock first (``SELECT ... FOR UPDATE`` on
the program row on PostgreSQL; SQLite connections begin IMMEDIATE, which takes the write
lock at BEGIN), so a second concurrent run waits and then finds nothing left to pay rather
than failing. Batch rows and their payments commit in one transaction; the transfer file
is written to a temporary name inside that transaction and renamed only after the commit,
so an interruption leaves either no batch or a complete one (whose file can be re-written
from the payment rows with :func:`write_batch_files`, byte for byte).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Count, Exists, Max, Min, OuterRef, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from kiban.benefits import zengin
from kiban.benefits.bankdays import check_transfer_date
from kiban.benefits.banks import (
    lookup_branch,
    normalize_account_number,
    normalize_account_type,
)
from kiban.benefits.eligibility import birth_range
from kiban.benefits.models import (
    LIVE_PAYMENT_STATES,
    BankAccount,
    BatchState,
    Entitlement,
    EntitlementStatus,
    Payment,
    PaymentBatch,
    PaymentState,
    Program,
    Unit,
)
from kiban.benefits.programs import (
    ProgramDefinition,
    canonical_json,
    load_definition_file,
    parse_definition,
)
from kiban.benefits.zengin_kana import (
    ZENGIN_CHARS,
    ZenginNameError,
    is_zengin_text,
    to_zengin_kana,
)
from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kiban.core.models import Municipality, Role
from kiban.registry.models import OPEN_END, Household, Person, PersonState, Status

CLERK = Role.BENEFITS_CLERK.value
DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
CHILD_ALLOWANCE = "child-allowance"

Progress = Callable[[int, int], None]  # (done, total)

# --- helpers ----------------------------------------------------------------------------


def _t(model: Any) -> str:
    return str(model._meta.db_table)


def _dt(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def _d(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


#: Working memory of a bulk transaction on PostgreSQL: the hash joins and aggregates over a
#: city's residents, entitlements and accounts stay in memory rather than spill to disk.
BULK_WORK_MEM = "256MB"
#: After a bulk insert of at least this many rows, the table's planner statistics are
#: refreshed, so that the next step (a batch right after eligibility) is planned for the
#: table as it now is rather than as the empty table it was.
ANALYZE_AFTER_ROWS = 10_000


def _bulk_session() -> None:
    """Inside a transaction, PostgreSQL only: no JIT (the set-based statements have a high
    cost estimate, which makes PostgreSQL spend longer compiling them than running them)
    and a working memory fit for a city (:data:`BULK_WORK_MEM`). Both end with the
    transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET LOCAL jit = off")
            cur.execute(f"SET LOCAL work_mem = '{BULK_WORK_MEM}'")


#: SQLite page cache (KiB, as ``PRAGMA cache_size`` takes it negative) for a bulk step: the
#: default 2 MB makes every lookup of a city-sized join a read from the OS.
BULK_SQLITE_CACHE_KIB = 1 << 20


@contextmanager
def _bulk_connection() -> Iterator[None]:
    """SQLite only: a page cache fit for a city (:data:`BULK_SQLITE_CACHE_KIB`) for the
    duration of a bulk step, then the connection's own again. (PostgreSQL's settings are
    per transaction: :func:`_bulk_session`.)"""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cur:
        cur.execute("PRAGMA cache_size")
        before = int(cur.fetchone()[0])
        cur.execute(f"PRAGMA cache_size = -{int(BULK_SQLITE_CACHE_KIB)}")
    try:
        yield
    finally:
        with connection.cursor() as cur:
            cur.execute(f"PRAGMA cache_size = {before}")


@contextmanager
def _city_read() -> Iterator[None]:
    """A read that works out the payment state of a whole program's entitlements (the
    status, the dashboard): its own transaction with :func:`_bulk_session`'s settings.
    Without them, PostgreSQL compiled the statement with JIT first, which took longer than
    it saved (1M residents: the status 1.4 s with JIT, 0.95 s without)."""
    with transaction.atomic():
        _bulk_session()
        yield


def _analyze(model: Any) -> None:
    """Refresh the planner statistics of a table after a bulk insert (PostgreSQL; SQLite
    plans these statements from its indexes alone)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"ANALYZE {_t(model)}")


def _lock_program(program: Program) -> None:
    """Serialise eligibility chunks, grants and batch creation per program (PostgreSQL row
    lock; SQLite transactions are IMMEDIATE, which takes the write lock at BEGIN)."""
    list(Program.objects.select_for_update().filter(pk=program.pk).values_list("pk"))


def get_program(municipality: Municipality, program_id: str) -> Program:
    program = Program.objects.filter(municipality=municipality, program_id=program_id).first()
    if program is None:
        raise NotFound("給付金", f"benefit program {program_id!r}")
    return program


# --- programs ---------------------------------------------------------------------------


def load_program(
    *, actor: Actor, municipality: Municipality, definition: ProgramDefinition
) -> tuple[Program, bool]:
    """Create or update the municipality's program from a validated definition.

    Returns ``(program, created)``. Rules that decide who gets what (base date, unit, amount,
    eligibility) cannot change once entitlements exist: that would silently make the
    ledger disagree with its program; a new program id is needed instead.
    """
    actor.require(municipality, CLERK)
    with transaction.atomic():
        program = (
            Program.objects.select_for_update()
            .filter(municipality=municipality, program_id=definition.id)
            .first()
        )
        fields = {
            "name": definition.name,
            "name_en": definition.name_en,
            "legal_basis": definition.legal_basis,
            "base_date": definition.base_date,
            "unit": definition.unit,
            "push": definition.push,
            "application_start": definition.application_start,
            "application_end": definition.application_end,
            "definition": definition.raw,
            "digest": definition.digest,
        }
        if program is None:
            program = Program.objects.create(
                municipality=municipality, program_id=definition.id, **fields
            )
            created = True
        else:
            if program.digest == definition.digest:
                return program, False
            old_rules = canonical_json(parse_definition(program.definition).rules())
            if (
                old_rules != canonical_json(definition.rules())
                and Entitlement.objects.filter(program=program).exists()
            ):
                raise Conflict(
                    "受給権が作成済みのため、基準日・単位・金額・対象要件は変更できません。"
                    "新しい給付金IDで登録してください。",
                    "Entitlements exist, so the base date, unit, amount and eligibility "
                    "cannot change; load the change under a new program id.",
                    code="program_rules_frozen",
                )
            for k, v in fields.items():
                setattr(program, k, v)
            program.save()
            created = False
        audit.record(
            municipality=municipality,
            actor=actor,
            action="benefits.program.created" if created else "benefits.program.updated",
            subject_type="benefit_program",
            subject_id=definition.id,
            details={"digest": definition.digest},
        )
    return program, created


def load_program_file(
    *, actor: Actor, municipality: Municipality, path: str | Path
) -> tuple[Program, bool]:
    return load_program(
        actor=actor, municipality=municipality, definition=load_definition_file(path)
    )


def ensure_builtin_program(*, actor: Actor, municipality: Municipality, program_id: str) -> Program:
    """The program, loading the bundled definition (kiban/benefits/definitions/) if absent."""
    existing = Program.objects.filter(municipality=municipality, program_id=program_id).first()
    if existing is not None:
        return existing
    path = DEFINITIONS_DIR / f"{program_id}.yaml"
    if not path.exists():
        raise NotFound("給付金", f"benefit program {program_id!r}")
    program, _ = load_program_file(actor=actor, municipality=municipality, path=path)
    return program


# --- eligibility ------------------------------------------------------------------------


@dataclass
class EligibilityResult:
    program_id: str
    created: int  # entitlements created by this run
    entitlements: int  # entitlements of the program now
    members: int  # eligible persons counted in them
    total: int  # yen


def _asof(alias: str) -> str:
    return (
        f"{alias}.municipality_id = %s AND {alias}.valid_from <= %s AND {alias}.valid_to > %s "
        f"AND {alias}.status = %s"
    )


def _birth_between(after: date | None, upto: date | None) -> tuple[str, list[Any]]:
    """SQL for ``after < s.birth_date <= upto`` (``None`` = no bound)."""
    cond: list[str] = []
    params: list[Any] = []
    if after is not None:
        cond.append("s.birth_date > %s")
        params.append(_d(after))
    if upto is not None:
        cond.append("s.birth_date <= %s")
        params.append(_d(upto))
    return " AND ".join(cond) or "1 = 1", params


def _residents_sql(
    program: Program, definition: ProgramDefinition, holds_pk: int | None, key: str
) -> tuple[str, list[Any]]:
    """SELECT of the residents on the base date with the amount each is eligible for.

    Columns: person_id, household_id, town_code, is_head, amt. ``amt`` is NULL for a
    resident who is not eligible (outside the age range, without the required entitlement,
    or in no band of an age table): a household program still reads those rows, since the
    head is the payee whether or not they are eligible themselves. ``key`` (person_id or
    household_id) is range-limited with two parameters the caller appends (the chunk).
    Ages are birth-date ranges (:func:`birth_range`), never computed row by row.
    """
    assert definition.base_date is not None
    base = definition.base_date
    amount_sql = str(int(definition.amount.fixed or 0))
    params: list[Any] = []
    if definition.amount.fixed is None:
        whens: list[str] = []
        for after, upto, amount in definition.amount.birth_cases(base):
            band, band_params = _birth_between(after, upto)
            whens.append(f"WHEN {band} THEN {int(amount)}")
            params += band_params
        amount_sql = f"CASE {' '.join(whens)} END"
    conds: list[str] = []
    cond_params: list[Any] = []
    if definition.min_age is not None or definition.max_age is not None:
        cond, between = _birth_between(*birth_range(base, definition.min_age, definition.max_age))
        conds.append(cond)
        cond_params += between
    if holds_pk is not None:
        conds.append(
            f"EXISTS (SELECT 1 FROM {_t(Entitlement)} h WHERE h.program_id = %s "
            "AND h.person_id = s.person_id AND h.status = %s)"
        )
        cond_params += [holds_pk, EntitlementStatus.APPROVED.value]
    if conds:
        amount_sql = f"CASE WHEN {' AND '.join(conds)} THEN {amount_sql} END"
        params = cond_params + params
    # The state carries the person's birth date (PersonState.birth_date): no join.
    sql = (
        f"SELECT s.person_id, s.household_id, s.town_code, s.is_head, {amount_sql} AS amt "
        f"FROM {_t(PersonState)} s WHERE {_asof('s')} AND s.{key} BETWEEN %s AND %s"
    )
    return sql, [*params, program.municipality_id, _d(base), _d(base), Status.RESIDENT.value]


_ENT_COLUMNS = (
    "municipality_id, program_id, unit, person_id, household_id, amount, members, town_code, "
    "status, source, reference, created_at"
)


@dataclass(frozen=True)
class _Chunk:
    lo: int  # the key range (person or household ids)
    hi: int
    now: Any  # created_at
    skip_duplicates: bool  # ON CONFLICT DO NOTHING


def _person_chunk_sql(
    program: Program, definition: ProgramDefinition, holds_pk: int | None, chunk: _Chunk
) -> tuple[str, list[Any]]:
    residents, params = _residents_sql(program, definition, holds_pk, "person_id")
    sql = (
        f"INSERT INTO {_t(Entitlement)} ({_ENT_COLUMNS}) "
        "SELECT %s, %s, %s, q.person_id, q.household_id, q.amt, 1, q.town_code, %s, %s, '', %s "
        f"FROM ({residents}) q WHERE q.amt IS NOT NULL ORDER BY q.person_id"
        f"{' ON CONFLICT DO NOTHING' if chunk.skip_duplicates else ''}"
    )
    return sql, [
        program.municipality_id, program.pk, Unit.PERSON.value,
        EntitlementStatus.APPROVED.value, "registry", chunk.now,
        *params, chunk.lo, chunk.hi,
    ]  # fmt: skip


def _household_chunk_sql(
    program: Program, definition: ProgramDefinition, holds_pk: int | None, chunk: _Chunk
) -> tuple[str, list[Any]]:
    """One pass over the residents of the chunk's households: the eligible members' sum and
    count, and the head on the base date (the payee). A household with eligible members but
    no head recorded on that date (a data gap) pays its eldest resident member, so nobody
    eligible is left out; that correlated lookup runs only for such households."""
    assert definition.base_date is not None
    base = _d(definition.base_date)
    residents, params = _residents_sql(program, definition, holds_pk, "household_id")
    asof_params = [program.municipality_id, base, base, Status.RESIDENT.value]
    eldest = (
        f"(SELECT e.person_id FROM {_t(PersonState)} e "
        f"WHERE e.household_id = g.household_id AND {_asof('e')} "
        "ORDER BY e.birth_date, e.person_id LIMIT 1)"
    )
    # One head per household and date is the registry's rule; should the data hold two,
    # the lower person id is the payee (and the town is one of theirs).
    grouped = (
        "SELECT r.household_id, SUM(r.amt) AS total, COUNT(r.amt) AS members, "
        "MIN(CASE WHEN r.is_head THEN r.person_id END) AS head, "
        "MIN(CASE WHEN r.is_head THEN r.town_code END) AS town "
        f"FROM ({residents}) r GROUP BY r.household_id"
    )
    sql = (
        f"INSERT INTO {_t(Entitlement)} ({_ENT_COLUMNS}) "
        f"SELECT %s, %s, %s, COALESCE(g.head, {eldest}), g.household_id, g.total, g.members, "
        "COALESCE(g.town, ''), %s, %s, '', %s "
        f"FROM ({grouped}) g WHERE g.members > 0 ORDER BY g.household_id"
        f"{' ON CONFLICT DO NOTHING' if chunk.skip_duplicates else ''}"
    )
    return sql, [
        program.municipality_id, program.pk, Unit.HOUSEHOLD.value, *asof_params,
        EntitlementStatus.APPROVED.value, "registry", chunk.now,
        *params, chunk.lo, chunk.hi,
    ]  # fmt: skip


def _insert_chunk(
    program: Program,
    definition: ProgramDefinition,
    holds_pk: int | None,
    lo: int,
    hi: int,
    now: Any,
) -> int:
    """Inside the chunk's transaction (program row locked): insert the chunk's entitlements.

    A chunk of a first run is a plain ``INSERT ... SELECT`` in key order: the unique index
    on (program, key) is the guarantee, and rows arriving in key order keep each index
    insertion at the right edge of the index, without the cost of per-row conflict handling.
    A chunk that already holds entitlements of the program (a resumed or repeated run)
    skips the keys it has with ``ON CONFLICT DO NOTHING`` (rather than an anti-join against
    the table being inserted into, which PostgreSQL may plan as a re-scan of its growing
    pages for every row), and so does a chunk whose plain insert meets a duplicate (say two
    resident states of one person on the base date, a registry data error).
    """
    column = "person_id" if definition.unit == Unit.PERSON else "household_id"
    resume = Entitlement.objects.filter(
        program=program, unit=definition.unit, **{f"{column}__gte": lo, f"{column}__lte": hi}
    ).exists()
    build = _person_chunk_sql if definition.unit == Unit.PERSON else _household_chunk_sql
    if not resume:
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(*build(program, definition, holds_pk, _Chunk(lo, hi, now, False)))
                return max(cur.rowcount, 0)
        except IntegrityError:
            pass  # rolled back to the savepoint: the chunk again, skipping duplicates
    with connection.cursor() as cur:
        cur.execute(*build(program, definition, holds_pk, _Chunk(lo, hi, now, True)))
        return max(cur.rowcount, 0)


def _id_range(municipality: Municipality, unit: str) -> tuple[int, int]:
    if unit == Unit.HOUSEHOLD:
        agg = Household.objects.filter(municipality=municipality).aggregate(
            lo=Coalesce(Min("id"), 0), hi=Coalesce(Max("id"), -1)
        )
    else:
        agg = PersonState.objects.filter(municipality=municipality).aggregate(
            lo=Coalesce(Min("person_id"), 0), hi=Coalesce(Max("person_id"), -1)
        )
    return int(agg["lo"]), int(agg["hi"])


#: Eligibility chunks run at once on PostgreSQL, each on its own connection: the database
#: does the work of a chunk, so two chunks keep both cores of a small server busy. (SQLite
#: has one writer at a time; a caller's open transaction, as in tests, is not seen from
#: other connections: both run the chunks one after another.)
ELIGIBILITY_WORKERS = min(2, os.cpu_count() or 1)


def _lock_program_shared(program: Program) -> None:
    """Inside an eligibility chunk: a share lock on the program row (PostgreSQL), which
    chunks of one run hold together, while batch creation and grants (FOR UPDATE) wait."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute(f"SELECT id FROM {_t(Program)} WHERE id = %s FOR SHARE", [program.pk])


def _run_chunks(
    ranges: list[tuple[int, int]],
    work: Callable[[int, int], int],
    progress: Progress | None,
) -> int:
    """``work(first, last)`` for every range (its own transaction), summed; ``progress``
    is called from this thread only."""
    total = sum(last - first + 1 for first, last in ranges)
    done = 0
    if progress:
        progress(0, total)
    parallel = (
        connection.vendor == "postgresql"
        and not connection.in_atomic_block
        and ELIGIBILITY_WORKERS > 1
        and len(ranges) > 1
    )
    if not parallel:
        result = 0
        for first, last in ranges:
            result += work(first, last)
            done += last - first + 1
            if progress:
                progress(done, total)
        return result

    def on_own_connection(first: int, last: int) -> int:
        try:
            return work(first, last)
        finally:
            connection.close()  # this worker thread's connection

    result = 0
    with ThreadPoolExecutor(ELIGIBILITY_WORKERS, thread_name_prefix="kiban-eligibility") as pool:
        futures = {pool.submit(on_own_connection, *r): r for r in ranges}
        try:
            for future in as_completed(futures):
                result += future.result()
                first, last = futures[future]
                done += last - first + 1
                if progress:
                    progress(done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return result


def _chunk_ranges(lo: int, hi: int, chunk_size: int) -> list[tuple[int, int]]:
    """``lo..hi`` in equal ranges of at most ``chunk_size`` ids, as many as a multiple of
    :data:`ELIGIBILITY_WORKERS`, so that no worker is left running the last chunk alone."""
    span = hi - lo + 1
    if span <= 0:
        return []
    n = -(-span // chunk_size)
    n = -(-n // ELIGIBILITY_WORKERS) * ELIGIBILITY_WORKERS
    bounds = [lo + span * i // n for i in range(n + 1)]
    return [(a, b - 1) for a, b in itertools.pairwise(bounds) if a < b]


def compute_eligibility(
    *,
    actor: Actor,
    municipality: Municipality,
    program_id: str,
    progress: Progress | None = None,
    chunk_size: int = 200_000,
) -> EligibilityResult:
    """Create the entitlements of a registry program as of its base date. Idempotent.

    Eligible: resident (status resident) on the base date, with the optional age range and
    "holds entitlement X" conditions, and (age table) an age in some band. A person who
    moved out or died after the base date is eligible all the same: only the state valid
    on the base date counts. Household programs pay the head on the base date the sum for
    the household's eligible members. Runs in chunks of ids (one transaction each, with
    ``progress(done, total)`` after each; on PostgreSQL :data:`ELIGIBILITY_WORKERS` chunks
    at a time); an interrupted run is completed by running again.
    """
    actor.require(municipality, CLERK)
    program = get_program(municipality, program_id)
    definition = parse_definition(program.definition)
    if definition.source != "registry":
        raise ValidationFailed(
            "この給付金は申請の決定により受給権が作られます（住民記録からは計算しません）。",
            "Entitlements of this program come from approved applications, not the registry.",
            code="not_a_registry_program",
        )
    holds_pk: int | None = None
    if definition.holds == CHILD_ALLOWANCE:
        holds_pk = ensure_builtin_program(
            actor=actor, municipality=municipality, program_id=CHILD_ALLOWANCE
        ).pk
    elif definition.holds:
        holds_pk = get_program(municipality, definition.holds).pk
    lo, hi = _id_range(municipality, definition.unit)
    ranges = _chunk_ranges(lo, hi, chunk_size)
    now = _dt(timezone.now())

    def chunk(first: int, last: int) -> int:
        with transaction.atomic():
            _bulk_session()
            _lock_program_shared(program)
            return _insert_chunk(program, definition, holds_pk, first, last, now)

    with _bulk_connection():
        created = _run_chunks(ranges, chunk, progress)
        if created >= ANALYZE_AFTER_ROWS:
            _analyze(Entitlement)
    agg = Entitlement.objects.filter(program=program, status=EntitlementStatus.APPROVED).aggregate(
        n=Count("id"), members=Coalesce(Sum("members"), 0), total=Coalesce(Sum("amount"), 0)
    )
    with transaction.atomic():
        audit.record(
            municipality=municipality,
            actor=actor,
            action="benefits.eligibility.computed",
            subject_type="benefit_program",
            subject_id=program.program_id,
            details={"created": created, "entitlements": agg["n"], "total": agg["total"]},
        )
    return EligibilityResult(program.program_id, created, agg["n"], agg["members"], agg["total"])


def _current_state(person: Person) -> PersonState | None:
    return (
        PersonState.objects.filter(municipality_id=person.municipality_id, person=person)
        .order_by("-valid_to", "-valid_from")
        .first()
    )


def grant_entitlement(
    *,
    actor: Actor,
    municipality: Municipality,
    program_id: str,
    person: Person,
    amount: int,
    reference: str,
) -> Entitlement:
    """Record an entitlement decided elsewhere (e.g. an approved 児童手当 application).

    Idempotent on (program, person): a second grant for the same person returns the
    existing entitlement when the amount agrees and refuses (Conflict) when it does not.
    The bundled ``child-allowance`` program is loaded for the municipality if absent.
    """
    actor.require(municipality, CLERK, Role.PROCEDURES_REVIEWER.value)
    if person.municipality_id != municipality.code:
        raise NotFound("住民", "resident")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(
            "金額は1円以上の整数です。", "The amount must be a positive integer."
        )
    with transaction.atomic():
        program = (
            ensure_builtin_program(actor=actor, municipality=municipality, program_id=program_id)
            if program_id == CHILD_ALLOWANCE
            else get_program(municipality, program_id)
        )
        if program.unit != Unit.PERSON:
            raise ValidationFailed(
                "世帯単位の給付金には個別に受給権を付与できません。",
                "Entitlements cannot be granted one by one in a household program.",
            )
        _lock_program(program)  # waits for an eligibility chunk of the program
        existing = Entitlement.objects.filter(
            program=program, unit=Unit.PERSON, person=person
        ).first()
        if existing is not None:
            if existing.amount != amount:
                raise Conflict(
                    "この方には既に別の金額の受給権があります。",
                    "This person already holds an entitlement with a different amount.",
                    details={"entitlement": existing.pk, "amount": existing.amount},
                )
            return existing
        state = _current_state(person)
        ent = Entitlement.objects.create(
            municipality=municipality,
            program=program,
            unit=Unit.PERSON,
            person=person,
            household_id=state.household_id if state else None,
            amount=amount,
            members=1,
            town_code=state.town_code if state else "",
            source="grant",
            reference=reference[:100],
        )
        audit.record(
            municipality=municipality,
            actor=actor,
            action="benefits.entitlement.granted",
            subject_type="person",
            subject_id=str(person.pk),
            details={"program": program.program_id, "amount": amount, "reference": reference},
        )
    return ent


def entitlements_for_person(
    *, actor: Actor, municipality: Municipality, person_id: int
) -> list[dict[str, Any]]:
    """The entitlements the person is the payee of, with their payment state."""
    if actor.kind == "resident":
        if actor.municipality_code != municipality.code or actor.resident_pk != person_id:
            raise NotFound("住民", "resident")
    else:
        actor.require(municipality, CLERK)
    person = Person.objects.filter(municipality=municipality, pk=person_id).first()
    if person is None:
        raise NotFound("住民", "resident")
    rows = []
    qs = with_payment_state(Entitlement.objects.filter(municipality=municipality, person=person))
    for e in qs.select_related("program").order_by("program__program_id"):
        rows.append(
            {
                "entitlement_id": e.pk,
                "program_id": e.program.program_id,
                "program_name": e.program.name,
                "unit": e.unit,
                "amount": e.amount,
                "members": e.members,
                "status": e.status,
                "payment_state": e.pay_state,
            }
        )
    if actor.kind != "resident":  # staff reading a person's benefits: audited
        with transaction.atomic():
            audit.record(
                municipality=municipality, actor=actor, action="benefits.entitlements.viewed",
                subject_type="person", subject_id=person.resident_code,
                purpose="benefit_payment", details={"count": len(rows)},
            )  # fmt: skip
    return rows


# --- 公金受取口座 ------------------------------------------------------------------------


def _holder_matches(person: Person, holder_zengin: str) -> bool:
    state = _current_state(person)
    if state is None:
        return False
    try:
        registered = to_zengin_kana(f"{state.family_kana} {state.given_kana}")
    except ZenginNameError:
        return False
    return registered.replace(" ", "") == holder_zengin.replace(" ", "")


def register_account(
    *,
    actor: Actor,
    municipality: Municipality,
    person: Person,
    bank_code: str,
    branch_code: str,
    account_type: str,
    account_number: str,
    holder_kana: str,
    via: str,
) -> BankAccount:
    """Register or replace the person's 公金受取口座.

    The bank and branch must exist in the zengin-code master; the account is 1–7 digits
    (stored zero-padded to 7); the holder name must convert to Zengin half-width kana
    (:class:`ZenginNameError` otherwise) and be the person's own registered name. A
    resident may register only their own account; staff and API clients need the
    benefits clerk role. A correction after a returned payment makes it payable again.
    """
    if actor.kind == "resident":
        if actor.municipality_code != municipality.code or actor.resident_pk != person.pk:
            raise Forbidden()
    else:
        actor.require(municipality, CLERK)
    if person.municipality_id != municipality.code:
        raise NotFound("住民", "resident")
    branch = lookup_branch(bank_code, branch_code)
    account_type = normalize_account_type(account_type)
    number = normalize_account_number(account_number)
    holder = to_zengin_kana(holder_kana, max_len=30)
    if not _holder_matches(person, holder):
        raise ValidationFailed(
            "口座名義が住民記録の氏名（フリガナ）と一致しません。公金受取口座はご本人名義の口座に限ります。",
            "The account holder name does not match the person's registered name (kana): "
            "the account must be in the person's own name.",
            code="holder_mismatch",
            details={"field": "holder_kana"},
        )
    now = timezone.now()
    fields = {
        "municipality": municipality,
        "bank_code": branch.bank_code,
        "bank_name": branch.bank_name_zengin,
        "branch_code": branch.branch_code,
        "branch_name": branch.branch_name_zengin,
        "account_type": account_type,
        "account_number": number,
        "holder_kana": holder_kana.strip()[:80],
        "holder_zengin": holder,
        "registered_via": via,
        "updated_at": now,
    }
    with transaction.atomic():
        account, created = BankAccount.objects.select_for_update().update_or_create(
            person=person, defaults=fields
        )
        audit.record(
            municipality=municipality,
            actor=actor,
            action="benefits.account.registered" if created else "benefits.account.updated",
            subject_type="person",
            subject_id=str(person.pk),
            details={
                "bank": branch.bank_code,
                "branch": branch.branch_code,
                "account": account.masked_number,
                "via": via,
            },
        )
    return account


# A few real bank/branch pairs from the master for synthetic demo accounts.
DEMO_BRANCHES = (("0001", "001"), ("0005", "001"), ("0009", "001"), ("0010", "005"))


def generate_demo_accounts(
    *,
    actor: Actor,
    municipality: Municipality,
    share: float,
    progress: Progress | None = None,
) -> int:
    """Synthetic 公金受取口座 for about ``share`` of current residents (demo and benchmarks).

    Set-based: the distinct registry names are converted to Zengin form once each (in
    Python, the only step SQL cannot do) into a temporary table, then one
    ``INSERT ... SELECT`` creates the accounts; who gets one is a deterministic hash of the
    person id. Persons who already have an account are skipped. Returns the number created.
    """
    actor.require(municipality, CLERK)
    if not 0 <= share <= 1:
        raise ValidationFailed("割合は0〜1です。", "The share must be between 0 and 1.")
    branches = [lookup_branch(b, br) for b, br in DEMO_BRANCHES]
    threshold = int(share * 1000)
    pg = connection.vendor == "postgresql"
    current = [municipality.code, _d(OPEN_END), Status.RESIDENT.value]
    names = "kiban_demo_names"
    if progress:
        progress(0, 3)
    with _bulk_connection():
        with transaction.atomic():
            _bulk_session()
            with connection.cursor() as cur:
                cur.execute(
                    f"SELECT DISTINCT family_kana, given_kana FROM {_t(PersonState)} "
                    "WHERE municipality_id = %s AND valid_to = %s AND status = %s",
                    current,
                )
                rows = []
                for family, given in cur.fetchall():
                    try:
                        rows.append(
                            (
                                family,
                                given,
                                to_zengin_kana(f"{family} {given}", max_len=30, truncate=True),
                            )
                        )
                    except ZenginNameError:
                        continue  # such a person simply gets no demo account
                if progress:
                    progress(1, 3)
                cur.execute(f"DROP TABLE IF EXISTS {names}")
                cur.execute(
                    f"CREATE TEMP TABLE {names} (family_kana varchar(80), given_kana varchar(80), "
                    "zengin varchar(30), PRIMARY KEY (family_kana, given_kana))"
                    f"{' ON COMMIT DROP' if pg else ''}"
                )
                cur.executemany(f"INSERT INTO {names} VALUES (%s, %s, %s)", rows)
                pick = "(s.person_id * 2654435761) %% 1000"
                number = "CAST((s.person_id * 7919) %% 10000000 AS TEXT)"
                number = (
                    f"right('0000000' || {number}, 7)"
                    if pg
                    else f"substr('0000000' || {number}, -7, 7)"
                )
                which = f"s.person_id %% {len(branches)}"

                def case(attr: str) -> str:
                    whens = " ".join(f"WHEN {i} THEN %s" for i in range(len(branches)))
                    return f"CASE {which} {whens} END"

                params: list[Any] = []
                for attr in ("bank_code", "bank_name_zengin", "branch_code", "branch_name_zengin"):
                    params += [getattr(b, attr) for b in branches]
                cur.execute(
                    f"INSERT INTO {_t(BankAccount)} (municipality_id, person_id, bank_code, bank_name, "
                    "branch_code, branch_name, account_type, account_number, holder_kana, "
                    "holder_zengin, registered_via, created_at, updated_at) "
                    f"SELECT s.municipality_id, s.person_id, {case('b')}, {case('bn')}, {case('br')}, "
                    f"{case('brn')}, '1', {number}, s.family_kana || '　' || s.given_kana, n.zengin, "
                    f"'demo', %s, %s FROM {_t(PersonState)} s JOIN {names} n "
                    "ON n.family_kana = s.family_kana AND n.given_kana = s.given_kana "
                    f"WHERE s.municipality_id = %s AND s.valid_to = %s AND s.status = %s "
                    f"AND {pick} < %s ON CONFLICT DO NOTHING",
                    [*params, _dt(timezone.now()), _dt(timezone.now()), *current, threshold],
                )
                created = max(cur.rowcount, 0)
                cur.execute(f"DROP TABLE {names}")
            if created >= ANALYZE_AFTER_ROWS:
                _analyze(BankAccount)
            audit.record(
                municipality=municipality,
                actor=actor,
                action="benefits.account.demo_generated",
                subject_type="municipality",
                subject_id=municipality.code,
                details={"created": created, "share": share},
            )
    if progress:
        progress(3, 3)
    return created


# --- payment states ---------------------------------------------------------------------

#: What a clerk sees for an entitlement, in this order.
PAY_STATES: dict[str, tuple[str, str]] = {
    "no_account": ("口座未登録（要通知）", "no account (notice needed)"),
    "ready": ("支払可能", "ready to pay"),
    "pending": ("承認待ち", "awaiting approval"),
    "sent": ("振込依頼済", "sent to the bank"),
    "paid": ("振込済", "paid"),
    "returned": ("返戻（口座訂正待ち）", "returned (account to correct)"),
}


def with_payment_state(qs: QuerySet[Entitlement]) -> Any:
    """Annotate ``pay_state`` (a key of :data:`PAY_STATES`) on entitlements."""
    pay = Payment.objects.filter(entitlement_id=OuterRef("pk"))
    account = BankAccount.objects.filter(person_id=OuterRef("person_id"))
    returned_uncorrected = pay.filter(state=PaymentState.RETURNED).filter(
        ~Exists(
            BankAccount.objects.filter(
                person_id=OuterRef(OuterRef("person_id")), updated_at__gt=OuterRef("result_at")
            )
        )
    )
    return qs.annotate(
        pay_state=Case(
            When(Exists(pay.filter(state=PaymentState.PAID)), then=Value("paid")),
            When(Exists(pay.filter(state=PaymentState.SENT)), then=Value("sent")),
            When(Exists(pay.filter(state=PaymentState.PENDING)), then=Value("pending")),
            When(Exists(returned_uncorrected), then=Value("returned")),
            When(Exists(account), then=Value("ready")),
            default=Value("no_account"),
        )
    )


def approved_with_state(program: Program) -> Any:
    """The program's approved entitlements, each with its ``pay_state``."""
    return with_payment_state(
        Entitlement.objects.filter(program=program, status=EntitlementStatus.APPROVED)
    )


def latest_states(municipality: Municipality, person_ids: list[int]) -> dict[int, PersonState]:
    """Each person's latest registry state (the one valid last; of two, the later start),
    for a page or block of persons in one query."""
    latest: dict[int, PersonState] = {}
    for state in PersonState.objects.filter(
        municipality=municipality, person_id__in=person_ids
    ).order_by("person_id", "valid_to", "valid_from"):
        latest[state.person_id] = state  # ascending: the last one per person wins
    return latest


@dataclass
class StatusRow:
    state: str
    label_ja: str
    label_en: str
    count: int
    amount: int


def status_and_towns(
    *, actor: Actor, municipality: Municipality, program_id: str
) -> tuple[list[StatusRow], dict[str, dict[str, int]]]:
    """The dashboard's figures: :func:`program_status` and {town_code: {pay_state: count}}
    for the chart by town, from ONE pass over the entitlements (each pass works out every
    entitlement's state: seconds for a city). Grouping by town as well makes it slower
    than :func:`program_status` alone, so the CLI and API use that."""
    actor.require(municipality, CLERK, Role.AUDITOR.value)
    qs = approved_with_state(get_program(municipality, program_id))
    found: dict[str, tuple[int, int]] = {}
    towns: dict[str, dict[str, int]] = {}
    with _city_read():
        rows = list(
            qs.values("town_code", "pay_state")
            .annotate(n=Count("id"), total=Sum("amount"))
            .order_by()
        )
    for r in rows:
        state, n = r["pay_state"], int(r["n"])
        count, amount = found.get(state, (0, 0))
        found[state] = (count + n, amount + int(r["total"] or 0))
        towns.setdefault(r["town_code"] or "-", {})[state] = n
    return _status_rows(found), towns


def program_status(*, actor: Actor, municipality: Municipality, program_id: str) -> list[StatusRow]:
    """Counts and amounts of the program's approved entitlements by payment state."""
    actor.require(municipality, CLERK, Role.AUDITOR.value)
    qs = approved_with_state(get_program(municipality, program_id))
    with _city_read():
        found = {
            r["pay_state"]: (int(r["n"]), int(r["total"] or 0))
            for r in qs.values("pay_state").annotate(n=Count("id"), total=Sum("amount")).order_by()
        }
    return _status_rows(found)


def _status_rows(found: dict[str, tuple[int, int]]) -> list[StatusRow]:
    return [StatusRow(key, ja, en, *found.get(key, (0, 0))) for key, (ja, en) in PAY_STATES.items()]


@dataclass
class ProgramTotals:
    entitlements: int
    amount: int
    paid: int  # entitlements paid (the bank confirmed a transfer)


def program_totals(*, actor: Actor, municipality: Municipality) -> dict[int, ProgramTotals]:
    """Per program (by pk): approved entitlements, their amount, and how many are paid.

    For the console's list of programs: two aggregates over all programs at once, rather
    than working out the state of every entitlement of every program
    (:func:`status_and_towns`). "Paid" counts as there: an approved entitlement with a
    payment the bank confirmed.
    """
    actor.require(municipality, CLERK, Role.AUDITOR.value)
    programs = Program.objects.filter(municipality=municipality).values("pk")
    approved = EntitlementStatus.APPROVED
    totals = {
        r["program_id"]: ProgramTotals(int(r["n"]), int(r["total"] or 0), 0)
        for r in Entitlement.objects.filter(program__in=programs, status=approved)
        .values("program_id")
        .annotate(n=Count("id"), total=Sum("amount"))
        .order_by()
    }
    paid = (
        Payment.objects.filter(
            batch__program__in=programs, state=PaymentState.PAID, entitlement__status=approved
        )
        .values("batch__program_id")
        .annotate(n=Count("entitlement_id", distinct=True))
        .order_by()
    )
    for r in paid:
        totals[r["batch__program_id"]].paid = int(r["n"])
    return totals


#: The first window of entitlement ids :func:`needing_action` looks at (then 4x each time).
ACTION_WINDOW = 2000


def needing_action(
    *, actor: Actor, municipality: Municipality, program_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """Entitlements whose payee has no account or whose payment was returned: the first
    ``limit`` of them by entitlement, listed by state (no account, then returned).

    Read in windows of entitlement ids, growing from :data:`ACTION_WINDOW`, until ``limit``
    are found. Ordered by state, the database would have to work out the state of all a
    city's entitlements first (seconds) to show fifty; and over all of them at once,
    PostgreSQL first builds hash tables of every payment and account (seconds again),
    where for a small window it looks up each entitlement's own.
    """
    actor.require(municipality, CLERK)
    program = get_program(municipality, program_id)
    approved = Entitlement.objects.filter(program=program, status=EntitlementStatus.APPROVED)
    # One aggregate each: both databases answer a lone MIN or MAX from an index.
    lo, hi = approved.aggregate(v=Min("id"))["v"], approved.aggregate(v=Max("id"))["v"]
    found: list[dict[str, Any]] = []
    if lo is not None and hi is not None:
        qs = with_payment_state(approved).filter(pay_state__in=["no_account", "returned"])
        first, window = int(lo), ACTION_WINDOW
        while len(found) < limit and first <= hi:
            last = first + window - 1
            found += (
                qs.filter(id__gte=first, id__lte=last)
                .order_by("id")
                .values("id", "person_id", "household_id", "amount", "members", "pay_state")[
                    : limit - len(found)
                ]
            )
            first, window = last + 1, window * 4
    rows = sorted(found, key=lambda r: (r["pay_state"], r["id"]))
    names = latest_states(municipality, [r["person_id"] for r in rows])
    last_returns: dict[int, str] = dict(
        Payment.objects.filter(
            entitlement_id__in=[r["id"] for r in rows], state=PaymentState.RETURNED
        )
        .order_by("entitlement_id", "result_at")
        .values_list("entitlement_id", "result_code")
    )
    protected = set(
        Person.objects.filter(pk__in=[r["person_id"] for r in rows], protected=True).values_list(
            "pk", flat=True
        )
    )
    for r in rows:
        st = names.get(r["person_id"])
        if r["person_id"] in protected:  # 支援措置: no name or address outside the registry
            r["name"], r["address"] = WITHHELD, ""
        else:
            r["name"] = st.full_name if st else ""
            r["address"] = st.address if st else ""
        code = last_returns.get(r["id"])
        r["return_reason"] = (
            f"{zengin.RESULT_CODES[code].ja} / {zengin.RESULT_CODES[code].en}"
            if code in zengin.RESULT_CODES
            else ""
        )
    with transaction.atomic():
        audit.record(
            municipality=municipality, actor=actor, action="benefits.action_list.viewed",
            subject_type="benefit_program", subject_id=program.program_id,
            purpose="benefit_payment",
            details={"count": len(rows), "entitlements": [r["id"] for r in rows]},
        )  # fmt: skip
    return rows


#: Shown instead of the name of a payee under a support measure (支援措置).
WITHHELD = "（支援措置のため非表示 / withheld: support measure）"


# --- payment batches --------------------------------------------------------------------


@dataclass
class PayResult:
    batch: PaymentBatch | None
    count: int
    total: int
    files: list[Path] = field(default_factory=list)


def _payer_header(municipality: Municipality, transfer_date: date) -> zengin.TransferHeader:
    bank = municipality.setting("bank") or {}
    missing = [
        k for k in ("requester_code", "requester_name", "bank_code", "branch_code",
                    "account_number") if not str(bank.get(k, "")).strip()
    ]  # fmt: skip
    if missing:
        raise ValidationFailed(
            "団体設定の支払口座（bank）が未設定です: " + "、".join(missing),
            "The municipality's payer account settings (bank) are incomplete: "
            + ", ".join(missing),
            code="payer_settings",
        )
    branch = lookup_branch(str(bank["bank_code"]), str(bank["branch_code"]))
    return zengin.TransferHeader(
        requester_code=str(bank["requester_code"]).zfill(10),
        requester_name=to_zengin_kana(str(bank["requester_name"]), max_len=40),
        transfer_date=transfer_date,
        bank_code=branch.bank_code,
        bank_name=branch.bank_name_zengin,
        branch_code=branch.branch_code,
        branch_name=branch.branch_name_zengin,
        account_type=str(bank.get("account_type", "1")),
        account_number=normalize_account_number(str(bank["account_number"])),
    )


def _line_ending(municipality: Municipality) -> str:
    setting = str(municipality.setting("zengin_line_ending", "crlf")).lower()
    if setting not in ("crlf", "none"):
        raise ValidationFailed(
            "zengin_line_ending は crlf か none です。",
            'The setting zengin_line_ending must be "crlf" or "none".',
        )
    return "\r\n" if setting == "crlf" else ""


#: The account details a payment keeps (its file is rebuilt from these, byte for byte).
_ACCOUNT_SNAPSHOT = (
    "bank_code", "bank_name", "branch_code", "branch_name", "account_type", "account_number",
    "holder_zengin",
)  # fmt: skip


def _insert_payments(program: Program, batch: PaymentBatch, state: str) -> tuple[int, int]:
    """INSERT ... SELECT every approved, unpaid entitlement with an account into ``batch``,
    in entitlement order, with a snapshot of the account. Returns the batch's (count, total).

    Not payable: an entitlement with a live attempt (pending/sent/paid), or whose last
    attempt was returned and whose account has not been corrected since.

    A program's first batch needs no such check: every payment of an entitlement is in a
    batch of the entitlement's program, so there is none yet (and were there one, the
    unique index on live payments would refuse the insert: nothing is ever paid twice).
    Later batches collect the payable rows into a temporary table first, then insert them:
    checking "no payment yet" inside the INSERT into the payment table itself lets
    PostgreSQL, when the table is still small, plan a nested loop that re-reads the pages
    the same statement is adding, quadratic at a million rows. They check with fresh
    planner statistics of the payment table, which a batch of a million rows a minute
    earlier leaves far out of date (and with them, a nested loop again).
    """
    accounts = (
        f"{_t(Entitlement)} e JOIN {_t(BankAccount)} a "
        "ON a.person_id = e.person_id AND a.municipality_id = e.municipality_id"
    )
    insert = (
        f"INSERT INTO {_t(Payment)} (municipality_id, batch_id, entitlement_id, state, amount, "
        f"{', '.join(_ACCOUNT_SNAPSHOT)}, result_code, result_at) "
        "SELECT e.municipality_id, %s, e.id, %s, e.amount, "
        + ", ".join(f"a.{c}" for c in _ACCOUNT_SNAPSHOT)
        + ", '', NULL FROM "
    )
    program_rows = "e.program_id = %s AND e.status = %s"
    params: list[Any] = [program.pk, EntitlementStatus.APPROVED.value]
    with connection.cursor() as cur:
        if not PaymentBatch.objects.filter(program=program).exclude(pk=batch.pk).exists():
            cur.execute(
                f"{insert}{accounts} WHERE {program_rows} ORDER BY e.id", [batch.pk, state, *params]
            )
        else:
            _analyze(Payment)
            temp = "kiban_payable"
            on_commit = " ON COMMIT DROP" if connection.vendor == "postgresql" else ""
            cur.execute(f"DROP TABLE IF EXISTS {temp}")
            cur.execute(
                f"CREATE TEMP TABLE {temp}{on_commit} AS SELECT e.id AS entitlement_id, "
                f"a.id AS account_id FROM {accounts} WHERE {program_rows} "
                f"AND NOT EXISTS (SELECT 1 FROM {_t(Payment)} p WHERE p.entitlement_id = e.id "
                "AND p.state IN (%s, %s, %s)) "
                f"AND NOT EXISTS (SELECT 1 FROM {_t(Payment)} r WHERE r.entitlement_id = e.id "
                "AND r.state = %s AND r.result_at >= a.updated_at)",
                [*params, *(s.value for s in LIVE_PAYMENT_STATES), PaymentState.RETURNED.value],
            )
            cur.execute(
                f"{insert}{temp} k JOIN {_t(Entitlement)} e ON e.id = k.entitlement_id "
                f"JOIN {_t(BankAccount)} a ON a.id = k.account_id ORDER BY e.id",
                [batch.pk, state],
            )
            cur.execute(f"DROP TABLE {temp}")
    agg = Payment.objects.filter(batch=batch).aggregate(
        n=Count("id"), total=Coalesce(Sum("amount"), 0)
    )
    return int(agg["n"]), int(agg["total"])


def _new_batch(
    *,
    actor: Actor,
    municipality: Municipality,
    program: Program,
    transfer_date: date,
    payment_state: str,
    batch_state: str,
) -> PaymentBatch | None:
    """Inside a transaction: lock, create the batch and its payments. None if nothing to pay."""
    _bulk_session()
    _lock_program(program)
    now = timezone.now()
    batch = PaymentBatch.objects.create(
        municipality=municipality,
        program=program,
        state=batch_state,
        transfer_date=transfer_date,
        prepared_by=actor.id,
        prepared_by_label=actor.label,
        prepared_at=now,
    )
    count, total = _insert_payments(program, batch, payment_state)
    if count == 0:
        batch.delete()
        return None
    batch.count, batch.total = count, total
    if batch_state == BatchState.APPROVED:
        batch.approved_by, batch.approved_by_label, batch.approved_at = actor.id, actor.label, now
    batch.save()
    return batch


def _check_date(transfer_date: date, today: date | None) -> None:
    check_transfer_date(transfer_date, earliest=today or timezone.localdate())


def prepare_batch(
    *,
    actor: Actor,
    municipality: Municipality,
    program_id: str,
    transfer_date: date,
    today: date | None = None,
) -> PaymentBatch | None:
    """Console step 1 of the four-eyes rule: put every payable entitlement into a batch
    awaiting approval by a second clerk. Returns None when nothing is payable."""
    actor.require(municipality, CLERK)
    _check_date(transfer_date, today)
    program = get_program(municipality, program_id)
    _payer_header(municipality, transfer_date)
    with _bulk_connection():
        with transaction.atomic():
            batch = _new_batch(
                actor=actor, municipality=municipality, program=program,
                transfer_date=transfer_date, payment_state=PaymentState.PENDING,
                batch_state=BatchState.PREPARED,
            )  # fmt: skip
            if batch is not None:
                audit.record(
                    municipality=municipality, actor=actor, action="benefits.batch.prepared",
                    subject_type="payment_batch", subject_id=str(batch.pk),
                    details={"program": program_id, "count": batch.count, "total": batch.total,
                             "transfer_date": transfer_date.isoformat()},
                )  # fmt: skip
    return batch


def _get_batch(municipality: Municipality, batch_id: int, *, lock: bool = False) -> PaymentBatch:
    qs = PaymentBatch.objects.select_related("program").filter(
        municipality=municipality, pk=batch_id
    )
    if lock:
        qs = qs.select_for_update()
    batch = qs.first()
    if batch is None:
        raise NotFound("支払バッチ", "payment batch")
    return batch


def approve_batch(*, actor: Actor, municipality: Municipality, batch_id: int) -> PaymentBatch:
    """Console step 2: a second clerk approves; its file can then be downloaded.

    Refused for the clerk who prepared the batch (treasury's four-eyes rule).
    """
    actor.require(municipality, CLERK)
    with transaction.atomic():
        batch = _get_batch(municipality, batch_id, lock=True)
        if batch.state != BatchState.PREPARED:
            raise Conflict("この支払バッチは承認待ちではありません。",
                           "This batch is not awaiting approval.")  # fmt: skip
        if batch.prepared_by == actor.id:
            raise Forbidden(
                "作成した職員は承認できません。別の職員が承認してください（二者確認）。",
                "The clerk who prepared a batch cannot approve it: a second person must "
                "approve (four-eyes rule).",
                code="four_eyes",
            )
        batch.state = BatchState.APPROVED
        batch.approved_by, batch.approved_by_label = actor.id, actor.label
        batch.approved_at = timezone.now()
        Payment.objects.filter(batch=batch, state=PaymentState.PENDING).update(
            state=PaymentState.SENT
        )
        batch.file_sha256 = _batch_digest(batch)
        batch.save()
        audit.record(
            municipality=municipality, actor=actor, action="benefits.batch.approved",
            subject_type="payment_batch", subject_id=str(batch.pk),
            details={"count": batch.count, "total": batch.total, "sha256": batch.file_sha256},
        )  # fmt: skip
    return batch


def reject_batch(*, actor: Actor, municipality: Municipality, batch_id: int) -> PaymentBatch:
    """Send a prepared batch back: its payments are cancelled and become payable again."""
    actor.require(municipality, CLERK)
    with transaction.atomic():
        batch = _get_batch(municipality, batch_id, lock=True)
        if batch.state != BatchState.PREPARED:
            raise Conflict("この支払バッチは承認待ちではありません。",
                           "This batch is not awaiting approval.")  # fmt: skip
        Payment.objects.filter(batch=batch, state=PaymentState.PENDING).update(
            state=PaymentState.CANCELLED
        )
        batch.state = BatchState.REJECTED
        batch.save(update_fields=["state"])
        audit.record(
            municipality=municipality, actor=actor, action="benefits.batch.rejected",
            subject_type="payment_batch", subject_id=str(batch.pk), details={},
        )  # fmt: skip
    return batch


_PAYMENT_ROWS = (
    "SELECT id, bank_code, bank_name, branch_code, branch_name, account_type, account_number, "
    "holder_zengin, amount FROM {table} WHERE batch_id = %s AND state <> %s ORDER BY id"
)


def _payment_rows(batch: PaymentBatch) -> Generator[tuple[Any, ...]]:
    """The batch's payment rows in id order, streamed (server-side cursor on PostgreSQL)."""
    with connection.chunked_cursor() as cur:
        cur.execute(
            _PAYMENT_ROWS.format(table=_t(Payment)), [batch.pk, PaymentState.CANCELLED.value]
        )
        while rows := cur.fetchmany(20_000):
            yield from rows


class _DataRecords:
    """Encodes one payment row as a 総合振込 data record, checking every field: the
    row-by-row counterpart of the block writer (:func:`_record_blocks`), which uses it to
    name the payment of a block it refuses.

    The branch part goes through the pure :mod:`kiban.benefits.zengin` encoder (once per
    distinct branch); the rest is checked here (Zengin characters, digits, widths, 120
    bytes). Every value was validated on the way in as well (the branch from the bank
    master, the name by ``to_zengin_kana``).
    """

    def __init__(self) -> None:
        self.prefixes: dict[tuple[str, str, str, str, str], bytes] = {}

    def _prefix(
        self, bank: str, bank_name: str, branch: str, branch_name: str, atype: str
    ) -> bytes:
        key = (bank, bank_name, branch, branch_name, atype)
        prefix = self.prefixes.get(key)
        if prefix is None:
            record = zengin.TransferRecord(
                bank_code=bank, bank_name=bank_name, branch_code=branch,
                branch_name=branch_name, account_type=atype, account_number="0",
                recipient_name="X", amount=1,
            )  # fmt: skip
            # The pure encoder validates the branch part once per distinct branch.
            encoded = zengin.write_transfer_file(_DUMMY_HEADER, [record], line_ending="")
            prefix = encoded[120 : 120 + 43]
            self.prefixes[key] = prefix
        return prefix

    def encode(self, row: tuple[Any, ...]) -> bytes:
        pid, bank, bank_name, branch, branch_name, atype, number, holder, amount = row
        if not (
            is_zengin_text(holder)
            and 0 < len(holder) <= 30
            and len(number) == 7
            and number.isdigit()
            and 0 < amount <= zengin.MAX_AMOUNT
        ):
            raise _refused(pid, "recipient name, account number or amount")
        record = b"".join(
            (
                self._prefix(bank, bank_name, branch, branch_name, atype),
                number.encode("ascii"),
                holder.encode("cp932").ljust(30, b" "),
                b"%010d0%020d7 " % (amount, pid),
                b" " * 7,
            )
        )
        if len(record) != zengin.RECORD_LENGTH:
            raise ValidationFailed(
                "全銀レコード長の誤り", f"record of payment {pid} is not 120 bytes"
            )
        return record


_DUMMY_HEADER = zengin.TransferHeader(
    requester_code="0000000000", requester_name="X", transfer_date=date(2000, 1, 3),
    bank_code="0000", bank_name="", branch_code="000", branch_name="", account_type="1",
    account_number="0",
)  # fmt: skip


def file_parts(batch: PaymentBatch) -> int:
    return max(1, -(-batch.count // zengin.MAX_RECORDS))


# --- the transfer file -------------------------------------------------------------------
#
# Data records are built by the database, a whole record per payment row in one SQL
# expression, and checked and encoded in Python a block of rows at a time with a few
# byte-string operations: no per-record Python work. The expression makes every field of
# a valid row exactly its width; a value that cannot fit its field (too long, not digits, an
# amount out of range, an empty name) becomes "!" instead, which is no Zengin character.
# A block is then valid exactly when (a) it encodes to cp932, (b) it holds only Zengin
# characters (one byte each; cp932 lead bytes of two-byte characters are never among them)
# and line endings, and (c) it is exactly one record length per row with the line
# endings in place. An invalid block is looked at row by row with :class:`_DataRecords`
# to name the payment. Tests assert the bytes equal the pure :mod:`zengin` writer's.

#: Payment rows per block of the transfer file.
FILE_BLOCK_ROWS = 20_000

#: The bytes a data record may hold: the Zengin characters, one cp932 byte each.
_RECORD_BYTES = bytes(sorted(ch.encode("cp932")[0] for ch in ZENGIN_CHARS))


def _record_sql() -> str:
    """SQL expression of one 総合振込 data record (120 characters) of a payment row, or of
    "!" for a row whose values cannot make one (the block check then refuses it)."""
    pg = connection.vendor == "postgresql"
    codes = "bank_code || branch_code || account_number"
    checks = " AND ".join(
        (
            "length(bank_code) = 4",
            "length(branch_code) = 3",
            "length(account_number) = 7",
            # digits only (whichever is the cheaper test on each database)
            f"ltrim({codes}, '0123456789') = ''" if pg else f"{codes} NOT GLOB '*[^0-9]*'",
            "length(bank_name) <= 15",
            "length(branch_name) <= 15",
            "account_type IN ('1', '2', '4', '9')",
            "length(holder_zengin) BETWEEN 1 AND 30",
            f"amount BETWEEN 1 AND {zengin.MAX_AMOUNT}",
        )
    )
    # データ区分 2, 銀行番号, 銀行名, 支店番号, 支店名, 手形交換所番号, 預金種目, 口座番号,
    # 受取人名, 振込金額, 新規コード 0, 顧客コード1+2 (the payment id), 振込区分 7 (電信),
    # 識別表示 (blank), ダミー. Text fields are padded by characters, each one byte in cp932.
    if pg:
        record = (
            "format('2%%s%%-15s%%s%%-15s0000%%s%%s%%-30s%%s0%%s7        ', bank_code, "
            "bank_name, branch_code, branch_name, account_type, account_number, holder_zengin, "
            "lpad(amount::text, 10, '0'), lpad(id::text, 20, '0'))"
        )
    else:
        record = (
            "printf('2%%s%%!-15s%%s%%!-15s0000%%s%%s%%!-30s%%010d0%%020d7        ', bank_code, "
            "bank_name, branch_code, branch_name, account_type, account_number, holder_zengin, "
            "amount, id)"
        )
    return f"CASE WHEN {checks} THEN {record} ELSE '!' END"


def _encode_block(records: list[str], eol: bytes) -> bytes | None:
    """The records as file bytes, each followed by ``eol``; None if any is not valid."""
    sep = eol.decode("ascii")
    try:
        data = (sep.join(records) + sep).encode("cp932")
    except UnicodeEncodeError:
        return None
    n, step = len(records), zengin.RECORD_LENGTH + len(eol)
    if len(data) != n * step or data.translate(None, _RECORD_BYTES + eol):
        return None
    for i in range(len(eol)):  # the line endings, and nothing else, at their places
        byte = eol[i : i + 1]
        if data.count(byte) != n or data[zengin.RECORD_LENGTH + i :: step] != byte * n:
            return None
    return data


def _amount_total(data: bytes, step: int) -> int:
    """Sum of the 振込金額 fields (bytes 81-90) of valid records ``step`` bytes apart,
    column by column: the digit counts of each of the ten columns."""
    total = 0
    for i in range(10):
        column = data[80 + i :: step]
        total = total * 10 + sum(d * column.count(b"%d" % d) for d in range(1, 10))
    return total


def _refused(pid: int, problem: str) -> ValidationFailed:
    return ValidationFailed(
        f"支払 {pid} の口座情報が全銀形式に合いません。口座を登録し直してください。",
        f"Payment {pid} has account details that do not fit a Zengin record; "
        "register the account again.",
        code="zengin_format",
        details={"payment": pid, "problem": problem},
    )


def _diagnose(batch: PaymentBatch, first_id: int, last_id: int) -> ValidationFailed:
    """The error for an invalid block: the first of its payments whose record the careful
    per-row encoder refuses, by payment id."""
    encoder = _DataRecords()
    rows = _payment_rows(batch)
    try:
        for row in rows:
            if first_id <= row[0] <= last_id:
                try:
                    encoder.encode(row)
                except ValidationFailed as e:
                    return _refused(row[0], e.message_en)
    finally:
        rows.close()
    return _refused(first_id, f"a record among payments {first_id}-{last_id}")


def _fetch_ahead(cur: Any, size: int) -> Generator[list[tuple[Any, ...]]]:
    """``cur.fetchmany(size)`` to the end, each next batch fetched by a helper thread while
    the caller works on the current one: the database builds records on one core while
    Python encodes and writes them on the other. When this generator is closed (at the
    end, on an error, or when the caller stops early), the helper has stopped, so the
    cursor can be closed and the connection used again."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            while not stop.is_set():
                rows = cur.fetchmany(size)
                ready.put(rows)
                if not rows:
                    return
        except BaseException as e:  # handed over to the caller, raised there
            ready.put(e)

    helper = threading.Thread(target=fetch, name="kiban-zengin-fetch", daemon=True)
    helper.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        stop.set()
        while helper.is_alive():  # let a helper blocked on a full queue finish
            with suppress(queue.Empty):
                ready.get_nowait()
            helper.join(0.01)


def _record_blocks(batch: PaymentBatch, eol: bytes) -> Generator[bytes]:
    """The batch's data records in payment id order, as encoded blocks of file bytes."""
    sql = (
        f"SELECT id, {_record_sql()} FROM {_t(Payment)} "
        "WHERE batch_id = %s AND state <> %s ORDER BY id"
    )
    # A server-side cursor on PostgreSQL: a 1.8-million-row batch never sits in memory.
    with connection.chunked_cursor() as cur:
        cur.execute(sql, [batch.pk, PaymentState.CANCELLED.value])
        blocks = _fetch_ahead(cur, FILE_BLOCK_ROWS)
        try:
            for rows in blocks:
                data = _encode_block([r[1] for r in rows], eol)
                if data is None:
                    refused = (rows[0][0], rows[-1][0])
                    break
                yield data
            else:
                return
        finally:
            blocks.close()
    raise _diagnose(batch, *refused)


def _write_batch(batch: PaymentBatch, open_part: Callable[[int], Any]) -> list[tuple[int, int]]:
    """Write the batch's file parts; ``open_part(i)`` returns a binary file or None (skip).

    Returns (count, total) per part. Each part has its own header, trailer and end record;
    a part holds at most ``zengin.MAX_RECORDS`` data records.
    """
    header = _payer_header(batch.municipality, batch.transfer_date)
    eol = _line_ending(batch.municipality).encode("ascii")
    step = zengin.RECORD_LENGTH + len(eol)
    header_record = zengin.write_transfer_file(header, [], line_ending="")[:120]
    summaries: list[tuple[int, int]] = []
    fp: Any = None
    count = total = 0

    def start(part: int) -> None:
        nonlocal fp, count, total
        fp, count, total = open_part(part), 0, 0
        if fp is not None:
            fp.write(header_record + eol)

    def finish() -> None:
        if total > zengin.MAX_TOTAL_AMOUNT:
            raise ValidationFailed(
                "1ファイルの合計金額が上限を超えます。",
                "A file's total exceeds the Zengin maximum.",
                code="zengin_format",
            )
        if fp is not None:
            fp.write(b"8%06d%012d" % (count, total) + b" " * 101 + eol)
            fp.write(b"9" + b" " * 119 + eol)
        summaries.append((count, total))

    start(1)
    blocks = _record_blocks(batch, eol)
    try:
        for block in blocks:
            data = memoryview(block)
            while data:
                if count == zengin.MAX_RECORDS:
                    finish()
                    start(len(summaries) + 1)
                take = min(len(data) // step, zengin.MAX_RECORDS - count) * step
                piece = data[:take].tobytes()
                data = data[take:]
                count += take // step
                total += _amount_total(piece, step)
                if fp is not None:
                    fp.write(piece)
    finally:
        # Close the server-side cursor now, inside the transaction, even on error.
        blocks.close()
    finish()
    return summaries


class _HashSink:
    """A write-only file that keeps the sha256 of what is written (and passes it on to
    ``fp``, if given)."""

    def __init__(self, fp: Any = None) -> None:
        self.hash = hashlib.sha256()
        self.fp = fp

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        if self.fp is not None:
            self.fp.write(data)


def _batch_digest(batch: PaymentBatch) -> str:
    """sha256 of the batch's (first) file, streamed: a 1.8-million-line file never sits in
    memory."""
    sink = _HashSink()
    _write_batch(batch, lambda i: sink if i == 1 else None)
    return sink.hash.hexdigest()


def batch_file_bytes_unchecked(batch: PaymentBatch, part: int = 1) -> bytes:
    buf = io.BytesIO()
    _write_batch(batch, lambda i: buf if i == part else None)
    return buf.getvalue()


def batch_file(
    *, actor: Actor, municipality: Municipality, batch_id: int, part: int = 1
) -> tuple[str, bytes]:
    """The transfer file of an approved batch (name, bytes). Audited download."""
    actor.require(municipality, CLERK)
    batch = _get_batch(municipality, batch_id)
    if batch.state not in (BatchState.APPROVED, BatchState.RECONCILED):
        raise Forbidden(
            "承認前の支払バッチのファイルはダウンロードできません（二者確認）。",
            "A batch's file can be downloaded only after a second clerk approves it.",
            code="four_eyes",
        )
    if not 1 <= part <= file_parts(batch):
        raise NotFound("ファイル", "file part")
    data = batch_file_bytes_unchecked(batch, part)
    with transaction.atomic():
        audit.record(
            municipality=municipality, actor=actor, action="benefits.batch.downloaded",
            subject_type="payment_batch", subject_id=str(batch.pk),
            details={"part": part, "sha256": hashlib.sha256(data).hexdigest()},
        )  # fmt: skip
    suffix = f"-{part:03d}" if file_parts(batch) > 1 else ""
    return f"zengin-{municipality.code}-{batch.program.program_id}-{batch.pk}{suffix}.txt", data


def _part_paths(out: Path, parts: int) -> list[Path]:
    if parts == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i:03d}{out.suffix}") for i in range(1, parts + 1)]


def write_batch_files(batch: PaymentBatch, out: Path) -> tuple[list[Path], list[Path]]:
    """Write the batch's file(s) under temporary names; returns (temporary, final) paths.

    More than 999,999 payments are split into parts ``OUT-001``, ``OUT-002``, ... (the
    trailer count has 6 digits). Rename with :func:`_publish` after the commit.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    finals = _part_paths(out, file_parts(batch))
    temps: list[Path] = []
    handles: list[Any] = []
    first = _HashSink()

    def open_part(i: int) -> Any:
        final = finals[i - 1]
        tmp = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        temps.append(tmp)
        if handles:
            _sync_close(handles[-1])
        handles.append(open(tmp, "wb", buffering=1 << 20))
        if i == 1:
            first.fp = handles[-1]
            return first
        return handles[-1]

    try:
        _write_batch(batch, open_part)
        _sync_close(handles[-1])
    except BaseException:
        for fp in handles:
            fp.close()
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    batch.file_sha256 = first.hash.hexdigest()
    return temps, finals


def _sync_close(fp: Any) -> None:
    fp.flush()
    os.fsync(fp.fileno())
    fp.close()


def _publish(temps: list[Path], finals: list[Path]) -> None:
    for tmp, final in zip(temps, finals, strict=True):
        os.replace(tmp, final)


def pay(
    *,
    actor: Actor,
    municipality: Municipality,
    program_id: str,
    transfer_date: date,
    out: Path,
    today: date | None = None,
) -> PayResult:
    """The operator's batch path (CLI): one batch of everything payable, and its file.

    Every approved entitlement with an account and no live payment goes into ONE batch,
    approved by the operator (audited as them) and written as a 総合振込 file. Running it
    again pays nothing twice; two runs at once never share an entitlement; an interrupted
    run leaves no batch, or a complete batch whose file is re-written with ``kiban benefit
    file``. Refuses a transfer date on which banks are closed (suggesting the next one).
    """
    actor.require(municipality, CLERK)
    _check_date(transfer_date, today)
    program = get_program(municipality, program_id)
    _payer_header(municipality, transfer_date)
    _line_ending(municipality)
    with _bulk_connection():
        temps: list[Path] = []
        try:
            with transaction.atomic():
                batch = _new_batch(
                    actor=actor, municipality=municipality, program=program,
                    transfer_date=transfer_date, payment_state=PaymentState.SENT,
                    batch_state=BatchState.APPROVED,
                )  # fmt: skip
                if batch is None:
                    return PayResult(None, 0, 0, [])
                temps, finals = write_batch_files(batch, out)
                batch.save(update_fields=["file_sha256"])
                audit.record(
                    municipality=municipality, actor=actor, action="benefits.batch.issued",
                    subject_type="payment_batch", subject_id=str(batch.pk),
                    details={"program": program_id, "count": batch.count, "total": batch.total,
                             "transfer_date": transfer_date.isoformat(),
                             "sha256": batch.file_sha256, "files": [f.name for f in finals]},
                )  # fmt: skip
        except BaseException:
            for tmp in temps:
                tmp.unlink(missing_ok=True)
            raise
    _publish(temps, finals)
    return PayResult(batch, batch.count, batch.total, finals)


def rewrite_batch_file(
    *, actor: Actor, municipality: Municipality, batch_id: int, out: Path
) -> list[Path]:
    """Write an approved batch's file again (same bytes), e.g. after a crash before rename."""
    actor.require(municipality, CLERK)
    batch = _get_batch(municipality, batch_id)
    if batch.state not in (BatchState.APPROVED, BatchState.RECONCILED):
        raise Forbidden("承認前の支払バッチです。", "The batch is not approved.", code="four_eyes")
    temps, finals = write_batch_files(batch, out)
    _publish(temps, finals)
    with transaction.atomic():
        audit.record(
            municipality=municipality, actor=actor, action="benefits.batch.file_written",
            subject_type="payment_batch", subject_id=str(batch.pk),
            details={"files": [f.name for f in finals]},
        )  # fmt: skip
    return finals


# --- reconciliation ---------------------------------------------------------------------


@dataclass
class ResultLine:
    payment_id: int
    amount: int
    result_code: str
    line_number: int | None


@dataclass
class ReconcileResult:
    paid: int = 0
    returned: int = 0
    unchanged: int = 0
    returned_amount: int = 0
    paid_amount: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def read_result_lines(data: bytes, filename: str = "") -> list[ResultLine]:
    """Parse a bank result: the fixed-length 口座振替 layout, or the documented CSV."""
    text_like = filename.lower().endswith(".csv") or not data[:1] == b"1"
    if text_like:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp932")
        return [
            ResultLine(r.payment_id, r.amount, r.result_code, r.line_number)
            for r in zengin.parse_result_csv(text)
        ]
    reader = zengin.ResultFileReader(io.BytesIO(data))
    return [ResultLine(r.payment_id, r.amount, r.result_code, r.line_number) for r in reader]


def reconcile(
    *,
    actor: Actor,
    municipality: Municipality,
    program_id: str,
    data: bytes,
    filename: str = "",
) -> ReconcileResult:
    """Mark each sent payment paid (結果コード 0) or returned (any other code, with reason).

    All or nothing: a line naming an unknown payment, another program's payment, a
    different amount, or a payment already settled differently refuses the whole file.
    Re-reading the same file changes nothing. A returned entitlement is paid again by a
    later batch once the person's account has been corrected.
    """
    actor.require(municipality, CLERK)
    program = get_program(municipality, program_id)
    lines = read_result_lines(data, filename)
    result = ReconcileResult()
    problems: list[str] = []
    now = timezone.now()
    with transaction.atomic():
        _lock_program(program)
        known: dict[int, tuple[str, int, str]] = {}
        ids = [ln.payment_id for ln in lines]
        for i in range(0, len(ids), 5000):
            for pid, state, amount, code in Payment.objects.filter(
                municipality=municipality, batch__program=program, pk__in=ids[i : i + 5000]
            ).values_list("id", "state", "amount", "result_code"):
                known[pid] = (state, amount, code)
        to_paid: list[int] = []
        to_return: dict[str, list[int]] = {}
        seen: set[int] = set()
        for ln in lines:
            where = f"line {ln.line_number}" if ln.line_number else "line ?"
            if ln.payment_id in seen:
                problems.append(f"{where}: payment {ln.payment_id} appears twice")
                continue
            seen.add(ln.payment_id)
            row = known.get(ln.payment_id)
            if row is None:
                problems.append(f"{where}: no payment {ln.payment_id} in program {program_id}")
                continue
            state, amount, code = row
            if amount != ln.amount:
                problems.append(f"{where}: amount {ln.amount} differs from {amount}")
                continue
            target = PaymentState.PAID if ln.result_code == "0" else PaymentState.RETURNED
            if state == PaymentState.SENT:
                if target == PaymentState.PAID:
                    to_paid.append(ln.payment_id)
                    result.paid += 1
                    result.paid_amount += amount
                else:
                    to_return.setdefault(ln.result_code, []).append(ln.payment_id)
                    result.returned += 1
                    result.returned_amount += amount
                    result.reasons[ln.result_code] = result.reasons.get(ln.result_code, 0) + 1
            elif state == target and code == ln.result_code:
                result.unchanged += 1
            else:
                problems.append(
                    f"{where}: payment {ln.payment_id} is {state}, cannot become {target.value}"
                )
        if problems:
            raise ValidationFailed(
                "振込結果ファイルを反映できません（何も変更していません）。",
                "The result file cannot be applied (nothing was changed).",
                code="reconcile_refused",
                details=problems[:50],
            )
        adapted_now = now
        for i in range(0, len(to_paid), 5000):
            Payment.objects.filter(pk__in=to_paid[i : i + 5000], state=PaymentState.SENT).update(
                state=PaymentState.PAID, result_code="0", result_at=adapted_now
            )
        for code, pids in to_return.items():
            for i in range(0, len(pids), 5000):
                Payment.objects.filter(pk__in=pids[i : i + 5000], state=PaymentState.SENT).update(
                    state=PaymentState.RETURNED, result_code=code, result_at=adapted_now
                )
        settled = PaymentBatch.objects.filter(program=program, state=BatchState.APPROVED).exclude(
            Exists(Payment.objects.filter(batch=OuterRef("pk"), state=PaymentState.SENT))
        )
        settled_ids = list(settled.values_list("pk", flat=True))
        PaymentBatch.objects.filter(pk__in=settled_ids).update(state=BatchState.RECONCILED)
        returned_ids = [p for pids in to_return.values() for p in pids]
        audit.record(
            municipality=municipality, actor=actor, action="benefits.payments.reconciled",
            subject_type="benefit_program", subject_id=program_id,
            details={"file": filename, "paid": result.paid, "returned": result.returned,
                     "unchanged": result.unchanged, "reasons": result.reasons,
                     "returned_payments": returned_ids[:1000],
                     "batches_reconciled": settled_ids},
        )  # fmt: skip
    return result


def batches(*, actor: Actor, municipality: Municipality, program_id: str) -> list[PaymentBatch]:
    actor.require(municipality, CLERK, Role.AUDITOR.value)
    program = get_program(municipality, program_id)
    return list(PaymentBatch.objects.filter(program=program).order_by("-pk"))


def result_csv_for(batch: PaymentBatch, returned: dict[int, str] | None = None) -> str:
    """A CSV result as a bank would send it for ``batch`` (demo bank; tests)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(zengin.CSV_COLUMNS)
    for pid, amount in (
        Payment.objects.filter(batch=batch).order_by("id").values_list("id", "amount")
    ):
        w.writerow([f"{pid:020d}", amount, (returned or {}).get(pid, "0")])
    return buf.getvalue()
