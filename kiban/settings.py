"""Django settings for kiban, read from the environment.

KIBAN_MODE selects the profile: ``demo`` (default for `make run`), ``test`` or
``production``. Outside demo and test, kiban refuses to start with default secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KIBAN_VAR_DIR", BASE_DIR / "var"))

MODE = os.environ.get("KIBAN_MODE", "demo")
if MODE not in {"demo", "test", "production"}:
    raise ImproperlyConfigured(f"KIBAN_MODE must be demo, test or production, not {MODE!r}")
DEMO = MODE in {"demo", "test"}

_DEMO_SECRET = "kiban-demo-secret-key-not-for-production-0123456789abcdef"  # noqa: S105
_DEMO_FIELD_KEY = "ZGVtby1maWVsZC1rZXktbm90LWZvci1wcm9kdWN0aW9uIQ=="
_DEMO_HASH_KEY = "demo-lookup-hash-key-not-for-production"

SECRET_KEY = os.environ.get("KIBAN_SECRET_KEY", _DEMO_SECRET)
# Key for encrypting My Number at rest (Fernet, urlsafe base64 of 32 bytes).
FIELD_ENCRYPTION_KEY = os.environ.get("KIBAN_FIELD_KEY", "")
# Key for the keyed hash (HMAC-SHA256) used to look My Numbers up without decrypting.
LOOKUP_HASH_KEY = os.environ.get("KIBAN_HASH_KEY", _DEMO_HASH_KEY)
if not FIELD_ENCRYPTION_KEY:
    # The demo key is a valid Fernet key derived from a fixed string; never used in production.
    import base64
    import hashlib

    FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(_DEMO_FIELD_KEY.encode()).digest()
    ).decode()

if not DEMO:
    for name, value, default in (
        ("KIBAN_SECRET_KEY", SECRET_KEY, _DEMO_SECRET),
        ("KIBAN_HASH_KEY", LOOKUP_HASH_KEY, _DEMO_HASH_KEY),
    ):
        if value == default:
            raise ImproperlyConfigured(f"{name} must be set in production")
    if not os.environ.get("KIBAN_FIELD_KEY"):
        raise ImproperlyConfigured("KIBAN_FIELD_KEY must be set in production")

DEBUG = os.environ.get("KIBAN_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("KIBAN_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("KIBAN_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "kiban.core",
    "kiban.registry",
    "kiban.identity",
    "kiban.procedures",
    "kiban.benefits",
    "kiban.portal",
    "kiban.console",
]

MIDDLEWARE = [
    "kiban.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "kiban.core.middleware.FriendlyErrorsMiddleware",
]

ROOT_URLCONF = "kiban.urls"
WSGI_APPLICATION = "kiban.wsgi.application"
ASGI_APPLICATION = "kiban.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "kiban" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "kiban.core.context.kiban_context",
            ],
        },
    }
]

_default_db = f"sqlite:///{VAR_DIR / 'kiban.sqlite3'}"
if "DATABASE_URL" not in os.environ:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL", _default_db), conn_max_age=60)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; IMMEDIATE takes the write lock at BEGIN
    # so two batch writers serialise instead of failing halfway. A big load (a city of
    # millions in one transaction) grows the WAL file by gigabytes; journal_size_limit
    # cuts it back to 64 MB as soon as the next write starts the WAL over, instead of the
    # stale file holding disk and page cache until the last connection closes (3.77M: a
    # 3.4 GB WAL made the next snapshot 13.4 s instead of 8.8 s).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            " PRAGMA journal_size_limit=67108864;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.StaffUser"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if MODE == "test":
    # Tests create many users; argon2 stays the hasher, at its cheapest parameters.
    PASSWORD_HASHERS = ["kiban.core.hashers.FastArgon2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/console/login/"

AXES_FAILURE_LIMIT = int(os.environ.get("KIBAN_LOCKOUT_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.5  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "kiban.console.views.locked_out"
AXES_VERBOSE = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 8
CSRF_COOKIE_HTTPONLY = True
SECURE = os.environ.get("KIBAN_SECURE_COOKIES", "0" if DEMO else "1") == "1"
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "kiban" / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "kiban" / "static"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KIBAN_LOG_LEVEL", "WARNING")},
}

# Where municipality signing keys, demo CA, trust store and generated files live.
KEYS_DIR = Path(os.environ.get("KIBAN_KEYS_DIR", VAR_DIR / "keys"))
FILES_DIR = Path(os.environ.get("KIBAN_FILES_DIR", VAR_DIR / "files"))
# Japanese font embedded in PDFs (installed by scripts/system-deps.sh).
PDF_FONT_PATH = os.environ.get(
    "KIBAN_PDF_FONT", "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
)
PORTAL_BASE_URL = os.environ.get("KIBAN_PORTAL_URL", "http://127.0.0.1:8000")
NOTIFICATION_CHANNELS = os.environ.get("KIBAN_NOTIFY", "portal,email").split(",")
EMAIL_BACKEND = (
    "django.core.mail.backends.locmem.EmailBackend"
    if MODE == "test"
    else os.environ.get("KIBAN_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
)
DEFAULT_FROM_EMAIL = os.environ.get("KIBAN_FROM_EMAIL", "noreply@kiban.invalid")
