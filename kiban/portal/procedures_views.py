"""Resident portal pages of the procedures domain: catalog, forms, signing, status.

A *journey* is one run through a procedure or a life-event bundle, kept in the session
(a draft): which procedures, the answers page by page, and the payloads once built. Pages
are plain HTML forms (no JavaScript needed); every page re-validates on the server and
the check-your-answers page validates everything again before anything is signed.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods, require_POST

from kiban.core.actors import client_ip
from kiban.core.errors import KibanError
from kiban.core.models import Municipality
from kiban.core.wareki import format_wareki
from kiban.portal.auth import current_resident, portal_actor, resident_required
from kiban.procedures import bundles, catalog, forms, services
from kiban.procedures.ledger import read_payload
from kiban.procedures.models import ApplicationAttachment, ApplicationDocument, AppStatus
from kiban.procedures.schema import Field, Page, Problem, Procedure, clean_answers, clean_fields
from kiban.registry.models import Person

JOURNEYS = "kiban_journeys"
SHARED = "_shared"


def _lang() -> str:
    return "en" if (get_language() or "ja").startswith("en") else "ja"


def _municipality(request: HttpRequest) -> Municipality:
    found = current_resident(request)
    if found is not None:
        return found[1]
    code = request.GET.get("m", "")
    m = Municipality.objects.filter(code=code, active=True).first() if code else None
    m = m or Municipality.objects.filter(active=True).order_by("code").first()
    if m is None:
        raise Http404()
    return m


def _ctx(request: HttpRequest, **kw: Any) -> dict[str, Any]:
    return {"resident": current_resident(request) is not None, "lang": _lang(), **kw}


# --- catalog -------------------------------------------------------------------------------

APPLICANTS = {
    "self": {"ja": "本人", "en": "The person concerned"},
    "household_head": {"ja": "世帯主", "en": "The head of household"},
    "household_member": {"ja": "同じ世帯の方", "en": "A member of the household"},
    "proxy": {"ja": "代理人（委任状が必要）", "en": "A proxy (with a letter of authority)"},
}
LIFE_EVENTS = {
    "moving": {"ja": "引越し", "en": "Moving"},
    "childbirth": {"ja": "出生", "en": "Childbirth"},
    "death": {"ja": "おくやみ", "en": "Death in the family"},
}


def catalog_page(request: HttpRequest) -> HttpResponse:
    m = _municipality(request)
    q = request.GET.get("q", "").strip()[:50]
    event = request.GET.get("event", "")
    procs = catalog.enabled_procedures(m)
    if q:
        procs = [p for p in procs if p.matches(q)]
    if event:
        procs = [p for p in procs if event in p.life_events]
    lang = _lang()
    bundle_list = [
        b
        for b in bundles.standard_bundles().values()
        if (not event or b.life_event == event)
        and any(catalog.is_enabled(m, i.procedure_id) for i in b.items)
    ]
    return render(
        request,
        "portal/procedures/catalog.html",
        _ctx(
            request,
            municipality=m,
            municipalities=Municipality.objects.filter(active=True).order_by("code"),
            q=q,
            event=event,
            events=[(k, v[lang]) for k, v in LIFE_EVENTS.items()],
            procedures=[_card(p, lang) for p in procs],
            bundles=[
                {"id": b.id, "name": b.name[lang], "summary": (b.summary or {}).get(lang, "")}
                for b in bundle_list
            ],
        ),
    )


def _card(p: Procedure, lang: str) -> dict[str, str]:
    return {
        "id": p.id,
        "name": p.title(lang),
        "summary": (p.summary or {}).get(lang, ""),
        "department": p.department[lang],
    }


def procedure_page(request: HttpRequest, procedure_id: str) -> HttpResponse:
    m = _municipality(request)
    proc = catalog.get_procedure(m, procedure_id)
    if proc is None:
        raise Http404()
    lang = _lang()
    prefill_labels = {
        "name": {"ja": "氏名", "en": "Name"},
        "kana": {"ja": "フリガナ", "en": "Name reading"},
        "birth_date": {"ja": "生年月日", "en": "Date of birth"},
        "sex": {"ja": "性別", "en": "Sex"},
        "address": {"ja": "住所", "en": "Address"},
        "household": {"ja": "世帯の方", "en": "Household members"},
    }
    return render(
        request,
        "portal/procedures/procedure.html",
        _ctx(
            request,
            p=proc,
            name=proc.title(lang),
            summary=(proc.summary or {}).get(lang, ""),
            department=proc.department[lang],
            legal_basis=proc.legal_basis[lang],
            before=[b[lang] for b in proc.before_you_start],
            prefilled=[prefill_labels[k][lang] for k in proc.prefill],
            attachments=[
                {"name": a["name"][lang], "unless_known": a.get("unless_known", "never")}
                for a in proc.attachments
            ],
            fees=[{"label": f["label"][lang], "amount": f["amount"]} for f in proc.fees],
            pages=[pg.title[lang] for pg in proc.pages],
            applicants=[APPLICANTS[a][lang] for a in proc.applicants],
        ),
    )


def bundle_page(request: HttpRequest, bundle_id: str) -> HttpResponse:
    m = _municipality(request)
    b = bundles.get_bundle(bundle_id)
    if b is None:
        raise Http404()
    lang = _lang()
    items = []
    for item in b.items:
        proc = catalog.get_procedure(m, item.procedure_id)
        if proc is not None:
            items.append(
                {
                    "id": proc.id,
                    "name": proc.title(lang),
                    "department": proc.department[lang],
                    "required": item.required,
                }
            )
    return render(
        request,
        "portal/procedures/bundle.html",
        _ctx(request, b=b, name=b.name[lang], summary=(b.summary or {}).get(lang, ""), items=items),
    )


# --- journeys ------------------------------------------------------------------------------


@dataclass
class Step:
    scope: str  # SHARED or a procedure id
    title: str
    heading: str  # the procedure (or bundle) this page belongs to
    fields: tuple[Field, ...]


def _journeys(request: HttpRequest) -> dict[str, Any]:
    data = request.session.get(JOURNEYS)
    return data if isinstance(data, dict) else {}


def _save(request: HttpRequest, jid: str, journey: dict[str, Any]) -> None:
    all_ = _journeys(request)
    all_[jid] = journey
    # Keep the session small: the five most recent drafts.
    for old in list(all_)[:-5]:
        all_.pop(old)
    request.session[JOURNEYS] = all_


def _journey(request: HttpRequest, jid: str) -> dict[str, Any]:
    j = _journeys(request).get(jid)
    if j is None:
        raise Http404()
    return dict(j)


def _procedures(m: Municipality, journey: dict[str, Any]) -> list[Procedure]:
    out = []
    for pid in journey["procedures"]:
        proc = catalog.get_procedure(m, pid)
        if proc is None:
            raise KibanError(
                "この手続は現在受け付けていません。",
                "This procedure is not offered at the moment.",
                code="procedure_unknown",
                status=404,
            )
        out.append(proc)
    return out


def _steps(m: Municipality, journey: dict[str, Any]) -> list[Step]:
    lang = _lang()
    procs = _procedures(m, journey)
    bundle = bundles.get_bundle(journey["bundle"]) if journey.get("bundle") else None
    steps: list[Step] = []
    if bundle is not None:
        for page in bundle.shared:
            steps.append(Step(SHARED, page.title[lang], bundle.name[lang], page.fields))
    for proc in procs:
        pages: list[Page] = bundles.own_fields(bundle, proc) if bundle else list(proc.pages)
        for page in pages:
            steps.append(Step(proc.id, page.title[lang], proc.title(lang), page.fields))
    return steps


def _answers_for(m: Municipality, journey: dict[str, Any], proc: Procedure) -> dict[str, Any]:
    own = journey["answers"].get(proc.id, {})
    bundle = bundles.get_bundle(journey["bundle"]) if journey.get("bundle") else None
    if bundle is None:
        return dict(own)
    return bundles.assemble(bundle, proc, journey["answers"].get(SHARED, {}), own)


def _members(person: Person) -> list[tuple[str, str]]:
    out = []
    for s in services.household_members(person):
        rel = f"（{s.relationship}）" if s.relationship else ""
        out.append((s.person.resident_code, f"{s.full_name}{rel}"))
    return out


def _prefill(person: Person) -> dict[str, Any]:
    state = services.current_state(person)
    if state is None:
        return {}
    return {
        "name": state.full_name,
        "kana": state.full_kana,
        "birth_date": format_wareki(person.birth_date),
        "address": f"〒{state.postcode[:3]}-{state.postcode[3:]} {state.address}"
        if state.postcode
        else state.address,
        "household": [label for _, label in _members(person)],
    }


def _new_journey(
    *,
    procedures: list[str],
    bundle: str = "",
    answers: dict[str, Any] | None = None,
    supersedes: int | None = None,
) -> dict[str, Any]:
    return {
        "procedures": procedures,
        "bundle": bundle,
        "bundle_id": str(uuid.uuid4()) if bundle else "",
        "answers": answers or {},
        "supersedes": supersedes,
        "payloads": {},
    }


@require_POST
@resident_required
def start(request: HttpRequest, procedure_id: str) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, m = found
    if catalog.get_procedure(m, procedure_id) is None:
        raise Http404()
    jid = uuid.uuid4().hex[:12]
    answers: dict[str, Any] = {}
    proc = catalog.get_procedure(m, procedure_id)
    assert proc is not None
    for f in proc.fields:
        if f.type == "members":  # sensible default: the applicant
            answers.setdefault(procedure_id, {})[f.id] = [person.resident_code]
    _save(request, jid, _new_journey(procedures=[procedure_id], answers=answers))
    return redirect(f"/apply/{jid}/1/")


@require_POST
@resident_required
def start_bundle(request: HttpRequest, bundle_id: str) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, m = found
    b = bundles.get_bundle(bundle_id)
    if b is None:
        raise Http404()
    chosen = set(request.POST.getlist("procedures"))
    pids = [
        i.procedure_id
        for i in b.items
        if (i.required or i.procedure_id in chosen) and catalog.is_enabled(m, i.procedure_id)
    ]
    if not pids:
        messages.error(request, "手続を1つ以上選んでください。 / Choose at least one procedure.")
        return redirect(f"/life-events/{bundle_id}/")
    shared: dict[str, Any] = {
        f.id: [person.resident_code] for f in b.shared_fields if f.type == "members"
    }
    jid = uuid.uuid4().hex[:12]
    _save(request, jid, _new_journey(procedures=pids, bundle=bundle_id, answers={SHARED: shared}))
    return redirect(f"/apply/{jid}/1/")


@require_http_methods(["GET", "POST"])
@resident_required
def step(request: HttpRequest, jid: str, n: int) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, m = found
    journey = _journey(request, jid)
    steps = _steps(m, journey)
    if not 1 <= n <= len(steps):
        raise Http404()
    st = steps[n - 1]
    lang = _lang()
    values = journey["answers"].get(st.scope, {})
    problems: list[Problem] = []
    extra: dict[str, int] = {}
    if request.method == "POST":
        raw = forms.parse_post(st.fields, request.POST)
        values = {**values, **raw}
        journey["answers"][st.scope] = values
        journey["payloads"] = {}
        _save(request, jid, journey)
        adding = request.POST.get("_add")
        if adding:
            extra[adding] = 1
        else:
            _, problems = clean_fields(st.fields, raw)
            if not problems:
                after = f"/apply/{jid}/attachments/" if _attachment_slots(m, journey) else ""
                nxt = (
                    f"/apply/{jid}/{n + 1}/" if n < len(steps) else after or f"/apply/{jid}/check/"
                )
                if request.GET.get("back") == "check":
                    nxt = f"/apply/{jid}/check/"
                return redirect(nxt)
    return render(
        request,
        "portal/procedures/step.html",
        _ctx(
            request,
            jid=jid,
            n=n,
            total=len(steps),
            step=st,
            back=f"/apply/{jid}/{n - 1}/" if n > 1 else "",
            widgets=forms.widgets(
                st.fields, values, problems, lang, members=_members(person), extra_rows=extra
            ),
            summary=forms.error_summary(problems, lang),
            prefill=_prefill(person) if n == 1 else {},
            from_check=request.GET.get("back") == "check",
        ),
        status=422 if problems else 200,
    )


def _check_all(
    m: Municipality, person: Person, journey: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[Problem], dict[str, dict[str, Any]]]:
    """Validate every procedure of the journey; (sections, problems, cleaned by procedure)."""
    lang = _lang()
    steps = _steps(m, journey)
    members = dict(_members(person))
    sections = []
    problems: list[Problem] = []
    cleaned_all: dict[str, dict[str, Any]] = {}
    step_of: dict[tuple[str, str], int] = {}
    for i, st in enumerate(steps, start=1):
        for f in st.fields:
            step_of.setdefault((st.scope, f.id), i)
    for proc in _procedures(m, journey):
        data = _answers_for(m, journey, proc)
        cleaned, probs = clean_answers(proc, data)
        probs += services.context_problems(proc, person=person, answers=cleaned)
        cleaned_all[proc.id] = cleaned
        rows = []
        for f in proc.fields:
            n = step_of.get((proc.id, f.id)) or step_of.get((SHARED, f.shared or ""), 0)
            if not n:
                bundle = bundles.get_bundle(journey["bundle"]) if journey.get("bundle") else None
                item = bundle.item(proc.id) if bundle else None
                key = item.mapping.get(f.id) if item else None
                n = step_of.get((SHARED, key or ""), 0)
            rows.append(
                {
                    "label": f.label[lang],
                    "value": forms.display_value(f, cleaned.get(f.id), lang, members),
                    "change": f"/apply/{journey_id(journey)}/{n}/?back=check" if n else "",
                }
            )
        for p in probs:
            n = step_of.get((proc.id, p["field"].split(".")[0]), 1)
            problems.append(
                {
                    **p,
                    "field": p["field"],
                    "href": f"/apply/{journey_id(journey)}/{n}/",
                    "procedure": proc.title(lang),
                }
            )
        sections.append(
            {"name": proc.title(lang), "department": proc.department[lang], "rows": rows}
        )
    return sections, problems, cleaned_all


def journey_id(journey: dict[str, Any]) -> str:
    return str(journey.get("_jid", ""))


@require_http_methods(["GET"])
@resident_required
def check(request: HttpRequest, jid: str) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, m = found
    journey = _journey(request, jid)
    journey["_jid"] = jid
    sections, problems, _ = _check_all(m, person, journey)
    lang = _lang()
    uploaded = {(a.procedure_id, a.attachment_id): a.filename for a in _drafts(person, jid)}
    return render(
        request,
        "portal/procedures/check.html",
        _ctx(
            request,
            jid=jid,
            sections=sections,
            prefill=_prefill(person),
            attachments=[
                {
                    "procedure": proc.title(_lang()),
                    "name": a["name"][_lang()],
                    "file": uploaded.get((proc.id, a["id"]), ""),
                }
                for proc, a in _attachment_slots(m, journey)
            ],
            attachments_url=f"/apply/{jid}/attachments/",
            summary=[
                {"href": p["href"], "text": f"{p['procedure']}: {forms.error_text(p, lang)}"}
                for p in problems
            ],
            ok=not problems,
        ),
        status=422 if problems else 200,
    )


def _build_payloads(
    m: Municipality,
    journey: dict[str, Any],
    cleaned: dict[str, dict[str, Any]],
    drafts: dict[str, dict[str, str]],
) -> dict[str, str]:
    out = {}
    for pid, answers in cleaned.items():
        envelope: dict[str, Any] = {"_nonce": uuid.uuid4().hex}
        if drafts.get(pid):
            envelope["_attachments"] = drafts[pid]  # sha256 by attachment id: signed too
        if journey.get("bundle_id"):
            envelope["_bundle_id"] = journey["bundle_id"]
        if journey.get("supersedes"):
            envelope["_supersedes"] = int(journey["supersedes"])
        payload = services.canonical_payload(m, pid, {**answers, **envelope})
        out[pid] = base64.b64encode(payload).decode()
    return out


@require_http_methods(["GET", "POST"])
@resident_required
def sign(request: HttpRequest, jid: str) -> HttpResponse:
    """Sign every payload of the journey in one step and submit them together."""
    found = current_resident(request)
    assert found is not None
    person, m = found
    journey = _journey(request, jid)
    journey["_jid"] = jid
    _, problems, cleaned = _check_all(m, person, journey)
    if problems:
        return redirect(f"/apply/{jid}/check/")
    drafts = _draft_digests(person, jid)
    if (
        not journey.get("payloads")
        or set(journey["payloads"]) != set(cleaned)
        or journey.get("attachment_digests") != drafts
    ):
        journey["payloads"] = _build_payloads(m, journey, cleaned, drafts)
        journey["attachment_digests"] = drafts
        _save(request, jid, {k: v for k, v in journey.items() if k != "_jid"})
    payloads = {pid: base64.b64decode(b) for pid, b in journey["payloads"].items()}
    if request.GET.get("download") in payloads:
        pid = request.GET["download"]
        response = HttpResponse(payloads[pid], content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="{pid}.json"'
        return response
    error: KibanError | None = None
    if request.method == "POST":
        try:
            items = [
                services.SignedItem(pid, payload, _signature(request, person, pid, payload))
                for pid, payload in payloads.items()
            ]
            apps = services.submit_signed_bundle(
                municipality=m,
                items=items,
                channel="portal",
                source_ip=client_ip(request),
                draft_key=jid,
            )
        except KibanError as exc:
            error = exc
        else:
            all_ = _journeys(request)
            all_.pop(jid, None)
            request.session[JOURNEYS] = all_
            messages.success(
                request,
                f"{len(apps)}件の申請を受け付けました。 / {len(apps)} application(s) received.",
            )
            return redirect("/applications/?new=" + ",".join(str(a.pk) for a in apps))
    lang = _lang()
    names = {p.id: p.title(lang) for p in _procedures(m, journey)}
    return render(
        request,
        "portal/procedures/sign.html",
        _ctx(
            request,
            jid=jid,
            items=[
                {"id": pid, "name": names[pid], "text": payloads[pid].decode("utf-8")}
                for pid in payloads
            ],
            error=error,
            demo=settings.DEMO,
            demo_pin=_demo_pin() if settings.DEMO else "",
        ),
        status=400 if error else 200,
    )


def _demo_pin() -> str:
    from kiban.identity.services import DEMO_SIGN_PIN

    return DEMO_SIGN_PIN


def _signature(request: HttpRequest, person: Person, pid: str, payload: bytes) -> bytes:
    """A real client app uploads one detached CMS per payload; the demo card signs here."""
    upload = request.FILES.get(f"signature-{pid}")
    if upload is not None:
        if upload.size is not None and upload.size > 64 * 1024:
            raise KibanError(
                "署名ファイルが大きすぎます。",
                "The signature file is too large.",
                code="signature_invalid",
                status=422,
            )
        raw = bytes(upload.read())
        if raw.lstrip().startswith(b"-----BEGIN"):
            body = "".join(
                ln
                for ln in raw.decode("ascii", "replace").splitlines()
                if ln and not ln.startswith("-----")
            )
            raw = base64.b64decode(body)
        return raw
    from kiban.identity.cards import CardError, SoftCard
    from kiban.identity.services import demo_card_path

    path = demo_card_path(person.municipality_id, person.resident_code)
    if not settings.DEMO or not path.exists():
        raise KibanError(
            "署名ファイルを選んでください。",
            "Choose the signature file made by your card app.",
            code="signature_missing",
            status=400,
        )
    try:
        return SoftCard.open(path).sign_cms(payload, request.POST.get("sign_pin", ""))
    except CardError as exc:
        raise KibanError(exc.message_ja, exc.message_en, code="card_pin", status=400) from exc


# --- attachments ---------------------------------------------------------------------------


def _attachment_slots(m: Municipality, journey: dict[str, Any]) -> list[tuple[Procedure, Any]]:
    return [(p, a) for p in _procedures(m, journey) for a in services.needed_attachments(p)]


def _drafts(person: Person, jid: str) -> list[ApplicationAttachment]:
    return list(
        ApplicationAttachment.objects.filter(
            municipality_id=person.municipality_id,
            person=person,
            draft_key=jid,
            application__isnull=True,
        ).only("procedure_id", "attachment_id", "filename", "sha256")
    )


def _draft_digests(person: Person, jid: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for a in _drafts(person, jid):
        out.setdefault(a.procedure_id, {})[a.attachment_id] = a.sha256
    return out


@require_http_methods(["GET", "POST"])
@resident_required
def attachments(request: HttpRequest, jid: str) -> HttpResponse:
    """Supporting documents, only those the municipality cannot look up (optional here;
    a reviewer may ask for them by returning the application)."""
    found = current_resident(request)
    assert found is not None
    person, m = found
    journey = _journey(request, jid)
    slots = _attachment_slots(m, journey)
    problems: list[Problem] = []
    if request.method == "POST":
        actor = portal_actor(request)
        for proc, a in slots:
            name = f"file-{proc.id}-{a['id']}"
            upload = request.FILES.get(name)
            if upload is None:
                continue
            try:
                services.add_draft_attachment(
                    actor=actor,
                    municipality=m,
                    person=person,
                    draft_key=jid,
                    procedure_id=proc.id,
                    attachment_id=a["id"],
                    filename=upload.name or "",
                    content=upload.read(),
                )
            except KibanError as exc:
                problems.append(
                    {
                        "field": name,
                        "code": exc.code,
                        "message_ja": exc.message_ja,
                        "message_en": exc.message_en,
                    }
                )
        if not problems:
            return redirect(f"/apply/{jid}/check/")
    lang = _lang()
    uploaded = {(a.procedure_id, a.attachment_id): a.filename for a in _drafts(person, jid)}
    errors = forms.error_map(problems, lang)
    return render(
        request,
        "portal/procedures/attachments.html",
        _ctx(
            request,
            jid=jid,
            slots=[
                {
                    "id": f"f-file-{proc.id}-{a['id']}",
                    "name": f"file-{proc.id}-{a['id']}",
                    "procedure": proc.title(lang),
                    "label": a["name"][lang],
                    "file": uploaded.get((proc.id, a["id"]), ""),
                    "error": errors.get(f"file-{proc.id}-{a['id']}", ""),
                }
                for proc, a in slots
            ],
            summary=[
                {"href": "#f-" + p["field"], "text": forms.error_text(p, lang)} for p in problems
            ],
        ),
        status=422 if problems else 200,
    )


# --- status --------------------------------------------------------------------------------


def _status_badge(status: str) -> str:
    return {
        AppStatus.APPROVED: "badge-ok",
        AppStatus.REJECTED: "badge-err",
        AppStatus.RETURNED: "badge-warn",
    }.get(AppStatus(status), "")


@resident_required
def my_applications(request: HttpRequest) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    _, m = found
    actor = portal_actor(request)
    apps = list(services.applications_of_resident(actor=actor, municipality=m)[:100])
    names = {p.id: p.title(_lang()) for p in catalog.all_procedures(m).values()}
    new = {int(x) for x in request.GET.get("new", "").split(",") if x.isdigit()}
    rows = [
        {
            "id": a.pk,
            "name": names.get(a.procedure_id, a.procedure_id),
            "status": AppStatus(a.status).label,
            "badge": _status_badge(a.status),
            "created": a.created_at,
            "new": a.pk in new,
            "channel": a.channel,
        }
        for a in apps
    ]
    return render(request, "portal/procedures/applications.html", _ctx(request, rows=rows))


@require_http_methods(["GET", "POST"])
@resident_required
def application_detail(request: HttpRequest, app_id: int) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    person, m = found
    actor = portal_actor(request)
    error: KibanError | None = None
    try:
        app = services.get_application(actor=actor, municipality=m, application_id=app_id)
    except KibanError as exc:
        raise Http404() from exc
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "withdraw":
                services.withdraw(actor=actor, municipality=m, application_id=app.pk)
                messages.success(request, "申請を取り下げました。 / Application withdrawn.")
            elif action == "message":
                services.post_message(
                    actor=actor,
                    municipality=m,
                    application_id=app.pk,
                    text=request.POST.get("text", ""),
                )
                messages.success(request, "メッセージを送りました。 / Message sent.")
            elif action == "correct" and app.status == AppStatus.RETURNED:
                return _start_correction(request, app)
            else:
                raise Http404()
        except KibanError as exc:
            error = exc
        else:
            return redirect(f"/applications/{app.pk}/")
    proc = services.procedure_of(app)
    lang = _lang()
    members = dict(_members(person))
    answers = services.answers_of(app)
    unread = services.mark_read(actor=actor, municipality=m, application_id=app.pk)
    return render(
        request,
        "portal/procedures/application.html",
        _ctx(
            request,
            app=app,
            name=proc.title(lang),
            department=proc.department[lang],
            status=AppStatus(app.status).label,
            badge=_status_badge(app.status),
            rows=[
                {
                    "label": f.label[lang],
                    "value": forms.display_value(f, answers.get(f.id), lang, members),
                }
                for f in proc.fields
            ],
            thread=list(app.messages.order_by("created_at", "pk")),
            unread=unread,
            documents=list(app.documents.order_by("pk").only("pk", "kind", "filename")),
            can_withdraw=app.status
            in (AppStatus.SUBMITTED, AppStatus.IN_REVIEW, AppStatus.RETURNED),
            can_correct=app.status == AppStatus.RETURNED,
            superseded_by=getattr(app, "superseded_by", None)
            if app.status == AppStatus.SUPERSEDED
            else None,
            error=error,
        ),
        status=400 if error else 200,
    )


def _start_correction(request: HttpRequest, app: Any) -> HttpResponse:
    """差戻し → a new draft prefilled with the returned answers; the new signed
    application supersedes the returned one (both kept as evidence)."""
    data = read_payload(app.payload)
    answers = {
        k: v
        for k, v in data.items()
        if not k.startswith("_") and k not in ("procedure", "municipality")
    }
    jid = uuid.uuid4().hex[:12]
    _save(
        request,
        jid,
        _new_journey(
            procedures=[app.procedure_id], answers={app.procedure_id: answers}, supersedes=app.pk
        ),
    )
    return redirect(f"/apply/{jid}/1/")


@resident_required
def document(request: HttpRequest, app_id: int, doc_id: int) -> HttpResponse:
    found = current_resident(request)
    assert found is not None
    _, m = found
    actor = portal_actor(request)
    try:
        app = services.get_application(actor=actor, municipality=m, application_id=app_id)
    except KibanError as exc:
        raise Http404() from exc
    doc = ApplicationDocument.objects.filter(application=app, pk=doc_id).first()
    if doc is None:
        raise Http404()
    response = HttpResponse(bytes(doc.content), content_type=doc.content_type)
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    return response
