"""Production settings refuse demo secrets; demo keys are never silently used."""

import os
import subprocess
import sys

import pytest

CHECK = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','kiban.settings'); django.setup(); from django.conf import settings; print(settings.SESSION_COOKIE_SECURE, settings.DEBUG)"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KIBAN_")}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", CHECK],
        env=base | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("missing", ["KIBAN_SECRET_KEY", "KIBAN_FIELD_KEY", "KIBAN_HASH_KEY"])
def test_production_refuses_to_start_without_each_secret(missing, tmp_path):
    env = {
        "KIBAN_MODE": "production",
        "KIBAN_VAR_DIR": str(tmp_path),
        "KIBAN_SECRET_KEY": "x" * 50,
        "KIBAN_FIELD_KEY": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
        "KIBAN_HASH_KEY": "y" * 40,
    }
    env.pop(missing)
    r = _run(env)
    assert r.returncode != 0
    assert missing in r.stderr


def test_production_with_secrets_uses_secure_cookies(tmp_path):
    r = _run(
        {
            "KIBAN_MODE": "production",
            "KIBAN_VAR_DIR": str(tmp_path),
            "KIBAN_SECRET_KEY": "x" * 50,
            "KIBAN_FIELD_KEY": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
            "KIBAN_HASH_KEY": "y" * 40,
        }
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"]


def test_unknown_mode_is_refused(tmp_path):
    r = _run({"KIBAN_MODE": "staging", "KIBAN_VAR_DIR": str(tmp_path)})
    assert r.returncode != 0 and "KIBAN_MODE" in r.stderr
