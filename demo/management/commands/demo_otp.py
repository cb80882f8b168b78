from django.core.management.base import BaseCommand, CommandError

from demo.seed import STAFF_USERNAMES, DemoError, demo_otp_code, demo_subject_codes


class Command(BaseCommand):
    help = (
        "Print the current code of a demo staff user's second factor, or of a demo person's "
        "authenticators (to play the caller). seed_demo's users and people only."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            if username in STAFF_USERNAMES:
                code, seconds_left = demo_otp_code(username=username)
                self.stdout.write(code)
                self.stderr.write(
                    f"{username}'s demo device; the code changes in {seconds_left} s."
                )
                return
            for label, code in demo_subject_codes(username=username):
                self.stdout.write(f"{label}: {code}")
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
