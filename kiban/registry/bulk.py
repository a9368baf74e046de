"""Set-based bulk loading of the registry: synthetic cities and data migration files.

A run is one transaction and one audit entry. Rows are written in chunks with the
database's fastest path: ``executemany`` of plain tuples on SQLite and ``COPY ... FROM
STDIN`` on PostgreSQL, never a Python loop of ``save()`` calls. Primary keys of households,
persons and events are allocated up front (the maximum id under SQLite's write lock, the
identity sequence on PostgreSQL) so that every row can reference its parent without a
round trip.

Synthetic cities are generated, encrypted and turned into rows in two forked producer
processes (alternate blocks of the city) while this process writes the previous block
(generation is Python, writing is the database's C code or server), so the cores overlap.
Runs larger than what the big tables hold drop their plain indexes (and on PostgreSQL
their foreign keys) and rebuild them once at the end, in the same transaction.

What a loaded person looks like: one ``Person``, one ``RegistryEvent`` per 異動 in the
history and one ``PersonState`` per stretch of that history, ``[valid_from, valid_to)``:
moved in on X → a state from X; moved within on Y → the first state ends on Y, the second
starts on Y; died (or moved out) on Z → the last resident state ends on Z and a final
state with status deceased (moved_out) starts on Z and stays open (``OPEN_END``).
"""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.crypto import encrypt, lookup_hashes
from kiban.core.errors import Conflict
from kiban.core.kana import search_key
from kiban.core.models import Municipality, Role
from kiban.registry.models import OPEN_END, Household, Person, Status
from kiban.registry.towns import Town, towns_for

__all__ = [
    "HEAD_RELATIONSHIP",
    "EventSpec",
    "HouseholdSpec",
    "LoadResult",
    "PersonSpec",
    "StateSpec",
    "encrypt_many",
    "generate",
    "load",
    "name_keys",
    "rich_progress",
    "specs_from_synth",
    "town_label",
]

HEAD_RELATIONSHIP = "世帯主"
CHUNK_PERSONS = 5000
Progress = Callable[[int], None]


# --- what gets loaded ---------------------------------------------------------------------


@dataclass(slots=True)
class EventSpec:
    """One 異動 of a person. ``details`` is stored as the event's JSON details."""

    kind: str
    event_date: date
    reported_date: date
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(slots=True)
class StateSpec:
    """One stretch of a person's record. ``event`` indexes the person's events (or None)."""

    valid_from: date
    valid_to: date
    status: str
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
    honseki: str
    event: int | None


@dataclass(slots=True)
class PersonSpec:
    resident_code: str
    mynumber: str  # plain digits or "" (encrypted and hashed on load)
    birth_date: date
    sex: str  # "1" male, "2" female
    nationality: str  # "" for Japanese nationals, else ISO 3166 alpha-2
    protected: bool
    events: list[EventSpec]
    states: list[StateSpec]


@dataclass(slots=True)
class HouseholdSpec:
    household_no: str
    created_on: date
    persons: list[PersonSpec]


@dataclass(frozen=True)
class LoadResult:
    households: int
    persons: int
    events: int
    states: int

    def as_dict(self) -> dict[str, int]:
        return {
            "households": self.households,
            "persons": self.persons,
            "events": self.events,
            "states": self.states,
        }


# --- shared helpers (the registry's services should compute keys the same way) ----------


@lru_cache(maxsize=200_000)
def _key(text: str) -> str:
    return search_key(text)


# Readings whose first character starts a fresh unit for every rule of ``search_key``: a
# full-size katakana letter (not a small kana, a prolonged-sound or iteration mark, a sound
# mark or a space), so nothing in the family reading before it can change its key.
_FRESH_START = frozenset(chr(cp) for cp in range(0x30A1, 0x30F5)) - set("ァィゥェォッャュョヮ")


