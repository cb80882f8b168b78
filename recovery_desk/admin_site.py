from django.urls import include, path
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and code in one step when the person has a single authenticator.

    django-otp asks for an explicit device so a wrong guess never throttles the others; with
    exactly one confirmed device there is nothing to choose, so it is chosen for them.
    """

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                return devices[0]
        return device


class StaffAdminSite(OTPAdminSite):
    """The staff console. Its index is the desk home (desk/views/home.py); the list of tables
    lives at ``records/``; the desk's pages are mounted under ``desk/``."""

    site_header = "Recovery Desk"
    site_title = "Recovery Desk"
    index_title = "Records"
    login_form = StaffLoginForm
    enable_nav_sidebar = False  # the desk menu in the header replaces it (usable at 800 px)

    def get_urls(self):
        from desk.urls import desk_urls

        own = [
            path("records/", self.admin_view(super().index), name="records"),
            path("desk/", include((desk_urls(self.admin_view), "desk"))),
        ]
        return own + super().get_urls()

    def index(self, request, extra_context=None):
        from desk.views.home import desk_home

        return desk_home(request)
