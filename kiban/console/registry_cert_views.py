"""Console: issue a 住民票の写し (certificate of residence) for a person."""

from django.http import Http404, HttpRequest, HttpResponse


def issue(request: HttpRequest, resident_code: str) -> HttpResponse:
    raise Http404
