"""Operations on tenants, staff and API tokens. Each is one transaction, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kiban.core import audit
from kiban.core.actors import Actor
from kiban.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kiban.core.models import ApiToken, Municipality, Role, StaffUser

VALID_ROLES = {r.value for r in Role}


def _validate_code(code: str) -> str:
    from kiban.core.identifiers import IdentifierError, validate_lg_code

    try:
        return validate_lg_code(code)
    except IdentifierError as e:
        raise ValidationFailed(
            f"全国地方公共団体コードが正しくありません: {e.message_ja}",
            f"Invalid local government code: {e.message_en}",
            code="invalid_lg_code",
        ) from e


def get_municipality(code: str) -> Municipality:
    m = Municipality.objects.filter(code=code, active=True).first()
    if m is None:
        raise NotFound("団体", "municipality")
    return m


@transaction.atomic
def add_municipality(
    *,
    actor: Actor,
    code: str,
    name: str,
    prefecture: str,
    name_en: str = "",
    settings: dict[str, Any] | None = None,
) -> Municipality:
    """Create a tenant. Only the platform operator (or the operator CLI) may do this."""
    if actor.kind not in {"system", "operator"} and not actor.is_platform_operator:
        raise Forbidden()
    code = _validate_code(code)
    if not name.strip():
        raise ValidationFailed("団体名を入力してください。", "Enter the municipality's name.")
    if Municipality.objects.filter(code=code).exists():
        raise Conflict(
            f"団体コード {code} は登録済みです。", f"Municipality {code} already exists."
        )
    m = Municipality(code=code, name=name.strip(), prefecture=prefecture.strip(), name_en=name_en)
    if settings:
        merged = m.settings
        merged.update(settings)
        m.settings = merged
    m.save()
    audit.record(
        municipality=m,
        actor=actor,
        action="municipality.create",
        subject_type="municipality",
        subject_id=code,
        details={"name": m.name},
    )
    return m


@transaction.atomic
def update_municipality_settings(
    *, actor: Actor, municipality: Municipality, changes: dict[str, Any]
) -> Municipality:
    actor.require(municipality, Role.MUNICIPALITY_ADMIN)
    merged = dict(municipality.settings or {})
    merged.update(changes)
    municipality.settings = merged
    municipality.save(update_fields=["settings"])
    audit.record(
        municipality=municipality,
        actor=actor,
        action="municipality.settings",
        subject_type="municipality",
        subject_id=municipality.code,
        details={"keys": sorted(changes)},
    )
    return municipality


@transaction.atomic
def add_staff(
    *,
    actor: Actor,
    municipality: Municipality | None,
    username: str,
    password: str,
    roles: list[str],
    display_name: str = "",
    email: str = "",
) -> StaffUser:
    """Create a staff account in one municipality (or a platform operator with none)."""
    unknown = set(roles) - VALID_ROLES
    if unknown:
        raise ValidationFailed(
            f"不明な役割です: {', '.join(sorted(unknown))}",
            f"Unknown role(s): {', '.join(sorted(unknown))}. Valid: {', '.join(sorted(VALID_ROLES))}",
        )
    if Role.PLATFORM_OPERATOR in roles:
        if len(roles) != 1 or municipality is not None:
            raise ValidationFailed(
                "基盤運用者は団体に属さず、他の役割を持てません。",
                "A platform operator belongs to no municipality and holds no other role.",
            )
    elif municipality is None:
        raise ValidationFailed(
            "所属団体を指定してください。", "Give the staff member's municipality."
        )
    if municipality is not None:
        actor.require(municipality, Role.MUNICIPALITY_ADMIN)
    elif actor.kind not in {"system", "operator"}:
        raise Forbidden()
    if StaffUser.objects.filter(username=username).exists():
        raise Conflict(
            f"ユーザー名 {username} は使われています。", f"Username {username} is taken."
        )
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password)
    except ValidationError as e:
        raise ValidationFailed(
            "パスワードが要件を満たしません（10文字以上、推測されにくいもの）。",
            "Password too weak: " + " ".join(e.messages),
        ) from e
    user = StaffUser(
        username=username,
        municipality=municipality,
        roles=list(roles),
        display_name=display_name,
        email=email,
    )
    user.set_password(password)
    user.save()
    if municipality is not None:
        audit.record(
            municipality=municipality,
            actor=actor,
            action="staff.create",
            subject_type="staff",
            subject_id=username,
            details={"roles": list(roles)},
        )
    return user


@transaction.atomic
def issue_token(
    *, actor: Actor, municipality: Municipality, name: str, roles: list[str]
) -> tuple[ApiToken, str]:
    """Issue an API token for one municipality; the raw token is shown once."""
    actor.require(municipality, Role.MUNICIPALITY_ADMIN)
    unknown = set(roles) - VALID_ROLES
    if unknown or Role.PLATFORM_OPERATOR in roles:
        raise ValidationFailed("役割が正しくありません。", f"Invalid roles: {sorted(unknown)}")
    tok, raw = ApiToken.issue(municipality=municipality, name=name, roles=roles)
    audit.record(
        municipality=municipality,
        actor=actor,
        action="token.issue",
        subject_type="token",
        subject_id=str(tok.pk),
        details={"name": name, "roles": roles},
    )
    return tok, raw
