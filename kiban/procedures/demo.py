"""Demo seeding for procedures: standard catalog on, a few applications waiting in the inbox.

Sample applications are counter entries (代理入力) for demo residents *without* a demo card,
so the residents who sign in with a demo card start with a clean slate. The demo reviewer
(``<prefix>-reviewer``) also gets the registry clerk role: in a 市民課 the person who
approves a 転出届 is the one who records it, and an approval applies the registry event.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django.utils import timezone

from kiban.core.actors import staff_actor
from kiban.core.models import Municipality, Role, StaffUser
from kiban.procedures import services
from kiban.procedures.models import Application
from kiban.registry.models import OPEN_END, PersonState, Status


def _reviewer(municipality: Municipality) -> StaffUser | None:
    user = (
        StaffUser.objects.filter(municipality=municipality, username__endswith="-reviewer")
        .order_by("pk")
        .first()
    )
    if user is None:
        return None
    roles = list(user.roles or [])
    if Role.REGISTRY_CLERK.value not in roles:
        roles.append(Role.REGISTRY_CLERK.value)
        user.roles = roles
        user.save(update_fields=["roles"])
    return user


def seed(*, municipality: Municipality, residents: int, out: Any = None) -> int:
    """Enable every standard procedure and add sample counter applications (idempotent)."""
    settings = dict(municipality.settings or {})
    settings.setdefault("enabled_procedures", [])
    settings.setdefault("disabled_procedures", [])
    municipality.settings = settings
    municipality.save(update_fields=["settings"])
    reviewer = _reviewer(municipality)
    if reviewer is None or Application.objects.filter(municipality=municipality).exists():
        return 0
    from kiban.identity.models import Card

    with_card = set(
        Card.objects.filter(municipality=municipality).values_list("person_id", flat=True)
    )
    states = (
        PersonState.objects.filter(
            municipality=municipality,
            valid_to=OPEN_END,
            status=Status.RESIDENT,
            person__protected=False,
        )
        .exclude(person_id__in=with_card)
        .select_related("person")
        .order_by("person_id")
    )
    adults = [s for s in states[:200] if s.person.birth_date.year < 2000][:3]
    actor = staff_actor(reviewer)
    today = timezone.localdate()
    samples: list[tuple[str, dict[str, Any]]] = [
        (
            "move-out",
            {
                "planned_date": (today + timedelta(days=10)).isoformat(),
                "new_postcode": "100-0001",
                "new_address": "東京都千代田区千代田1番1号",
            },
        ),
        (
            "disaster-certificate",
            {
                "disaster_date": (today - timedelta(days=3)).isoformat(),
                "disaster_kind": "storm",
                "damage": "屋根瓦の一部が飛散し、雨漏りがある。",
                "phone": "045-000-0000",
            },
        ),
        (
            "inquiry",
            {
                "topic": "粗大ごみの出し方",
                "message": "ソファを捨てたいのですが、どう申し込めばよいですか。",
            },
        ),
    ]
    made = 0
    for state, (pid, answers) in zip(adults, samples, strict=False):
        data = dict(answers)
        proc = services.catalog.get_procedure(municipality, pid)
        if proc is None:
            continue
        everyone = [s.person.resident_code for s in services.household_members(state.person)]
        for f in proc.fields:
            if f.type == "members":
                data[f.id] = everyone or [state.person.resident_code]
        services.submit_counter_application(
            actor=actor,
            municipality=municipality,
            person=state.person,
            procedure_id=pid,
            answers=data,
            form_token=secrets.token_urlsafe(12),
        )
        made += 1
    if out is not None and made:
        out.print(f"{municipality.name}: 申請 {made} 件 (sample applications in the inbox)")
    return made
