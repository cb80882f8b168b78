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


class NoEchoTextInput(forms.TextInput):
    """A code typed by staff is never written back into a page, not even after an error."""

    def format_value(self, value: Any) -> str | None:
        return None


class EvidenceForm(forms.Form):
    """Base of a method's form: built for one case from the authenticators of the person who
    answers (the subject, or a service identity's owner) that may prove it, the one being
    replaced already left out. ``answer()`` is the mapping the method's ``prepare`` reads."""

    def __init__(self, *args: Any, authenticators: Sequence[AuthenticatorChoice] = (), **kw: Any):
        super().__init__(*args, **kw)
        self.authenticators = tuple(authenticators)

    @property
    def usable(self) -> bool:
        """Whether the person answering has anything this form can use."""
        return True

    def answer(self) -> dict[str, Any]:
        raise NotImplementedError


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
