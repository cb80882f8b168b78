import re
from dataclasses import dataclass
from typing import Protocol

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal
from simple_history.admin import SimpleHistoryAdmin

from recovery_desk.errors import DomainError

ROW_ID = re.compile(r"[0-9]{1,18}")


def is_row_id(value: str) -> bool:
    """ASCII digits within a 64-bit id (str.isdigit() also takes "²" and "٣")."""
    return ROW_ID.fullmatch(value) is not None


def require_row_ids(*values) -> None:
    """Every row here has an integer id: anything else in a URL is a page that does not exist
    (a 404), not a crash deep in a library view (a 500).
    """
    if not all(is_row_id(unquote(str(value))) for value in values):
        raise Http404("There is no such record.")


_AS_TEXT = "_as_text"


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write: staff may look, never add, edit or delete here.

    A staff member named on a row (an actor, an approver, a case's agent) is shown by name,
    not as a link: the admin would link to the staff account's page, which only
    administrators may open, and no page links anyone to a 403.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return [
            f"{name}{_AS_TEXT}" if name in self._staff_fields() else name
            for name in super().get_fields(request, obj)
        ]

    def get_readonly_fields(self, request, obj=None):
        # Shown, never a form field, on every page that builds a form (history pages too).
        shown = [f"{name}{_AS_TEXT}" for name in sorted(self._staff_fields())]
        return [*super().get_readonly_fields(request, obj), *shown]

    def _staff_fields(self) -> frozenset[str]:
        user_model = get_user_model()
        return frozenset(
            field.name
            for field in self.model._meta.get_fields()
            if field.is_relation and field.many_to_one and field.related_model is user_model
        )

    def __getattr__(self, name: str):
        """``<staff field>_as_text``: the person's username as plain text."""
        field = name.removesuffix(_AS_TEXT)
        if name.endswith(_AS_TEXT) and field in self._staff_fields():

            def as_text(obj) -> str:
                person = getattr(obj, field)
                return person.get_username() if person is not None else "-"

            as_text.short_description = self.model._meta.get_field(field).verbose_name  # type: ignore[attr-defined]
            return as_text
        raise AttributeError(name)


class HistoryAdmin(SimpleHistoryAdmin):
    """History pages to read, never to write.

    simple-history's per-version form saves on POST for anyone allowed to *view* history
    (its revert setting only hides the button): that would rewrite a case or an identity
    around the services and the audit trail. Only reading is allowed here.
    """

    def history_view(self, request, object_id, extra_context=None):
        require_row_ids(object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied("History is read-only.")
        require_row_ids(object_id, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)


class ServiceActionsAdmin(admin.ModelAdmin):
    """Admin actions that run services act on exactly the rows ticked, never more: "select
    all N matching" (``select_across``) is refused, and a selection that is not a list of row
    ids (a forged or mangled form) is turned away with a message instead of failing in the
    query.
    """

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if request.POST.get("select_across", "0") != "0":
            self.message_user(
                request,
                "Tick the rows to act on: an action here never runs on every matching row.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        if not selected or not all(is_row_id(value) for value in selected):
            self.message_user(request, "Select rows from the list.", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


def run_service_on_each(modeladmin, request, queryset, service, done: str) -> None:
    """Admin actions stay thin: call one service per row, show its domain error as a message."""
    succeeded = []
    for obj in queryset:
        try:
            # Durable: an entry point, never nested in a request-wide transaction that could
            # roll back a recorded failure.
            with transaction.atomic(durable=True):
                service(obj, request.user)
            succeeded.append(getattr(obj, "reference", str(obj)))
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if succeeded:
        modeladmin.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)


# --- Lists at scale: bounded search, capped counts (docs/design.md "Staff lists at scale") ----

COUNT_CAP = 10_000
SEARCH_MAX_TERMS = 5
SEARCH_MAX_LENGTH = 100
# How many people (subjects or staff) one search word may stand for before the list asks for
# more of the name: the ids found are sent to the list's query as one indexed IN (...).
PEOPLE_PER_TERM = 200
_REFERENCE = re.compile(r"(?:RC-?)?0*([0-9]{1,18})", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CappedCount(int):
    """A count that stopped at the cap: it compares as the cap and reads "10,000+"."""

    def __str__(self) -> str:
        return f"{int(self):,}+"

    def __html__(self) -> str:
        return str(self)


class CappedPaginator(Paginator):
    """Counts at most ``cap`` + 1 rows (``COUNT(*)`` over a ``LIMIT``ed subquery, without the
    list's ordering), never the whole table: at a million cases an exact count is a full scan
    on PostgreSQL. Past the cap the count reads "10,000+" and the pages stop there: filter or
    search to see further.
    """

    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        rows = self.object_list
        if isinstance(rows, QuerySet):
            counted = rows.order_by()[: self.cap + 1].count()
        else:
            counted = len(rows)
        return CappedCount(self.cap) if counted > self.cap else counted


class SearchBy(Protocol):
    """One indexed way to read a search word; None when the word is not of that form."""

    def condition(self, term: str, notes: list[str]) -> Q | None: ...


@dataclass(frozen=True)
class CaseReference:
    """A case reference ("RC-000123") or plain digits → the case's id (``field``: "pk" for
    the case list, "case_id" for lists of a case's rows)."""

    field: str

    def condition(self, term: str, notes: list[str]) -> Q | None:
        match = _REFERENCE.fullmatch(term)
        return Q(**{self.field: int(match.group(1))}) if match else None


@dataclass(frozen=True)
class Prefix:
    """The start of a value, any letter case: only on a column with a prefix index that
    serves ``istartswith`` (``UPPER(col) text_pattern_ops`` on PostgreSQL, ``COLLATE NOCASE`` on
    SQLite; cases and directory migrations)."""

    field: str

    def condition(self, term: str, notes: list[str]) -> Q | None:
        return Q(**{f"{self.field}__istartswith": term})


@dataclass(frozen=True)
class OneOf:
    """An exact value out of a known set (an indexed column such as an audit action)."""

    field: str
    values: frozenset[str]

    def condition(self, term: str, notes: list[str]) -> Q | None:
        return Q(**{self.field: term}) if term in self.values else None


def _ids_or_note(rows, term: str, who: str, notes: list[str]) -> list[int]:
    ids = list(rows.order_by().values_list("pk", flat=True)[: PEOPLE_PER_TERM + 1])
    if len(ids) > PEOPLE_PER_TERM:
        notes.append(
            f"More than {PEOPLE_PER_TERM} {who} match “{term}”: only the first "
            f"{PEOPLE_PER_TERM} are searched. Type more of the name."
        )
    return ids[:PEOPLE_PER_TERM]


@dataclass(frozen=True)
class Subjects:
    """The start of a subject's username or employee id (prefix-indexed in the directory),
    looked up first, then the list filtered on ``field`` (the identity's id, e.g. "subject_id"
    or "case__subject_id") with an indexed IN: never a LIKE across a join."""

    field: str

    def condition(self, term: str, notes: list[str]) -> Q | None:
        from directory.models import Identity

        people = Identity.objects.filter(
            Q(username__istartswith=term) | Q(employee_id__istartswith=term)
        )
        ids = _ids_or_note(people, term, "people", notes)
        return Q(**{f"{self.field}__in": ids}) if ids else None


@dataclass(frozen=True)
class StaffUsers:
    """The start of a staff username (a small table), then ``field`` (a user id) IN those."""

    field: str

    def condition(self, term: str, notes: list[str]) -> Q | None:
        from django.contrib.auth import get_user_model

        staff = get_user_model().objects.filter(username__istartswith=term)
        ids = _ids_or_note(staff, term, "staff accounts", notes)
        return Q(**{f"{self.field}__in": ids}) if ids else None


class BoundedListAdmin(admin.ModelAdmin):
    """Every staff list at a million rows: a capped count (never a bare ``COUNT(*)`` over the
    table, no facet counts, no "N total"), and a bounded search.

    Search reads at most ``SEARCH_MAX_TERMS`` words of at most ``SEARCH_MAX_LENGTH``
    characters in all, and turns each word into the list's ``search_by`` lookups, all
    indexed, never Django's ``LIKE '%word%'`` over every search field. Every word must match
    (AND); within a word, any lookup may (OR). Input past the bounds gets a message on the
    page and an empty list, never a 500 (SQLite refuses an expression tree of 1,100 words) or
    a minutes-long scan (PostgreSQL).
    """

    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    search_by: tuple[SearchBy, ...] = ()
    search_max_terms = SEARCH_MAX_TERMS
    search_max_length = SEARCH_MAX_LENGTH

    def get_search_results(self, request, queryset, search_term):
        search_term = search_term.strip()
        if not search_term:
            return queryset, False
        terms = self._search_terms(request, search_term)
        if terms is None:
            return queryset.none(), False
        if not self.search_by:
            # A library's own list (staff accounts, devices, sign-in records: small tables,
            # administrators only): its own search, within the same bounds.
            return super().get_search_results(request, queryset, search_term)
        notes: list[str] = []
        for term in terms:
            found = [by.condition(term, notes) for by in self.search_by]
            conditions = [condition for condition in found if condition is not None]
            if not conditions:
                queryset = queryset.none()
                break
            either = conditions[0]
            for condition in conditions[1:]:
                either |= condition
            queryset = queryset.filter(either)
        for note in notes:
            self.message_user(request, note, messages.WARNING)
        return queryset, False

    def _search_terms(self, request, search_term: str) -> list[str] | None:
        """The words to look for, or None (with a message) when the search is out of bounds."""
        bounds = (
            f"Search with at most {self.search_max_terms} words and "
            f"{self.search_max_length} characters in all; narrow it."
        )
        problem = None
        if len(search_term) > self.search_max_length:
            problem = f"That search is too long. {bounds}"
        elif _CONTROL.search(search_term):
            problem = "A search cannot contain control characters."
        else:
            terms = [_unquoted(word) for word in smart_split(search_term)]
            terms = [term for term in terms if term]
            if len(terms) > self.search_max_terms:
                problem = f"That search has too many words. {bounds}"
            else:
                return terms
        self.message_user(request, problem, messages.ERROR)
        return None


def _unquoted(word: str) -> str:
    if word[:1] in ('"', "'") and word[-1:] == word[:1] and len(word) > 1:
        try:
            return unescape_string_literal(word).strip()
        except ValueError:
            return word
    return word


def bound_every_list(site) -> None:
    """Give every list of ``site`` that is not already a ``BoundedListAdmin`` the same bounds
    (capped count, bounded search): the libraries' own lists (staff accounts and groups,
    authenticator devices, sign-in records) answered 500 on SQLite to 1,100 search words.
    Each is registered again as a subclass of its own admin, so nothing else changes. Call it
    once every admin module is loaded.
    """
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, BoundedListAdmin):
            continue
        own = type(model_admin)
        bounded = type(
            f"Bounded{own.__name__}", (BoundedListAdmin, own), {"__module__": own.__module__}
        )
        site.unregister(model)
        site.register(model, bounded)
