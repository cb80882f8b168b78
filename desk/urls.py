"""The desk's URLs, mounted inside the staff admin site (recovery_desk/admin_site.py) so that
every page needs a signed-in staff member with a second factor. Each page module declares its
own routes through ``urls(wrap)``; ``wrap`` is the admin site's ``admin_view``."""

from django.urls import URLPattern

from .views import case_page, dashboard, home, inbox, open_case, policy, reviews, trail

PAGES = (home, open_case, case_page, inbox, reviews, trail, dashboard, policy)


def desk_urls(wrap) -> list[URLPattern]:
    return [pattern for page in PAGES for pattern in page.urls(wrap)]