def name_keys(family_kana: str, given_kana: str) -> tuple[str, str]:
    """``(name_key, given_key)`` for PersonState: search keys of family+given and of given.

    When the given reading starts afresh the key of the whole is the keys of the two parts
    joined, and each part's key is cached (a city has a few thousand distinct readings of
    each, but millions of distinct pairs).
    """
    given_key = _key(given_kana)
    if given_kana[:1] in _FRESH_START:
        return _key(family_kana) + given_key, given_key
    return _key(family_kana + given_kana), given_key


def town_label(town: Town) -> str:
    """The town name stored in PersonState.town_name: 都道府県 + 市区町村 + 町字."""
    return town.full_name


# --- synthetic households → specs ----------------------------------------------------------

_STREET_START = re.compile(r"^(?P<town>.*?)(?P<rest>[0-9].*)$")


def _split_place(place: str, towns_by_label: dict[str, Town]) -> tuple[Town | None, str]:
    """A previous address "神奈川県横浜市中区山下町3丁目1番2号" → (town, "3丁目1番2号")."""
    m = _STREET_START.match(place)
    if m and m["town"] in towns_by_label:
        return towns_by_label[m["town"]], m["rest"]
    return None, place


def specs_from_synth(
    household: Any, towns_by_label: dict[str, Town] | None = None
) -> HouseholdSpec:
    """Turn a :class:`kiban.registry.synth.SynthHousehold` into what :func:`load` writes."""
    town: Town = household.town
    if towns_by_label is None:
        towns_by_label = {town_label(t): t for t in towns_for(household.lg_code)}
    label = town_label(town)
    current = (
        town.postcode,
        town.machiaza_id,
        label,
        household.street_address,
        household.building,
    )
    # The household's own 転居 (if any): when, and from where.
    moved_on: date | None = None
    previous = current
    for p in household.members:
        for e in p.events:
            if e.kind == "move_within":
                moved_on = e.event_date
                old_town, rest = _split_place(e.place or "", towns_by_label)
                if old_town is not None:
                    previous = (
                        old_town.postcode,
                        old_town.machiaza_id,
                        town_label(old_town),
                        rest,
                        "",
                    )
                else:
                    previous = ("", "", e.place or "", "", "")
                break
        if moved_on is not None:
            break

    persons: list[PersonSpec] = []
    created_on = OPEN_END
    for p, is_member in [(p, True) for p in household.members] + [
        (p, False) for p in household.former_members
    ]:
        japanese = p.nationality == "JP"
        honseki = f"{label}{household.street_address}" if japanese else ""
        events = [
            EventSpec(e.kind, e.event_date, e.reported_date, {"place": e.place} if e.place else {})
            for e in p.events
        ]
        first = events[0].event_date
        created_on = min(created_on, first)
        end_event = next((i for i, e in enumerate(events) if e.kind in ("death", "move_out")), None)
        end_day = events[end_event].event_date if end_event is not None else None
        within = next((i for i, e in enumerate(events) if e.kind == "move_within"), None)

        is_head = is_member and p.relationship == HEAD_RELATIONSHIP

        def state(
            start: date,
            stop: date,
            status: str,
            address: tuple[str, str, str, str, str],
            event: int | None,
            p: Any = p,
            is_head: bool = is_head,
            honseki: str = honseki,
        ) -> StateSpec:
            return StateSpec(
                start,
                stop,
                status,
                p.relationship,
                is_head and status == Status.RESIDENT,
                p.family_name,
                p.given_name,
                p.family_kana,
                p.given_kana,
                *address,
                honseki,
                event,
            )

        states: list[StateSpec] = []
        if within is not None:
            y = events[within].event_date
            states.append(state(first, y, Status.RESIDENT, previous, 0))
            states.append(state(y, end_day or OPEN_END, Status.RESIDENT, current, within))
        else:
            address = current
            if not is_member and moved_on is not None and end_day is not None:
                address = previous if end_day <= moved_on else current
            states.append(state(first, end_day or OPEN_END, Status.RESIDENT, address, 0))
        if end_event is not None and end_day is not None:
            last = states[-1]
            kind = events[end_event].kind
            status = Status.DECEASED if kind == "death" else Status.MOVED_OUT
            address = (
                last.postcode,
                last.town_code,
                last.town_name,
                last.address_detail,
                last.building,
            )
            states.append(state(end_day, OPEN_END, status, address, end_event))
        persons.append(
            PersonSpec(
                resident_code=p.resident_code,
                mynumber=p.mynumber,
                birth_date=p.birth_date,
                sex=str(p.sex),
                nationality="" if japanese else p.nationality,
                protected=False,
                events=events,
                states=states,
            )
        )
    return HouseholdSpec(f"{household.household_no:010d}", created_on, persons)


