"""The case page: one screen where staff work a case (issue #13, docs/design.md "The rules
table").

It shows what ``cases.selectors.case_overview`` reads and draws its buttons from
``available_actions``: the allowed ones live, the others disabled with the refusal the service
would raise. Each POST is one service call through ``run_service`` (a refusal becomes a
message, never a 500): success redirects back to the page (POST/redirect/GET); a malformed form
or a refusal shows the page again with the message and whatever the person typed, so a reason
is never lost. Executing asks for confirmation on a page of its own.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from approvals import services as approval_services
from cases import selectors as case_selectors
from cases import services as case_services
from cases.access import is_subject
from cases.models import BreakGlassReason, RecoveryCase
from cases.states import State
from recovery_desk import clock
from verification.methods import METHODS, REFUSED_METHODS
from verification.models import Evidence
from verification.services import evidence_check, evidence_refusal_record

from .. import access
from .base import render_page, run_service

OWN_CASE = (
    "This is the recovery of your own account: other people work it, and you may not see it here."
)


# --- forms ----------------------------------------------------------------------------------


class NoInputForm(forms.Form):
    """An action that asks for nothing but the button."""


def _reason_form(question: str) -> type[forms.Form]:
    class ReasonForm(forms.Form):
        reason = forms.CharField(
            label=question,
            max_length=2000,
            widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
            error_messages={"required": "Give a reason: it goes into the audit trail."},
        )

        def clean_reason(self) -> str:
            text = self.cleaned_data["reason"].strip()
            if not text:
                raise forms.ValidationError("Give a reason: it goes into the audit trail.")
            return text

    return ReasonForm


class BreakGlassForm(forms.Form):
    reason = forms.ChoiceField(
        label="Why glass must be broken",
        choices=[("", "Choose the emergency…"), *BreakGlassReason.choices],
        error_messages={"required": "Choose why glass must be broken."},
    )
    justification = forms.CharField(
        label="Justification a reviewer will read",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 40}),
        help_text="At least 20 characters and five different words: what the emergency is and "
        "how you know.",
        error_messages={"required": "Write the justification a reviewer will read."},
    )


class ExecuteForm(forms.Form):
    """Confirmation; on a break-glass case the agent also confirms having read why."""

    def __init__(self, *args: Any, break_glass: bool = False, **kw: Any):
        super().__init__(*args, **kw)
        if break_glass:
            self.fields["break_glass_read"] = forms.BooleanField(
                label="I have read why approvals and the cooling-off were skipped.",
                error_messages={"required": "Confirm you have read the break-glass warning."},
            )


# --- the actions the page can take: a name of the rules table -> one service call -------------


@dataclass(frozen=True)
class PageAction:
    form: type[forms.Form]
    call: Callable[[RecoveryCase, Any, dict], object]
    done: str  # the message after success; {reference} and {state} are filled in


def _with_reason(
    call: Callable[..., object], actor: str = "actor"
) -> Callable[[RecoveryCase, Any, dict], object]:
    """A service taking ``case``, the person (as ``actor``) and ``reason``."""
    return lambda case, user, data: call(case=case, reason=data["reason"], **{actor: user})


ACTIONS: dict[str, PageAction] = {
    "claim": PageAction(
        NoInputForm,
        lambda case, user, data: case_services.case_claim(case=case, agent=user),
        "You claimed {reference}.",
    ),
    "verify": PageAction(
        NoInputForm,
        lambda case, user, data: case_services.case_verify(case=case, actor=user),
        "Verification closed: {reference} is now {state}.",
    ),
    "approve": PageAction(
        _reason_form("Why you approve"),
        _with_reason(approval_services.approval_grant, "approver"),
        "Your approval is recorded: {reference} is {state}.",
    ),
    "deny": PageAction(
        _reason_form("Why you deny (the case is rejected)"),
        _with_reason(approval_services.approval_deny, "approver"),
        "You denied {reference}: it is {state}.",
    ),
    "flag_fraud": PageAction(
        _reason_form("What makes you suspect fraud"),
        _with_reason(case_services.case_flag_fraud),
        "{reference} is flagged and escalated to security.",
    ),
    "release": PageAction(
        _reason_form("Why the case may go on"),
        _with_reason(case_services.case_release),
        "{reference} is released to verification: evidence and approvals are asked again.",
    ),
    "reject": PageAction(
        _reason_form("Why the case is rejected"),
        _with_reason(case_services.case_reject),
        "{reference} is rejected.",
    ),
    "gap_release": PageAction(
        _reason_form("Why a second recovery inside the gap may go on"),
        _with_reason(case_services.case_gap_release),
        "The recovery gap of {reference} is released.",
    ),
    "break_glass": PageAction(
        BreakGlassForm,
        lambda case, user, data: case_services.case_break_glass(
            case=case, actor=user, reason=data["reason"], justification=data["justification"]
        ),
        "Glass broken: {reference} is {state}. Another security reviewer will review it.",
    ),
    "retry_execution": PageAction(
        NoInputForm,
        lambda case, user, data: case_services.case_retry_execution(case=case, actor=user),
        "{reference} is sent to the directory again.",
    ),
    "abandon": PageAction(
        _reason_form("Why the case is abandoned"),
        _with_reason(case_services.case_abandon),
        "{reference} is abandoned; the subject opens a new case.",
    ),
}
EXECUTE = "execute"  # its own confirmation page
PAGE_ACTIONS = frozenset({*ACTIONS, EXECUTE})
# Open by default: the step an approver came for.
OPEN_BY_DEFAULT = frozenset({"approve"})
# Drawn as the page's main step, or as a step that stops or overrides the case.
PRIMARY = frozenset({"claim", "verify", "execute", "retry_execution", "approve", "release"})
DANGER = frozenset({"flag_fraud", "reject", "deny", "abandon", "break_glass"})


@dataclass(frozen=True)
class ActionRow:
    """One button of the page: live with its form, or disabled with the refusal's sentence."""

    name: str
    label: str
    allowed: bool
    refusal: str
    form: forms.Form | None
    has_fields: bool
    open: bool

    @property
    def tone(self) -> str:
        return "default" if self.name in PRIMARY else "desk-danger" if self.name in DANGER else ""


