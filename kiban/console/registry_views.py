"""Console: resident registry for registry clerks (search, a person's page, event forms).

Views only parse forms, call ``kiban.registry.queries`` / ``services`` and render. A
refusal from a service (``ValidationFailed`` with ``details["field"]``) is shown next to
the matching form field and in the error summary, in Japanese and English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from kiban.console.auth import console_actor, console_municipality, staff_required
from kiban.core.actors import Actor
from kiban.core.errors import KibanError
from kiban.core.models import Municipality, Role
from kiban.core.wareki import WarekiError, format_wareki, parse_date
from kiban.registry import queries, services
from kiban.registry.models import EventKind, RegistryEvent, Sex
from kiban.registry.queries import PROTECTED_PURPOSE, PersonRecord

DATE_HINT = "例: 令和8年11月23日、R08.11.23、2026-11-23"


# --- form building blocks -----------------------------------------------------------------


class WarekiDateField(forms.Field):
    """A date typed in 和暦 or Western form (kiban.core.wareki.parse_date)."""

    widget = forms.TextInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", DATE_HINT)
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "maxlength": "40", "inputmode": "text"}

    def prepare_value(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    def to_python(self, value: Any) -> date | None:
        text = str(value or "").strip()
        if not text:
            return None
        try:
            if len(text) > 40:
                raise WarekiError("format", "日付が長すぎます。", "The date is too long.")
            return parse_date(text)
        except WarekiError as exc:
            raise ValidationError(f"{exc.message_ja} / {exc.message_en}") from None


def _today_iso() -> str:
    return timezone.localdate().isoformat()


REQUIRED = "入力してください。 / This field is required."
INVALID_CHOICE = "選択肢から選んでください。 / Choose one of the options."


class BilingualForm(forms.Form):
    """Django's built-in field messages, in Japanese and English like kiban's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.error_messages["required"] = REQUIRED
            if isinstance(field, forms.ChoiceField):
                field.error_messages["invalid_choice"] = INVALID_CHOICE


def _choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


