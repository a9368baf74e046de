"""Tenants (municipalities), staff accounts, API tokens and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    REGISTRY_CLERK = "registry_clerk", "住民記録担当 / Registry clerk"
    PROCEDURES_REVIEWER = "procedures_reviewer", "申請審査担当 / Procedures reviewer"
    BENEFITS_CLERK = "benefits_clerk", "給付担当 / Benefits clerk"
    AUDITOR = "auditor", "監査担当 / Auditor"
    MUNICIPALITY_ADMIN = "municipality_admin", "団体管理者 / Municipality admin"
    PLATFORM_OPERATOR = "platform_operator", "基盤運用者 / Platform operator"


ADMIN_ROLES = frozenset({Role.MUNICIPALITY_ADMIN.value, Role.PLATFORM_OPERATOR.value})


def default_settings() -> dict[str, Any]:
    return {
        "letterhead": "",
        "enabled_procedures": [],
        # Payer account for Zengin transfer files (総合振込 header).
        "bank": {
            "requester_code": "0000000000",
            "requester_name": "",
            "bank_code": "",
            "branch_code": "",
            "account_type": "1",
            "account_number": "",
        },
        "zengin_line_ending": "crlf",
    }


class Municipality(models.Model):
    """A tenant: one 地方公共団体, keyed by its 6-digit 全国地方公共団体コード."""

    code = models.CharField(primary_key=True, max_length=6)
    name = models.CharField(max_length=64)
    name_en = models.CharField(max_length=64, blank=True)
    prefecture = models.CharField(max_length=8)
    # Everything that differs between municipalities is data, not code.
    settings = models.JSONField(default=default_settings)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def setting(self, key: str, default: Any = None) -> Any:
        merged = default_settings()
        merged.update(self.settings or {})
        return merged.get(key, default)


class StaffUser(AbstractUser):
    """A staff account. Belongs to one municipality, except platform operators."""

    municipality = models.ForeignKey(
        Municipality, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    roles = models.JSONField(default=list, blank=True)
    display_name = models.CharField(max_length=64, blank=True)

    def has_role(self, *roles: str) -> bool:
        return any(r in (self.roles or []) for r in roles)

    @property
    def needs_second_factor(self) -> bool:
        return bool(ADMIN_ROLES.intersection(self.roles or []))

    def __str__(self) -> str:
        return self.display_name or self.username


def _token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-municipality API client credential. Only a digest of the token is stored."""

    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    roles = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["municipality", "name"])]

    @classmethod
    def issue(
        cls, *, municipality: Municipality, name: str, roles: list[str]
    ) -> tuple[ApiToken, str]:
        raw = "kbn_" + secrets.token_urlsafe(32)
        tok = cls.objects.create(
            municipality=municipality,
            name=name,
            digest=_token_digest(raw),
            prefix=raw[:12],
            roles=roles,
        )
        return tok, raw

    @classmethod
    def find(cls, raw: str) -> ApiToken | None:
        return (
            cls.objects.select_related("municipality")
            .filter(digest=_token_digest(raw), revoked_at__isnull=True)
            .first()
        )


class AuditHead(models.Model):
    """Last entry of each municipality's chain; locked while appending so seq has no gaps."""

    municipality = models.OneToOneField(Municipality, primary_key=True, on_delete=models.CASCADE)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)


class AuditEntry(models.Model):
    """One append-only, hash-chained audit record. See kiban.core.audit."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    seq = models.BigIntegerField()
    at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64)
    actor_label = models.CharField(max_length=128, blank=True)
    action = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=32, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    purpose = models.CharField(max_length=200, blank=True)
    source_ip = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["municipality", "seq"], name="audit_unique_seq")
        ]
        indexes = [
            models.Index(fields=["municipality", "subject_type", "subject_id"]),
            models.Index(fields=["municipality", "action", "at"]),
            models.Index(fields=["municipality", "actor_id", "at"]),
        ]
        ordering = ["municipality", "seq"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise RuntimeError("audit entries are append-only")
