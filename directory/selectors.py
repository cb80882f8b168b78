"""Reads of the directory for the desk's screens.

Finding a person is bounded by construction: a short query, a few words, a prefix or exact
match on username, employee ID and display name (each served by an index on its upper-cased
value, migration 0002), at most ``MAX_RESULTS`` rows. Never ``LIKE '%x%'``: that scans the
whole directory on every keystroke of every agent.
"""

from dataclasses import dataclass

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from .models import Authenticator, Identity

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 100
MAX_TERMS = 4
MAX_RESULTS = 20


class SearchRefused(ValueError):
    """The query is outside the bounds a search may have; the message says which, in words."""


def normalized_query(text: str) -> str:
    """The query as searched: words separated by one space. Refused (``SearchRefused``) when
    it is too short to be selective or too long to be a name, username or employee ID."""
    if len(text) > MAX_QUERY_LENGTH * 2:
        # Refuse before splitting: a 10 kB query is not worth a split.
        raise SearchRefused(_too_long())
    query = " ".join(text.split())
    if len(query) > MAX_QUERY_LENGTH or query.count(" ") >= MAX_TERMS:
        raise SearchRefused(_too_long())
    if len(query) < MIN_QUERY_LENGTH:
        raise SearchRefused(
            f"Type at least {MIN_QUERY_LENGTH} characters: the start of a name, a username "
            "or an employee ID."
        )
    return query


def _too_long() -> str:
    return (
        f"Search with at most {MAX_TERMS} words and {MAX_QUERY_LENGTH} characters: the start "
        "of a name, a username or an employee ID."
    )


@dataclass(frozen=True)
class Found:
    people: list[Identity]
    more: bool  # more people match than are listed: the query should say more


def find_identities(text: str, *, limit: int = MAX_RESULTS) -> Found:
    """Identities whose username, employee ID or display name starts with the query (any
    letter case); exact username or employee ID matches first, then by name. At most ``limit``
    (never more than ``MAX_RESULTS``). Raises ``SearchRefused`` for a query outside the bounds
    (see ``normalized_query``).
    """
    limit = min(limit, MAX_RESULTS)
    query = normalized_query(text)
    exact = Q(username__iexact=query) | Q(employee_id__iexact=query)
    prefix = (
        Q(username__istartswith=query)
        | Q(employee_id__istartswith=query)
        | Q(display_name__istartswith=query)
    )
    rows: QuerySet[Identity] = (
        Identity.objects.filter(prefix)
        .select_related("owner")
        .only(
            "username",
            "display_name",
            "employee_id",
            "risk_tier",
            "account_state",
            "owner__username",
            "owner__display_name",
        )
        .annotate(
            rank=Case(When(exact, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("rank", "display_name", "username")
    )
    people = list(rows[: limit + 1])
    return Found(people=people[:limit], more=len(people) > limit)


def identity_for_opening(identity_id: int) -> Identity | None:
    """The identity an agent chose, with its owner (a service identity is answered for by its
    owner, who is shown beside it)."""
    return Identity.objects.select_related("owner").filter(pk=identity_id).first()


def replaceable_authenticators(identity: Identity) -> QuerySet[Authenticator]:
    """The identity's active authenticators, one of which an MFA re-bind names as the one
    being replaced. The key is never read: only what a person can recognise it by."""
    return (
        Authenticator.objects.filter(identity=identity, revoked_at__isnull=True)
        .only("identity_id", "kind", "label", "bound_at", "revoked_at")
        .order_by("bound_at", "pk")
    )
