"""The policy form of the staff admin: durations in words, methods as checkboxes, and the
monotonicity check's refusals in words (docs/design.md "Policy").

Nothing here is typed as JSON or as "4:00:00": a duration reads and is entered as "4 hours",
"2 days", "90 minutes" or "1 day 12 hours" (HH:MM:SS still works), and the allowed evidence
methods are ticked from the methods the system checks.
"""

import copy
import re
from datetime import timedelta

from django import forms
from django.db import models
from django.utils.dateparse import parse_duration

from .models import PolicyRule
from .policy import FIELD_LABELS, duration_words, policy_violations

DURATION_HINT = 'In words: "4 hours", "2 days", "90 minutes", "1 day 12 hours" (or HH:MM:SS).'
LONGEST = timedelta(days=3650)
_MAX_INPUT = 60  # characters: longer than any sensible duration, short enough to read cheaply

_UNIT_SECONDS = {
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
}
_PART = re.compile(r"(\d{1,7})\s*([a-z]+)")
_SEPARATORS = re.compile(r"(?:\s|,|\band\b)+")
_ZERO = {"0", "none", "no", "zero"}


def parse_duration_words(text: str) -> timedelta:
    """ "1 day 12 hours" → 36 hours; raises ValueError with a sentence for the person."""
    text = text.strip().lower()
    if len(text) > _MAX_INPUT:
        raise ValueError("That is too long for a duration.")
    if text in _ZERO:
        return timedelta(0)
    if ":" in text:
        parsed = parse_duration(text)  # "12:00:00", "1 12:00:00", "1 day, 12:00:00"
        if parsed is None:
            raise ValueError("Write hours, minutes and seconds as HH:MM:SS, such as 04:00:00.")
        return parsed
    seconds = 0
    position = 0
    compact = _SEPARATORS.sub(" ", text).strip()
    for match in _PART.finditer(compact):
        between = compact[position : match.start()].strip()
        unit = _UNIT_SECONDS.get(match.group(2))
        if between or unit is None:
            raise ValueError(
                f"That is not a duration: “{match.group(0) if unit is None else between}”. "
                "Use days, hours, minutes or seconds."
            )
        seconds += int(match.group(1)) * unit
        position = match.end()
    if position == 0 or compact[position:].strip():
        if re.fullmatch(r"\d+", compact):
            raise ValueError(f"Say the unit: “{compact} hours” or “{compact} days”?")
        raise ValueError("Write a duration such as “4 hours” or “1 day 12 hours”.")
    return timedelta(seconds=seconds)


class ReadableDurationField(forms.Field):
    """A duration shown and entered in words; HH:MM:SS still works."""

    widget = forms.TextInput

    def __init__(self, *, hint: str = DURATION_HINT, **kwargs) -> None:
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("size", 20)
        self.widget.attrs.setdefault("maxlength", _MAX_INPUT)
        self.hint = hint

    def prepare_value(self, value):
        return duration_words(value) if isinstance(value, timedelta) else value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, timedelta):
            return value
        try:
            parsed = parse_duration_words(str(value))
        except (ValueError, OverflowError) as problem:
            raise forms.ValidationError(str(problem), code="invalid") from None
        if parsed < timedelta(0):
            raise forms.ValidationError("A duration cannot be negative.", code="negative")
        if parsed > LONGEST:
            raise forms.ValidationError(
                f"At most {duration_words(LONGEST)}: that is already ten years.", code="too_long"
            )
        return parsed


def method_choices() -> list[tuple[str, str]]:
    """The evidence methods the system checks; knowledge questions never."""
    from verification.methods import METHODS, REFUSED_METHODS

    return [(code, m.label) for code, m in METHODS.items() if code not in REFUSED_METHODS]


def _label(name: str) -> str:
    words = FIELD_LABELS.get(name, name.replace("_", " "))
    return words[:1].upper() + words[1:]


def _duration(name: str) -> ReadableDurationField:
    """The policy's duration field ``name`` in words, with the model field's help and the hint."""
    model_field = PolicyRule._meta.get_field(name)
    assert isinstance(model_field, models.DurationField), name
    own_help = str(model_field.help_text).strip()
    return ReadableDurationField(
        label=_label(name),
        required=not model_field.blank,
        help_text=f"{own_help} {DURATION_HINT}" if own_help else DURATION_HINT,
    )


_FORM_LABELS = {"device_binding_required": "Device binding required"}  # a checkbox's label


# The policy's editable fields in groups: the admin form's fieldsets and the desk's policy
# pages (desk/views/policy.py) both draw them in this order.
POLICY_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Evidence", ("min_evidence_score", "min_independent_methods", "allowed_methods")),
    ("Approval", ("approvals_required", "approver_role")),
    (
        "Holds and deadlines",
        (
            "cooling_off",
            "claim_deadline",
            "verify_deadline",
            "approval_deadline",
            "ready_deadline",
            "recovery_gap",
        ),
    ),
    ("Failure limits", ("max_failures", "failure_window", "code_max_tries")),
    ("Recovery pass", ("pass_lifetime", "device_binding_required")),
    ("Break-glass", ("break_glass_review_window",)),
    ("Disputes", ("dispute_freeze",)),
)
POLICY_FIELDS: tuple[str, ...] = tuple(name for _, names in POLICY_SECTIONS for name in names)


class PolicyRuleForm(forms.ModelForm):
    allowed_methods = forms.MultipleChoiceField(
        label=_label("allowed_methods"),
        choices=method_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick each method that may serve as evidence under this rule.",
        error_messages={
            "required": "Tick at least one evidence method.",
            "invalid_choice": "Tick evidence methods from the list shown.",
            "invalid_list": "Tick evidence methods from the list shown.",
        },
    )
    # Declared here, not through a formfield callback: the admin passes its own callback.
    cooling_off = _duration("cooling_off")
    claim_deadline = _duration("claim_deadline")
    verify_deadline = _duration("verify_deadline")
    approval_deadline = _duration("approval_deadline")
    ready_deadline = _duration("ready_deadline")
    recovery_gap = _duration("recovery_gap")
    failure_window = _duration("failure_window")
    pass_lifetime = _duration("pass_lifetime")
    break_glass_review_window = _duration("break_glass_review_window")
    dispute_freeze = _duration("dispute_freeze")

    class Meta:
        model = PolicyRule
        fields = POLICY_FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():  # the words the refusals and pages use
            field.label = _FORM_LABELS.get(name) or _label(name)

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        edited = copy.copy(self.instance)  # the instance gets the form's values only after clean()
        for name, value in cleaned.items():
            setattr(edited, name, value)
        others = PolicyRule.objects.filter(kind=edited.kind).exclude(pk=edited.pk)
        problems = policy_violations([*others, edited])
        if problems:
            raise forms.ValidationError(problems)
        return cleaned