# --- My Number encryption in bulk --------------------------------------------------------


def encrypt_many(values: list[str]) -> list[str]:
    """Fernet tokens for many short values, readable by :func:`kiban.core.crypto.decrypt`.

    Same format and key as ``kiban.core.crypto.encrypt`` (version, timestamp, random IV,
    AES-128-CBC with PKCS7 padding, HMAC-SHA256), about four times faster in bulk: a value
    shorter than one AES block is a single CBC block, E(P xor IV), so the blocks of the
    whole batch are encrypted in one call. Longer values go through ``encrypt``.
    """
    import base64
    import hmac
    import os
    import struct
    import time

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from django.conf import settings

    key = base64.urlsafe_b64decode(settings.FIELD_ENCRYPTION_KEY)
    signing_key, encryption_key = key[:16], key[16:]
    raw = [v.encode() for v in values]
    short = [i for i, b in enumerate(raw) if len(b) < 16]
    out = [""] * len(values)
    if short:
        ivs = os.urandom(16 * len(short))
        blocks = bytearray()
        for n, i in enumerate(short):
            b = raw[i]
            padded = b + bytes([16 - len(b)]) * (16 - len(b))
            iv = ivs[16 * n : 16 * n + 16]
            blocks += (int.from_bytes(padded) ^ int.from_bytes(iv)).to_bytes(16)
        # One ECB call over independent single blocks = CBC for each (IV xor-ed above).
        encryptor = Cipher(algorithms.AES(encryption_key), modes.ECB()).encryptor()  # noqa: S305
        cipher = encryptor.update(bytes(blocks)) + encryptor.finalize()
        header = b"\x80" + struct.pack(">Q", int(time.time()))
        digest = hmac.digest
        encode = base64.urlsafe_b64encode
        for n, i in enumerate(short):
            body = header + ivs[16 * n : 16 * n + 16] + cipher[16 * n : 16 * n + 16]
            out[i] = encode(body + digest(signing_key, body, "sha256")).decode()
    for i, b in enumerate(raw):
        if len(b) >= 16:
            out[i] = encrypt(values[i])
    return out


# --- writing -------------------------------------------------------------------------------

_HOUSEHOLD_COLS = ("id", "municipality_id", "household_no", "created_on")
_PERSON_COLS = (
    "id",
    "municipality_id",
    "resident_code",
    "mynumber_enc",
    "mynumber_hash",
    "birth_date",
    "sex",
    "nationality",
    "protected",
    "created_at",
)
_EVENT_COLS = (
    "id",
    "municipality_id",
    "kind",
    "person_id",
    "household_id",
    "event_date",
    "reported_date",
    "recorded_at",
    "recorded_by",
    "reason",
    "details",
)
_STATE_COLS = (
    "municipality_id",
    "person_id",
    "resident_code",
    "birth_date",
    "sex",
    "valid_from",
    "valid_to",
    "status",
    "household_id",
    "relationship",
    "is_head",
    "family_name",
    "given_name",
    "family_kana",
    "given_kana",
    "name_key",
    "given_key",
    "postcode",
    "town_code",
    "town_name",
    "address_detail",
    "building",
    "honseki",
    "event_id",
)

TABLES = {
    "registry_household": _HOUSEHOLD_COLS,
    "registry_person": _PERSON_COLS,
    "registry_registryevent": _EVENT_COLS,
    "registry_personstate": _STATE_COLS,
}


Batch = list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]


