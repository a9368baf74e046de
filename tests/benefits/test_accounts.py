"""公金受取口座: validation, own name only, who may register, tenancy."""

from __future__ import annotations

import pytest

from kiban.benefits import services
from kiban.benefits.banks import BankAccountError, UnknownBankError
from kiban.benefits.models import BankAccount
from kiban.benefits.testcity import generate_city
from kiban.benefits.zengin_kana import ZenginNameError
from kiban.core.actors import Actor, resident_actor
from kiban.core.errors import Forbidden, NotFound, ValidationFailed
from kiban.core.models import AuditEntry, Municipality
from kiban.registry.models import OPEN_END, Person, PersonState
from tests import factories
from tests.benefits.conftest import BASE

pytestmark = pytest.mark.django_db


def _person(muni: Municipality) -> tuple[Person, PersonState]:
    generate_city(muni, households=5, base_date=BASE, seed=2)
    state = PersonState.objects.filter(municipality=muni, valid_to=OPEN_END).order_by("pk").first()
    assert state is not None
    return state.person, state


def _register(actor: Actor, muni: Municipality, person: Person, **over: str) -> BankAccount:
    state = PersonState.objects.filter(person=person).order_by("-valid_to").first()
    assert state is not None
    fields = {
        "bank_code": "0001", "branch_code": "001", "account_type": "1",
        "account_number": "12345", "holder_kana": f"{state.family_kana}　{state.given_kana}",
    }  # fmt: skip
    fields.update(over)
    return services.register_account(
        actor=actor, municipality=muni, person=person, via="test", **fields
    )


def test_clerk_registers_account_in_zengin_form(muni: Municipality) -> None:
    person, state = _person(muni)
    clerk = factories.actor_for(muni, "benefits_clerk")
    acc = _register(clerk, muni, person)
    assert acc.account_number == "0012345" and acc.bank_name == "ﾐｽﾞﾎ"
    assert acc.holder_zengin.replace(" ", "") == services.to_zengin_kana(
        state.family_kana + state.given_kana
    )
    assert AuditEntry.objects.filter(action="benefits.account.registered",
                                     subject_id=str(person.pk)).exists()  # fmt: skip
    # One account per person: registering again replaces it.
    _register(clerk, muni, person, account_number="7654321")
    assert BankAccount.objects.filter(person=person).count() == 1
    assert BankAccount.objects.get(person=person).account_number == "7654321"


@pytest.mark.parametrize(
    ("over", "error"),
    [
        ({"bank_code": "0001", "branch_code": "999"}, UnknownBankError),
        ({"bank_code": "8888"}, UnknownBankError),
        ({"account_number": "12345678"}, BankAccountError),
        ({"account_type": "7"}, BankAccountError),
        ({"holder_kana": "山田　太郎"}, ZenginNameError),
        ({"holder_kana": "ヤマダ、タロウ"}, ZenginNameError),
        ({"holder_kana": "ベツジン　ナマエ"}, ValidationFailed),
    ],
)
def test_invalid_accounts_are_refused_clearly(
    muni: Municipality, over: dict[str, str], error: type[Exception]
) -> None:
    person, _ = _person(muni)
    with pytest.raises(error) as e:
        _register(factories.actor_for(muni, "benefits_clerk"), muni, person, **over)
    assert getattr(e.value, "message_ja", "") and getattr(e.value, "message_en", "")
    assert not BankAccount.objects.exists()


def test_resident_registers_only_their_own(muni: Municipality) -> None:
    person, _ = _person(muni)
    other = Person.objects.filter(municipality=muni).exclude(pk=person.pk).first()
    assert other is not None
    me = resident_actor(person_pk=person.pk, municipality_code=muni.code, label="me")
    _register(me, muni, person)
    with pytest.raises(Forbidden):
        _register(me, muni, other)


def test_tenancy_and_roles(muni: Municipality) -> None:
    person, _ = _person(muni)
    chiyoda = factories.municipality(factories.CHIYODA[0])
    with pytest.raises(NotFound):
        _register(factories.actor_for(chiyoda, "benefits_clerk"), muni, person)
    with pytest.raises(NotFound):  # the right clerk naming the wrong municipality
        _register(factories.actor_for(chiyoda, "benefits_clerk"), chiyoda, person)
    with pytest.raises(Forbidden):
        _register(factories.actor_for(muni, "registry_clerk"), muni, person)
