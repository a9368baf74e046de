"""Resident portal pages of the procedures domain."""

from django.urls import URLPattern, URLResolver, path

from kiban.portal import procedures_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("procedures/", views.catalog_page, name="procedures"),
    path("procedures/<slug:procedure_id>/", views.procedure_page, name="procedure"),
    path("procedures/<slug:procedure_id>/start/", views.start, name="procedure-start"),
    path("life-events/<slug:bundle_id>/", views.bundle_page, name="bundle"),
    path("life-events/<slug:bundle_id>/start/", views.start_bundle, name="bundle-start"),
    path("apply/<slug:jid>/<int:n>/", views.step, name="apply-step"),
    path("apply/<slug:jid>/attachments/", views.attachments, name="apply-attachments"),
    path("apply/<slug:jid>/check/", views.check, name="apply-check"),
    path("apply/<slug:jid>/sign/", views.sign, name="apply-sign"),
    path("applications/", views.my_applications, name="applications"),
    path("applications/<int:app_id>/", views.application_detail, name="application"),
    path(
        "applications/<int:app_id>/documents/<int:doc_id>/",
        views.document,
        name="application-document",
    ),
]
