"""Resident pages: my benefits, and registering my 公金受取口座 (the online application)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from kiban.benefits import services
from kiban.benefits.models import BankAccount, Program
from kiban.console.benefits_views import AccountForm, account_form_errors
from kiban.core.errors import KibanError, NotFound
from kiban.portal.auth import current_resident, portal_actor, resident_required
from kiban.registry.models import PersonState


@resident_required
def my_benefits(request: HttpRequest) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, municipality = found
    rows = services.entitlements_for_person(
        actor=portal_actor(request), municipality=municipality, person_id=person.pk
    )
    for r in rows:
        r["state_label"] = services.PAY_STATES.get(r["payment_state"], ("", ""))
    return render(
        request, "portal/benefits/mine.html",
        {"rows": rows, "account": BankAccount.objects.filter(person=person).first()},
    )  # fmt: skip


def _account_page(request: HttpRequest, program: Program | None) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, municipality = found
    state = (
        PersonState.objects.filter(municipality=municipality, person=person)
        .order_by("-valid_to")
        .first()
    )
    existing = BankAccount.objects.filter(person=person).first()
    if request.method == "POST":
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                services.register_account(
                    actor=portal_actor(request), municipality=municipality, person=person,
                    via="portal", **form.cleaned_data,
                )  # fmt: skip
            except KibanError as e:
                if isinstance(e, NotFound):
                    raise
                account_form_errors(form, e)
            else:
                messages.success(
                    request,
                    "公金受取口座を登録しました。給付金はこの口座に振り込まれます。"
                    " / Your account is registered; benefits will be paid into it.",
                )
                return redirect("/benefits/")
    else:
        initial = {"holder_kana": f"{state.family_kana} {state.given_kana}"} if state else {}
        if existing:
            initial.update(
                bank_code=existing.bank_code, branch_code=existing.branch_code,
                account_type=existing.account_type,
            )  # fmt: skip
        form = AccountForm(initial=initial)
    return render(
        request, "portal/benefits/account.html",
        {"form": form, "program": program, "existing": existing, "state": state},
        status=422 if form.errors else 200,
    )  # fmt: skip


@resident_required
def account(request: HttpRequest) -> HttpResponse:
    return _account_page(request, None)


@resident_required
def account_for_program(request: HttpRequest, code: str, program_id: str) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    _, municipality = found
    if code != municipality.code:
        raise NotFound("給付金", "benefit program")
    return _account_page(request, services.get_program(municipality, program_id))
