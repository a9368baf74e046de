"""Ledger rules applied to every new application, whatever channel created it.

:func:`prepare_new_application` runs inside ``Application.save()`` (in its transaction) for
the portal, identity's signed-application intake and counter entry alike:

* envelope keys of the payload (``_bundle_id``, ``_email``, ``_supersedes``) fill the
  application's columns, so a signed payload carries them and they are covered by the
  signature;
* the subject key ("the same procedure for the same event", from the definition's
  ``subject`` template) is computed;
* a correction (``_supersedes``) marks the returned application it answers as superseded;
* a second pending application for the same subject is refused with ``application_pending``
  and a link to the pending one. A partial unique index backs this under concurrency.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from kiban.core.errors import Conflict

if TYPE_CHECKING:
    from kiban.procedures.models import Application
    from kiban.procedures.schema import Procedure

__all__ = ["pending_conflict", "prepare_new_application", "read_payload", "subject_key"]


def read_payload(raw: bytes | memoryview | None) -> dict[str, Any]:
    """The JSON object in a stored payload, or {} when it is not one."""
    if raw is None:
        return {}
    try:
        data = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def subject_key(procedure: Procedure, *, person_pk: int, data: dict[str, Any]) -> str:
    """Fill the definition's ``subject`` template ("move-out:{person}") for this application."""
    if not procedure.subject:
        return ""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "person":
            return str(person_pk)
        if name == "household":
            from kiban.registry.models import OPEN_END, PersonState

            state = (
                PersonState.objects.filter(person_id=person_pk, valid_to=OPEN_END)
                .only("household_id")
                .first()
            )
            return str(state.household_id if state else "")
        value = data.get(name, "")
        return str(value) if not isinstance(value, list | dict) else json.dumps(value)

    return re.sub(r"{([^}]+)}", fill, procedure.subject)[:128]


def pending_conflict(existing: Application) -> Conflict:
    return Conflict(
        "同じ手続の申請がすでに受付中です。受付中の申請をご確認ください。",
        "An application for the same procedure and event is already pending; see the pending one.",
        code="application_pending",
        details={"application_id": existing.pk, "url": f"/applications/{existing.pk}/"},
    )


def _procedure_for(app: Application) -> Procedure | None:
    from kiban.procedures import catalog

    return catalog.get_procedure(app.municipality, app.procedure_id) or catalog.all_procedures(
        app.municipality
    ).get(app.procedure_id)


def prepare_new_application(app: Application) -> None:
    """Apply the ledger rules to ``app`` before its first save (see module docstring)."""
    from kiban.procedures.models import Application, AppStatus

    data = read_payload(app.payload)
    if not app.bundle_id and isinstance(data.get("_bundle_id"), str):
        app.bundle_id = data["_bundle_id"][:36]
    for key in ("_email", "email"):
        if not app.email and isinstance(data.get(key), str) and "@" in data[key]:
            app.email = data[key].strip()[:254]
    proc = _procedure_for(app)
    if not app.subject_key and proc is not None:
        app.subject_key = subject_key(proc, person_pk=app.person_id, data=data)
    superseded = data.get("_supersedes")
    if app.supersedes_id is None and isinstance(superseded, int):
        old = (
            Application.objects.select_for_update()
            .filter(
                pk=superseded,
                municipality_id=app.municipality_id,
                person_id=app.person_id,
                procedure_id=app.procedure_id,
            )
            .first()
        )
        if old is None or old.status != AppStatus.RETURNED:
            raise Conflict(
                "訂正できるのは差戻し中の申請だけです。",
                "Only an application returned for correction can be corrected.",
                code="not_returned",
            )
        old.status = AppStatus.SUPERSEDED
        old.save(update_fields=["status", "updated_at"])
        app.supersedes_id = old.pk
        if not app.bundle_id:
            app.bundle_id = old.bundle_id
    if app.subject_key:
        existing = (
            Application.objects.filter(
                municipality_id=app.municipality_id,
                subject_key=app.subject_key,
                status__in=[
                    AppStatus.SUBMITTED,
                    AppStatus.IN_REVIEW,
                    AppStatus.RETURNED,
                ],
            )
            .order_by("pk")
            .first()
        )
        if existing is not None:
            raise pending_conflict(existing)
