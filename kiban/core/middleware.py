"""Security headers and friendly error handling for every response."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from kiban.core.errors import KibanError

log = logging.getLogger(__name__)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=()"
        )
        return response


class FriendlyErrorsMiddleware:
    """Turns a KibanError raised by a view into a 4xx page or JSON body, never a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, KibanError):
            if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
                return JsonResponse(exc.as_dict(), status=exc.status)
            return render(request, "kiban/error.html", {"error": exc}, status=exc.status)
        return None
