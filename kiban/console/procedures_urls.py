"""Console pages of the procedures domain (mounted at /console/applications/)."""

from django.urls import URLPattern, URLResolver, path

from kiban.console import procedures_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.inbox, name="applications"),
    path("counter/", views.counter, name="applications-counter"),
    path("procedures/", views.catalog_admin, name="applications-catalog"),
    path("<int:app_id>/", views.detail, name="application"),
    path("<int:app_id>/documents/<int:doc_id>/", views.document, name="application-document"),
    path("<int:app_id>/attachments/<int:att_id>/", views.attachment, name="application-attachment"),
]
