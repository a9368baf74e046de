"""Console pages of the registry domain (mounted at /console/registry/)."""

from django.urls import URLPattern, URLResolver, path

from kiban.console import registry_cert_views, registry_views

P = "persons/<str:resident_code>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", registry_views.search, name="registry_search"),
    path("move-in/", registry_views.move_in, name="registry_move_in"),
    path(P, registry_views.person, name="registry_person"),
    path(P + "certificate/", registry_cert_views.issue, name="registry_certificate"),
    path(P + "protection/", registry_views.protection, name="registry_protection"),
    path(P + "move-out/", registry_views.move_out, name="registry_move_out"),
    path(P + "move-within/", registry_views.move_within, name="registry_move_within"),
    path(P + "death/", registry_views.death, name="registry_death"),
    path(P + "birth/", registry_views.birth, name="registry_birth"),
    path(P + "name-change/", registry_views.name_change, name="registry_name_change"),
    path(P + "correction/", registry_views.correction, name="registry_correction"),
    path(
        P + "household-change/", registry_views.household_change, name="registry_household_change"
    ),
    path("households/", registry_views.household_search, name="registry_household_search"),
    path("households/<str:household_no>/", registry_views.household, name="registry_household"),
]
