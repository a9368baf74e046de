"""Applications (申請): one ledger for every channel — portal, API and counter.

An online or API application keeps its evidence untouched: the exact payload bytes, the
detached CMS signature and the verification result, so ``kiban applications verify ID``
can re-check it later. A counter application (代理入力) is entered by a clerk and
recorded as such, in the same table, so channels cannot double up.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, models, transaction

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
    # A returned application answered by a new signed one; kept as evidence.
    SUPERSEDED = "superseded", "再申請済 / superseded by a corrected application"


PENDING_STATUSES = (AppStatus.SUBMITTED, AppStatus.IN_REVIEW, AppStatus.RETURNED)


class Application(models.Model):
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    procedure_id = models.CharField(max_length=64)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="applications")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=AppStatus.choices, default=AppStatus.SUBMITTED)
    # The returned application this one corrects (差戻し → 再申請); evidence of both is kept.
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
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
            ),
            # At most one pending application per event (the database backs the check in
            # kiban.procedures.ledger, also under concurrent submission).
            models.UniqueConstraint(
                fields=["municipality", "subject_key"],
                condition=models.Q(status__in=["submitted", "in_review", "returned"])
                & ~models.Q(subject_key=""),
                name="application_one_pending_per_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["municipality", "procedure_id", "status", "created_at"]),
            models.Index(fields=["municipality", "person", "procedure_id", "status"]),
            models.Index(fields=["municipality", "bundle_id"]),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Every channel (portal, API intake, counter) goes through the same ledger rules:
        # envelope fields from the payload, subject key, one pending per event, supersession.
        if self._state.adding:
            from kiban.procedures.ledger import pending_conflict, prepare_new_application

            with transaction.atomic():
                prepare_new_application(self)
                try:
                    with transaction.atomic():
                        super().save(*args, **kwargs)
                except IntegrityError:
                    # Lost a race for the same subject: report it like the checked case.
                    rival = (
                        Application.objects.filter(
                            municipality_id=self.municipality_id,
                            subject_key=self.subject_key,
                            status__in=PENDING_STATUSES,
                        )
                        .exclude(dedupe_key=self.dedupe_key)
                        .first()
                        if self.subject_key
                        else None
                    )
                    if rival is None:
                        raise
                    raise pending_conflict(rival) from None
            return
        super().save(*args, **kwargs)

    @property
    def is_pending(self) -> bool:
        return self.status in PENDING_STATUSES


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

    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=32)  # "juminhyo", "decision_letter", ...
    filename = models.CharField(max_length=128)
    content_type = models.CharField(max_length=64, default="application/pdf")
    content = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)


class CustomProcedure(models.Model):
    """A municipality's own procedure definition (or its own version of a standard one)."""

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    procedure_id = models.CharField(max_length=64)
    definition = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["municipality", "procedure_id"], name="custom_procedure_unique"
            )
        ]


class ApplicationAttachment(models.Model):
    """A document the resident supplies (only for facts the municipality cannot look up).

    Uploaded while the application is a draft (``application`` empty, ``draft_key`` set);
    its SHA-256 goes into the signed payload (``_attachments``), so the signature covers
    it, and it is linked to the application in the submission's transaction.
    """

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT)
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.PROTECT, related_name="attachments"
    )
    draft_key = models.CharField(max_length=32, blank=True)
    procedure_id = models.CharField(max_length=64)
    attachment_id = models.CharField(max_length=64)
    filename = models.CharField(max_length=128)
    content_type = models.CharField(max_length=64)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["municipality", "person", "draft_key"])]
