"""Resident portal pages of the benefits domain."""

from django.urls import URLPattern, URLResolver, path

from kiban.portal import benefits_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("benefits/", views.my_benefits, name="benefits-mine"),
    path("benefits/account/", views.account, name="benefits-account"),
    # The QR code on a notice letter opens this address.
    path(
        "benefits/<str:code>/<slug:program_id>/account/",
        views.account_for_program,
        name="benefits-apply",
    ),
]
