"""Open a case: only agents; a bounded, indexed search for the person; each kind opened through
``case_open``; its refusals (duplicate, disabled account, own account) shown in its words; bad
input answered with the form and a message, never a 500."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import RecoveryCase
from cases.states import Kind, State
from directory import selectors as directory
from directory.models import AccountState, RiskTier
from tests.cases.factories import make_manager
from tests.directory.factories import AuthenticatorFactory, IdentityFactory
from tests.helpers import case_in
from tests.test_admin import _signed_in

pytestmark = pytest.mark.django_db

OPEN = "/admin/desk/open/"


@pytest.fixture
def staff_subject(db):
    """A manager who is also a person in the directory."""
    manager = make_manager(username="manager.gina")
    IdentityFactory(staff_user=manager, username="gina.h")
    return manager


def _open(client, identity, **data):
    form = {"identity": identity.pk, "intake_channel": "phone", "external_ticket": "INC-4711"}
    return client.post(OPEN, {**form, **data})


# --- who may open the page --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("agent", 200),
        ("other_agent", 200),
        ("manager", 403),
        ("other_manager", 403),
        ("security_reviewer", 403),
        ("admin_user", 403),
        ("staff_subject", 403),
    ],
)
def test_only_agents_open_cases(request, client, role, status):
    _signed_in(client, request.getfixturevalue(role))
    response = client.get(OPEN)
    assert response.status_code == status
    if status == 403:
        assert "Only a service desk agent of a queue can do this." in response.content.decode()
    else:
        assert "Name, username or employee ID" in response.content.decode()


@pytest.mark.parametrize("role", ["manager", "security_reviewer", "admin_user"])
def test_a_post_from_someone_who_is_not_an_agent_opens_nothing(request, client, role):
    subject = IdentityFactory()
    _signed_in(client, request.getfixturevalue(role))
    response = _open(client, subject, kind=Kind.PASSWORD_RESET)
    assert response.status_code == 403
    assert not RecoveryCase.objects.exists()


def test_staff_without_a_second_factor_never_reach_the_page(client, agent):
    _signed_in(client, agent, second_factor=False)
    response = client.get(OPEN)
    assert response.status_code == 302  # to the sign-in or the second-factor enrolment
    assert not response.url.startswith(OPEN)


# --- finding the person -----------------------------------------------------------------------


def _search(client, q):
    return client.get(OPEN, {"q": q})


def test_an_agent_finds_a_person_by_the_start_of_the_name_username_or_employee_id(client, agent):
    ana = IdentityFactory(display_name="Ana Lima", username="ana.lima", employee_id="E04711")
    other = IdentityFactory(display_name="Ben Okafor", username="ben.okafor", employee_id="E09999")
    _signed_in(client, agent)
    for q in ("ana li", "ANA", "ana.l", "e047", "E04711", "  Ana   Lima "):
        page = _search(client, q).content.decode()
        assert "Ana Lima" in page, q
        assert other.display_name not in page, q
        assert f"identity={ana.pk}" in page, q
    assert "Nobody in the directory" in _search(client, "lima").content.decode()  # a prefix only


def test_an_exact_username_or_employee_id_comes_first(agent):
    IdentityFactory(display_name="Ed Ward", username="ed.ward", employee_id="E1")
    IdentityFactory(display_name="Aaron Edwards", username="ed", employee_id="E10")
    assert [p.username for p in directory.find_identities("ed").people] == ["ed", "ed.ward"]
    assert [p.employee_id for p in directory.find_identities("e1").people] == ["E1", "E10"]


def test_a_search_shows_at_most_20_people_and_says_so(client, agent):
    for number in range(25):
        IdentityFactory(display_name=f"Kim Test {number:02d}")
    _signed_in(client, agent)
    page = _search(client, "kim").content.decode()
    assert page.count(">Choose</a>") == 20
    assert "the first 20: type more to narrow it down" in page
    for number in range(20, 25):
        IdentityFactory._meta.model.objects.filter(display_name=f"Kim Test {number:02d}").delete()
    page = _search(client, "kim").content.decode()
    assert page.count(">Choose</a>") == 20
    assert "type more" not in page


def test_the_search_uses_no_like_with_a_leading_wildcard(client, agent):
    _signed_in(client, agent)
    with CaptureQueriesContext(connection) as ctx:
        _search(client, "ana")
    searches = [q["sql"] for q in ctx.captured_queries if "directory_identity" in q["sql"]]
    assert len(searches) == 1
    assert len(ctx) <= 12  # session, user, device, 2 for roles, the search, the frame, session save
    assert "%ana" not in searches[0].lower() and "'%" not in searches[0]


def test_each_search_term_is_served_by_an_index():
    """The indexes of migration directory 0002 (on SQLite a NOCASE index per column, on
    PostgreSQL an expression index on UPPER(column) with text_pattern_ops) serve the shape of
    query Django writes for ``istartswith``. A table rebuild that lost them fails here."""
    from directory.models import Identity

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
        for name in ("username", "employee_id", "display_name"):
            plan = Identity.objects.filter(**{f"{name}__istartswith": "ana"}).explain()
            assert f"identity_{name}_search" in plan, plan


@pytest.mark.parametrize(
    "q",
    [
        " ".join(["word"] * 1100),  # 1,100 words
        "x" * 10_000,  # a 10 kB query
        "a b c d e",  # five words
        "y" * 101,
        "z",  # too short to be selective
    ],
    ids=["1100-words", "10kB", "five-words", "101-chars", "one-char"],
)
def test_an_unbounded_search_is_refused_in_words_without_touching_the_directory(client, agent, q):
    _signed_in(client, agent)
    with CaptureQueriesContext(connection) as ctx:
        response = _search(client, q)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Search with at most 4 words and 100 characters" in page or "at least 2 char" in page
    assert not [q for q in ctx.captured_queries if "directory_identity" in q["sql"]]
    assert len(ctx) <= 12


def test_a_null_character_in_the_search_is_a_message_not_an_error(client, agent):
    _signed_in(client, agent)
    response = _search(client, "ana\x00")
    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()


# --- choosing and opening ---------------------------------------------------------------------


def test_choosing_a_person_shows_their_authenticators_but_never_a_key(client, agent):
    subject = IdentityFactory(display_name="Emil Berg")
    kept = AuthenticatorFactory(identity=subject, label="Old phone")
    revoked = AuthenticatorFactory(identity=subject, label="Broken key")
    revoked.revoked_at = revoked.bound_at
    revoked.save()
    _signed_in(client, agent)
    page = client.get(OPEN, {"q": "emil", "identity": subject.pk}).content.decode()
    assert "Open a case for Emil Berg" in page
    assert "Old phone" in page
    assert "Broken key" not in page  # revoked: nothing to replace
    assert kept.key not in page and revoked.key not in page


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        (Kind.PASSWORD_RESET, AccountState.ACTIVE),
        (Kind.MFA_REBIND, AccountState.LOCKED),
        (Kind.REACTIVATION, AccountState.DISABLED),
    ],
)
def test_an_agent_opens_each_kind_and_lands_on_the_case_page(client, agent, kind, state):
    subject = IdentityFactory(account_state=state)
    lost = AuthenticatorFactory(identity=subject, label="Lost phone")
    _signed_in(client, agent)
    extra = {"replaced_authenticator": lost.pk} if kind == Kind.MFA_REBIND else {}
    response = _open(client, subject, kind=kind, intake_channel="chat", **extra)
    case = RecoveryCase.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:desk:case", args=[case.pk])
    assert (case.kind, case.state, case.subject, case.opened_by) == (
        kind,
        State.NEW,
        subject,
        agent,
    )
    assert (case.intake_channel, case.external_ticket) == ("chat", "INC-4711")
    assert case.replaced_authenticator == (lost if kind == Kind.MFA_REBIND else None)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [
        f"{case.reference} is open: {case.get_kind_display()} for {subject.display_name}. "
        f"It waits in the {case.queue.name} queue."
    ]


def test_a_password_reset_ignores_an_authenticator_sent_with_it(client, agent):
    subject = IdentityFactory()
    _signed_in(client, agent)
    lost = AuthenticatorFactory(identity=subject)
    _open(client, subject, kind=Kind.PASSWORD_RESET, replaced_authenticator=lost.pk)
    assert RecoveryCase.objects.get().replaced_authenticator is None


def test_a_duplicate_is_refused_in_the_services_words(client, agent, other_agent):
    existing = case_in(State.VERIFYING, agent=other_agent)
    _signed_in(client, agent)
    response = _open(client, existing.subject, kind=existing.kind, q="subj")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="subj"' in page  # the search the agent came from is kept
    assert f"{existing.reference} is already open for" in page
    assert "work that case instead." in page
    assert RecoveryCase.objects.count() == 1
    assert "Open a case for" in page  # the form again, to choose another kind


def test_a_disabled_account_is_refused_in_the_services_words(client, agent):
    subject = IdentityFactory(account_state=AccountState.DISABLED)
    _signed_in(client, agent)
    page = _open(client, subject, kind=Kind.PASSWORD_RESET).content.decode()
    assert "is disabled: a reactivation case, under its own policy, comes first." in page
    assert not RecoveryCase.objects.exists()


def test_reactivating_an_active_account_is_refused_in_words(client, agent):
    subject = IdentityFactory()
    _signed_in(client, agent)
    page = _open(client, subject, kind=Kind.REACTIVATION).content.decode()
    assert "is active: there is nothing to reactivate." in page
    assert not RecoveryCase.objects.exists()


def test_an_agent_cannot_open_a_case_on_their_own_account(client, agent):
    subject = IdentityFactory(staff_user=agent)
    _signed_in(client, agent)
    page = _open(client, subject, kind=Kind.PASSWORD_RESET).content.decode()
    assert "Nobody may act on the recovery of their own account." in page
    assert not RecoveryCase.objects.exists()


def test_a_service_identity_with_an_inactive_owner_is_refused_in_words(client, agent):
    owner = IdentityFactory(account_state=AccountState.DISABLED)
    service = IdentityFactory(risk_tier=RiskTier.SERVICE, owner=owner)
    _signed_in(client, agent)
    page = _open(client, service, kind=Kind.PASSWORD_RESET).content.decode()
    assert "whose account is not active" in page
    assert not RecoveryCase.objects.exists()


def test_a_rebind_needs_the_authenticator_being_replaced(client, agent):
    subject = IdentityFactory()
    AuthenticatorFactory(identity=subject)
    _signed_in(client, agent)
    response = _open(client, subject, kind=Kind.MFA_REBIND)
    assert response.status_code == 400
    assert "An MFA re-bind names the authenticator being replaced" in response.content.decode()
    assert not RecoveryCase.objects.exists()


def test_a_rebind_for_someone_without_an_authenticator_says_so(client, agent):
    subject = IdentityFactory(display_name="Pia Lund")
    _signed_in(client, agent)
    response = _open(client, subject, kind=Kind.MFA_REBIND)
    assert "Pia Lund has no active authenticator to replace" in response.content.decode()
    assert not RecoveryCase.objects.exists()


def test_someone_elses_or_a_revoked_authenticator_is_refused(client, agent):
    subject = IdentityFactory()
    foreign = AuthenticatorFactory()
    revoked = AuthenticatorFactory(identity=subject)
    revoked.revoked_at = revoked.bound_at
    revoked.save()
    _signed_in(client, agent)
    for authenticator in (foreign, revoked):
        response = _open(
            client, subject, kind=Kind.MFA_REBIND, replaced_authenticator=authenticator.pk
        )
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode()
    assert not RecoveryCase.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "unlock_everything"},
        {"kind": Kind.PASSWORD_RESET, "intake_channel": "carrier pigeon"},
        {"kind": Kind.PASSWORD_RESET, "intake_channel": ""},
        {"kind": Kind.PASSWORD_RESET, "external_ticket": "T" * 65},
        {"kind": Kind.MFA_REBIND, "replaced_authenticator": "not-a-number"},
        {"kind": Kind.PASSWORD_RESET, "external_ticket": "INC\x00"},
        {},
    ],
)
def test_bad_input_shows_the_form_again_with_a_message(client, agent, data):
    subject = IdentityFactory(display_name="Quinn Ross")
    _signed_in(client, agent)
    response = _open(client, subject, **data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Open a case for Quinn Ross" in page
    assert 'class="errorlist' in page
    assert not RecoveryCase.objects.exists()


@pytest.mark.parametrize("identity", ["", "abc", "-1", "0", "99999999", "9" * 40])
def test_an_unknown_person_is_a_message_not_an_error(client, agent, identity):
    _signed_in(client, agent)
    for response in (
        client.get(OPEN, {"identity": identity}),
        client.post(OPEN, {"identity": identity, "kind": Kind.PASSWORD_RESET}),
    ):
        assert response.status_code == 400
        assert "That person is not in the directory; search again." in response.content.decode()
    assert not RecoveryCase.objects.exists()
