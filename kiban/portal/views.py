"""Resident portal: public landing page (domain pages live in *_urls modules)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kiban.core.models import Municipality


def landing(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/landing.html", {"municipalities": Municipality.objects.filter(active=True)}
    )
