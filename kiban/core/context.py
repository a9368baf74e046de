from typing import Any

from django.conf import settings
from django.http import HttpRequest


def kiban_context(request: HttpRequest) -> dict[str, Any]:
    return {"KIBAN_DEMO": settings.DEMO, "KIBAN_MODE": settings.MODE}
