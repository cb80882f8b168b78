from functools import update_wrapper

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponseRedirect
from django.urls import include, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp import devices_for_user, user_has_device
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.forms import OTPAuthenticationFormMixin

from .enrolment_services import awaiting_enrolment

ENROL_URL_NAME = "staff_enrol"


class StaffLoginForm(OTPAdminAuthenticationForm):
    """Username, password and code in one step.

    - With a single confirmed authenticator there is nothing to choose: django-otp asks for an
      explicit device so a wrong guess never throttles the others, so it is chosen for them.
      The chooser is drawn only for someone with several (templates/admin/login.html).
    - With none (a new staff member), the password alone signs them in, unverified: every
      admin page then sends them to the enrolment page (docs/design.md "Staff sign-in").
      Anyone with a confirmed device still gives its code in this same step.
    """

    otp_device = forms.CharField(required=False, widget=forms.Select, label="Which authenticator")
    otp_token = forms.CharField(
        required=False,
        label="Code from your authenticator app",
        help_text="The 6 digits your app shows for Recovery Desk. First time here? Leave it "
        "empty: you will set up the app right after your password.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    otp_error_messages = {
        **OTPAuthenticationFormMixin.otp_error_messages,
        "token_required": "Enter the code from your authenticator app.",
        "invalid_token": "That code is not right. Type the code your authenticator app shows "
        "now (each code works once).",
        "device_required": "Choose which authenticator you are using.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.several_devices = False

    def clean(self):
        self.cleaned_data = AuthenticationForm.clean(self)  # password, then is_staff (admin's)
        user = self.get_user()
        if user is not None and not user_has_device(user, confirmed=True):
            return self.cleaned_data  # signed in unverified: enrolment comes next
        self.clean_otp(user)
        return self.cleaned_data

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                return devices[0]
        return device

    def _update_form(self, user):
        super()._update_form(user)
        # The choices hold a blank entry first, then one per confirmed device.
        self.several_devices = len(self.fields["otp_device"].widget.choices) > 2


class StaffAdminSite(OTPAdminSite):
    """The staff console. Its index is the desk home (desk/views/home.py); the list of tables
    lives at ``records/``; the desk's pages are mounted under ``desk/``."""

    site_header = "Recovery Desk"
    site_title = "Recovery Desk"
    index_title = "Records"
    login_form = StaffLoginForm
    login_template = "admin/login.html"  # ours: labels in words, no device chooser for one
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

    def admin_view(self, view, cacheable=False):
        """Every admin page refuses an unverified person (django-otp); someone refused only for
        having no authenticator yet is sent to enrolment instead of back to the login page."""
        checked = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            if not self.has_permission(request) and awaiting_enrolment(request.user):
                return HttpResponseRedirect(reverse(ENROL_URL_NAME))
            return checked(request, *args, **kwargs)

        return update_wrapper(never_cache(inner), checked)

    @method_decorator(never_cache)
    @method_decorator(login_not_required)
    def login(self, request, extra_context=None):
        if request.method == "GET" and awaiting_enrolment(request.user):
            return HttpResponseRedirect(reverse(ENROL_URL_NAME))
        response = super().login(request, extra_context)
        signed_in = request.method == "POST" and response.status_code == 302
        if signed_in and awaiting_enrolment(request.user):
            # By the password alone: no device yet, so no page but enrolment.
            return HttpResponseRedirect(reverse(ENROL_URL_NAME))
        return response
