"""Audit events read as sentences (docs/design.md "One event path"; the trail browser).

``describe(event)`` gives one sentence per event, ``detail_items(event)`` labelled readable
pairs of its detail. Both are pure functions of the event row: no queries (the actor's name
is the stored ``actor_label``, the case reference is computed from ``case_id``), so a page of
fifty events costs what the page's one query costs. Neither ever shows raw JSON or anything
that looks like a secret (a key naming a code, password, token, secret or answer is
withheld), and both accept any ``detail`` shape, since old rows keep the shape of their day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from .actions import Action, ActorKind

# Keys whose values are never shown, whatever an old or future writer put there.
_SECRET_KEY = re.compile(r"(code|otp|password|passwd|secret|token|answer|key|pin)$", re.I)
# Values that look like a secret even under a harmless key: bare 6-8 digit codes.
_SECRET_VALUE = re.compile(r"^\s*\d{6,8}\s*$")
WITHHELD = "(withheld)"
_MAX_TEXT = 300


class EventLike(Protocol):
    action: str
    actor_label: str
    actor_kind: str
    case_id: int | None
    identity_id: int | None
    old_state: str
    new_state: str
    detail: Any


# --- small readable pieces --------------------------------------------------------------


def _clip(text: Any, limit: int = _MAX_TEXT) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def state_label(code: str) -> str:
    """A state's words ("Awaiting approval"); the trail, the timeline and the review pages."""
    from cases.states import State  # cases imports audit: read lazily

    try:
        return str(State(code).label)
    except ValueError:
        return code.replace("_", " ")


def _method_label(code: Any) -> str:
    code = str(code)
    if code == "totp":
        return "TOTP code"
    try:
        from verification.methods import METHODS  # verification imports audit

        method = METHODS.get(code)
    except ImportError:  # pragma: no cover - verification is always installed
        method = None
    return str(method.label) if method is not None else code.replace("_", " ")


def _break_glass_reason_label(code: Any) -> str:
    from cases.models import BreakGlassReason

    try:
        return str(BreakGlassReason(code).label)
    except ValueError:
        return _clip(code)


def _outcome_label(code: Any) -> str:
    from cases.models import ReviewOutcome

    try:
        return str(ReviewOutcome(code).label)
    except ValueError:
        return _clip(str(code).replace("_", " "))


def _channel_label(code: Any) -> str:
    return _clip(str(code).replace("_", " "))


def _is_secret(key: str, value: Any) -> bool:
    if _SECRET_KEY.search(key.replace("-", "_")):
        return True
    return isinstance(value, str) and bool(_SECRET_VALUE.match(value))


