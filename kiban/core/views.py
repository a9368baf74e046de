"""Health check and the bilingual error pages."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from kiban.core.errors import KibanError


def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        db = "ok"
    except Exception as e:
        db = f"error: {type(e).__name__}"
    status = 200 if db == "ok" else 503
    return JsonResponse(
        {
            "status": "ok" if status == 200 else "degraded",
            "database": db,
            "vendor": connection.vendor,
        },
        status=status,
    )


def _error(request: HttpRequest, status: int, ja: str, en: str) -> HttpResponse:
    err = KibanError(ja, en, status=status)
    if request.path.startswith("/api/"):
        return JsonResponse(err.as_dict() | {"code": str(status)}, status=status)
    return render(request, "kiban/error.html", {"error": err}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "リクエストが正しくありません。", "The request was not valid.")


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        403,
        "この操作を行う権限がありません。ページを再読み込みしてやり直してください。",
        "You are not allowed to do this. Reload the page and try again.",
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "ページが見つかりません。", "Page not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request,
        500,
        "システムで問題が発生しました。時間をおいて再度お試しください。",
        "Something went wrong on our side. Please try again later.",
    )
