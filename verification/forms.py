"""What staff type in for each evidence method (docs/design.md "Evidence").

Each method plugin names its form (``EvidenceMethod.form_class``); the case page draws one form
per method the case may use now and hands ``form.answer()`` to ``evidence_check``, the same
service every method goes through. A form only shapes the answer: the method's ``prepare``
still refuses anything malformed or foreign, so a form is a convenience, never a rule.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from django import forms


class AuthenticatorChoice(Protocol):
    """An authenticator the person answering may read from, as a page knows it: never its key
    (``cases.selectors.AuthenticatorRow``)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def kind_label(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def bound_at(self) -> datetime: ...


class PhoneChoice(Protocol):
    """A phone channel of record of the person answering, as a page knows it: masked to its
    last 4 digits (``cases.selectors.ChannelRow``)."""

    @property
    def id(self) -> int: ...
    @property
    def kind_label(self) -> str: ...
    @property
    def masked(self) -> str: ...
    @property
    def ending(self) -> str: ...
    @property
    def added_at(self) -> datetime: ...
    @property
    def recent(self) -> bool: ...


class CaseSubject(Protocol):
    """What a case page knows of the person who answers (``cases.selectors.SubjectSummary``):
    each form takes what it needs from it."""

    @property
    def evidence_choices(self) -> Sequence[AuthenticatorChoice]: ...
    @property
    def phone_choices(self) -> Sequence[PhoneChoice]: ...


class NoEchoTextInput(forms.TextInput):
    """A code typed by staff is never written back into a page, not even after an error."""

    def format_value(self, value: Any) -> str | None:
        return None


class EvidenceForm(forms.Form):
    """Base of a method's form: built for one case from the authenticators of the person who
    answers (the subject, or a service identity's owner) that may prove it, the one being
    replaced already left out. ``answer()`` is the mapping the method's ``prepare`` reads."""

    # The words on the page's button for this method.
    submit_label = "Check the code"
    # What the page says when ``usable`` is false ("" for the page's own words).
    unusable_text = ""

    def __init__(self, *args: Any, authenticators: Sequence[AuthenticatorChoice] = (), **kw: Any):
        super().__init__(*args, **kw)
        self.authenticators = tuple(authenticators)

    @classmethod
    def form_kwargs(cls, subject: CaseSubject) -> dict[str, Any]:
        """What this form needs of the case's subject summary, as keyword arguments."""
        return {"authenticators": subject.evidence_choices}

    @classmethod
    def for_case(cls, subject: CaseSubject, *args: Any, **kw: Any) -> "EvidenceForm":
        """The form for one case: the one hook the case page calls for every method."""
        return cls(*args, **kw, **cls.form_kwargs(subject))

    @property
    def usable(self) -> bool:
        """Whether the person answering has anything this form can use."""
        return True

    def answer(self) -> dict[str, Any]:
        """What the method's ``prepare`` reads: each form states its own (a Django form's
        metaclass cannot be an ABC's, so this base only names the hook)."""
        raise NotImplementedError(f"{type(self).__name__} must say what its answer is.")


class TotpEvidenceForm(EvidenceForm):
    """The caller reads the code their authenticator app shows; the agent picks which app."""

    authenticator = forms.TypedChoiceField(
        label="Authenticator the caller reads from", coerce=int, choices=()
    )
    code = forms.CharField(
        label="Code the caller reads out",
        max_length=12,
        widget=NoEchoTextInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
        help_text="Only the digits, as the caller reads them now. It is checked once, then "
        "forgotten.",
    )

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.totp_choices = [a for a in self.authenticators if a.kind == "totp"]
        field = self.fields["authenticator"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (a.id, f"{a.label} ({a.kind_label}, enrolled {a.bound_at:%Y-%m-%d})")
            for a in self.totp_choices
        ]

    @property
    def usable(self) -> bool:
        return bool(self.totp_choices)

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isascii() and code.isdigit()):
            raise forms.ValidationError("Type only the digits the caller reads out.")
        return code

    def answer(self) -> dict[str, Any]:
        return {
            "authenticator": self.cleaned_data["authenticator"],
            "code": self.cleaned_data["code"],
        }


