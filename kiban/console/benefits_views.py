"""Benefits console: programs, dashboard with charts, batches (four-eyes), accounts.

Thin views: every change goes through :mod:`kiban.benefits.services`, which checks the
role and the municipality and writes the audit entry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from kiban.benefits import services
from kiban.benefits.banks import ACCOUNT_TYPES
from kiban.benefits.models import BankAccount, BatchState, Program
from kiban.console.auth import console_actor, console_municipality, staff_required
from kiban.core.errors import KibanError, NotFound
from kiban.core.models import Role
from kiban.registry.models import Person, PersonState

CLERK = Role.BENEFITS_CLERK.value
STATE_COLOURS = {
    "no_account": "#b3261e", "ready": "#7a5c00", "pending": "#5c5cad", "sent": "#0055ad",
    "paid": "#1b7a35", "returned": "#d4380d",
}  # fmt: skip


@staff_required(CLERK)
def index(request: HttpRequest) -> HttpResponse:
    m = console_municipality(request)
    actor = console_actor(request)
    totals = services.program_totals(actor=actor, municipality=m)
    none = services.ProgramTotals(0, 0, 0)
    programs = [
        {"program": p, "totals": totals.get(p.pk, none)}
        for p in Program.objects.filter(municipality=m).order_by("program_id")
    ]
    found: list[dict[str, Any]] = []
    query = request.GET.get("q", "").strip()
    if query:
        states = (
            PersonState.objects.filter(municipality=m)
            .filter(person__resident_code=query)
            .order_by("-valid_to")[:1]
        )
        found = [{"person_id": s.person_id, "name": s.full_name, "address": s.address}
                 for s in states]  # fmt: skip
    return render(
        request, "console/benefits/index.html",
        {"programs": programs, "query": query, "found": found},
    )  # fmt: skip


def _bar_chart(rows: list[services.StatusRow]) -> dict[str, Any]:
    biggest = max([r.count for r in rows] + [1])
    bars = []
    for i, r in enumerate(rows):
        width = round(340 * r.count / biggest)
        bars.append(
            {"y": i * 28, "label": r.label_ja, "width": width, "count": r.count,
             "text_x": 190 + width, "colour": STATE_COLOURS[r.state]}
        )  # fmt: skip
    return {"bars": bars, "height": len(rows) * 28}


def _town_chart(m: Any, by_town: dict[str, dict[str, int]], limit: int = 15) -> dict[str, Any]:
    towns = sorted(by_town.items(), key=lambda kv: -sum(kv[1].values()))[:limit]
    biggest = max([sum(c.values()) for _, c in towns] + [1])
    names = dict(
        PersonState.objects.filter(municipality=m, town_code__in=[t for t, _ in towns])
        .values_list("town_code", "town_name")
        .distinct()[:1000]
    )
    rows = []
    for i, (town, counts) in enumerate(towns):
        x = 190.0
        segments = []
        for state, colour in STATE_COLOURS.items():
            n = counts.get(state, 0)
            if not n:
                continue
            w = 340 * n / biggest
            segments.append({"x": round(x, 1), "width": round(w, 1), "colour": colour,
                             "title": f"{services.PAY_STATES[state][0]} {n:,}"})  # fmt: skip
            x += w
        label = _short_town(names.get(town, town), prefecture=m.prefecture, city=m.name)
        rows.append({"y": i * 24, "label": label,
                     "segments": segments, "total": sum(counts.values()),
                     "text_x": round(x + 6, 1)})  # fmt: skip
    return {"rows": rows, "height": len(rows) * 24}


def _short_town(name: str, *, prefecture: str, city: str, limit: int = 12) -> str:
    """町字 without the municipality's own 都道府県 + 市区町村, which every bar would repeat.

    Only that known prefix is removed (with a 郡 between them, for a town or village), so a
    designated city's ward stays (``神奈川県横浜市中区山下町`` → ``中区山下町``) and a town
    whose name contains 町 or 市 keeps it (``元町1丁目``). Longer than ``limit``: cut with "…".
    """
    rest = name
    if prefecture and rest.startswith(prefecture):
        rest = rest[len(prefecture) :]
        at = rest.find(city) if city else -1
        if at == 0 or (at > 0 and rest[:at].endswith("郡")):
            rest = rest[at + len(city) :]
    elif city and rest.startswith(city):
        rest = rest[len(city) :]
    rest = rest or name
    return rest if len(rest) <= limit else rest[: limit - 1] + "…"


class PrepareForm(forms.Form):
    transfer_date = forms.DateField(
        label=_("振込指定日"), help_text=_("銀行営業日を指定してください（YYYY-MM-DD）。"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip


def _dashboard_context(request: HttpRequest, program_id: str) -> dict[str, Any]:
    m = console_municipality(request)
    actor = console_actor(request)
    program = services.get_program(m, program_id)
    rows, towns = services.status_and_towns(actor=actor, municipality=m, program_id=program_id)
    return {
        "program": program,
        "rows": rows,
        "total_count": sum(r.count for r in rows),
        "total_amount": sum(r.amount for r in rows),
        "chart": _bar_chart(rows),
        "towns": _town_chart(m, towns),
        "colours": [(services.PAY_STATES[k][0], c) for k, c in STATE_COLOURS.items()],
        "action": services.needing_action(
            actor=actor, municipality=m, program_id=program_id, limit=50
        ),
        "batches": services.batches(actor=actor, municipality=m, program_id=program_id)[:20],
        "me": actor.id,
    }


@staff_required(CLERK)
def dashboard(request: HttpRequest, program_id: str) -> HttpResponse:
    ctx = _dashboard_context(request, program_id)
    ctx["form"] = PrepareForm()
    return render(request, "console/benefits/dashboard.html", ctx)


@staff_required(CLERK)
@require_POST
def prepare(request: HttpRequest, program_id: str) -> HttpResponse:
    m = console_municipality(request)
    form = PrepareForm(request.POST)
    error: KibanError | None = None
    if form.is_valid():
        day: date = form.cleaned_data["transfer_date"]
        try:
            batch = services.prepare_batch(
                actor=console_actor(request), municipality=m, program_id=program_id,
                transfer_date=day,
            )  # fmt: skip
        except KibanError as e:
            if e.status >= 500 or isinstance(e, NotFound):
                raise
            error = e
        else:
            if batch is None:
                messages.info(request, "支払対象はありません。 / Nothing to pay.")
            else:
                messages.success(
                    request,
                    f"支払バッチ {batch.pk}（{batch.count:,}件、{batch.total:,}円）を作成しました。"
                    "別の職員の承認が必要です。 / Batch prepared; a second clerk must approve it.",
                )
            return redirect(f"/console/benefits/{program_id}/")
    ctx = _dashboard_context(request, program_id)
    ctx.update({"form": form, "error": error})
    return render(request, "console/benefits/dashboard.html", ctx, status=422)


@staff_required(CLERK)
@require_POST
def approve(request: HttpRequest, batch_id: int) -> HttpResponse:
    m = console_municipality(request)
    batch = services.approve_batch(actor=console_actor(request), municipality=m, batch_id=batch_id)
    messages.success(request, f"支払バッチ {batch.pk} を承認しました。 / Batch approved.")
    return redirect(f"/console/benefits/{batch.program.program_id}/")


@staff_required(CLERK)
@require_POST
def reject(request: HttpRequest, batch_id: int) -> HttpResponse:
    m = console_municipality(request)
    batch = services.reject_batch(actor=console_actor(request), municipality=m, batch_id=batch_id)
    messages.info(request, f"支払バッチ {batch.pk} を差し戻しました。 / Batch rejected.")
    return redirect(f"/console/benefits/{batch.program.program_id}/")


@staff_required(CLERK)
def download(request: HttpRequest, batch_id: int) -> HttpResponse:
    m = console_municipality(request)
    part = int(request.GET.get("part", "1") or 1)
    name, data = services.batch_file(
        actor=console_actor(request), municipality=m, batch_id=batch_id, part=part
    )
    response = HttpResponse(data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class AccountForm(forms.Form):
    bank_code = forms.CharField(label=_("金融機関コード（4桁）"), max_length=4)
    branch_code = forms.CharField(label=_("支店コード（3桁）"), max_length=3)
    account_type = forms.ChoiceField(
        label=_("預金種目"),
        choices=[(k, f"{ja} / {en}") for k, (ja, en) in ACCOUNT_TYPES.items()],
    )
    account_number = forms.CharField(label=_("口座番号（7桁以内）"), max_length=8)
    holder_kana = forms.CharField(
        label=_("口座名義（カタカナ）"), max_length=80,
        help_text=_("ご本人名義に限ります。例: ヤマダ タロウ"),
    )  # fmt: skip


FIELD_OF = {"bank": "bank_code", "branch": "branch_code"}


def account_form_errors(form: forms.Form, error: KibanError) -> None:
    """Put a service refusal next to the field it concerns (both languages)."""
    details = error.details if isinstance(error.details, dict) else {}
    name = details.get("field") or FIELD_OF.get(str(details.get("unknown", "")))
    if error.code in ("zengin_name",) or "holder" in str(name or ""):
        name = "holder_kana"
    text = f"{error.message_ja} / {error.message_en}"
    if name in form.fields:
        form.add_error(name, text)
    else:
        form.add_error(None, text)


@staff_required(CLERK)
def account(request: HttpRequest, person_id: int) -> HttpResponse:
    m = console_municipality(request)
    person = Person.objects.filter(municipality=m, pk=person_id).first()
    if person is None:
        raise NotFound("住民", "resident")
    state = PersonState.objects.filter(municipality=m, person=person).order_by("-valid_to").first()
    existing = BankAccount.objects.filter(person=person).first()
    if request.method == "POST":
        form = AccountForm(request.POST)
        if form.is_valid():
            try:
                services.register_account(
                    actor=console_actor(request), municipality=m, person=person, via="console",
                    **form.cleaned_data,
                )  # fmt: skip
            except KibanError as e:
                if isinstance(e, NotFound):
                    raise
                account_form_errors(form, e)
            else:
                messages.success(request, "口座を登録しました。 / The account was registered.")
                return redirect(f"/console/benefits/accounts/{person.pk}/")
    else:
        initial = {"holder_kana": f"{state.family_kana} {state.given_kana}"} if state else {}
        form = AccountForm(initial=initial)
    return render(
        request, "console/benefits/account.html",
        {"form": form, "person": person, "state": state, "existing": existing},
        status=422 if form.errors else 200,
    )  # fmt: skip


BATCH_STATES = dict(BatchState.choices)
