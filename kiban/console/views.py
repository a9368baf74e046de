"""Staff console: sign-in, second factor, home per role, audit log browser."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate, login, logout
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from kiban.console.auth import console_actor, console_municipality, staff_required
from kiban.core import audit
from kiban.core.models import AuditEntry, Role


class LoginForm(forms.Form):
    username = forms.CharField(label="ユーザー名 / Username", max_length=150)
    password = forms.CharField(
        label="パスワード / Password", widget=forms.PasswordInput, max_length=200
    )


class OtpForm(forms.Form):
    token = forms.CharField(
        label="確認コード（6桁） / Verification code (6 digits)", max_length=6, min_length=6
    )


def _safe_next(request: HttpRequest, default: str = "/console/") -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


def locked_out(
    request: HttpRequest, credentials: Any = None, *args: Any, **kw: Any
) -> HttpResponse:
    form = LoginForm(request.POST or None)
    return render(
        request,
        "console/login.html",
        {
            "form": form,
            "error": _(
                "ログインの失敗が続いたため、このアカウントは一時的にロックされています。"
                "30分後に再度お試しいただくか、管理者に連絡してください。"
            ),
            "error_en": "Too many failed sign-ins: this account is locked for 30 minutes. "
            "Try again later or contact your administrator.",
        },
        status=403,
    )


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    error = error_en = ""
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if user is not None and user.is_active:
            login(request, user)
            if getattr(user, "needs_second_factor", False):
                return redirect(f"/console/otp/?next={_safe_next(request)}")
            return redirect(_safe_next(request))
        error = _("ユーザー名またはパスワードが正しくありません。")
        error_en = "The username or password is not correct."
    status = 200 if not error else 400
    return render(
        request,
        "console/login.html",
        {"form": form, "error": error, "error_en": error_en, "next": _safe_next(request)},
        status=status,
    )


@require_http_methods(["GET", "POST"])
def otp_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not user.is_authenticated:
        return redirect("/console/login/")
    devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    form = OtpForm(request.POST or None)
    error = ""
    if not devices:
        error = (
            _("二要素認証の端末が登録されていません。`kiban staff totp` で登録してください。")
            + " / No TOTP device registered: ask the operator to run `kiban staff totp`."
        )
    elif request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        for device in devices:
            if device.verify_token(token):
                otp_login(request, device)
                return redirect(_safe_next(request))
        error = _("確認コードが正しくありません。") + " / The code is not correct."
    return render(
        request,
        "console/otp.html",
        {"form": form, "error": error, "next": _safe_next(request)},
        status=400 if error and request.method == "POST" else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/console/login/")


@staff_required()
def home(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    tiles = []
    role_tiles = [
        (
            Role.REGISTRY_CLERK,
            "/console/registry/",
            _("住民記録"),
            _("住民の検索、異動の記録、住民票の写しの交付"),
        ),
        (
            Role.PROCEDURES_REVIEWER,
            "/console/applications/",
            _("申請の審査"),
            _("オンライン申請の受付・審査・承認"),
        ),
        (
            Role.BENEFITS_CLERK,
            "/console/benefits/",
            _("給付金"),
            _("給付事業、対象者の抽出、振込データ"),
        ),
        (Role.AUDITOR, "/console/audit/", _("監査ログ"), _("職員による閲覧・操作の記録")),
        (
            Role.MUNICIPALITY_ADMIN,
            "/console/admin/",
            _("団体設定"),
            _("職員、APIトークン、団体の設定"),
        ),
        (
            Role.PLATFORM_OPERATOR,
            "/console/platform/",
            _("団体の管理"),
            _("基盤に参加する団体の一覧"),
        ),
    ]
    for role, url, title, desc in role_tiles:
        if user.has_role(role):
            tiles.append({"url": url, "title": title, "desc": desc})
    return render(request, "console/home.html", {"tiles": tiles})


class AuditFilterForm(forms.Form):
    action = forms.CharField(label="操作 / Action", required=False, max_length=64)
    subject_id = forms.CharField(label="対象 / Subject", required=False, max_length=64)
    actor = forms.CharField(label="操作者 / Actor", required=False, max_length=64)
    date_from = forms.DateField(
        label="開始日 / From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="終了日 / To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


@staff_required(Role.AUDITOR)
def audit_list(request: HttpRequest) -> HttpResponse:
    m = console_municipality(request)
    form = AuditFilterForm(request.GET or None)
    qs = AuditEntry.objects.filter(municipality=m).order_by("-seq")
    if form.is_valid():
        d = form.cleaned_data
        if d["action"]:
            qs = qs.filter(action__startswith=d["action"])
        if d["subject_id"]:
            qs = qs.filter(subject_id=d["subject_id"])
        if d["actor"]:
            qs = qs.filter(actor_label__icontains=d["actor"])
        if d["date_from"]:
            qs = qs.filter(at__date__gte=d["date_from"])
        if d["date_to"]:
            qs = qs.filter(at__date__lte=d["date_to"])
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    audit.record(
        municipality=m,
        actor=console_actor(request),
        action="audit.read",
        subject_type="audit",
        details={"query": request.GET.urlencode()[:300]},
    )
    return render(request, "console/audit.html", {"form": form, "page": page})


@staff_required(Role.PLATFORM_OPERATOR)
def platform(request: HttpRequest) -> HttpResponse:
    from kiban.core.models import Municipality

    return render(request, "console/platform.html", {"municipalities": Municipality.objects.all()})


@staff_required(Role.MUNICIPALITY_ADMIN)
def admin_home(request: HttpRequest) -> HttpResponse:
    from kiban.core.models import ApiToken, StaffUser

    m = console_municipality(request)
    return render(
        request,
        "console/admin.html",
        {
            "municipality": m,
            "staff": StaffUser.objects.filter(municipality=m).order_by("username"),
            "tokens": ApiToken.objects.filter(municipality=m).order_by("name"),
        },
    )
