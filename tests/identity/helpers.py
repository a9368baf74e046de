"""Factories for the Django side of the identity tests (synthetic people, live-dated PKI)."""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiban.core.actors import operator_actor
from kiban.core.models import Municipality
from kiban.identity import jpki
from kiban.identity.intake import build_payload
from kiban.identity.models import Card, fingerprint
from kiban.identity.services import add_trusted_ca, full_address, load_crl
from kiban.identity.verify import sign_detached_cms
from kiban.registry.models import Household, Person, PersonState, Status

OPERATOR = operator_actor("test")
_codes = itertools.count(10_000_000_001)
_households = itertools.count(1)
# One RSA key pair reused by every test certificate: key generation dominates test time and
# nothing here depends on keys being distinct (certificates and serials are).
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_CA_KEYS: dict[str, rsa.RSAPrivateKey] = {}


def _ca_key(name: str) -> rsa.RSAPrivateKey:
    if name not in _CA_KEYS:
        _CA_KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _CA_KEYS[name]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def resident(
    m: Municipality,
    *,
    family: str = "見本",
    given: str = "花子",
    family_kana: str = "ミホン",
    given_kana: str = "ハナコ",
    sex: str = "2",
    birth: date = date(1990, 1, 2),
    town: str = "中区山下町",
    detail: str = "1番地",
    building: str = "",
    protected: bool = False,
    status: str = Status.RESIDENT,
    household: Household | None = None,
    relationship: str = "世帯主",
) -> Person:
    person = Person.objects.create(
        municipality=m,
        resident_code=str(next(_codes)),
        birth_date=birth,
        sex=sex,
        protected=protected,
    )
    if household is None:
        household = Household.objects.create(
            municipality=m, household_no=str(next(_households)), created_on=date(2020, 1, 1)
        )
    PersonState.objects.create(
        municipality=m,
        person=person,
        resident_code=person.resident_code,
        birth_date=birth,
        sex=sex,
        valid_from=date(2020, 1, 1),
        status=status,
        household=household,
        relationship=relationship,
        is_head=relationship == "世帯主",
        family_name=family,
        given_name=given,
        family_kana=family_kana,
        given_kana=given_kana,
        name_key=family_kana + given_kana,
        given_key=given_kana,
        town_name=town,
        address_detail=detail,
        building=building,
    )
    return person


def info_for(person: Person) -> jpki.BasicInfo:
    state = PersonState.objects.get(person=person)
    return jpki.BasicInfo(
        name=state.full_name,
        sex=person.sex,
        birth_date=person.birth_date,
        address=full_address(state, person.municipality),
    )


@dataclass
class LivePki:
    ca: jpki.CAKeyPair
    key: rsa.RSAPrivateKey
    revoked: list[tuple[int, datetime, x509.ReasonFlags | None]]
    crl_number: int = 1

    def crl(self) -> x509.CertificateRevocationList:
        self.crl_number += 1
        start = now() - timedelta(minutes=1) + timedelta(seconds=self.crl_number)
        return jpki.build_crl(
            self.ca,
            self.revoked,
            this_update=start,
            next_update=start + timedelta(days=1),
            crl_number=self.crl_number,
        )

    def trust(self) -> None:
        add_trusted_ca(actor=OPERATOR, certificate=self.ca.certificate)
        self.publish()

    def publish(self) -> None:
        load_crl(actor=OPERATOR, data=self.crl().public_bytes(serialization.Encoding.DER))

    def revoke(self, cert: x509.Certificate) -> None:
        self.revoked.append((cert.serial_number, now() - timedelta(seconds=30), None))
        self.publish()

    def sig_cert(
        self,
        info: jpki.BasicInfo,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        start = not_before or now() - timedelta(days=1)
        return jpki.issue_signature_certificate(
            self.ca,
            self.key.public_key(),
            info,
            not_before=start,
            not_after=not_after or start + timedelta(days=365),
        )

    def auth_cert(self) -> x509.Certificate:
        start = now() - timedelta(days=1)
        return jpki.issue_auth_certificate(
            self.ca, self.key.public_key(), not_before=start, not_after=start + timedelta(days=365)
        )

    def sign(self, payload: bytes, cert: x509.Certificate) -> bytes:
        return sign_detached_cms(payload, self.key, cert)

    def raw_sign(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def card(self, person: Person, **extra: Any) -> tuple[Card, x509.Certificate, x509.Certificate]:
        """Record a card for ``person`` with a fresh auth and signature certificate."""
        auth, sig = self.auth_cert(), self.sig_cert(info_for(person))
        der = serialization.Encoding.DER
        card = Card.objects.create(
            municipality_id=person.municipality_id,
            person=person,
            issuer_fingerprint=fingerprint(self.ca.certificate.public_bytes(der)),
            auth_serial=format(auth.serial_number, "x"),
            auth_fingerprint=fingerprint(auth.public_bytes(der)),
            sig_serial=format(sig.serial_number, "x"),
            sig_fingerprint=fingerprint(sig.public_bytes(der)),
            issued_on=date.today() - timedelta(days=1),
            expires_on=date.today() + timedelta(days=365),
            **extra,
        )
        return card, auth, sig


def live_pki(name: str = "Test JPKI CA") -> LivePki:
    ca = jpki.build_demo_ca(
        common_name=name, crl_url=None, key=_ca_key(name), not_before=now() - timedelta(days=10)
    )
    return LivePki(ca=ca, key=_KEY, revoked=[])


def juminhyo_payload(m: Municipality, **data: Any) -> bytes:
    return build_payload(
        municipality=m.code,
        procedure_id="juminhyo-copy-request",
        data={"scope": "self", "copies": 1, **data},
    )


def api_body(payload: bytes, signature: bytes, procedure: str = "juminhyo-copy-request") -> str:
    return json.dumps(
        {
            "procedure": procedure,
            "payload": base64.b64encode(payload).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
    )
