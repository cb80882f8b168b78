from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo.seed import DemoError, demo_seed, render_summary


class Command(BaseCommand):
    help = "Fill an empty desk with demo staff, identities and cases in every state (idempotent)."

    def handle(self, *args, **options):
        try:
            with transaction.atomic(durable=True):
                summary = demo_seed()
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(render_summary(summary))