@dataclass(frozen=True)
class EvidenceRow:
    """One evidence method: its form when the case may use it now, else why not."""

    code: str
    label: str
    allowed: bool
    refusal: str
    form: Any


# --- reading -----------------------------------------------------------------------------


def _case_for(request, case_id: int) -> RecoveryCase:
    """The case, or 404; 403 for whoever may not view it, and for the subject themselves."""
    case = case_selectors.case_for_page(case_id=case_id)
    if case is None:
        raise Http404("No such case.")
    access.require(access.may_view_case(request, case), "You have no role on this case's queue.")
    access.require(not is_subject(request.user, case.subject), OWN_CASE)
    return case


def _action_rows(overview, failed: tuple[str, forms.Form] | None) -> list[ActionRow]:
    rows = []
    for action in overview.actions:
        failed_here = failed is not None and failed[0] == action.name
        if action.name not in PAGE_ACTIONS:
            continue  # the system's and the subject's steps: nobody presses them here
        if action.refusal is not None and action.refusal.kind == "state" and not failed_here:
            continue  # not possible from this state for anyone
        spec = ACTIONS.get(action.name)
        form = None
        if failed_here and failed is not None:
            form = failed[1]  # what was typed stays, even when the action is now refused
        elif action.allowed and spec is not None:
            form = spec.form(prefix=action.name)
        rows.append(
            ActionRow(
                name=action.name,
                label=action.label,
                allowed=action.allowed,
                refusal=action.refusal.message if action.refusal else "",
                form=form,
                has_fields=bool(form is not None and form.fields),
                open=action.name in OPEN_BY_DEFAULT or failed_here,
            )
        )
    return sorted(rows, key=lambda row: not row.allowed)  # what this person can do first


def _evidence_rows(overview, failed: tuple[str, Any] | None) -> list[EvidenceRow]:
    rows = []
    for action in overview.actions:
        if not action.name.startswith("evidence:"):
            continue
        failed_here = failed is not None and failed[0] == action.name
        if action.refusal is not None and action.refusal.kind == "state" and not failed_here:
            continue
        code = action.name.split(":", 1)[1]
        method = METHODS[code]
        form = None
        refusal = action.refusal.message if action.refusal else ""
        if failed_here and failed is not None:
            form = failed[1]
        elif action.allowed and method.form_class is not None:
            form = method.form_class.for_case(overview.subject, prefix=code)
        elif action.allowed:
            refusal = "The desk has no form for this method yet."
        rows.append(
            EvidenceRow(
                code=code,
                label=action.label,
                allowed=action.allowed and form is not None,
                refusal=refusal,
                form=form,
            )
        )
    return rows


