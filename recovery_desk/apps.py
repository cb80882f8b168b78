from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """The staff console: Django admin behind django-otp (staff always use a second factor)."""

    default_site = "recovery_desk.admin_site.StaffAdminSite"
