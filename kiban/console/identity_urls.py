"""Console pages of the identity domain."""

from django.urls import URLPattern, URLResolver, path
from django.views.generic import RedirectView

from kiban.console import identity_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", RedirectView.as_view(url="/console/identity/coverage/"), name="identity-home"),
    path("coverage/", views.coverage, name="identity-coverage"),
]
