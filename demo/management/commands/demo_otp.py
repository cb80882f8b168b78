from django.core.management.base import BaseCommand, CommandError

from demo.seed import DemoError, demo_otp_code


class Command(BaseCommand):
    help = "Print the current second-factor code of a demo staff user (seed_demo's users only)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            code, seconds_left = demo_otp_code(username=username)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(code)
        self.stderr.write(f"{username}'s demo device; the code changes in {seconds_left} s.")
