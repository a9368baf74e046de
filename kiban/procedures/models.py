"""Applications (申請): one ledger for every channel — portal, API and counter.

An online or API application keeps its evidence untouched: the exact payload bytes, the
detached CMS signature and the verification result, so ``kiban applications verify ID``
can re-check it later. A counter application (代理入力) is entered by a clerk and
recorded as such, in the same table, so channels cannot double up.
"""

from __future__ import annotations

from django.db import models

from kiban.core.models import Municipality
from kiban.registry.models import Person


class Channel(models.TextChoices):
    PORTAL = "portal", "ポータル / portal"
    API = "api", "API"
    COUNTER = "counter", "窓口（代理入力） / counter"


class AppStatus(models.TextChoices):
    SUBMITTED = "submitted", "受付 / submitted"
    IN_REVIEW = "in_review", "審査中 / in review"
    RETURNED = "returned", "差戻し / returned for correction"
    APPROVED = "approved", "承認 / approved"
    REJECTED = "rejected", "却下 / rejected"
    WITHDRAWN = "withdrawn", "取下げ / withdrawn"


PENDING_STATUSES = (AppStatus.SUBMITTED, AppStatus.IN_REVIEW, AppStatus.RETURNED)


class Application(models.Model):
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    procedure_id = models.CharField(max_length=64)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="applications")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=AppStatus.choices, default=AppStatus.SUBMITTED)
    # Evidence, stored exactly as received.
    payload = models.BinaryField()
    payload_sha256 = models.CharField(max_length=64)
    signature = models.BinaryField(null=True, blank=True)
    verification = models.JSONField(default=dict, blank=True)
    # Idempotency: the same signed payload (or counter entry) is one application.
    dedupe_key = models.CharField(max_length=64)
    # "Same procedure for the same event": e.g. 転出 of this person on this date.
    subject_key = models.CharField(max_length=128, blank=True)
    bundle_id = models.CharField(max_length=36, blank=True)  # one-stop bundle it belongs to
    entered_by = models.CharField(max_length=64, blank=True)  # clerk for counter entries
    email = models.EmailField(blank=True)
    decision_reason = models.TextField(blank=True)
    decided_by = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "dedupe_key"], name="application_unique_dedupe"
            )
        ]
        indexes = [
            models.Index(fields=["municipality", "procedure_id", "status", "created_at"]),
            models.Index(fields=["municipality", "person", "procedure_id", "status"]),
            models.Index(fields=["municipality", "bundle_id"]),
        ]


class ApplicationMessage(models.Model):
    """Messages between the municipality and the resident, and the status history."""

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="messages")
    from_staff = models.BooleanField()
    author = models.CharField(max_length=64)
    status_after = models.CharField(max_length=10, choices=AppStatus.choices, blank=True)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)


class ApplicationDocument(models.Model):
    """A result the resident can download (certificate PDF, decision letter)."""

    application = models.ForeignKey(
        Application, on_delete=models.PROTECT, related_name="documents"
    )
    kind = models.CharField(max_length=32)  # "juminhyo", "decision_letter", ...
    filename = models.CharField(max_length=128)
    content_type = models.CharField(max_length=64, default="application/pdf")
    content = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)
