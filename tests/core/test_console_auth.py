"""Console sign-in: argon2, lockout, TOTP for admin roles, CSRF, CSP, role pages."""

import pytest
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from kiban.core.models import StaffUser
from tests import factories


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2():
    u = factories.staff(factories.municipality(), "registry_clerk")
    assert StaffUser.objects.get(pk=u.pk).password.startswith("argon2")


@pytest.mark.django_db
def test_login_with_password_reaches_home():
    u = factories.staff(factories.municipality(), "registry_clerk", username="clerk1")
    c = Client()
    r = c.post("/console/login/", {"username": "clerk1", "password": factories.PASSWORD})
    assert r.status_code == 302
    assert c.get("/console/").status_code == 200
    assert u.pk == int(c.session["_auth_user_id"])


@pytest.mark.django_db
def test_wrong_password_is_a_clear_400_and_repeated_failures_lock_the_account():
    factories.staff(factories.municipality(), "registry_clerk", username="clerk2")
    c = Client()
    r = c.post("/console/login/", {"username": "clerk2", "password": "wrong-password"})
    assert r.status_code == 400
    body = r.content.decode()
    assert "ユーザー名またはパスワードが正しくありません" in body
    assert "not correct" in body
    for _ in range(5):
        r = c.post("/console/login/", {"username": "clerk2", "password": "wrong-password"})
    assert r.status_code == 403
    assert "ロック" in r.content.decode()
    # Even the right password is refused while locked.
    r = c.post("/console/login/", {"username": "clerk2", "password": factories.PASSWORD})
    assert r.status_code == 403


@pytest.mark.django_db
def test_admin_role_needs_totp_before_any_page():
    m = factories.municipality()
    factories.staff(m, "municipality_admin", username="admin1")
    user = StaffUser.objects.get(username="admin1")
    device = TOTPDevice.objects.create(user=user, name="t", confirmed=True)
    c = Client()
    r = c.post("/console/login/", {"username": "admin1", "password": factories.PASSWORD})
    assert r.status_code == 302 and r["Location"].startswith("/console/otp/")
    r = c.get("/console/admin/")
    assert r.status_code == 302 and r["Location"].startswith("/console/otp/")
    assert c.post("/console/otp/", {"token": "000000"}).status_code == 400
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp throttles guessing
    device.throttle_reset()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    r = c.post("/console/otp/", {"token": f"{totp.token():06d}", "next": "/console/admin/"})
    assert r.status_code == 302
    assert c.get("/console/admin/").status_code == 200


@pytest.mark.django_db
def test_csrf_enforced_on_login_form():
    factories.staff(factories.municipality(), "registry_clerk", username="clerk3")
    c = Client(enforce_csrf_checks=True)
    r = c.post("/console/login/", {"username": "clerk3", "password": factories.PASSWORD})
    assert r.status_code == 403


@pytest.mark.django_db
def test_security_headers_present():
    r = Client().get("/console/login/")
    assert "default-src 'self'" in r["Content-Security-Policy"]
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_role_pages_refuse_other_roles():
    m = factories.municipality()
    c = factories.logged_in_client(factories.staff(m, "registry_clerk"))
    assert c.get("/console/audit/").status_code == 403
    auditor = factories.logged_in_client(factories.staff(m, "auditor"))
    assert auditor.get("/console/audit/").status_code == 200


@pytest.mark.django_db
def test_platform_operator_sees_municipalities_not_residents():
    factories.municipality()
    op = factories.staff(None, "platform_operator")
    c = factories.logged_in_client(op)
    assert c.get("/console/platform/").status_code == 200
    assert c.get("/console/audit/").status_code == 403


@pytest.mark.django_db
def test_english_switch():
    c = Client()
    r = c.post("/i18n/setlang/", {"language": "en", "next": "/console/login/"})
    assert r.status_code == 302
    r = c.get("/console/login/")
    body = r.content.decode()
    assert 'lang="en"' in body
    assert "Staff sign in" in body and "職員ログイン" not in body