class DatesForm(BilingualForm):
    event_date = WarekiDateField(label=gettext_lazy("異動日"))
    reported_date = WarekiDateField(label=gettext_lazy("届出日"))

    def __init__(self, *args: Any, record: PersonRecord | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("reported_date", _today_iso())
        super().__init__(*args, **kwargs)
        self.record = record

    def member_choices(self, *, blank: bool, exclude_self: bool = False) -> list[tuple[str, str]]:
        choices: list[tuple[str, str]] = [("", _("（指定しない）"))] if blank else []
        if self.record is None:
            return choices
        for s in self.record.members:
            if exclude_self and s.person_id == self.record.person.pk:
                continue
            choices.append((s.person.resident_code, f"{s.full_name}（{s.relationship}）"))
        return choices


class AddressFields(BilingualForm):
    postcode = forms.CharField(
        label=gettext_lazy("郵便番号"), max_length=8, help_text="例: 2310023"
    )
    town_code = forms.CharField(label=gettext_lazy("町字ID"), max_length=7, help_text="7桁")
    town_name = forms.CharField(label=gettext_lazy("町字"), max_length=80)
    address_detail = forms.CharField(label=gettext_lazy("番地以下"), max_length=80)
    building = forms.CharField(label=gettext_lazy("方書"), max_length=80, required=False)

    def address(self) -> services.Address:
        d = self.cleaned_data
        return services.Address(
            postcode=d["postcode"],
            town_code=d["town_code"],
            town_name=d["town_name"],
            address_detail=d["address_detail"],
            building=d.get("building") or "",
        )


class SearchForm(BilingualForm):
    q = forms.CharField(
        label=gettext_lazy("氏名（カナまたは漢字、一部でも可）"), required=False, max_length=80
    )
    birth_date = WarekiDateField(label=gettext_lazy("生年月日"), required=False)
    address = forms.CharField(label=gettext_lazy("住所"), required=False, max_length=80)
    resident_code = forms.CharField(
        label=gettext_lazy("住民票コード"), required=False, max_length=20
    )
    support_measure = forms.BooleanField(
        label=gettext_lazy("支援措置対象者を含める（支援措置事務のため。閲覧は記録されます）"),
        required=False,
    )


class MoveOutForm(DatesForm):
    persons = forms.MultipleChoiceField(
        label=gettext_lazy("転出する方"), widget=forms.CheckboxSelectMultiple
    )
    destination = forms.CharField(label=gettext_lazy("転出先"), max_length=200)
    new_head = forms.ChoiceField(label=gettext_lazy("新しい世帯主"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_date"].label = _("転出予定日")
        _choices(self, "persons", self.member_choices(blank=False))
        _choices(self, "new_head", self.member_choices(blank=True))
        self.fields["new_head"].help_text = _("世帯主が転出し、世帯員が残る場合に指定します。")


MODE_CHOICES = [
    ("same", gettext_lazy("同じ世帯のまま（世帯全員が転居）")),
    ("new", gettext_lazy("新しい世帯をつくる")),
    ("join", gettext_lazy("転居先の世帯に加わる")),
]


class MoveWithinForm(DatesForm, AddressFields):
    persons = forms.MultipleChoiceField(
        label=gettext_lazy("転居する方"), widget=forms.CheckboxSelectMultiple
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("世帯"), choices=MODE_CHOICES, initial="same", widget=forms.RadioSelect
    )
    household = forms.CharField(
        label=gettext_lazy("加わる世帯の世帯番号"), required=False, max_length=16
    )
    head = forms.ChoiceField(label=gettext_lazy("新しい世帯の世帯主"), required=False)
    new_head = forms.ChoiceField(label=gettext_lazy("残る世帯の新しい世帯主"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "persons", self.member_choices(blank=False))
        _choices(self, "head", self.member_choices(blank=True))
        _choices(self, "new_head", self.member_choices(blank=True))


class DeathForm(DatesForm):
    new_head = forms.ChoiceField(label=gettext_lazy("新しい世帯主"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_date"].label = _("死亡日")
        _choices(self, "new_head", self.member_choices(blank=True, exclude_self=True))
        self.fields["new_head"].help_text = _("世帯主が死亡し、世帯員が残る場合に指定します。")


class NameChangeForm(DatesForm):
    family_name = forms.CharField(label=gettext_lazy("氏"), max_length=40)
    given_name = forms.CharField(label=gettext_lazy("名"), max_length=40)
    family_kana = forms.CharField(label=gettext_lazy("氏のフリガナ"), max_length=80)
    given_kana = forms.CharField(label=gettext_lazy("名のフリガナ"), max_length=80)


CORRECTION_FIELDS = [
    ("family_name", gettext_lazy("氏")),
    ("given_name", gettext_lazy("名")),
    ("family_kana", gettext_lazy("氏のフリガナ")),
    ("given_kana", gettext_lazy("名のフリガナ")),
    ("birth_date", gettext_lazy("生年月日")),
    ("sex", gettext_lazy("性別（1: 男、2: 女）")),
    ("relationship", gettext_lazy("続柄")),
    ("postcode", gettext_lazy("郵便番号")),
    ("town_code", gettext_lazy("町字ID")),
    ("town_name", gettext_lazy("町字")),
    ("address_detail", gettext_lazy("番地以下")),
    ("building", gettext_lazy("方書")),
    ("honseki", gettext_lazy("本籍")),
    ("nationality", gettext_lazy("国籍（2文字の国コード）")),
]


class CorrectionForm(BilingualForm):
    field = forms.ChoiceField(label=gettext_lazy("修正する項目"), choices=CORRECTION_FIELDS)
    value = forms.CharField(label=gettext_lazy("正しい内容"), max_length=120)
    reason = forms.CharField(
        label=gettext_lazy("修正の理由"), max_length=200, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, record: PersonRecord | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record = record

    def clean_value(self) -> Any:
        value = self.cleaned_data["value"]
        if self.cleaned_data.get("field") == "birth_date":
            try:
                return parse_date(value)
            except WarekiError as exc:
                raise ValidationError(f"{exc.message_ja} / {exc.message_en}") from None
        return value


KIND_CHOICES = [
    ("new_household", gettext_lazy("世帯分離（新しい世帯をつくる）")),
    ("join", gettext_lazy("世帯合併（別の世帯に加わる）")),
    ("change_head", gettext_lazy("世帯主変更")),
]


class HouseholdChangeForm(DatesForm):
    kind = forms.ChoiceField(
        label=gettext_lazy("世帯変更の種類"), choices=KIND_CHOICES, widget=forms.RadioSelect
    )
    persons = forms.MultipleChoiceField(
        label=gettext_lazy("対象の方"), required=False, widget=forms.CheckboxSelectMultiple
    )
    household = forms.CharField(
        label=gettext_lazy("加わる世帯の世帯番号"), required=False, max_length=16
    )
    head = forms.ChoiceField(
        label=gettext_lazy("世帯主（新しい世帯・新しい世帯主）"), required=False
    )
    new_head = forms.ChoiceField(label=gettext_lazy("残る世帯の新しい世帯主"), required=False)
    former_head_relationship = forms.CharField(
        label=gettext_lazy("前の世帯主の新しい続柄（世帯主変更のとき）"),
        required=False,
        max_length=16,
    )
    relationship = forms.CharField(
        label=gettext_lazy("加わる方の続柄（世帯合併のとき）"), required=False, max_length=16
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _choices(self, "persons", self.member_choices(blank=False))
        _choices(self, "head", self.member_choices(blank=True))
        _choices(self, "new_head", self.member_choices(blank=True))


SEX_CHOICES = [("", "—"), *[(v, str(label)) for v, label in Sex.choices]]


class NewPersonForm(BilingualForm):
    family_name = forms.CharField(label=gettext_lazy("氏"), max_length=40)
    given_name = forms.CharField(label=gettext_lazy("名"), max_length=40)
    family_kana = forms.CharField(label=gettext_lazy("氏のフリガナ"), max_length=80)
    given_kana = forms.CharField(label=gettext_lazy("名のフリガナ"), max_length=80)
    birth_date = WarekiDateField(label=gettext_lazy("生年月日"))
    sex = forms.ChoiceField(label=gettext_lazy("性別"), choices=SEX_CHOICES)
    relationship = forms.CharField(
        label=gettext_lazy("続柄"), max_length=16, required=False, help_text="例: 妻、子、母"
    )
    is_head = forms.BooleanField(label=gettext_lazy("世帯主"), required=False)
    nationality = forms.CharField(
        label=gettext_lazy("国籍（外国籍の方のみ、2文字の国コード）"), max_length=2, required=False
    )
    resident_code = forms.CharField(
        label=gettext_lazy("住民票コード（お持ちの場合）"), max_length=20, required=False
    )

    def new_person(self) -> services.NewPerson:
        d = self.cleaned_data
        return services.NewPerson(
            family_name=d["family_name"],
            given_name=d["given_name"],
            family_kana=d["family_kana"],
            given_kana=d["given_kana"],
            birth_date=d["birth_date"],
            sex=d["sex"],
            relationship=d.get("relationship") or "",
            is_head=bool(d.get("is_head")),
            nationality=d.get("nationality") or "",
            resident_code=d.get("resident_code") or "",
        )


NewPersonFormSet = forms.formset_factory(NewPersonForm, extra=3, max_num=10)


class MoveInForm(AddressFields):
    event_date = WarekiDateField(label=gettext_lazy("転入日"))
    reported_date = WarekiDateField(label=gettext_lazy("届出日"))
    previous_address = forms.CharField(label=gettext_lazy("前住所"), max_length=200, required=False)
    household = forms.CharField(
        label=gettext_lazy("加わる世帯の世帯番号（既存の世帯に入る場合）"),
        required=False,
        max_length=16,
    )


class BirthForm(NewPersonForm):
    reported_date = WarekiDateField(label=gettext_lazy("届出日"))

    def __init__(self, *args: Any, record: PersonRecord | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("reported_date", _today_iso())
        kwargs["initial"].setdefault("relationship", "子")
        if record is not None:
            kwargs["initial"].setdefault("family_name", record.state.family_name)
            kwargs["initial"].setdefault("family_kana", record.state.family_kana)
        super().__init__(*args, **kwargs)
        self.record = record
        del self.fields["is_head"]
        del self.fields["resident_code"]
        self.fields["birth_date"].label = _("出生日")


# --- error handling -----------------------------------------------------------------------

_PREFIXES = ("address.", "child.", "changes.")


def _message(exc: KibanError) -> str:
    return f"{exc.message_ja} / {exc.message_en}"


def apply_error(
    form: forms.Form, exc: KibanError, formset: forms.BaseFormSet[Any] | None = None
) -> None:
    """Show a service refusal next to its field (or above the form when it has none)."""
    field = (exc.details or {}).get("field") if isinstance(exc.details, dict) else None
    message = _message(exc)
    if isinstance(field, str):
        parts = field.split(".")
        if parts[0] == "persons" and len(parts) == 3 and formset is not None:
            index = int(parts[1])
            if index < len(formset.forms) and parts[2] in formset.forms[index].fields:
                formset.forms[index].add_error(parts[2], message)
                return
        if field.startswith("changes.") and "value" in form.fields:
            form.add_error("value", message)
            return
        name = field
        for prefix in _PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        if name == "text" and "q" in form.fields:
            name = "q"
        if name == "relationships" and "former_head_relationship" in form.fields:
            name = "former_head_relationship"
        if name in form.fields:
            form.add_error(name, message)
            return
    form.add_error(None, message)


def _mark_invalid(*forms_: forms.Form) -> None:
    for form in forms_:
        for name in form.errors:
            if name in form.fields:
                field, auto_id = form.fields[name], form[name].auto_id
                # Django points aria-describedby at "<id>_helptext" only while it is unset.
                described = [f"{auto_id}_helptext"] if field.help_text else []
                field.widget.attrs["aria-invalid"] = "true"
                field.widget.attrs["aria-describedby"] = " ".join([*described, f"{auto_id}_error"])


def _errors(*forms_: forms.Form) -> list[dict[str, str]]:
    """Error summary entries: message and the id of the field to jump to."""
    out: list[dict[str, str]] = []
    for form in forms_:
        for name, errs in form.errors.items():
            target = form[name].auto_id if name in form.fields else ""
            label = str(form.fields[name].label) if name in form.fields else ""
            for err in errs:
                out.append({"id": str(target), "label": label, "message": str(err)})
    return out


# --- helpers --------------------------------------------------------------------------------


def _purpose(request: HttpRequest) -> str:
    value = request.POST.get("purpose") or request.GET.get("purpose") or ""
    return PROTECTED_PURPOSE if value == PROTECTED_PURPOSE else ""


def person_url(resident_code: str, purpose: str = "") -> str:
    query = f"?{urlencode({'purpose': purpose})}" if purpose else ""
    return f"/console/registry/persons/{resident_code}/{query}"


def household_url(household_no: str, purpose: str = "", as_of: date | None = None) -> str:
    params = {
        **({"as_of": as_of.isoformat()} if as_of else {}),
        **({"purpose": purpose} if purpose else {}),
    }
    query = f"?{urlencode(params)}" if params else ""
    return f"/console/registry/households/{quote(household_no, safe='')}/{query}"


def _context(request: HttpRequest) -> tuple[Actor, Municipality]:
    return console_actor(request), console_municipality(request)


EVENT_LABELS = dict(EventKind.choices)


def _recorders(events: list[RegistryEvent]) -> dict[str, str]:
    """Staff usernames for the ``staff:<pk>`` actor ids in the history."""
    from kiban.core.models import StaffUser

    pks = [e.recorded_by.split(":", 1)[1] for e in events if e.recorded_by.startswith("staff:")]
    users = StaffUser.objects.filter(pk__in=[int(p) for p in pks if p.isdigit()])
    return {f"staff:{u.pk}": u.username for u in users}


def _event_note(e: RegistryEvent) -> str:
    details = e.details or {}
    if e.kind == EventKind.MOVE_OUT:
        return _("転出先: %(d)s") % {"d": details.get("destination", "")}
    if e.kind == EventKind.MOVE_IN and details.get("previous_address"):
        return _("前住所: %(d)s") % {"d": details["previous_address"]}
    if e.kind in (EventKind.NAME_CHANGE, EventKind.CORRECTION):
        before, after = details.get("before", {}), details.get("after", {})
        return "、".join(f"{k}: {before.get(k, '')} → {v}" for k, v in after.items())
    if e.kind == EventKind.HOUSEHOLD_CHANGE:
        return {
            "new_household": _("世帯分離"),
            "join": _("世帯合併"),
            "change_head": _("世帯主変更"),
        }.get(details.get("change", ""), "")
    return ""


def _event_row(e: RegistryEvent, names: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": EVENT_LABELS.get(e.kind, e.kind),
        "event_date": format_wareki(e.event_date),
        "reported_date": format_wareki(e.reported_date),
        "note": _event_note(e),
        "reason": e.reason,
        "recorded_by": names.get(e.recorded_by, e.recorded_by),
    }


def _event_rows(record: PersonRecord) -> list[dict[str, Any]]:
    names = _recorders(record.events)
    return [_event_row(e, names) for e in reversed(record.events)]


# --- search and person page ---------------------------------------------------------------


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET"])
def search(request: HttpRequest) -> HttpResponse:
    actor, m = _context(request)
    form = SearchForm(request.GET or None)
    results: list[Any] | None = None
    purpose = ""
    if request.GET and form.is_valid():
        d = form.cleaned_data
        purpose = PROTECTED_PURPOSE if d["support_measure"] else ""
        try:
            states = queries.search(
                actor=actor,
                municipality=m,
                text=d["q"],
                birth_date=d["birth_date"],
                address=d["address"],
                resident_code=d["resident_code"],
                purpose=purpose,
            )
        except KibanError as exc:
            apply_error(form, exc)
        else:
            results = [
                {
                    "state": s,
                    "birth": format_wareki(s.person.birth_date),
                    "url": person_url(
                        s.person.resident_code, purpose if s.person.protected else ""
                    ),
                    "household_url": household_url(
                        s.household.household_no, purpose if s.person.protected else ""
                    )
                    if s.household is not None
                    else "",
                }
                for s in states
            ]
    _mark_invalid(form)
    status = 422 if form.errors else 200
    return render(
        request,
        "console/registry/search.html",
        {
            "form": form,
            "results": results,
            "errors": _errors(form),
            "household_form": HouseholdSearchForm(),
        },
        status=status,
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET"])
def person(request: HttpRequest, resident_code: str) -> HttpResponse:
    actor, m = _context(request)
    purpose = _purpose(request)
    record = queries.get_person(
        actor=actor, municipality=m, resident_code=resident_code, purpose=purpose
    )
    suffix = f"?purpose={purpose}" if purpose else ""
    base = f"/console/registry/persons/{record.person.resident_code}/"
    actions = [
        (base + "move-out/" + suffix, _("転出")),
        (base + "move-within/" + suffix, _("転居")),
        (base + "household-change/" + suffix, _("世帯変更")),
        (base + "name-change/" + suffix, _("氏名変更")),
        (base + "birth/" + suffix, _("出生（この方の世帯に）")),
        (base + "death/" + suffix, _("死亡")),
        (base + "correction/" + suffix, _("職権修正")),
    ]
    return render(
        request,
        "console/registry/person.html",
        {
            "record": record,
            "state": record.state,
            "birth": format_wareki(record.person.birth_date),
            "since": format_wareki(record.state.valid_from),
            "members": [
                {
                    "state": s,
                    "birth": format_wareki(s.person.birth_date),
                    "url": person_url(
                        s.person.resident_code, purpose if s.person.protected else ""
                    ),
                }
                for s in record.members
            ],
            "events": _event_rows(record),
            "actions": actions,
            "is_resident": record.state.status == "resident",
            "certificate_url": base + "certificate/" + suffix,
            "purpose": purpose,
            "household_url": household_url(record.household.household_no, purpose)
            if record.household is not None
            else "",
            "protection": _protection_context(request, record, purpose),
        },
    )


# --- event forms ----------------------------------------------------------------------------

Handler = Callable[[Actor, Municipality, PersonRecord, dict[str, Any]], Any]


def _event_page(
    request: HttpRequest,
    resident_code: str,
    form_class: type[forms.Form],
    title: str,
    handler: Handler,
    done: str,
) -> HttpResponse:
    actor, m = _context(request)
    purpose = _purpose(request)
    record = queries.get_person(
        actor=actor, municipality=m, resident_code=resident_code, purpose=purpose
    )
    initial = _initial_for(form_class, record)
    data = request.POST if request.method == "POST" else None
    form = form_class(data, record=record, initial=initial)  # type: ignore[call-arg]
    if request.method == "POST" and form.is_valid():
        try:
            handler(actor, m, record, form.cleaned_data)
        except KibanError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, done)
            return redirect(person_url(record.person.resident_code, purpose))
    _mark_invalid(form)
    return render(
        request,
        "console/registry/event_form.html",
        {
            "form": form,
            "title": title,
            "record": record,
            "errors": _errors(form),
            "purpose": purpose,
            "back": person_url(record.person.resident_code, purpose),
        },
        status=422 if form.errors else 200,
    )


def _initial_for(form_class: type[forms.Form], record: PersonRecord) -> dict[str, Any]:
    code = record.person.resident_code
    if form_class is MoveOutForm or form_class is MoveWithinForm:
        return {"persons": [code]}
    if form_class is HouseholdChangeForm:
        return {"persons": [code]}
    if form_class is NameChangeForm:
        s = record.state
        return {
            "family_name": s.family_name,
            "given_name": s.given_name,
            "family_kana": s.family_kana,
            "given_kana": s.given_kana,
        }
    return {}


def _or_none(value: str | None) -> str | None:
    return value or None


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def move_out(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        return services.record_move_out(
            actor=actor,
            municipality=m,
            persons=d["persons"],
            event_date=d["event_date"],
            reported_date=d["reported_date"],
            destination=d["destination"],
            new_head=_or_none(d["new_head"]),
        )

    return _event_page(
        request, resident_code, MoveOutForm, _("転出届"), handle, _("転出を記録しました。")
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def move_within(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        form_address = services.Address(
            postcode=d["postcode"],
            town_code=d["town_code"],
            town_name=d["town_name"],
            address_detail=d["address_detail"],
            building=d.get("building") or "",
        )
        return services.record_move_within(
            actor=actor,
            municipality=m,
            persons=d["persons"],
            event_date=d["event_date"],
            reported_date=d["reported_date"],
            address=form_address,
            household=_or_none(d["household"]) if d["mode"] == "join" else None,
            new_household=d["mode"] == "new",
            head=_or_none(d["head"]) if d["mode"] == "new" else None,
            new_head=_or_none(d["new_head"]),
        )

    return _event_page(
        request, resident_code, MoveWithinForm, _("転居届"), handle, _("転居を記録しました。")
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def death(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        return services.record_death(
            actor=actor,
            municipality=m,
            person=record.person,
            event_date=d["event_date"],
            reported_date=d["reported_date"],
            new_head=_or_none(d["new_head"]),
        )

    return _event_page(
        request, resident_code, DeathForm, _("死亡届"), handle, _("死亡を記録しました。")
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def name_change(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        return services.record_name_change(
            actor=actor,
            municipality=m,
            person=record.person,
            event_date=d["event_date"],
            reported_date=d["reported_date"],
            family_name=d["family_name"],
            given_name=d["given_name"],
            family_kana=d["family_kana"],
            given_kana=d["given_kana"],
        )

    return _event_page(
        request, resident_code, NameChangeForm, _("氏名変更"), handle, _("氏名変更を記録しました。")
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def correction(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        return services.record_correction(
            actor=actor,
            municipality=m,
            person=record.person,
            changes={d["field"]: d["value"]},
            reason=d["reason"],
        )

    return _event_page(
        request, resident_code, CorrectionForm, _("職権修正"), handle, _("職権修正を記録しました。")
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def household_change(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        relationships: dict[str, str] = {}
        if d["kind"] == "change_head" and d["former_head_relationship"]:
            old_head = next((s for s in record.members if s.is_head), None)
            if old_head is not None:
                relationships[old_head.person.resident_code] = d["former_head_relationship"]
        if d["kind"] == "join" and d["relationship"]:
            relationships = {code: d["relationship"] for code in d["persons"]}
        return services.record_household_change(
            actor=actor,
            municipality=m,
            kind=d["kind"],
            event_date=d["event_date"],
            reported_date=d["reported_date"],
            persons=d["persons"] if d["kind"] != "change_head" else (),
            household=_or_none(d["household"]),
            head=_or_none(d["head"]),
            new_head=_or_none(d["new_head"]),
            relationships=relationships,
        )

    return _event_page(
        request,
        resident_code,
        HouseholdChangeForm,
        _("世帯変更届"),
        handle,
        _("世帯変更を記録しました。"),
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def birth(request: HttpRequest, resident_code: str) -> HttpResponse:
    def handle(actor: Actor, m: Municipality, record: PersonRecord, d: dict[str, Any]) -> Any:
        child = services.NewPerson(
            family_name=d["family_name"],
            given_name=d["given_name"],
            family_kana=d["family_kana"],
            given_kana=d["given_kana"],
            birth_date=d["birth_date"],
            sex=d["sex"],
            relationship=d.get("relationship") or "",
            nationality=d.get("nationality") or "",
        )
        mother = record.person if record.person.sex == Sex.FEMALE else None
        return services.record_birth(
            actor=actor,
            municipality=m,
            reported_date=d["reported_date"],
            child=child,
            mother=mother,
            household=None if mother else record.household,
        )

    return _event_page(
        request, resident_code, BirthForm, _("出生届"), handle, _("出生を記録しました。")
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET", "POST"])
def move_in(request: HttpRequest) -> HttpResponse:
    actor, m = _context(request)
    data = request.POST if request.method == "POST" else None
    form = MoveInForm(data, initial={"reported_date": _today_iso()})
    formset = NewPersonFormSet(data, prefix="persons")
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        filled = [(i, f) for i, f in enumerate(formset.forms) if f.has_changed()]
        if not filled:
            form.add_error(None, _("転入する方を入力してください。") + " / Enter who is moving in.")
        else:
            try:
                event = services.record_move_in(
                    actor=actor,
                    municipality=m,
                    event_date=form.cleaned_data["event_date"],
                    reported_date=form.cleaned_data["reported_date"],
                    persons=[f.new_person() for _i, f in filled],  # type: ignore[attr-defined]
                    address=form.address(),
                    household=_or_none(form.cleaned_data["household"]),
                    previous_address=form.cleaned_data["previous_address"],
                )
            except KibanError as exc:
                # Map the service's person index back to the formset row.
                if isinstance(exc.details, dict) and str(exc.details.get("field", "")).startswith(
                    "persons."
                ):
                    parts = str(exc.details["field"]).split(".")
                    if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(filled):
                        exc.details["field"] = f"persons.{filled[int(parts[1])][0]}.{parts[2]}"
                apply_error(form, exc, formset)
            else:
                messages.success(request, _("転入を記録しました。"))
                return redirect(person_url(event.details["resident_codes"][0]))
    forms_ = [form, *formset.forms]
    _mark_invalid(*forms_)
    errors = _errors(*forms_)
    for err in formset.non_form_errors():
        errors.append({"id": "", "label": "", "message": str(err)})
    return render(
        request,
        "console/registry/move_in.html",
        {"form": form, "formset": formset, "errors": errors},
        status=422 if errors else 200,
    )


# --- 支援措置 (DV/stalking support measures) -----------------------------------------------

# Exactly the roles kiban.registry.services.set_protection accepts. Reading the person to
# act on still needs the registry clerk role, like every page here.
PROTECTION_ROLES = (Role.MUNICIPALITY_ADMIN, Role.REGISTRY_CLERK)

PROTECTION_CHOICES = [("1", gettext_lazy("設定する")), ("0", gettext_lazy("解除する"))]


class ProtectionForm(BilingualForm):
    """Set (``protected=1``) or lift (``protected=0``) the measure, with the reason."""

    protected = forms.ChoiceField(choices=PROTECTION_CHOICES, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=gettext_lazy("理由"),
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, currently_protected: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("protected", "0" if currently_protected else "1")
        super().__init__(*args, **kwargs)
        self.currently_protected = currently_protected
        self.fields["reason"].error_messages["max_length"] = (
            "200文字以内で入力してください。 / Enter at most 200 characters."
        )
        if currently_protected:
            self.fields["reason"].label = _("解除の理由")
            self.fields["reason"].help_text = _("例: 措置期間の終了、本人からの終了の申出")
        else:
            self.fields["reason"].label = _("設定の理由")
            self.fields["reason"].help_text = _(
                "例: 支援措置申出書を受理（受付番号、相談機関の意見を含む）"
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        wanted = data.get("protected")
        # The page may be stale: someone else set or lifted the measure meanwhile.
        if wanted == "1" and self.currently_protected:
            raise ValidationError(
                "この方にはすでに支援措置が設定されています。 / "
                "This person is already under a support measure."
            )
        if wanted == "0" and not self.currently_protected:
            raise ValidationError(
                "この方には支援措置が設定されていません。 / "
                "This person is not under a support measure."
            )
        return data


def _may_protect(request: HttpRequest) -> bool:
    user: Any = request.user
    return bool(user.has_role(*PROTECTION_ROLES))


def _protection_context(
    request: HttpRequest, record: PersonRecord, purpose: str
) -> dict[str, Any] | None:
    """The person page's 支援措置 form, for staff who may set or lift the measure."""
    if not _may_protect(request):
        return None
    return {
        "form": ProtectionForm(currently_protected=record.person.protected),
        "action": f"/console/registry/persons/{record.person.resident_code}/protection/",
        "purpose": purpose,
    }


@staff_required(*PROTECTION_ROLES)
@require_http_methods(["GET", "POST"])
def protection(request: HttpRequest, resident_code: str) -> HttpResponse:
    """GET: the set/lift form. POST: ``services.set_protection`` (one transaction, audited).

    A protected person is only found with the support-measure purpose, so lifting a
    measure needs it, exactly like opening the person's page.
    """
    actor, m = _context(request)
    purpose = _purpose(request)
    record = queries.get_person(
        actor=actor, municipality=m, resident_code=resident_code, purpose=purpose
    )
    data = request.POST if request.method == "POST" else None
    form = ProtectionForm(data, currently_protected=record.person.protected)
    if request.method == "POST" and form.is_valid():
        protect = form.cleaned_data["protected"] == "1"
        try:
            person = services.set_protection(
                actor=actor,
                municipality=m,
                person=record.person,
                protected=protect,
                reason=form.cleaned_data["reason"],
            )
        except KibanError as exc:
            apply_error(form, exc)
        else:
            if protect:
                messages.success(
                    request,
                    _(
                        "支援措置を設定しました。この方は、支援措置事務以外の検索には表示されません。"
                    ),
                )
                # The actor keeps seeing the record only under the support-measure purpose.
                return redirect(person_url(person.resident_code, PROTECTED_PURPOSE))
            messages.success(request, _("支援措置を解除しました。"))
            return redirect(person_url(person.resident_code))
    _mark_invalid(form)
    return render(
        request,
        "console/registry/protection.html",
        {
            "form": form,
            "record": record,
            "errors": _errors(form),
            "purpose": purpose,
            "back": person_url(record.person.resident_code, purpose),
        },
        status=422 if form.errors else 200,
    )


# --- households (世帯) ----------------------------------------------------------------------


class HouseholdSearchForm(BilingualForm):
    household_no = forms.CharField(
        label=gettext_lazy("世帯番号"), max_length=32, help_text=gettext_lazy("例: 0123456789")
    )


class AsOfForm(BilingualForm):
    as_of = WarekiDateField(label=gettext_lazy("基準日（この日の世帯を表示）"), required=False)


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET"])
def household_search(request: HttpRequest) -> HttpResponse:
    """Find a household by 世帯番号 and go to its page."""
    actor, m = _context(request)
    purpose = _purpose(request)
    form = HouseholdSearchForm(request.GET or None)
    if request.GET and form.is_valid():
        try:
            found = queries.find_household(
                actor=actor,
                municipality=m,
                household_no=form.cleaned_data["household_no"],
                purpose=purpose,
            )
        except KibanError as exc:
            if exc.status == 404:
                form.add_error(
                    "household_no",
                    "該当する世帯は見つかりませんでした。 / No household has this number.",
                )
            else:
                apply_error(form, exc)
        else:
            return redirect(household_url(found.household_no, purpose))
    _mark_invalid(form)
    return render(
        request,
        "console/registry/household_search.html",
        {"form": form, "errors": _errors(form), "purpose": purpose},
        status=422 if form.errors else 200,
    )


@staff_required(Role.REGISTRY_CLERK)
@require_http_methods(["GET"])
def household(request: HttpRequest, household_no: str) -> HttpResponse:
    """A household now or on ``?as_of=``: head, members with 続柄, and its event history.

    Both reads go through ``kiban.registry.queries`` (audited; protected members hidden
    unless the support-measure purpose is stated). A malformed date is shown next to the
    date field and the current household is shown instead.
    """
    actor, m = _context(request)
    purpose = _purpose(request)
    form = AsOfForm(request.GET if "as_of" in request.GET else None)
    as_of = form.cleaned_data["as_of"] if form.is_bound and form.is_valid() else None
    hh = queries.get_household(
        actor=actor, municipality=m, household_no=household_no, as_of=as_of, purpose=purpose
    )
    history = queries.household_history(
        actor=actor, municipality=m, household=hh.household, purpose=purpose
    )
    names = _recorders([h.event for h in history])
    events = []
    for h in reversed(history):
        row = _event_row(h.event, names)
        row["persons"] = [
            {
                "name": p.full_name,
                "protected": p.protected,
                "url": person_url(p.resident_code, purpose if p.protected else ""),
            }
            for p in h.persons
        ]
        events.append(row)
    head = hh.head
    shown = head or (hh.members[0] if hh.members else None)
    _mark_invalid(form)
    return render(
        request,
        "console/registry/household.html",
        {
            "household": hh.household,
            "as_of": as_of,
            "as_of_label": format_wareki(as_of) if as_of else "",
            "created_on": format_wareki(hh.household.created_on),
            "head": head,
            "head_url": person_url(
                head.person.resident_code, purpose if head.person.protected else ""
            )
            if head is not None
            else "",
            "address_state": shown,
            "members": [
                {
                    "state": s,
                    "birth": format_wareki(s.person.birth_date),
                    "url": person_url(
                        s.person.resident_code, purpose if s.person.protected else ""
                    ),
                }
                for s in hh.members
            ],
            "events": events,
            "form": form,
            "errors": _errors(form),
            "purpose": purpose,
            "current_url": household_url(hh.household.household_no, purpose),
        },
        status=422 if form.errors else 200,
    )
