"""Resident portal pages of the identity domain: card login, my page, 住民票の写しの請求.

Views stay thin: they call :mod:`kiban.identity.services` and :mod:`kiban.identity.intake`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from kiban.core.actors import client_ip
from kiban.core.errors import KibanError
from kiban.identity import services
from kiban.identity.intake import JUMINHYO, build_payload, submit_signed_application
from kiban.portal.auth import (
    current_resident,
    login_resident,
    logout_resident,
    portal_actor,
    resident_required,
)

PENDING_KEY = "kiban_pending_juminhyo"


def _safe_next(request: HttpRequest, default: str = "/mypage/") -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


@require_http_methods(["GET"])
def login_page(request: HttpRequest) -> HttpResponse:
    demo = services.demo_residents()[:12] if settings.DEMO else []
    return render(
        request,
        "portal/identity/login.html",
        {
            "demo_residents": demo,
            "next": _safe_next(request),
            "signed_in": current_resident(request) is not None,
        },
    )


@require_POST
def demo_login(request: HttpRequest) -> HttpResponse:
    if not settings.DEMO:
        raise Http404()
    from kiban.registry.models import Person

    person = (
        Person.objects.select_related("municipality")
        .filter(pk=request.POST.get("person") or 0)
        .first()
    )
    if person is None:
        raise Http404()
    try:
        result = services.demo_login(person=person, source_ip=client_ip(request))
    except KibanError as exc:
        messages.error(request, f"{exc.message_ja} / {exc.message_en}")
        return redirect("/login/")
    login_resident(request, person=result.person, card_id=result.card.pk)
    return redirect(_safe_next(request))


@require_http_methods(["GET", "POST"])
def logout_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        logout_resident(request)
        messages.success(request, _("ログアウトしました。 / You have signed out."))
        return redirect("/")
    return render(request, "portal/identity/logout.html")


@resident_required
def mypage(request: HttpRequest) -> HttpResponse:
    from kiban.procedures.models import Application

    found = current_resident(request)
    assert found is not None
    person, municipality = found
    state = services.current_state(person)
    apps = (
        Application.objects.filter(municipality=municipality, person=person)
        .prefetch_related("documents")
        .order_by("-created_at")[:100]
    )
    return render(
        request,
        "portal/identity/mypage.html",
        {
            "person": person,
            "municipality": municipality,
            "state": state,
            "address": services.full_address(state, municipality) if state else "",
            "applications": apps,
            "cards": services.active_cards(person),
        },
    )


@resident_required
def download_document(request: HttpRequest, doc_id: int) -> HttpResponse:
    from kiban.core import audit
    from kiban.procedures.models import ApplicationDocument

    found = current_resident(request)
    assert found is not None
    person, municipality = found
    doc = (
        ApplicationDocument.objects.select_related("application")
        .filter(pk=doc_id, application__municipality=municipality, application__person=person)
        .first()
    )
    if doc is None:
        raise Http404()
    audit.record(
        municipality=municipality,
        actor=portal_actor(request),
        action="document.download",
        subject_type="application",
        subject_id=str(doc.application_id),
        details={"document": doc.pk, "kind": doc.kind},
    )
    response = HttpResponse(bytes(doc.content), content_type=doc.content_type)
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- 住民票の写し


class JuminhyoForm(forms.Form):
    scope = forms.ChoiceField(
        label=_("請求の範囲"),
        choices=[("self", _("本人のみ")), ("household", _("世帯全員"))],
        widget=forms.RadioSelect,
        initial="self",
    )
    include_relationship = forms.BooleanField(
        label=_("世帯主の氏名と続柄を記載する"), required=False
    )
    include_honseki = forms.BooleanField(label=_("本籍・筆頭者を記載する"), required=False)


class SignForm(forms.Form):
    method = forms.ChoiceField(
        label=_("署名の方法"),
        choices=[("demo", _("デモ用カードで署名")), ("upload", _("署名ファイルを提出"))],
        widget=forms.RadioSelect,
    )
    sign_pin = forms.CharField(
        label=_("署名用パスワード（6〜16文字）"),
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    signature_file = forms.FileField(label=_("署名ファイル（.p7s）"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        method = data.get("method")
        if method == "demo" and not settings.DEMO:
            self.add_error("method", _("デモ用カードはデモ環境でのみ使えます。 / Demo only."))
        if method == "demo" and not data.get("sign_pin"):
            self.add_error("sign_pin", _("署名用パスワードを入力してください。 / Enter the PIN."))
        if method == "upload" and not data.get("signature_file"):
            self.add_error(
                "signature_file", _("署名ファイルを選んでください。 / Choose the signature file.")
            )
        return data


def _protected_notice(person: Any) -> bool:
    return bool(person.protected)


@resident_required
@require_http_methods(["GET", "POST"])
def juminhyo_request(request: HttpRequest) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, municipality = found
    state = services.current_state(person)
    if _protected_notice(person):
        return render(
            request,
            "portal/identity/juminhyo_form.html",
            {"protected": True, "state": state, "municipality": municipality},
        )
    form = JuminhyoForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {
            "scope": form.cleaned_data["scope"],
            "include_relationship": form.cleaned_data["include_relationship"],
            "include_honseki": form.cleaned_data["include_honseki"],
            "include_mynumber": False,
            "copies": 1,
            # Makes each request distinct: the same signed bytes are deduplicated into one
            # application, and next month's request must not return this one.
            "_requested_at": timezone.now().isoformat(timespec="seconds"),
        }
        payload = build_payload(municipality=municipality.code, procedure_id=JUMINHYO, data=data)
        request.session[PENDING_KEY] = base64.b64encode(payload).decode()
        return redirect("/juminhyo/confirm/")
    return render(
        request,
        "portal/identity/juminhyo_form.html",
        {
            "form": form,
            "state": state,
            "municipality": municipality,
            "address": services.full_address(state, municipality) if state else "",
        },
    )


@resident_required
@require_http_methods(["GET", "POST"])
def juminhyo_confirm(request: HttpRequest) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, municipality = found
    encoded = request.session.get(PENDING_KEY)
    if not encoded:
        return redirect("/juminhyo/")
    payload = base64.b64decode(encoded)
    if request.GET.get("download") == "payload":
        response = HttpResponse(payload, content_type="application/json")
        response["Content-Disposition"] = 'attachment; filename="juminhyo-request.json"'
        return response
    form = SignForm(
        request.POST or None,
        request.FILES or None,
        initial={"method": "demo" if settings.DEMO else "upload"},
    )
    error: KibanError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            signature = _signature(form, person, payload)
            app, _created = submit_signed_application(
                municipality=municipality,
                procedure_id=JUMINHYO,
                payload=payload,
                signature=signature,
                channel="portal",
                source_ip=client_ip(request),
            )
        except KibanError as exc:
            error = exc
        else:
            request.session.pop(PENDING_KEY, None)
            if app.status == "approved":
                messages.success(
                    request,
                    _(
                        "住民票の写しを交付しました。下の一覧からダウンロードできます。 / "
                        "Your certificate is ready: download it below."
                    ),
                )
            else:
                messages.success(request, _("申請を受け付けました。 / Application received."))
            return redirect(f"/mypage/#application-{app.pk}")
    return render(
        request,
        "portal/identity/juminhyo_confirm.html",
        {
            "form": form,
            "data": json.loads(payload.decode("utf-8")),
            "payload_text": payload.decode("utf-8"),
            "error": error,
            "demo": settings.DEMO,
            "demo_pin": services.DEMO_SIGN_PIN if settings.DEMO else "",
        },
    )


def _signature(form: SignForm, person: Any, payload: bytes) -> bytes:
    if form.cleaned_data["method"] == "upload":
        upload = form.cleaned_data["signature_file"]
        if upload.size > 64 * 1024:
            raise KibanError(
                "署名ファイルが大きすぎます。",
                "The signature file is too large.",
                code="signature_invalid",
                status=422,
            )
        raw: bytes = upload.read()
        if raw.lstrip().startswith(b"-----BEGIN"):
            lines = [
                ln
                for ln in raw.decode("ascii", "replace").splitlines()
                if ln and not ln.startswith("-----")
            ]
            raw = base64.b64decode("".join(lines))
        return raw
    from kiban.identity.cards import CardError, SoftCard

    path = services.demo_card_path(person.municipality_id, person.resident_code)
    if not settings.DEMO or not path.exists():
        raise KibanError(
            "デモ用カードがありません。", "No demo card for you.", code="card_unknown", status=400
        )
    try:
        return SoftCard.open(path).sign_cms(payload, form.cleaned_data["sign_pin"])
    except CardError as exc:
        raise KibanError(exc.message_ja, exc.message_en, code="card_pin", status=400) from exc


def demo_crl(request: HttpRequest) -> HttpResponse:
    """The demo CA's CRL (its distribution point), for `kiban identity crl fetch`."""
    der = services.demo_crl_der()
    if der is None:
        raise Http404()
    return HttpResponse(der, content_type="application/pkix-crl")