class AttestationField(forms.BooleanField):
    """A box the agent must tick: what they saw or did goes into the evidence row."""

    def __init__(self, label: str, missing: str):
        super().__init__(label=label, error_messages={"required": missing})


class RecoveryCodeEvidenceForm(EvidenceForm):
    """The caller reads one of the recovery codes they saved when they enrolled."""

    submit_label = "Check the recovery code"
    code = forms.CharField(
        label="Recovery code the caller reads out",
        max_length=32,
        widget=NoEchoTextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
        help_text="Twelve letters and digits, with or without the dashes. A code works once: "
        "it is spent when it matches.",
    )

    def answer(self) -> dict[str, Any]:
        return {"code": self.cleaned_data["code"]}


DOCUMENT_TYPES = (
    ("passport", "Passport"),
    ("national_id", "National identity card"),
    ("driving_licence", "Driving licence"),
    ("staff_badge", "Staff badge"),
)


class InPersonEvidenceForm(EvidenceForm):
    """The agent checked the person and a photo document face to face."""

    submit_label = "Record the check"
    document_type = forms.ChoiceField(
        label="Document you checked", choices=[("", "Choose the document…"), *DOCUMENT_TYPES]
    )
    reference = forms.CharField(
        label="Last 4 characters of the document number",
        min_length=4,
        max_length=4,
        help_text="Only the last 4 characters: the full number is never recorded.",
        # Never written back into the page: a full number typed by mistake is not kept.
        widget=NoEchoTextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    seen = AttestationField(
        "I saw the person myself, and the photo on the document is theirs.",
        "Confirm you saw the person and their document.",
    )

    def clean_reference(self) -> str:
        reference = self.cleaned_data["reference"].strip().upper()
        if len(reference) != 4 or not (reference.isascii() and reference.isalnum()):
            raise forms.ValidationError("Type the last 4 letters or digits of the document number.")
        return reference

    def answer(self) -> dict[str, Any]:
        return {
            "document_type": self.cleaned_data["document_type"],
            "reference": self.cleaned_data["reference"],
            "seen": self.cleaned_data["seen"],
        }


class CallbackEvidenceForm(EvidenceForm):
    """The agent hung up and called the person back on a phone number of record, picked from
    the SMS and voice channels of record of the person who answers: never a number typed in,
    so never one the caller gives."""

    submit_label = "Record the callback"
    unusable_text = (
        "No SMS or voice number of record to call back: a number the caller gives proves nothing."
    )
    channel = forms.TypedChoiceField(
        label="Number of record you called back",
        coerce=int,
        choices=(),
        help_text="Only numbers listed under the channels of record. A number added less than "
        "14 days ago cannot prove who the caller is.",
    )
    answered = AttestationField(
        "I called this number back myself, and the person who answered confirmed the request.",
        "Confirm you called the number of record back and the person answered.",
    )

    def __init__(self, *args: Any, phones: Sequence[PhoneChoice] = (), **kw: Any):
        super().__init__(*args, **kw)
        self.phones = {p.id: p for p in phones if p.ending}
        field = self.fields["channel"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(p.id, self._choice_label(p)) for p in self.phones.values()]

    @staticmethod
    def _choice_label(phone: PhoneChoice) -> str:
        text = f"{phone.kind_label} {phone.masked}, on record since {phone.added_at:%Y-%m-%d}"
        return text + (" (added recently: it cannot prove who calls)" if phone.recent else "")

    @classmethod
    def form_kwargs(cls, subject: CaseSubject) -> dict[str, Any]:
        return {"phones": subject.phone_choices}

    @property
    def usable(self) -> bool:
        return bool(self.phones)

    def answer(self) -> dict[str, Any]:
        # The method reads the number by its last 4 digits among the holder's channels.
        return {
            "number_ending": self.phones[self.cleaned_data["channel"]].ending,
            "answered": self.cleaned_data["answered"],
        }
