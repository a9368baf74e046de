"""Console: issue a 住民票の写し (certificate of residence) for a person."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from kiban.console.auth import console_actor, console_municipality, staff_required
from kiban.core.errors import NotFound, ValidationFailed
from kiban.core.models import Role
from kiban.registry.certificates import issue_certificate
from kiban.registry.models import OPEN_END, Person, PersonState


class CertificateForm(forms.Form):
    household = forms.ChoiceField(
        label="様式 / Form",
        choices=[
            ("person", "個人票（本人のみ） / this person"),
            ("household", "世帯全員（世帯連記式） / whole household"),
        ],
        initial="person",
        widget=forms.RadioSelect,
    )
    include_relationship = forms.BooleanField(
        label="世帯主の氏名と続柄を記載 / with head of household and relationships", required=False
    )
    include_honseki = forms.BooleanField(
        label="本籍を記載 / with registered domicile", required=False
    )
    include_mynumber = forms.BooleanField(label="個人番号を記載 / with My Number", required=False)
    purpose = forms.CharField(
        label="利用目的 / Purpose",
        max_length=200,
        required=False,
        help_text="個人番号を記載する場合は必須です。 / Required to include the My Number.",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("include_mynumber") and not str(data.get("purpose") or "").strip():
            self.add_error(
                "purpose",
                "個人番号を記載するには利用目的を入力してください。 / "
                "Enter the purpose to include the My Number.",
            )
        return data


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def issue(request: HttpRequest, resident_code: str) -> HttpResponse:
    """GET: the options form. POST: the signed PDF as a download."""
    municipality = console_municipality(request)
    person = Person.objects.filter(municipality=municipality, resident_code=resident_code).first()
    if person is None:
        raise NotFound("住民", "resident")
    state = (
        PersonState.objects.filter(municipality=municipality, person=person, valid_to=OPEN_END)
        .order_by("-valid_from")
        .first()
    )
    form = CertificateForm(request.POST or None)
    error: ValidationFailed | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            issued = issue_certificate(
                actor=console_actor(request),
                municipality=municipality,
                resident_code=resident_code,
                household=data["household"] == "household",
                include_relationship=data["include_relationship"],
                include_honseki=data["include_honseki"],
                include_mynumber=data["include_mynumber"],
                purpose=data["purpose"],
            )
        except ValidationFailed as e:
            error = e
        else:
            response = HttpResponse(issued.pdf, content_type="application/pdf")
            response["Content-Disposition"] = (
                f'attachment; filename="juminhyo-{issued.issue_no}.pdf"'
            )
            response["Cache-Control"] = "no-store"
            return response
    # The name is shown to confirm the person, unless protected (支援措置).
    return render(
        request,
        "console/registry/certificate.html",
        {
            "form": form,
            "person": person,
            "state": state if not person.protected else None,
            "error": error,
        },
        status=422 if request.method == "POST" else 200,
    )
