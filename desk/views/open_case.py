"""Open a case: an agent finds the person, says what needs recovering, how the request came in
and under which ticket, and ``case_open`` decides. Its refusals (a case already open, a
disabled account, the agent's own account...) are shown in its own words."""

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import path, reverse

from cases.services import case_open
from cases.states import Channel, Kind
from directory import selectors as directory
from directory.models import Authenticator, Identity

from .. import access
from .base import render_page, run_service

TEMPLATE = "desk/open_case.html"
TITLE = "Open a case"


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Name, username or employee ID",
        required=False,
        help_text="The start of it is enough, such as “Ana Li” or “E0042”.",
        widget=forms.TextInput(
            attrs={"type": "search", "maxlength": directory.MAX_QUERY_LENGTH, "autofocus": True}
        ),
    )

    def clean_q(self) -> str:
        text = self.cleaned_data["q"]
        if not text:
            return ""
        try:
            return directory.normalized_query(text)
        except directory.SearchRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None


class AuthenticatorChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Authenticator) -> str:
        return f"{obj.label} ({obj.get_kind_display()}, enrolled {obj.bound_at:%Y-%m-%d})"


class OpenCaseForm(forms.Form):
    identity = forms.IntegerField(widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        label="What needs recovering", choices=Kind.choices, widget=forms.RadioSelect
    )
    replaced_authenticator = AuthenticatorChoice(
        label="Authenticator being replaced (MFA re-bind only)",
        queryset=Authenticator.objects.none(),
        required=False,
        empty_label="Choose the one the person lost",
        help_text="It can never serve as evidence on this case.",
    )
    intake_channel = forms.ChoiceField(
        label="How the request came in", choices=[("", "Choose…"), *Channel.choices]
    )
    external_ticket = forms.CharField(
        label="External ticket ID",
        max_length=64,
        required=False,
        help_text="The ticket in the service desk's own system, if there is one.",
    )

    def __init__(self, *args, identity: Identity, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.identity = identity
        self.fields["identity"].initial = identity.pk
        self.fields["replaced_authenticator"].queryset = directory.replaceable_authenticators(
            identity
        )

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind == Kind.MFA_REBIND and not cleaned.get("replaced_authenticator"):
            if "replaced_authenticator" not in self.errors:
                self.add_error("replaced_authenticator", self._rebind_needs_one())
        elif kind and kind != Kind.MFA_REBIND:
            cleaned["replaced_authenticator"] = None  # only a re-bind names one
        return cleaned

    def _rebind_needs_one(self) -> str:
        if not self.fields["replaced_authenticator"].queryset.exists():
            return (
                f"{self.identity.display_name} has no active authenticator to replace; an MFA "
                "re-bind replaces one the person holds."
            )
        return (
            "An MFA re-bind names the authenticator being replaced: choose the one the person lost."
        )


def _chosen_identity(raw) -> Identity | None:
    try:
        identity_id = int(raw)
    except (TypeError, ValueError):
        return None
    if not 0 < identity_id < 2**63:
        return None
    return directory.identity_for_opening(identity_id)


def _kept_query(text: str) -> str:
    """The search the agent came from, carried through the opening form (not searched again)."""
    try:
        return directory.normalized_query(text) if text else ""
    except directory.SearchRefused:
        return ""


def open_case(request):
    """GET: search (``q``) and the chosen person's form (``identity``). POST: open the case."""
    access.require_agent(request)
    posted = request.method == "POST"
    search, query, results, status = _search(request)
    identity, form = None, None
    chosen = (request.POST if posted else request.GET).get("identity")
    if chosen is not None:
        identity = _chosen_identity(chosen)
        if identity is None:
            messages.error(request, "That person is not in the directory; search again.")
            status = 400
    if identity is not None and posted:
        form = OpenCaseForm(request.POST, identity=identity)
        if not form.is_valid():
            status = 400
        elif case := _open(request, identity, form.cleaned_data):
            return HttpResponseRedirect(reverse("admin:desk:case", args=[case.pk]))
    elif identity is not None:
        form = OpenCaseForm(identity=identity)
    if posted:
        query = _kept_query(request.POST.get("q", ""))
        search = SearchForm(initial={"q": query})
    context = {
        "search": search,
        "query": query,
        "results": results,
        "identity": identity,
        "form": form,
    }
    return render_page(request, TEMPLATE, context, title=TITLE, status=status)


def _search(request) -> tuple[SearchForm, str, directory.Found | None, int]:
    """The search form, the query as searched, who was found (None: nothing searched) and the
    status: 400 for a query outside the bounds, which never reaches the directory."""
    if not request.GET:
        return SearchForm(), "", None, 200
    search = SearchForm(request.GET)
    if not search.is_valid():
        return search, "", None, 400
    query = search.cleaned_data["q"]
    return search, query, directory.find_identities(query) if query else None, 200


def _open(request, identity: Identity, data: dict):
    """``case_open`` as one transaction; its refusal becomes a message (None is returned)."""
    opened = []
    if not run_service(
        request,
        lambda: opened.append(
            case_open(
                actor=request.user,
                subject=identity,
                kind=data["kind"],
                intake_channel=data["intake_channel"],
                external_ticket=data["external_ticket"].strip(),
                replaced_authenticator=data["replaced_authenticator"],
            )
        ),
    ):
        return None
    case = opened[0]
    messages.success(
        request,
        f"{case.reference} is open: {case.get_kind_display()} for {identity.display_name}. "
        f"It waits in the {case.queue.name} queue.",
    )
    return case


def urls(wrap) -> list:
    return [path("open/", wrap(open_case), name="open_case")]
