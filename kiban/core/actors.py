"""Who is acting: staff, resident, API client, operator CLI or the system.

Every service takes an ``Actor`` and a municipality explicitly and calls
``actor.require(municipality, role, ...)`` before touching data. A mismatch of
municipality is reported as *not found* so one tenant never learns what another holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiban.core.errors import Forbidden, NotFound

if TYPE_CHECKING:
    from django.http import HttpRequest

    from kiban.core.models import ApiToken, Municipality, StaffUser


@dataclass(frozen=True)
class Actor:
    kind: str  # "staff" | "resident" | "api" | "operator" | "system"
    id: str
    label: str = ""
    municipality_code: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    source_ip: str = ""
    # For kind == "resident": the person's primary key in the registry.
    resident_pk: int | None = None
    user_pk: int | None = None

    @property
    def is_platform_operator(self) -> bool:
        return "platform_operator" in self.roles

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def require(self, municipality: Municipality | str, *roles: str) -> None:
        """Refuse unless this actor belongs to ``municipality`` and holds one of ``roles``.

        System and operator actors (the CLI run by the deployment's IT team) pass the
        municipality check; a platform operator never reads residents (no domain roles).
        """
        code = municipality if isinstance(municipality, str) else municipality.code
        if self.kind in {"system", "operator"}:
            return
        if self.municipality_code != code:
            raise NotFound()
        if roles and not self.has_role(*roles):
            raise Forbidden()

    def require_any_of(self, municipality: Municipality | str, roles: Iterable[str]) -> None:
        self.require(municipality, *tuple(roles))

    def audit_fields(self) -> dict[str, Any]:
        return {
            "actor_kind": self.kind,
            "actor_id": self.id,
            "actor_label": self.label,
            "source_ip": self.source_ip,
        }


def client_ip(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


def staff_actor(user: StaffUser, request: HttpRequest | None = None) -> Actor:
    return Actor(
        kind="staff",
        id=f"staff:{user.pk}",
        label=user.username,
        municipality_code=user.municipality_id,
        roles=frozenset(user.roles or []),
        source_ip=client_ip(request),
        user_pk=user.pk,
    )


def token_actor(token: ApiToken, request: HttpRequest | None = None) -> Actor:
    return Actor(
        kind="api",
        id=f"token:{token.pk}",
        label=token.name,
        municipality_code=token.municipality_id,
        roles=frozenset(token.roles or []),
        source_ip=client_ip(request),
    )


def resident_actor(
    *, person_pk: int, municipality_code: str, label: str, request: HttpRequest | None = None
) -> Actor:
    return Actor(
        kind="resident",
        id=f"resident:{person_pk}",
        label=label,
        municipality_code=municipality_code,
        roles=frozenset({"resident"}),
        source_ip=client_ip(request),
        resident_pk=person_pk,
    )


def operator_actor(username: str | None = None) -> Actor:
    """The deployment's IT team using the CLI (``--as USERNAME`` names the person)."""
    import getpass

    name = username or getpass.getuser()
    return Actor(kind="operator", id=f"operator:{name}", label=name, roles=frozenset({"operator"}))


SYSTEM = Actor(kind="system", id="system", label="kiban")