class _Writer:
    """Inserts row tuples, by COPY on PostgreSQL and executemany on SQLite."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.postgres = connection.vendor == "postgresql"

    def write(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        raw = self.cursor.cursor  # the driver's cursor under Django's wrapper
        with connection.wrap_database_errors:  # the driver's errors as Django's, as usual
            self._write(raw, table, columns, rows)

    def _write(
        self, raw: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> None:
        if self.postgres:
            with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            raw.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                rows,
            )

    def write_batch(self, batch: Batch) -> None:
        for table, columns, rows in batch:
            self.write(table, columns, rows)


class _Ids:
    """Primary keys for rows that other rows point at, allocated before insertion.

    SQLite: counting up from the table's maximum id, read once inside the run's transaction,
    which holds SQLite's write lock throughout; the counter is shared memory, so forked
    producer processes draw from it too. PostgreSQL: ``nextval`` of the identity sequence on
    a separate autocommit connection (sequences are not transactional), one per process.
    """

    def __init__(self, table: str, *, counter: Any = None, side: Any = None) -> None:
        self.table = table
        self.side = side
        self.counter = counter

    def take(self, n: int) -> list[int]:
        if n == 0:
            return []
        if self.side is not None:
            rows = self.side.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [self.table, n],
            ).fetchall()
            return [int(r[0]) for r in rows]
        with self.counter.get_lock():
            first = self.counter.value
            self.counter.value = first + n
        return list(range(first, first + n))


_ID_TABLES = ("registry_household", "registry_person", "registry_registryevent")


@dataclass
class _Setup:
    """What building rows needs from the main process (no connection; inherited by forked
    producers)."""

    code: str
    recorded_by: str
    now: Any  # datetime on PostgreSQL, its SQLite text form elsewhere
    postgres: bool
    counters: dict[str, Any]  # SQLite only: shared next-id counters (multiprocessing.Value)
    connection_params: dict[str, Any] | None  # PostgreSQL only


def _setup(municipality: Municipality, actor: Actor, cursor: Any) -> _Setup:
    postgres = connection.vendor == "postgresql"
    now = timezone.now()
    counters: dict[str, Any] = {}
    if not postgres:
        for table in _ID_TABLES:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            counters[table] = multiprocessing.Value("q", int(cursor.fetchone()[0]) + 1)
    return _Setup(
        code=municipality.code,
        recorded_by=actor.id[:64],
        now=now if postgres else connection.ops.adapt_datetimefield_value(now),
        postgres=postgres,
        counters=counters,
        connection_params=connection.get_connection_params() if postgres else None,
    )


class _Builder:
    """Turns chunks of specs into row tuples with their ids (no database writes)."""

    def __init__(self, setup: _Setup) -> None:
        self.setup = setup
        self.side: Any = None
        if setup.postgres:
            assert setup.connection_params is not None
            # A fresh connection (also valid in a forked producer, which must never use the
            # main process's connection).
            self.side = connection.get_new_connection(dict(setup.connection_params))
            self.side.autocommit = True
        self.ids = {t: _Ids(t, counter=setup.counters.get(t), side=self.side) for t in _ID_TABLES}
        self.true: Any = True if setup.postgres else 1
        self.false: Any = False if setup.postgres else 0

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None

    def build(self, chunk: list[HouseholdSpec]) -> Batch:
        persons = [p for h in chunk for p in h.persons]
        h_ids = self.ids["registry_household"].take(len(chunk))
        p_ids = self.ids["registry_person"].take(len(persons))
        e_ids = self.ids["registry_registryevent"].take(sum(len(p.events) for p in persons))
        code, now, by = self.setup.code, self.setup.now, self.setup.recorded_by
        t, f = self.true, self.false
        households: list[tuple[Any, ...]] = []
        person_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        state_rows: list[tuple[Any, ...]] = []
        pi = ei = 0
        iso = _ISO
        details_json = _details_json
        numbers = [p.mynumber for p in persons if p.mynumber]
        tokens = iter(encrypt_many(numbers))
        hashes = iter(lookup_hashes(numbers))
        for h, h_id in zip(chunk, h_ids, strict=True):
            households.append((h_id, code, h.household_no, iso[h.created_on]))
            for p in h.persons:
                p_id = p_ids[pi]
                pi += 1
                enc = next(tokens) if p.mynumber else ""
                digest = next(hashes) if p.mynumber else ""
                person_rows.append(
                    (
                        p_id,
                        code,
                        p.resident_code,
                        enc,
                        digest,
                        iso[p.birth_date],
                        p.sex,
                        p.nationality,
                        t if p.protected else f,
                        now,
                    )
                )
                first_event = ei
                for e in p.events:
                    event_rows.append(
                        (
                            e_ids[ei],
                            code,
                            e.kind,
                            p_id,
                            h_id,
                            iso[e.event_date],
                            iso[e.reported_date],
                            now,
                            by,
                            e.reason,
                            details_json(e.details),
                        )
                    )
                    ei += 1
                birth = iso[p.birth_date]
                for s in p.states:
                    name_key, given_key = name_keys(s.family_kana, s.given_kana)
                    state_rows.append(
                        (
                            code,
                            p_id,
                            p.resident_code,
                            birth,
                            p.sex,
                            iso[s.valid_from],
                            iso[s.valid_to],
                            s.status,
                            h_id,
                            s.relationship,
                            t if s.is_head else f,
                            s.family_name,
                            s.given_name,
                            s.family_kana,
                            s.given_kana,
                            name_key,
                            given_key,
                            s.postcode,
                            s.town_code,
                            s.town_name,
                            s.address_detail,
                            s.building,
                            s.honseki,
                            e_ids[first_event + s.event] if s.event is not None else None,
                        )
                    )
        return [
            ("registry_household", _HOUSEHOLD_COLS, households),
            ("registry_person", _PERSON_COLS, person_rows),
            ("registry_registryevent", _EVENT_COLS, event_rows),
            ("registry_personstate", _STATE_COLS, state_rows),
        ]


class _IsoDates(dict[date, str]):
    """``date → "YYYY-MM-DD"``, each distinct date formatted once (a city has ~40k)."""

    def __missing__(self, day: date) -> str:
        text = self[day] = day.isoformat()
        return text


_ISO = _IsoDates()


def _details_json(details: dict[str, Any]) -> str:
    """The event's JSON details: ``{}`` for most, one cached text per distinct place."""
    if not details:
        return "{}"
    if len(details) == 1 and "place" in details:
        return _place_json(details["place"])
    return json.dumps(details)


