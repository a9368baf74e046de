"""Console pages of the benefits domain."""

from django.urls import URLPattern, URLResolver, path

from kiban.console import benefits_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="benefits-index"),
    path("accounts/<int:person_id>/", views.account, name="benefits-account"),
    path("batches/<int:batch_id>/approve/", views.approve, name="benefits-approve"),
    path("batches/<int:batch_id>/reject/", views.reject, name="benefits-reject"),
    path("batches/<int:batch_id>/download/", views.download, name="benefits-download"),
    path("<slug:program_id>/", views.dashboard, name="benefits-dashboard"),
    path("<slug:program_id>/prepare/", views.prepare, name="benefits-prepare"),
]
