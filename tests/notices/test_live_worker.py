"""Through a real worker on the configured broker (the demo's embedded one by default)."""

import pytest
from django.db import transaction

from directory.models import ChannelOfRecord
from notices.models import Notification, OutboxMessage, Status
from notices.services import notify
from notices.tasks import send_notification
from tests.celery_support import wait_until
from tests.directory.factories import ChannelFactory, IdentityFactory


@pytest.mark.celery_live
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_sends_a_notice_enqueued_on_commit(live_worker):
    person = IdentityFactory()
    ChannelFactory(identity=person, kind=ChannelOfRecord.Kind.SMS, address="+15550111")
    with transaction.atomic():
        [notice] = notify(identity=person, template="one_time_code", context={"code": "204816"})

    assert wait_until(lambda: Notification.objects.get(pk=notice.pk).status == Status.SENT)
    assert live_worker.finished(send_notification.name) == 1
    assert "204816" in OutboxMessage.objects.get(to="+15550111").body
    assert "204816" not in repr(Notification.objects.filter(pk=notice.pk).values().get())