@lru_cache(maxsize=100_000)
def _place_json(place: str) -> str:
    return json.dumps({"place": place})


def _chunks(
    households: Iterable[HouseholdSpec], chunk_persons: int, current_only: bool
) -> Iterator[tuple[list[HouseholdSpec], int]]:
    """Chunks of about ``chunk_persons`` persons, with the count the progress bar shows."""
    chunk: list[HouseholdSpec] = []
    in_chunk = shown = 0
    for h in households:
        chunk.append(h)
        in_chunk += len(h.persons)
        if current_only:
            shown += sum(1 for p in h.persons if p.states[-1].status == Status.RESIDENT)
        else:
            shown += len(h.persons)
        if in_chunk >= chunk_persons:
            yield chunk, shown
            chunk, in_chunk, shown = [], 0, 0
    if chunk:
        yield chunk, shown


def _batches_in_process(
    setup: _Setup, households: Iterable[HouseholdSpec], chunk_persons: int, current_only: bool
) -> Generator[tuple[Batch, int], None, None]:
    builder = _Builder(setup)
    try:
        for chunk, shown in _chunks(households, chunk_persons, current_only):
            yield builder.build(chunk), shown
    finally:
        builder.close()


# --- producer processes for synthetic cities ------------------------------------------------


@dataclass
class _SynthJob:
    lg_code: str
    residents: int
    seed: int
    as_of: date


PRODUCERS = 2  # processes building rows while this one writes (2 cores: they share with it)
PARALLEL_FROM = 50_000  # below this many residents one process does everything