def _render(request, case_id: int, *, failed=None, status: int = 200):
    case = _case_for(request, case_id)
    now = clock.now()
    overview = case_selectors.case_overview(case=case, user=request.user, now=now)
    context = {
        "case": case,
        "o": overview,
        "now": now,
        "action_rows": _action_rows(overview, failed),
        "evidence_rows": _evidence_rows(overview, failed),
    }
    return render_page(request, "desk/case_page.html", context, title=case.reference, status=status)


def case_page(request, case_id: int):
    return _render(request, case_id)


# --- acting ------------------------------------------------------------------------------


def _back(case_id: int) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("admin:desk:case", args=[case_id]))


def _done(template: str, case_id: int) -> str:
    case = RecoveryCase.objects.only("state").get(pk=case_id)
    return template.format(reference=case.reference, state=case.get_state_display().lower())


@require_POST
def case_act(request, case_id: int, action: str):
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404("No such action on the case page.")
    case = _case_for(request, case_id)
    form = spec.form(request.POST, prefix=action)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _render(request, case_id, failed=(action, form), status=400)
    if not run_service(request, lambda: spec.call(case, request.user, form.cleaned_data)):
        return _render(request, case_id, failed=(action, form), status=409)
    messages.success(request, _done(spec.done, case_id))
    return _back(case_id)


@require_POST
def case_evidence(request, case_id: int, method: str):
    if method in REFUSED_METHODS:  # knowledge questions: refused, and the attempt audited
        case = _case_for(request, case_id)
        said: list[str] = []
        if run_service(
            request,
            lambda: said.append(
                evidence_refusal_record(case=case, method=method, actor=request.user)
            ),
        ):
            messages.error(request, said[0])
        return _render(request, case_id, status=409)
    plugin = METHODS.get(method)
    if plugin is None or plugin.form_class is None:
        raise Http404("No such evidence method.")
    case = _case_for(request, case_id)
    now = clock.now()
    subject = case_selectors.subject_summary(case=case, now=now)
    form = plugin.form_class.for_case(subject, request.POST, prefix=method)
    failed = (f"evidence:{method}", form)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _render(request, case_id, failed=failed, status=400)
    checked: list[Evidence] = []
    call = lambda: checked.append(  # noqa: E731
        evidence_check(case=case, method=plugin.code, answer=form.answer(), actor=request.user)
    )
    if not run_service(request, call):
        return _render(request, case_id, failed=failed, status=409)
    evidence = checked[0]
    if evidence.outcome == Evidence.Outcome.PASSED:
        messages.success(request, f"Evidence passed: {plugin.label} (scores {evidence.score}).")
    else:
        after = RecoveryCase.objects.only("state", "failed_checks").get(pk=case_id)
        if after.state == State.ESCALATED:
            messages.error(
                request,
                "The code did not match. Too many failed checks: the case is escalated to "
                "security, who must release it before anything else happens.",
            )
        else:
            messages.warning(
                request,
                f"The code did not match; the failed check is recorded ({after.failed_checks} on "
                "this case). Ask the caller to read the code showing now.",
            )
    return _back(case_id)


def case_execute(request, case_id: int):
    """Confirm, then send the case to the directory; the page says what will change first."""
    case = _case_for(request, case_id)
    break_glass = case.break_glass_by_id is not None
    status = 200
    if request.method == "POST":
        form = ExecuteForm(request.POST, break_glass=break_glass)
        if form.is_valid():
            if run_service(
                request, lambda: case_services.case_execute(case=case, actor=request.user)
            ):
                messages.success(
                    request,
                    f"{case.reference} is sent to the directory. This page shows what changed "
                    "and what to tell the caller once the directory is done.",
                )
                return _back(case_id)
            status = 409
        else:
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            status = 400
        case = _case_for(request, case_id)
    else:
        form = ExecuteForm(break_glass=break_glass)
    now = clock.now()
    execute = next(
        a for a in case_selectors.available_actions(case, request.user, now) if a.name == EXECUTE
    )
    context = {
        "case": case,
        "execute": execute,
        "form": form,
        "plan": case_selectors.execution_plan(case=case),
        "break_glass": break_glass,
    }
    return render_page(
        request,
        "desk/case_execute.html",
        context,
        title=f"Execute {case.reference}",
        status=status,
    )


def urls(wrap) -> list:
    return [
        path("cases/<int:case_id>/", wrap(case_page), name="case"),
        path("cases/<int:case_id>/act/<slug:action>/", wrap(case_act), name="case_act"),
        path(
            "cases/<int:case_id>/evidence/<slug:method>/",
            wrap(case_evidence),
            name="case_evidence",
        ),
        path("cases/<int:case_id>/execute/", wrap(case_execute), name="case_execute"),
    ]
