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
    site_header = "Recovery Desk"
    site_title = "Recovery Desk"
    index_title = "Case queues and directory"
    login_form = StaffLoginForm