def _block_rows(
    builder: _Builder, job: _SynthJob, by_label: dict[str, Town], block: int, remaining: int
) -> tuple[Batch, int, int]:
    """Rows of one block of the city; ``(batch, residents in the full block, shown)``.

    ``remaining`` (the residents still to write) trims the block when it is the last.
    """
    from kiban.registry.synth import city_block, trim_block

    households = city_block(job.lg_code, job.seed, job.as_of, block)
    full = sum(len(h.members) for h in households)
    households = trim_block(households, remaining)
    shown = min(full, remaining)
    return builder.build([specs_from_synth(h, by_label) for h in households]), full, shown


def _produce(setup: _Setup, job: _SynthJob, first: int, step: int, out: Any) -> None:
    """Producer process: blocks first, first+step, ... as ``(block, full, batch)`` until
    killed; an error is sent as a str. Blocks are built whole: the writer trims the last."""
    try:
        builder = _Builder(setup)
        by_label = {town_label(t): t for t in towns_for(job.lg_code)}
        block = first
        while True:
            batch, full, _ = _block_rows(builder, job, by_label, block, job.residents)
            out.put((block, full, batch))
            block += step
    except BaseException as e:  # reported to, and raised in, the main process
        out.put(f"{type(e).__name__}: {e}")


def _batches_from_producers(
    setup: _Setup, job: _SynthJob, producers: int = PRODUCERS
) -> Generator[tuple[Batch, int], None, None]:
    """Batches built in forked processes while this one writes the previous batch.

    Generating, encrypting and building rows is Python work; writing is the database's
    work. Producer ``k`` makes blocks k, k+n, k+2n, ... of the city (blocks are independent),
    and this process takes them in block order, so the rows are those of
    :func:`generate_city`. The block that reaches the count is rebuilt here, trimmed; the
    producers are then stopped (rows they built beyond it are never written: at most a few
    unused ids). Producers touch no connection of this process.
    """
    from kiban.registry.synth import warm_up

    warm_up(job.lg_code)  # one-time tables, computed once here rather than in each producer
    context = multiprocessing.get_context("fork")
    queues = [context.Queue(maxsize=2) for _ in range(producers)]
    workers = [
        context.Process(
            target=_produce,
            args=(setup, job, k, producers, queues[k]),
            name=f"kiban-bulk-producer-{k}",
            daemon=True,
        )
        for k in range(producers)
    ]
    for worker in workers:
        worker.start()
    remaining = job.residents
    block = 0
    try:
        while remaining > 0:
            item = queues[block % producers].get()
            if isinstance(item, str):
                raise RuntimeError(f"synthetic data producer failed: {item}")
            got, full, batch = item
            assert got == block, (got, block)
            if full >= remaining:
                break
            remaining -= full
            yield batch, full
            block += 1
        if remaining > 0:
            # The last block: only its first households, the last one trimmed.
            builder = _Builder(setup)
            try:
                by_label = {town_label(t): t for t in towns_for(job.lg_code)}
                batch, _, shown = _block_rows(builder, job, by_label, block, remaining)
            finally:
                builder.close()
            yield batch, shown
    finally:
        for worker in workers:
            worker.kill()
        for worker in workers:
            worker.join()
        for q in queues:
            q.cancel_join_thread()
            q.close()


# Below this many persons, or when the tables already hold more rows than the run adds,
# indexes are maintained row by row; above it they are rebuilt at the end.
DEFER_INDEXES_FROM = 20_000
_DEFERRABLE = ("registry_personstate", "registry_registryevent", "registry_person")
#: SQLite page cache (KiB) while the indexes are rebuilt: SQLite's default. The sorter
#: behind CREATE INDEX keeps runs of this size in memory, sorts them on worker threads
#: (``PRAGMA threads``) and merges them; with the load's 1 GiB cache it sorts everything at
#: once on one thread (1M residents: 6.9 s for three indexes, 2.9 s with this cache).
SQLITE_INDEX_BUILD_CACHE_KIB = 2_000


