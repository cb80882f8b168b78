"""The subject's side of a case: notices with a dispute link, and the link itself
(docs/design.md "Notices").

``dispute_link_issue`` makes a single-use link. The notice's context (stored on the
``Notification`` row) keeps only the ``DisputeToken`` id; the template computes the token again
when it renders (``{% dispute_link %}``, an HMAC under ``SECRET_KEY`` of the row's random
salt), so the token is never stored in clear, and a notice the sweep re-sends after a broker
outage still carries its link (a secret kept only in the message would be lost with it).
``dispute_confirm`` is what the public page calls.
"""

import base64
import hashlib
import secrets
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.crypto import salted_hmac

from notices.services import notify
from recovery_desk import clock

from .models import DisputeToken, RecoveryCase

log = structlog.get_logger(__name__)

DISPUTE_LINK_LIFETIME = timedelta(days=14)


_HMAC_SALT = "recovery_desk.cases.dispute_token"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_for(row: DisputeToken) -> str:
    """The token in the link of ``row``: the same every time it is computed."""
    digest = salted_hmac(_HMAC_SALT, row.salt, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def dispute_url(token: str) -> str:
    """The link as the subject receives it. ``PUBLIC_BASE_URL`` (when settings define one) is
    where the public pages are served; without it the link is relative."""
    base = getattr(settings, "PUBLIC_BASE_URL", "").rstrip("/")
    return base + reverse("subject_dispute", args=[token])


def dispute_link_issue(case: RecoveryCase) -> DisputeToken:
    """A new single-use dispute link for ``case``; call it in the case's transaction. Its URL
    is ``dispute_url(token_for(row))``."""
    now = clock.now()
    row = DisputeToken(
        case=case,
        salt=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + DISPUTE_LINK_LIFETIME,
    )
    row.token_hash = token_hash(token_for(row))
    row.save()
    return row


def dispute_url_for(token_id) -> str:
    """The link of a stored ``DisputeToken`` id, for a notice being rendered; empty when the
    row is gone (the template then says to call the service desk)."""
    row = DisputeToken.objects.filter(pk=token_id).first()
    return dispute_url(token_for(row)) if row is not None else ""


def answers_for(case: RecoveryCase):
    """Who receives the notices of a case: the subject, or for a service identity the owner
    who answers for it (the channels of record of the person who can say "not me")."""
    subject = case.subject
    return subject.owner if subject.owner_id is not None else subject


def case_notice(case: RecoveryCase, template: str, **context) -> None:
    """A notice about ``case`` with a fresh dispute link, to every channel of record of who
    answers for it; sent when the transaction commits."""
    assert transaction.get_connection().in_atomic_block, "a notice belongs to its change"
    notify(
        identity=answers_for(case),
        template=template,
        context={
            "case_reference": case.reference,
            "kind_label": case.get_kind_display(),
            **context,
            "dispute_token": dispute_link_issue(case).pk,
        },
        case=case,
    )


DEFAULT_STATEMENT = "The subject followed the dispute link in a notice: this was not me."


def dispute_token_valid(token: str, *, lock: bool = False) -> DisputeToken | None:
    """The token's row when the link still works: known, unused, not expired, its case open.
    Every other answer is None, so a page cannot tell an unknown link from a spent one."""
    rows = DisputeToken.objects.select_related("case")
    if lock:
        rows = rows.select_for_update(of=("self",))
    row = rows.filter(token_hash=token_hash(token)).first()
    if row is None or row.used_at is not None or clock.now() >= row.expires_at:
        return None
    if not row.case.is_open:
        return None
    return row


def dispute_confirm(*, token: str, statement: str = "") -> RecoveryCase | None:
    """The subject confirmed "this was not me" on the public page: the case is cancelled
    (``case_dispute``, audited as the subject), the link is spent, security is alerted.
    Returns None, changing nothing, when the link does not work (or the case cannot be
    stopped any more, as while the directory is being called)."""
    from .errors import CaseError
    from .services import case_dispute

    with transaction.atomic():
        row = dispute_token_valid(token, lock=True)
        if row is None:
            return None
        try:
            case = case_dispute(case=row.case, statement=statement.strip() or DEFAULT_STATEMENT)
        except CaseError as error:
            log.warning("security.dispute_refused", case=row.case.reference, code=error.code)
            return None
        row.used_at = clock.now()
        row.save(update_fields=["used_at"])
        DisputeToken.objects.filter(case=case, used_at__isnull=True).update(used_at=row.used_at)
    log.warning("security.dispute", case=case.reference, subject_id=case.subject_id)
    return case


def frozen_identities(*, queue_ids, now, limit: int = 50) -> list[dict]:
    """Identities whose recovery is frozen after a dispute on a case of one of ``queue_ids``
    (what a security reviewer of those queues may lift), soonest thaw last: each with the
    disputed case's reference and the end of the freeze."""
    from directory.models import Identity

    from .states import State

    frozen = (
        Identity.objects.filter(
            recovery_frozen_until__gt=now,
            recovery_cases__state=State.CANCELLED,
            recovery_cases__queue_id__in=list(queue_ids),
        )
        .distinct()
        .order_by("-recovery_frozen_until", "pk")[:limit]
    )
    rows = []
    for identity in frozen:
        disputed = (
            RecoveryCase.objects.filter(subject=identity, state=State.CANCELLED)
            .order_by("-closed_at")
            .first()
        )
        rows.append({"identity": identity, "case": disputed})
    return rows
