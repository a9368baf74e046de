"""Append-only, hash-chained audit log, one chain per municipality.

Each entry's hash covers its content and the previous entry's hash, so altering,
deleting or reordering any row breaks every later link; ``verify_chain`` finds the
first broken entry. ``record`` must run inside the transaction of the change it
records: it locks the municipality's chain head, so both commit or neither does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from kiban.core.actors import Actor
from kiban.core.models import AuditEntry, AuditHead, Municipality

GENESIS = "0" * 64


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def entry_hash(
    *,
    municipality: str,
    seq: int,
    at: datetime,
    actor_kind: str,
    actor_id: str,
    actor_label: str,
    action: str,
    subject_type: str,
    subject_id: str,
    purpose: str,
    source_ip: str,
    details: Any,
    prev_hash: str,
) -> str:
    body = {
        "m": municipality,
        "seq": seq,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "ak": actor_kind,
        "ai": actor_id,
        "al": actor_label,
        "a": action,
        "st": subject_type,
        "si": subject_id,
        "p": purpose,
        "ip": source_ip,
        "d": details,
        "prev": prev_hash,
    }
    return hashlib.sha256(_canonical(body)).hexdigest()


# One statement takes the head's row lock (PostgreSQL; SQLite holds the database write lock)
# and claims the next sequence number; the claim rolls back with the transaction, so the
# sequence stays gap-free. Both databases support RETURNING (SQLite >= 3.35).
_CLAIM_SQL = (
    "UPDATE core_audithead SET last_seq = last_seq + 1 WHERE municipality_id = %s "
    "RETURNING last_seq, last_hash"
)
_SET_HASH_SQL = "UPDATE core_audithead SET last_hash = %s WHERE municipality_id = %s"
assert AuditHead._meta.db_table == "core_audithead"  # the SQL above names the table

# The entry is written with one plain INSERT: every domain audits inside its transactions,
# and compiling the ORM insert cost more than running it. Values are prepared by the model
# fields themselves (``get_db_prep_save``), exactly as the ORM would send them.
_ENTRY_FIELDS = tuple(f for f in AuditEntry._meta.concrete_fields if not f.primary_key)
_INSERT_SQL = (
    f"INSERT INTO {AuditEntry._meta.db_table} "  # noqa: S608
    f"({', '.join(f.column for f in _ENTRY_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_ENTRY_FIELDS))}) RETURNING id"
)
# PostgreSQL runs both writes that follow the claim in one round trip (a data-modifying
# WITH), so the head's row lock is held for one statement and the commit; SQLite, which
# has no data-modifying WITH, sends them one after the other (it holds the database write
# lock for the whole transaction anyway).
_INSERT_AND_SET_HASH_SQL = (
    "WITH head AS (UPDATE core_audithead SET last_hash = %s WHERE municipality_id = %s) "  # noqa: S608
    + _INSERT_SQL
)


def _claim_seq(code: str) -> tuple[int, str]:
    """Lock ``code``'s chain head and take the next sequence number: (seq, previous hash)."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [code])
        row = cursor.fetchone()
        if row is None:
            AuditHead.objects.get_or_create(municipality_id=code)
            cursor.execute(_CLAIM_SQL, [code])
            row = cursor.fetchone()
    return int(row[0]), str(row[1])


def _append(entry: AuditEntry, code: str) -> None:
    """INSERT ``entry`` and make its hash the head's (the head is locked by the claim)."""
    values = [f.get_db_prep_save(f.pre_save(entry, True), connection) for f in _ENTRY_FIELDS]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_INSERT_AND_SET_HASH_SQL, [entry.hash, code, *values])
            entry.pk = cursor.fetchone()[0]
        else:
            cursor.execute(_INSERT_SQL, values)
            entry.pk = cursor.fetchone()[0]
            cursor.execute(_SET_HASH_SQL, [entry.hash, code])
    entry._state.adding = False
    entry._state.db = connection.alias


def record(
    *,
    municipality: Municipality | str,
    actor: Actor,
    action: str,
    subject_type: str = "",
    subject_id: str = "",
    purpose: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the municipality's chain, in the caller's transaction.

    Call it last in the transaction where possible: from here to the commit the
    municipality's chain head is locked, so concurrent appends wait for this commit.
    """
    code = municipality if isinstance(municipality, str) else municipality.code
    # Round-trip the details through JSON so the hash covers what the database stores.
    clean_details = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    actor_fields = actor.audit_fields()
    # No savepoint inside the caller's transaction: if appending fails, the change it records
    # must not commit either. Alone, this is its own transaction.
    with transaction.atomic(savepoint=False):
        seq, prev_hash = _claim_seq(code)
        at = timezone.now()
        fields = {
            "municipality": code,
            "seq": seq,
            "at": at,
            **actor_fields,
            "action": action,
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "purpose": purpose[:200],
            "details": clean_details,
            "prev_hash": prev_hash,
        }
        digest = entry_hash(**fields)
        fields.pop("municipality")
        entry = AuditEntry(municipality_id=code, hash=digest, **fields)
        _append(entry, code)
    return entry


@dataclass
class ChainBreak:
    municipality: str
    seq: int
    entry_id: int | None
    reason: str


def _iter_entries(code: str) -> Iterator[AuditEntry]:
    return (
        AuditEntry.objects.filter(municipality_id=code)
        .order_by("seq", "id")
        .iterator(chunk_size=2000)
    )


def verify_chain(code: str) -> ChainBreak | None:
    """Return the first broken entry of ``code``'s chain, or None when it is intact."""
    prev = GENESIS
    expected_seq = 1
    last_id: int | None = None
    for e in _iter_entries(code):
        if e.seq != expected_seq:
            reason = "missing entry (deleted)" if e.seq > expected_seq else "duplicate sequence"
            return ChainBreak(code, expected_seq, e.pk, reason)
        if e.prev_hash != prev:
            return ChainBreak(code, e.seq, e.pk, "previous-hash link broken (reordered or altered)")
        digest = entry_hash(
            municipality=e.municipality_id,
            seq=e.seq,
            at=e.at,
            actor_kind=e.actor_kind,
            actor_id=e.actor_id,
            actor_label=e.actor_label,
            action=e.action,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            purpose=e.purpose,
            source_ip=e.source_ip,
            details=e.details,
            prev_hash=e.prev_hash,
        )
        if digest != e.hash:
            return ChainBreak(code, e.seq, e.pk, "content does not match its hash (altered)")
        prev = e.hash
        expected_seq += 1
        last_id = e.pk
    head = AuditHead.objects.filter(municipality_id=code).first()
    if head is not None and (head.last_seq != expected_seq - 1 or head.last_hash != prev):
        return ChainBreak(code, expected_seq, last_id, "latest entries missing (deleted at end)")
    return None
