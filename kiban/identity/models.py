"""Identity tables: trusted CAs and their CRLs, issued cards, login challenges, resident tokens.

Trust (CAs, CRLs) is per deployment, not per municipality: the issuing authority of the My
Number card (J-LIS) is national. Everything about a person (cards, tokens) carries its
municipality, which leads the indexes like every other personal table.
"""

from __future__ import annotations

import hashlib

from django.db import models

from kiban.core.models import Municipality
from kiban.registry.models import Person


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate (or CRL), lower-case hex."""
    return hashlib.sha256(der).hexdigest()


class TrustedCA(models.Model):
    """An issuing CA whose certificates kiban accepts.

    A demo CA (``is_demo``) is only ever trusted in demo and test settings, whatever this
    table says, so a database copied from a demo into production trusts nothing demo.
    """

    fingerprint = models.CharField(max_length=64, unique=True)
    subject = models.CharField(max_length=500)
    certificate = models.BinaryField()
    not_after = models.DateTimeField()
    is_demo = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    # Where its CRL is published (from the CA certificate, or set by the operator).
    crl_url = models.CharField(max_length=500, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.subject


class RevocationList(models.Model):
    """The latest CRL loaded for a CA (older ones are replaced, their numbers audited)."""

    ca = models.OneToOneField(TrustedCA, on_delete=models.CASCADE, related_name="crl")
    der = models.BinaryField()
    fingerprint = models.CharField(max_length=64)
    crl_number = models.BigIntegerField(null=True)
    this_update = models.DateTimeField()
    next_update = models.DateTimeField(null=True)
    entries = models.IntegerField(default=0)
    source = models.CharField(max_length=500, blank=True)
    loaded_at = models.DateTimeField(auto_now=True)


class Card(models.Model):
    """A My Number card (or demo soft card) issued to a resident.

    Links the user-authentication certificate (login) and the signature certificate
    (signed applications) to the person. ``revoked_at`` ends the whole card (lost, returned);
    ``sig_revoked_at`` only the signature certificate, which JPKI revokes when the holder's
    name or address changes while the card itself stays usable for login.
    """

    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, db_index=False)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="cards")
    issuer_fingerprint = models.CharField(max_length=64)
    auth_serial = models.CharField(max_length=64)
    auth_fingerprint = models.CharField(max_length=64, unique=True)
    sig_serial = models.CharField(max_length=64)
    sig_fingerprint = models.CharField(max_length=64)
    issued_on = models.DateField()
    expires_on = models.DateField()
    backend = models.CharField(max_length=16, default="soft")
    revoked_at = models.DateTimeField(null=True, blank=True)
    sig_revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["municipality", "person"], name="card_person"),
            models.Index(fields=["municipality", "revoked_at", "expires_on"], name="card_cover"),
            models.Index(fields=["sig_fingerprint"], name="card_sig_fp"),
            models.Index(fields=["issuer_fingerprint", "sig_serial"], name="card_sig_serial"),
        ]

    def __str__(self) -> str:
        return f"card {self.auth_serial} of {self.person_id}"


class LoginChallenge(models.Model):
    """A single-use nonce for card login (challenge-response)."""

    nonce = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="challenge_expiry")]


class ResidentToken(models.Model):
    """A bearer token for a resident's app, issued by card login (``mode: token``).

    Only a digest is stored. It is bound to the card, so revoking the card ends it.
    """

    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, db_index=False)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="tokens")
    card = models.ForeignKey(Card, on_delete=models.CASCADE, related_name="tokens")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["municipality", "person"], name="rtoken_person")]
