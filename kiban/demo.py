"""The demo: two municipalities with valid codes, their staff and synthetic residents.

Everything here is synthetic. Seeding is idempotent: a seeded database is left alone.
"""

from __future__ import annotations

import os
from typing import Any

from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from kiban.core.actors import operator_actor
from kiban.core.models import Municipality, Role, StaffUser
from kiban.core.services import add_municipality, add_staff

DEMO_PASSWORD = "kiban-demo-2026"  # noqa: S105 - printed for the demo on purpose
# Fixed TOTP secret for the demo admins only, so a newcomer can add it to an app.
DEMO_TOTP_HEX = "3132333435363738393031323334353637383930"

DEMO_MUNICIPALITIES = [
    {
        "code": "141003",
        "name": "横浜市",
        "name_en": "Yokohama City",
        "prefecture": "神奈川県",
        "prefix": "yokohama",
    },
    {
        "code": "131016",
        "name": "千代田区",
        "name_en": "Chiyoda City",
        "prefecture": "東京都",
        "prefix": "chiyoda",
    },
]
ROLE_USERS = [
    ("clerk", [Role.REGISTRY_CLERK], "住民記録担当"),
    ("reviewer", [Role.PROCEDURES_REVIEWER], "申請審査担当"),
    ("benefits", [Role.BENEFITS_CLERK], "給付担当"),
    ("benefits2", [Role.BENEFITS_CLERK], "給付担当（承認）"),
    ("auditor", [Role.AUDITOR], "監査担当"),
    ("admin", [Role.MUNICIPALITY_ADMIN], "団体管理者"),
]


def is_seeded() -> bool:
    return Municipality.objects.filter(code=DEMO_MUNICIPALITIES[0]["code"]).exists()


def _totp(user: StaffUser) -> None:
    TOTPDevice.objects.get_or_create(
        user=user, name="demo", defaults={"key": DEMO_TOTP_HEX, "confirmed": True}
    )


def seed_demo(*, residents: int = 2000, force: bool = False, out: Any = None) -> bool:
    """Seed the demo unless already seeded. Returns True when it seeded."""
    if is_seeded() and not force:
        if out:
            out.print("demo already seeded / デモデータは作成済みです")
            print_logins(out)
        return False
    actor = operator_actor("demo-seed")
    with transaction.atomic():
        for spec in DEMO_MUNICIPALITIES:
            m = Municipality.objects.filter(code=spec["code"]).first() or add_municipality(
                actor=actor,
                code=spec["code"],
                name=spec["name"],
                prefecture=spec["prefecture"],
                name_en=spec["name_en"],
                settings={
                    "letterhead": f"{spec['prefecture']}{spec['name']}長",
                    "bank": {
                        "requester_code": "1" + spec["code"] + "001",
                        "requester_name": "ﾃﾞﾓｼ ｶｲｹｲｶﾝﾘｼﾔ",
                        "bank_code": "0001",
                        "branch_code": "001",
                        "account_type": "1",
                        "account_number": "1234567",
                    },
                },
            )
            for suffix, roles, label in ROLE_USERS:
                username = f"{spec['prefix']}-{suffix}"
                if not StaffUser.objects.filter(username=username).exists():
                    user = add_staff(
                        actor=actor,
                        municipality=m,
                        username=username,
                        password=DEMO_PASSWORD,
                        roles=[r.value for r in roles],
                        display_name=f"{spec['name']} {label}",
                    )
                    if user.needs_second_factor:
                        _totp(user)
        if not StaffUser.objects.filter(username="operator").exists():
            op = add_staff(
                actor=actor,
                municipality=None,
                username="operator",
                password=DEMO_PASSWORD,
                roles=[Role.PLATFORM_OPERATOR.value],
                display_name="基盤運用者",
            )
            _totp(op)
    for hook in _seed_hooks():
        for spec in DEMO_MUNICIPALITIES:
            hook(
                municipality=Municipality.objects.get(code=spec["code"]),
                residents=residents,
                out=out,
            )
    if out:
        print_logins(out)
    return True


def _seed_hooks() -> list[Any]:
    """Domain seeding steps, in dependency order (registry first)."""
    hooks: list[Any] = []
    for module in (
        "kiban.registry.demo",
        "kiban.identity.demo",
        "kiban.procedures.demo",
        "kiban.benefits.demo",
    ):
        try:
            mod = __import__(module, fromlist=["seed"])
        except ModuleNotFoundError:
            continue
        hooks.append(mod.seed)
    return hooks


def print_logins(out: Any) -> None:
    import base64

    secret = base64.b32encode(bytes.fromhex(DEMO_TOTP_HEX)).decode()
    base = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
    out.print("")
    out.print("Demo logins / デモ用ログイン (password for all: " + DEMO_PASSWORD + ")")
    out.print(f"  Staff console: {base}/console/")
    for spec in DEMO_MUNICIPALITIES:
        names = ", ".join(f"{spec['prefix']}-{s}" for s, _, _ in ROLE_USERS)
        out.print(f"  {spec['name']} ({spec['code']}): {names}")
    out.print("  platform operator: operator")
    out.print(
        f"  Admin roles need a TOTP code: demo secret {secret} "
        "(or run: .venv/bin/kiban staff totp-code USERNAME)"
    )
    out.print(f"  Resident portal: {base}/ (demo card sign-in)")
