"""The one enumeration of audited actions, and the kinds of actor (docs/design.md "One event
path"). ``audit_record`` refuses anything else: no free strings in the trail."""

from django.db import models


class Action(models.TextChoices):
    CASE_OPEN = "case.open", "Case opened"
    CASE_CLAIM = "case.claim", "Case claimed"
    CASE_VERIFY = "case.verify", "Verification closed"
    CASE_ESCALATE = "case.escalate", "Escalated to security"
    CASE_FLAG_FRAUD = "case.flag_fraud", "Flagged for suspected fraud"
    CASE_RELEASE = "case.release", "Released to verification"
    CASE_APPROVE = "case.approve", "Approved (case moves on)"
    CASE_DENY = "case.deny", "Denied by an approver"
    CASE_REJECT = "case.reject", "Rejected"
    CASE_END_HOLD = "case.end_hold", "Cooling-off ended"
    CASE_EXECUTE = "case.execute", "Execution started"
    CASE_EXECUTION_DONE = "case.execution_done", "Directory carried it out"
    CASE_EXECUTION_FAILED = "case.execution_failed", "Directory failed"
    CASE_RETRY_EXECUTION = "case.retry_execution", "Execution retried"
    CASE_ABANDON = "case.abandon", "Abandoned"
    CASE_BREAK_GLASS = "case.break_glass", "Break-glass"
    CASE_GAP_RELEASE = "case.gap_release", "Recovery gap released"
    CASE_DISPUTE = "case.dispute", "Disputed by the subject"
    CASE_EXPIRE = "case.expire", "Expired"
    EVIDENCE_PASSED = "evidence.passed", "Evidence passed"
    EVIDENCE_FAILED = "evidence.failed", "Evidence failed"
    EVIDENCE_REFUSED = "evidence.refused", "Knowledge questions refused"
    RECOVERY_CODES_ISSUE = "recovery_codes.issue", "Recovery codes issued"
    APPROVAL_GRANT = "approval.grant", "Approval given"
    POLICY_UPDATE = "policy.update", "Policy changed"
    REVIEW_CLOSE = "review.close", "Break-glass review closed"
    REVIEW_OVERDUE = "review.overdue", "Break-glass review overdue"
    IDENTITY_FREEZE_LIFT = "identity.freeze_lift", "Recovery freeze lifted"


class ActorKind(models.TextChoices):
    STAFF = "staff", "Staff member"
    SUBJECT = "subject", "Subject"
    SYSTEM = "system", "System"
    INTEGRATION = "integration", "Integration"
