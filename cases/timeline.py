"""A case's history for the case page: audit events, evidence and approvals merged into one
timeline, newest first, with the reasons people gave (docs/design.md "One event path").

Every evidence check and every approval writes an audit event naming its row
(``evidence_id``, ``approval_id``), so the timeline is the audit trail with those rows joined
in: the authenticator read, the approver's reason. A row no event names (written by a path
outside the services) still gets an entry of its own. Three queries, whatever the length of the
history: the events, the evidence, the approvals.
"""

from dataclasses import dataclass
from datetime import datetime

from approvals.models import Approval
from audit.actions import Action, ActorKind
from audit.describe import describe, state_label
from audit.models import AuditEvent
from verification.models import Evidence

from .models import RecoveryCase

# Events whose reason is kept on the case (``closing_reason``), not in the event's detail.
_CLOSING = frozenset({Action.CASE_REJECT, Action.CASE_ABANDON, Action.CASE_DISPUTE})


@dataclass(frozen=True)
class CaseRecords:
    """Everything the case page shows of a case's past, each list oldest first."""

    events: list[AuditEvent]
    evidence: list[Evidence]
    approvals: list[Approval]

    def last_event(self, action: str) -> AuditEvent | None:
        return next((e for e in reversed(self.events) if e.action == action), None)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    sentence: str
    old_state: str  # the state's label, "" when the entry moved nothing
    new_state: str
    notes: tuple[str, ...] = ()
    tone: str = ""  # "passed", "failed", "alarm" or "": how the page marks it


def case_records(case: RecoveryCase) -> CaseRecords:
    """The case's audit events, evidence and approvals: three queries, no authenticator key."""
    events = list(AuditEvent.objects.filter(case=case).order_by("occurred_at", "id"))
    evidence = list(
        Evidence.objects.filter(case=case)
        .select_related("authenticator", "checked_by", "answered_by")
        .defer("authenticator__key", "answered_by__password_hash")
        .order_by("checked_at", "id")
    )
    approvals = list(
        Approval.objects.filter(case=case).select_related("approver").order_by("decided_at", "id")
    )
    return CaseRecords(events=events, evidence=evidence, approvals=approvals)


def _actor(event: AuditEvent) -> str:
    if event.actor_kind == ActorKind.SYSTEM:
        return "system"
    if event.actor_kind == ActorKind.SUBJECT:
        return "the subject"
    return event.actor_label


def _evidence_notes(evidence: Evidence, subject_id: int) -> tuple[str, ...]:
    notes = []
    if evidence.authenticator is not None:
        notes.append(f"Authenticator: {evidence.authenticator.label}")
    if evidence.answered_by is not None and evidence.answered_by_id != subject_id:
        notes.append(f"Answered by the owner, {evidence.answered_by.display_name}")
    return tuple(notes)


def _approval_notes(approval: Approval) -> tuple[str, ...]:
    return (f"Reason: {approval.reason}",)


def _tone(event: AuditEvent) -> str:
    if event.action in (Action.EVIDENCE_PASSED, Action.CASE_EXECUTION_DONE):
        return "passed"
    if event.action in (Action.EVIDENCE_FAILED, Action.CASE_EXECUTION_FAILED):
        return "failed"
    if event.action in (
        Action.CASE_ESCALATE,
        Action.CASE_FLAG_FRAUD,
        Action.CASE_BREAK_GLASS,
        Action.CASE_DENY,
        Action.CASE_REJECT,
        Action.CASE_DISPUTE,
    ):
        return "alarm"
    return ""


def case_timeline(case: RecoveryCase, records: CaseRecords) -> list[TimelineEntry]:
    """The merged timeline, newest first. No query: ``records`` holds every row it reads."""
    evidence_by_id = {e.pk: e for e in records.evidence}
    approval_by_id = {a.pk: a for a in records.approvals}
    shown_evidence: set[int] = set()
    shown_approvals: set[int] = set()
    entries: list[tuple[datetime, int, TimelineEntry]] = []
    for event in records.events:
        detail = event.detail if isinstance(event.detail, dict) else {}
        notes: list[str] = []
        evidence = evidence_by_id.get(detail.get("evidence_id"))  # type: ignore[arg-type]
        if evidence is not None:
            shown_evidence.add(evidence.pk)
            notes += _evidence_notes(evidence, case.subject_id)
        approval = approval_by_id.get(detail.get("approval_id"))  # type: ignore[arg-type]
        if approval is not None:
            shown_approvals.add(approval.pk)
            if approval.reason != detail.get("reason"):  # a denial's reason is in the sentence
                notes += _approval_notes(approval)
        if event.action in _CLOSING and case.closing_reason and not detail.get("reason"):
            notes.append(f"Reason: {case.closing_reason}")
        entry = TimelineEntry(
            at=event.occurred_at,
            actor=_actor(event),
            sentence=describe(event),
            old_state=state_label(event.old_state) if event.old_state else "",
            new_state=state_label(event.new_state) if event.new_state else "",
            notes=tuple(notes),
            tone=_tone(event),
        )
        entries.append((event.occurred_at, 2 * event.pk, entry))
    for evidence in records.evidence:
        if evidence.pk not in shown_evidence:
            outcome = "passed" if evidence.outcome == Evidence.Outcome.PASSED else "failed"
            entry = TimelineEntry(
                at=evidence.checked_at,
                actor=evidence.checked_by.get_username(),
                sentence=f"Evidence {outcome}: {evidence.get_method_display()}",
                old_state="",
                new_state="",
                notes=_evidence_notes(evidence, case.subject_id),
                tone=outcome,
            )
            entries.append((evidence.checked_at, 2 * evidence.pk + 1, entry))
    for approval in records.approvals:
        if approval.pk not in shown_approvals:
            entry = TimelineEntry(
                at=approval.decided_at,
                actor=approval.approver.get_username(),
                sentence=f"{approval.get_decision_display()} by {approval.approver}",
                old_state="",
                new_state="",
                notes=_approval_notes(approval),
            )
            entries.append((approval.decided_at, 2 * approval.pk + 1, entry))
    entries.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [entry for _, _, entry in entries]