def _drop_indexes_for_bulk(cursor: Any, expected_persons: int) -> list[str]:
    """Drop the plain (non-unique) indexes of the big tables; return the SQL to rebuild them.

    Building an index once over sorted keys is several times faster than inserting millions
    of random keys into it. Only worth it when the run adds more rows than the tables hold
    (a municipality's first migration), and the whole run is one transaction (DDL is
    transactional on both databases), so nobody ever sees a table without its indexes.
    Unique indexes and primary keys stay. On PostgreSQL the foreign keys of those tables
    are dropped too and added back at the end, which checks every row in one join instead
    of one trigger call per row; a row pointing nowhere still fails the run.

    The price on PostgreSQL: dropping an index locks its table until the run commits, so
    other municipalities' reads of these tables wait for the load (SQLite readers keep
    reading the last committed state). That is why this needs the tables to be smaller
    than the run.
    """
    if expected_persons < DEFER_INDEXES_FROM:
        return []
    recreate: list[str] = []
    for table in _DEFERRABLE:
        if _table_rows(cursor, table, expected_persons) > expected_persons:
            continue
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL",
                [table],
            )
            for name, sql in cursor.fetchall():
                cursor.execute(f'DROP INDEX "{name}"')
                recreate.append(sql)
            continue
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisunique AND NOT x.indisprimary",
            [table],
        )
        for name, sql in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
            recreate.append(sql)
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            recreate.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    return recreate


#: A load of at least this many persons refreshes the planner statistics of the registry
#: tables (:func:`_refresh_statistics`).
ANALYZE_FROM = 10_000
_LOADED_TABLES = ("registry_household", *_DEFERRABLE)


def _refresh_statistics(cursor: Any) -> None:
    """ANALYZE the tables a load writes, inside its transaction, so that the first queries
    after a city is loaded are planned for the city as it now is.

    SQLite never gathers statistics by itself: without them its planner guessed the as-of
    index wrongly after every load (1M residents, measured: eligibility 6.9 s against 1.8 s,
    the status dashboard 2.1 s against 0.6 s). PostgreSQL's autovacuum would analyze the
    tables some time later; until then the planner sees the tables as they were before.
    At 1M residents this takes about 2 s on either database.
    """
    for table in _LOADED_TABLES:
        cursor.execute(f"ANALYZE {table}")


def _table_rows(cursor: Any, table: str, limit: int) -> int:
    """Rows in ``table``, counted up to ``limit + 1`` (a scan no longer than the run)."""
    cursor.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS head",  # noqa: S608
        [limit + 1],
    )
    return int(cursor.fetchone()[0])


def _tune_connection(cursor: Any) -> None:
    if connection.vendor == "sqlite":
        # A larger page cache keeps the indexes being appended to in memory (and spills
        # less of the run's dirty pages to the WAL before commit); index rebuilds at the
        # end sort with a helper thread on the second core.
        cursor.execute("PRAGMA cache_size = -1048576")
        cursor.execute("PRAGMA threads = 2")
    elif connection.vendor == "postgresql":
        # Foreign keys are checked when each statement ends rather than all at commit, so
        # the deferred-trigger queue does not grow with the size of the run.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _untune_connection() -> None:
    """Back to the defaults for whatever this (reused) connection serves next."""
    if connection.vendor == "sqlite" and connection.connection is not None:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size = -2000")
            cursor.execute("PRAGMA threads = 0")


def load(
    *,
    municipality: Municipality,
    actor: Actor,
    households: Iterable[HouseholdSpec] | None = None,
    action: str,
    details: dict[str, Any] | None = None,
    progress: Progress | None = None,
    chunk_persons: int = CHUNK_PERSONS,
    progress_current_only: bool = False,
    expected_persons: int = 0,
    _synth: _SynthJob | None = None,
) -> LoadResult:
    """Write households, persons, events and states in one transaction and one audit entry.

    The caller validates the specs (identifiers unique, one head per household, ...).
    Nothing is written if anything fails. ``progress`` is called with the number of
    persons written after each chunk (only those still resident with
    ``progress_current_only``, so that a bar for N generated residents ends at N).
    ``expected_persons`` (a hint) lets a large run on SQLite rebuild indexes once at the end.
    """
    try:
        return _load(
            municipality=municipality,
            actor=actor,
            households=households,
            action=action,
            details=details,
            progress=progress,
            chunk_persons=chunk_persons,
            progress_current_only=progress_current_only,
            expected_persons=expected_persons,
            synth=_synth,
        )
    finally:
        if not connection.in_atomic_block:
            _untune_connection()