def _plain(value: Any) -> str:
    """A JSON value as words: lists joined with commas, mappings as ``key: value`` pairs,
    never braces or brackets."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        parts = []
        for key in sorted(value):
            shown = WITHHELD if _is_secret(str(key), value[key]) else _plain(value[key])
            parts.append(f"{_humanise(str(key))}: {shown}")
        return _clip("; ".join(parts)) if parts else "—"
    if isinstance(value, list | tuple):
        return _clip(", ".join(_plain(v) for v in value)) if value else "none"
    return _clip(value)


def _humanise(key: str) -> str:
    words = key.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if words else key


def _detail(event: EventLike) -> dict[str, Any]:
    return event.detail if isinstance(event.detail, dict) else {}


def _actor(event: EventLike) -> str:
    if event.actor_kind == ActorKind.SYSTEM:
        return "The system"
    if event.actor_kind == ActorKind.SUBJECT:
        return "The subject"
    if event.actor_kind == ActorKind.INTEGRATION:
        return f"Integration {event.actor_label}" if event.actor_label else "An integration"
    return event.actor_label or "Someone"


def _failures(counts: Any) -> str:
    """``{"subject": 2, "holder": 2}`` -> "2 failures for the subject, 2 for who answers"."""
    if not isinstance(counts, Mapping) or not counts:
        return ""
    names = {
        "subject": "the subject",
        "holder": "who answers",
        "authenticator": "the authenticator",
    }
    parts = []
    order = list(names)
    ranked = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    for i, key in enumerate(ranked):
        label = names.get(key, _humanise(key).lower())
        parts.append(f"{_plain(counts[key])} {'failures ' if i == 0 else ''}for {label}")
    return ", ".join(parts)


def _with(text: str, value: Any, joiner: str = ": ") -> str:
    """``text``, then ``value`` when there is one, withheld as ``detail_items`` withholds it."""
    if value in (None, ""):
        return text
    shown = WITHHELD if _is_secret("", value) else _clip(value)
    return f"{text}{joiner}{shown}"


# --- sentences ---------------------------------------------------------------------------


def _evidence(event: EventLike, passed: bool) -> str:
    d = _detail(event)
    method = _method_label(d.get("method", "evidence"))
    if passed:
        return f"Evidence passed: {method} matched (checked by {_actor(event)})"
    text = f"Evidence failed: {method} did not match"
    if d.get("error"):
        text = f"Evidence failed: {method}: {_clip(d['error'])}"
    failures = _failures(d.get("failures"))
    return f"{text} ({failures})" if failures else text


def _escalate(event: EventLike) -> str:
    d = _detail(event)
    text = "The system escalated the case to security"
    failures = _failures(d.get("failures"))
    if failures:
        text += f" after repeated failed evidence ({failures})"
    if d.get("checked_by"):
        text += f"; last check by {_clip(d['checked_by'])}"
    return text


def _approve(event: EventLike) -> str:
    d = _detail(event)
    text = f"{_actor(event)} gave the final approval"
    if d.get("approvals") is not None and d.get("of") is not None:
        text += f" ({_plain(d['approvals'])} of {_plain(d['of'])})"
    if event.new_state:
        text += f"; the case moves to {state_label(event.new_state).lower()}"
    return _with(text, d.get("reason"))


def _grant(event: EventLike) -> str:
    d = _detail(event)
    text = f"Approval given by {_actor(event)}"
    if d.get("approvals") is not None and d.get("of") is not None:
        text += f" ({_plain(d['approvals'])} of {_plain(d['of'])} needed)"
    return _with(text, d.get("reason"))


def _verify(event: EventLike) -> str:
    d = _detail(event)
    text = f"{_actor(event)} closed verification"
    if d.get("score") is not None:
        methods = d.get("methods")
        shown = ", ".join(_method_label(m) for m in methods) if isinstance(methods, list) else ""
        text += f" with evidence score {_plain(d['score'])}"
        if shown:
            text += f" ({shown})"
    if event.new_state:
        text += f"; the case moves to {state_label(event.new_state).lower()}"
    return text


def _break_glass(event: EventLike) -> str:
    d = _detail(event)
    text = f"{_actor(event)} broke glass"
    if d.get("reason"):
        text += f" ({_break_glass_reason_label(d['reason'])})"
    return _with(text, d.get("justification") or d.get("statement"))


def _execution_done(event: EventLike) -> str:
    d = _detail(event)
    text = "The directory carried out the recovery"
    if d.get("attempts") is not None:
        text += f" (attempt {_plain(d['attempts'])})"
    return text


def _execution_failed(event: EventLike) -> str:
    d = _detail(event)
    text = "The directory failed"
    if d.get("attempts") is not None:
        text += f" after {_plain(d['attempts'])} attempt(s)"
    return _with(text, d.get("error"))


def _policy(event: EventLike) -> str:
    d = _detail(event)
    text = f"{_actor(event)} changed the policy"
    if d.get("policy"):
        text += f" {_clip(d['policy'], 80)}"
    if d.get("version") is not None:
        text += f" (now version {_plain(d['version'])})"
    new = d.get("new")
    if isinstance(new, Mapping) and new:
        text += ": " + ", ".join(_humanise(str(k)).lower() for k in sorted(new))
    return text


def _evidence_refused(event: EventLike) -> str:
    """``{"method": "knowledge_questions", "refusal": "knowledge_refused"}``: an attempt to
    record evidence the desk never counts."""
    d = _detail(event)
    method = _method_label(d.get("method") or "evidence")
    text = f"{_actor(event)} tried to record {method}: refused"
    if d.get("refusal") == "knowledge_refused" or d.get("method") == "knowledge_questions":
        return text + ", they prove nothing"
    if d.get("refusal"):
        text += f" ({_clip(str(d['refusal']).replace('_', ' '), 80)})"
    return text


def _recovery_codes_issue(event: EventLike) -> str:
    """``{"count": 10}`` on the person's identity: new codes replace every unused one."""
    d = _detail(event)
    count = d.get("count")
    codes = "recovery codes" if count in (None, "") else f"{_plain(count)} recovery codes"
    if count == 1:
        codes = "1 recovery code"
    whom = d.get("to") or d.get("username")
    if whom:
        whom = _clip(whom, 150)
    elif event.identity_id is not None:
        whom = f"identity #{event.identity_id}"
    else:
        whom = "a person"
    return f"{_actor(event)} issued {codes} to {whom}; any earlier unused codes no longer work"


