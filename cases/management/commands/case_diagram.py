from django.core.management.base import BaseCommand

from cases.diagram import lifecycle_document


class Command(BaseCommand):
    help = "Print docs/case-lifecycle.md (Mermaid diagram + table) from the transition table."

    def handle(self, *args, **options):
        self.stdout.write(lifecycle_document(), ending="")
