"""Fixtures shared by the registry tests: a municipality, a logged-in clerk, a couple."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from kiban.core.actors import staff_actor
from kiban.core.models import Role
from kiban.registry.models import Person
from tests.factories import logged_in_client, municipality, staff
from tests.registry.core_factories import family


@pytest.fixture
def m() -> Any:
    return municipality()


@pytest.fixture
def clerk_user(m: Any) -> Any:
    return staff(m, Role.REGISTRY_CLERK)


@pytest.fixture
def client(clerk_user: Any) -> Client:
    return logged_in_client(clerk_user)


@pytest.fixture
def couple(m: Any, clerk_user: Any) -> tuple[Person, Person]:
    _, head, spouse = family(staff_actor(clerk_user), m)
    return head, spouse
