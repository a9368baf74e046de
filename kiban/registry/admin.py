"""Django admin for the registry: read-only, for operators who enable django.contrib.admin.

The registry changes only through ``kiban.registry.services`` (one event, one audit entry),
so nothing here can add, change or delete rows; the staff console is the working screen.
My Number columns are never listed.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.http import HttpRequest

from kiban.registry.models import Household, Person, PersonState, RegistryEvent


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HouseholdAdmin(ReadOnlyAdmin):
    list_display = ("municipality", "household_no", "created_on")
    list_filter = ("municipality",)
    search_fields = ("household_no",)


class PersonAdmin(ReadOnlyAdmin):
    list_display = (
        "municipality",
        "resident_code",
        "birth_date",
        "sex",
        "nationality",
        "protected",
    )
    list_filter = ("municipality", "protected")
    search_fields = ("resident_code",)
    exclude = ("mynumber_enc", "mynumber_hash")


class RegistryEventAdmin(ReadOnlyAdmin):
    list_display = ("municipality", "kind", "event_date", "reported_date", "recorded_by")
    list_filter = ("municipality", "kind")
    date_hierarchy = "event_date"


class PersonStateAdmin(ReadOnlyAdmin):
    list_display = ("municipality", "person", "status", "valid_from", "valid_to", "town_name")
    list_filter = ("municipality", "status")


# The admin site is optional in kiban: register only where it is installed.
if apps.is_installed("django.contrib.admin"):
    admin.site.register(Household, HouseholdAdmin)
    admin.site.register(Person, PersonAdmin)
    admin.site.register(RegistryEvent, RegistryEventAdmin)
    admin.site.register(PersonState, PersonStateAdmin)
