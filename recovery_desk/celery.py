import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recovery_desk.settings")

app = Celery("recovery_desk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
