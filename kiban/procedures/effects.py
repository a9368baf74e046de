"""What an approval does (the definition's ``effect``), applied inside the decision's transaction.

Each handler takes the deciding actor, the application and its cleaned answers, calls the
owning domain's service (registry, benefits, identity) — so that domain's own permission
check, validation and audit apply — and returns a small JSON-able summary for the audit
entry. If the domain refuses, the whole decision rolls back and the clerk sees why.

Registry effects need an approver who also holds the registry clerk role: approving a
転出届 *is* recording the 転出, and kiban does not lend roles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from kiban.core.actors import Actor
from kiban.core.errors import KibanError, ValidationFailed

if TYPE_CHECKING:
    from kiban.procedures.models import Application
    from kiban.procedures.schema import Procedure

Effect = Callable[[Actor, "Application", "Procedure", dict[str, Any]], dict[str, Any]]
EFFECTS: dict[str, Effect] = {}

__all__ = ["EFFECTS", "apply_effect", "child_allowance_amount", "register_effect"]


def register_effect(name: str) -> Callable[[Effect], Effect]:
    def deco(fn: Effect) -> Effect:
        EFFECTS[name] = fn
        return fn

    return deco


def _reported(app: Application) -> date:
    return timezone.localdate(app.created_at)


def _destination(answers: dict[str, Any]) -> str:
    pc = answers.get("new_postcode", "")
    parts = [f"〒{pc[:3]}-{pc[3:]}" if pc else "", answers.get("new_address", "")]
    if answers.get("new_building"):
        parts.append(answers["new_building"])
    return " ".join(p for p in parts if p)


def _movers(app: Application, answers: dict[str, Any], key: str) -> list[str]:
    return list(answers.get(key) or [app.person.resident_code])


@register_effect("none")
def _none(
    actor: Actor, app: Application, proc: Procedure, answers: dict[str, Any]
) -> dict[str, Any]:
    return {}


@register_effect("registry.move_out")
def _move_out(
    actor: Actor, app: Application, proc: Procedure, answers: dict[str, Any]
) -> dict[str, Any]:
    from kiban.registry.services import record_move_out

    event = record_move_out(
        actor=actor,
        municipality=app.municipality,
        persons=_movers(app, answers, "movers"),
        event_date=date.fromisoformat(answers["planned_date"]),
        reported_date=_reported(app),
        destination=_destination(answers),
    )
    return {"registry_event": event.pk, "kind": event.kind}


def resolve_town(municipality_code: str, postcode: str, town: str) -> Any:
    """The 町字 of the municipality named ``town`` (at ``postcode`` when several match)."""
    from kiban.registry.towns import towns_for

    name = town.strip()
    candidates = [t for t in towns_for(municipality_code) if name and name.startswith(t.name)]
    if len(candidates) > 1:
        candidates = [t for t in candidates if t.postcode == postcode] or candidates
        candidates.sort(key=lambda t: -len(t.name))
    return candidates[0] if candidates else None


@register_effect("registry.move_within")
def _move_within(
    actor: Actor, app: Application, proc: Procedure, answers: dict[str, Any]
) -> dict[str, Any]:
    from kiban.registry.models import OPEN_END, PersonState
    from kiban.registry.services import Address, record_move_within

    town = resolve_town(app.municipality_id, answers["new_postcode"], answers["new_town"])
    if town is None:
        raise ValidationFailed(
            "新住所の町名が市内に見つかりません。",
            "The town of the new address is not in this municipality.",
            details={"field": "new_town"},
        )
    movers = _movers(app, answers, "movers")
    states = PersonState.objects.filter(
        municipality_id=app.municipality_id, valid_to=OPEN_END, person__resident_code__in=movers
    ).select_related("person")
    household_ids = {s.household_id for s in states}
    everyone = set(
        PersonState.objects.filter(
            municipality_id=app.municipality_id, valid_to=OPEN_END, household_id__in=household_ids
        ).values_list("person__resident_code", flat=True)
    )
    partial = not everyone <= set(movers)
    head = app.person.resident_code if app.person.resident_code in movers else movers[0]
    event = record_move_within(
        actor=actor,
        municipality=app.municipality,
        persons=movers,
        event_date=date.fromisoformat(answers["moved_date"]),
        reported_date=_reported(app),
        address=Address(
            postcode=answers["new_postcode"],
            town_code=town.machiaza_id,
            town_name=town.name,
            address_detail=answers["new_town"].strip()[len(town.name) :].strip()
            + answers.get("new_address_detail", ""),
            building=answers.get("new_building", ""),
        ),
        new_household=partial,
        head=head if partial else None,
    )
    return {"registry_event": event.pk, "kind": event.kind}


def child_allowance_amount(
    children: list[dict[str, Any]], params: dict[str, Any], *, on: date
) -> int:
    """Monthly amount: per child under 3, standard, third and later child (2024 rules)."""
    under_3 = int(params.get("amount_under_3", 15000))
    standard = int(params.get("amount_standard", 10000))
    third = int(params.get("amount_third_child", 30000))

    def age(born: date) -> int:
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    births = sorted(date.fromisoformat(c["birth_date"]) for c in children if c.get("birth_date"))
    eligible = [b for b in births if 0 <= age(b) < 18]  # oldest first: the rank of each child
    total = 0
    for rank, born in enumerate(eligible, start=1):
        if rank >= 3:
            total += third
        elif age(born) < 3:
            total += under_3
        else:
            total += standard
    return total


@register_effect("benefits.child_allowance")
def _child_allowance(
    actor: Actor, app: Application, proc: Procedure, answers: dict[str, Any]
) -> dict[str, Any]:
    from kiban.benefits.services import ensure_builtin_program, grant_entitlement
    from kiban.core.actors import SYSTEM

    amount = child_allowance_amount(
        answers.get("children", []), proc.effect_params, on=timezone.localdate()
    )
    if amount <= 0:
        raise ValidationFailed(
            "支給対象の子どもがいません。", "No child qualifies for the allowance."
        )
    # Loading the bundled program definition is set-up, not a decision: done by the system
    # (benefits' loader wants a benefits clerk, which a reviewer need not be).
    ensure_builtin_program(
        actor=SYSTEM, municipality=app.municipality, program_id="child-allowance"
    )
    ent = grant_entitlement(
        actor=actor,
        municipality=app.municipality,
        program_id="child-allowance",
        person=app.person,
        amount=amount,
        reference=f"application:{app.pk}",
    )
    return {"entitlement": ent.pk, "amount": amount}


@register_effect("identity.juminhyo_copy")
def _juminhyo(
    actor: Actor, app: Application, proc: Procedure, answers: dict[str, Any]
) -> dict[str, Any]:
    try:
        from kiban.registry.certificates import issue_certificate
    except ImportError as e:  # pragma: no cover - registry ships it
        raise KibanError("証明書を発行できません。", "Cannot issue certificates.") from e
    from kiban.procedures.models import ApplicationDocument

    issued = issue_certificate(
        actor=actor,
        municipality=app.municipality,
        resident_code=app.person.resident_code,
        household=answers.get("scope") == "household",
        include_relationship=bool(answers.get("include_relationship")),
        include_honseki=bool(answers.get("include_honseki")),
        include_mynumber=bool(answers.get("include_mynumber")),
        purpose="本人請求",
    )
    ApplicationDocument.objects.create(
        application=app,
        kind="juminhyo",
        filename=f"juminhyo-{issued.issue_no}.pdf",
        content_type="application/pdf",
        content=issued.pdf,
    )
    return {"issue_no": str(issued.issue_no)}


def apply_effect(
    actor: Actor, app: Application, proc: Procedure, answers: dict[str, Any]
) -> dict[str, Any]:
    handler = EFFECTS.get(proc.effect)
    if handler is None:
        raise KibanError(
            f"承認時の処理「{proc.effect}」が登録されていません。",
            f"No handler is registered for the approval effect {proc.effect!r}.",
            code="effect_unknown",
            status=500,
        )
    return handler(actor, app, proc, answers)
