from django.urls import include, path

from kiban.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.landing, name="landing"),
    # Each domain's resident pages live in their own module.
    path("", include("kiban.portal.identity_urls")),
    path("", include("kiban.portal.procedures_urls")),
    path("", include("kiban.portal.benefits_urls")),
]
