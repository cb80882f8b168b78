from django.db.models import QuerySet

from .models import AuditEvent


def audit_events_for_case(*, case) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(case=case).select_related("actor").order_by("id")
