"""The benchmarks empty the desk's tables (TRUNCATE) before they seed: they refuse a database
that holds anyone but their own staff, so a DATABASE_URL pointing at a real desk is never
wiped (run them on a database of their own, bench/README.md)."""

from django.contrib.auth import get_user_model
from guardian.conf import settings as guardian_settings

BENCH_PREFIX = "bench."


class RealDeskError(SystemExit):
    pass


def refuse_a_real_desk() -> None:
    people = (
        get_user_model()
        .objects.exclude(username__startswith=BENCH_PREFIX)
        .exclude(username=guardian_settings.ANONYMOUS_USER_NAME)
    )
    found = list(people.values_list("username", flat=True)[:3])
    if found:
        raise RealDeskError(
            "This database holds staff the benchmark did not create "
            f"({', '.join(found)}, …): the benchmark empties the desk's tables, so it runs only "
            "on a database of its own (bench/README.md)."
        )