def _when(value: Any) -> str:
    """An ISO timestamp as ``2026-11-30 09:00 UTC`` (as stored when it was one), else as is."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return _clip(value, 40)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return f"{moment:%Y-%m-%d %H:%M} UTC"
    return f"{moment:%Y-%m-%d %H:%M}"


def _review_close(event: EventLike) -> str:
    d = _detail(event)
    text = f"{_actor(event)} closed the break-glass review"
    if d.get("used_by"):
        text += f" of {_clip(d['used_by'], 150)}\u2019s use"
    if d.get("outcome"):
        text += f" as {_outcome_label(d['outcome']).lower()}"
    return _with(text, d.get("findings") or d.get("statement") or d.get("reason"))


def _review_overdue(event: EventLike) -> str:
    d = _detail(event)
    text = "The break-glass review"
    if d.get("used_by"):
        text += f" of {_clip(d['used_by'], 150)}\u2019s use"
    text += " is overdue"
    if d.get("due_at"):
        text += f" (was due {_when(d['due_at'])})"
    return text + "; escalated"


def _simple(verb: str, *, reason_key: str = "reason") -> Callable[[EventLike], str]:
    def sentence(event: EventLike) -> str:
        d = _detail(event)
        return _with(f"{_actor(event)} {verb}", d.get(reason_key) or d.get("statement"))

    return sentence


def _open(event: EventLike) -> str:
    d = _detail(event)
    text = f"{_actor(event)} opened the case"
    if d.get("intake_channel"):
        text += f" (intake by {_channel_label(d['intake_channel'])})"
    return text


def _deny(event: EventLike) -> str:
    return _with(f"Approval denied by {_actor(event)}", _detail(event).get("reason"))


_SENTENCES: dict[str, Callable[[EventLike], str]] = {
    Action.CASE_OPEN: _open,
    Action.CASE_CLAIM: _simple("claimed the case"),
    Action.CASE_VERIFY: _verify,
    Action.CASE_ESCALATE: _escalate,
    Action.CASE_FLAG_FRAUD: _simple("flagged the case for suspected fraud"),
    Action.CASE_RELEASE: _simple("released the case back to verification"),
    Action.CASE_APPROVE: _approve,
    Action.CASE_DENY: _deny,
    Action.CASE_REJECT: _simple("rejected the case"),
    Action.CASE_END_HOLD: lambda e: f"{_actor(e)} ended the cooling-off; the case is ready",
    Action.CASE_EXECUTE: lambda e: f"{_actor(e)} started execution on the directory",
    Action.CASE_EXECUTION_DONE: _execution_done,
    Action.CASE_EXECUTION_FAILED: _execution_failed,
    Action.CASE_RETRY_EXECUTION: lambda e: f"{_actor(e)} retried execution on the directory",
    Action.CASE_ABANDON: _simple("abandoned the case"),
    Action.CASE_BREAK_GLASS: _break_glass,
    Action.CASE_GAP_RELEASE: _simple("released the recovery gap"),
    Action.CASE_DISPUTE: _simple("disputed the case (\u201cthis was not me\u201d)"),
    Action.CASE_EXPIRE: lambda e: f"{_actor(e)} expired the case: its deadline passed",
    Action.EVIDENCE_PASSED: lambda e: _evidence(e, passed=True),
    Action.EVIDENCE_FAILED: lambda e: _evidence(e, passed=False),
    Action.EVIDENCE_REFUSED: _evidence_refused,
    Action.RECOVERY_CODES_ISSUE: _recovery_codes_issue,
    Action.APPROVAL_GRANT: _grant,
    Action.POLICY_UPDATE: _policy,
    Action.REVIEW_CLOSE: _review_close,
    Action.REVIEW_OVERDUE: _review_overdue,
}


def action_label(action: str) -> str:
    try:
        return str(Action(action).label)
    except ValueError:
        return action


def describe(event: EventLike) -> str:
    """One readable sentence for ``event``, from its action, actor label, states and detail."""
    sentence = _SENTENCES.get(event.action)
    text = sentence(event) if sentence else f"{_actor(event)}: {action_label(event.action)}"
    return text.replace("{", "(").replace("}", ")")


# --- labelled pairs ----------------------------------------------------------------------

_LABELS: dict[str, str] = {
    "reason": "Reason",
    "justification": "Justification",
    "statement": "Statement",
    "method": "Method",
    "outcome": "Outcome",
    "score": "Evidence score",
    "methods": "Methods",
    "failures": "Failures so far",
    "checked_by": "Checked by",
    "error": "Error",
    "attempts": "Attempts",
    "directory": "Directory changes",
    "approvals": "Approvals",
    "of": "Approvals needed",
    "approval_id": "Approval record",
    "evidence_id": "Evidence record",
    "policy": "Policy",
    "policy_version": "Policy version",
    "version": "Version",
    "old": "Before",
    "new": "After",
    "intake_channel": "Intake channel",
    "findings": "Findings",
    "follow_up": "Follow-up",
    "due_at": "Due",
    "review_id": "Review record",
    "review_due_at": "Review due",
    "used_by": "Break-glass used by",
    "overdue": "Closed after it was due",
    "refusal": "Refused because",
    "count": "Codes issued",
}

_BREAK_GLASS_ACTIONS = frozenset(
    {Action.CASE_BREAK_GLASS, Action.REVIEW_CLOSE, Action.REVIEW_OVERDUE}
)
_TIMES = frozenset({"due_at", "review_due_at"})

# Shown first, in this order; the rest follow alphabetically.
_ORDER = ("reason", "justification", "statement", "findings", "outcome", "method", "error")


def _value_for(key: str, value: Any) -> str:
    if key == "method":
        return _method_label(value)
    if key == "methods" and isinstance(value, list):
        return ", ".join(_method_label(v) for v in value) or "none"
    if key == "failures":
        return _failures(value) or _plain(value)
    if key == "intake_channel":
        return _channel_label(value)
    if key == "outcome":
        return _outcome_label(value)
    if key == "refusal" and value == "knowledge_refused":
        return "knowledge questions prove nothing"
    if key.endswith("_id") and isinstance(value, int):
        return f"#{value}"
    return _plain(value)


def detail_items(event: EventLike) -> list[tuple[str, str]]:
    """Labelled readable pairs: the state change, then each detail key (known keys with their
    own label, the rest humanised). Secret-looking keys or values read ``(withheld)``."""
    items: list[tuple[str, str]] = []
    if event.old_state or event.new_state:
        old = state_label(event.old_state) if event.old_state else "—"
        new = state_label(event.new_state) if event.new_state else "—"
        items.append(("State", f"{old} → {new}"))
    d = _detail(event)
    keys = [k for k in _ORDER if k in d] + sorted(k for k in d if k not in _ORDER)
    for key in keys:
        value = d[key]
        if event.action in _BREAK_GLASS_ACTIONS and key == "reason":
            label, shown = "Break-glass reason", _break_glass_reason_label(value)
        elif key in _TIMES:
            label, shown = _LABELS[key], _when(value)
        else:
            label = _LABELS.get(key, _humanise(str(key)))
            shown = WITHHELD if _is_secret(str(key), value) else _value_for(str(key), value)
        items.append((label, shown.replace("{", "(").replace("}", ")")))
    return items


def redacted(value: Any) -> Any:
    """``detail`` as structured data with secret-looking values replaced by ``(withheld)``,
    for machine-readable exports."""
    if isinstance(value, Mapping):
        return {
            str(k): (WITHHELD if _is_secret(str(k), v) else redacted(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redacted(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value):
        return WITHHELD
    return value
