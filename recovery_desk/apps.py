from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """The staff console: Django admin behind django-otp (staff always use a second factor)."""

    default_site = "recovery_desk.admin_site.StaffAdminSite"

    def ready(self) -> None:
        super().ready()  # autodiscover: every app's admin module, the libraries' included
        from django.contrib import admin

        from .admin_tools import bound_every_list

        # The libraries' own lists (auth, django-otp, django-axes) get the same bounds as
        # ours; tests/test_admin_search.py checks every registered list.
        bound_every_list(admin.site)