def _load(
    *,
    municipality: Municipality,
    actor: Actor,
    households: Iterable[HouseholdSpec] | None,
    action: str,
    details: dict[str, Any] | None,
    progress: Progress | None,
    chunk_persons: int,
    progress_current_only: bool,
    expected_persons: int,
    synth: _SynthJob | None,
) -> LoadResult:
    counts = {"households": 0, "persons": 0, "events": 0, "states": 0}
    with transaction.atomic(), connection.cursor() as cursor:
        _tune_connection(cursor)
        setup = _setup(municipality, actor, cursor)
        recreate = _drop_indexes_for_bulk(cursor, expected_persons)
        writer = _Writer(cursor)
        if (
            synth is not None
            and synth.residents >= PARALLEL_FROM
            and "fork" in multiprocessing.get_all_start_methods()
        ):
            batches = _batches_from_producers(setup, synth)
        else:
            if synth is not None:
                households = _synth_specs(synth.lg_code, synth.residents, synth.seed, synth.as_of)
                progress_current_only = True
            batches = _batches_in_process(
                setup, households or (), chunk_persons, progress_current_only
            )
        # Closed here even when a write fails, so the producers and the side connection
        # for ids go at once rather than whenever the generator is collected.
        with closing(batches):
            for batch, shown in batches:
                writer.write_batch(batch)
                for key, (_, _, rows) in zip(counts, batch, strict=True):
                    counts[key] += len(rows)
                if progress:
                    progress(shown)
        if recreate and connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_INDEX_BUILD_CACHE_KIB}")
        for sql in recreate:
            cursor.execute(sql)
        if counts["persons"] >= ANALYZE_FROM:
            _refresh_statistics(cursor)
        result = LoadResult(**counts)
        audit.record(
            municipality=municipality,
            actor=actor,
            action=action,
            subject_type="registry",
            subject_id=municipality.code,
            details={**(details or {}), **result.as_dict()},
        )
    return result


# --- generate --------------------------------------------------------------------------------


def _synth_specs(lg_code: str, residents: int, seed: int, as_of: date) -> Iterator[HouseholdSpec]:
    from kiban.registry.synth import generate_city

    by_label = {town_label(t): t for t in towns_for(lg_code)}
    for h in generate_city(lg_code, residents, seed=seed, as_of=as_of):
        yield specs_from_synth(h, by_label)


def generate(
    *,
    actor: Actor,
    municipality: Municipality,
    residents: int,
    seed: int = 0,
    as_of: date | None = None,
    progress: Progress | None = None,
) -> LoadResult:
    """Fill an empty municipality with ``residents`` synthetic residents (plus their 除票).

    Deterministic for (municipality, residents, seed, as_of). Refuses a municipality that
    already has persons, so synthetic and real records are never mixed. One transaction,
    one audit entry ``registry.generate`` with the counts.
    """
    actor.require(municipality, Role.MUNICIPALITY_ADMIN)
    if (
        Person.objects.filter(municipality=municipality).exists()
        or Household.objects.filter(municipality=municipality).exists()
    ):
        raise Conflict(
            f"{municipality.name}には既に住民記録があります。合成データは空の団体にのみ作成できます。",
            f"{municipality.name} already has registry records; synthetic residents can only "
            "be generated into an empty municipality.",
            code="registry_not_empty",
        )
    as_of = as_of or timezone.localdate()
    return load(
        municipality=municipality,
        actor=actor,
        action="registry.generate",
        details={"residents": residents, "seed": seed, "as_of": as_of.isoformat()},
        progress=progress,
        expected_persons=residents,
        _synth=_SynthJob(municipality.code, residents, seed, as_of),
    )


@contextmanager
def rich_progress(total: int, description: str) -> Iterator[Progress]:
    """A ``rich`` progress bar on stderr; yields the callback :func:`load` expects."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    from kiban.clikit import err_console

    bar = RichProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
