"""The enrolment page: a staff member's first authenticator app, right after the password.

Outside ``admin_view`` (the person is not verified yet), so the page checks for itself: a
signed-in, active staff member with no confirmed device (``awaiting_enrolment``). Everyone else
is sent to sign in, refused, or (with a device already) sent to the desk. The key is shown only
here, only to its owner, only until it is confirmed; the response is never cached.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.middleware.csrf import rotate_token
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import user_has_device

from . import enrolment_services as services
from .enrolment_services import Outcome

# The session's keyed hash of the key it was shown (enrolment_services: never the key itself).
SESSION_ISSUED = "recovery_desk.enrolment_issued"
CODE_LABEL = "Code from your authenticator app"


class FirstCodeForm(forms.Form):
    otp_token = forms.CharField(
        label=CODE_LABEL,
        help_text="The 6 digits your app shows for Recovery Desk now. Spaces do not matter.",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_otp_token(self) -> str:
        code = "".join(self.cleaned_data["otp_token"].split())
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise forms.ValidationError("Enter the 6 digits your authenticator app shows.")
        return code


def _login_url() -> str:
    return reverse("admin:login")


def _turned_away(request):
    """Anyone but a person awaiting enrolment: a response, or None to go on."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path(), _login_url())
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("Only staff members set up an authenticator app here.")
    if user_has_device(user, confirmed=True):
        if request.method == "POST":
            raise PermissionDenied(
                "You already have an authenticator app. To replace it, ask an administrator."
            )
        return HttpResponseRedirect(reverse("admin:index"))
    return None


_REFUSALS = {
    Outcome.WRONG: "That code is not right. Check that the app shows Recovery Desk, then type "
    "the code it shows now ({left} left before you are signed out).",
    Outcome.WAIT: "Wait a few seconds after a wrong code, then type the code your app shows now.",
    Outcome.STALE: "This QR code was replaced (you signed in again, perhaps in another window). "
    "Scan the new one below, then type its code.",
}


@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request):
    turned_away = _turned_away(request)
    if turned_away is not None:
        return turned_away
    user = request.user
    form = FirstCodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        done = services.confirm_first_code(
            user, issued=request.session.get(SESSION_ISSUED), code=form.cleaned_data["otp_token"]
        )
        if done.outcome is Outcome.CONFIRMED:
            return _verified(request, done.device)
        if done.outcome is Outcome.ENROLLED:
            raise PermissionDenied("You already have an authenticator app.")
        if done.outcome is Outcome.TOO_MANY:
            logout(request)
            messages.error(
                request,
                "Too many wrong codes: you are signed out. Sign in again to get a new QR code.",
            )
            return HttpResponseRedirect(_login_url())
        left = services.MAX_FAILURES - done.failures
        form.add_error("otp_token", _REFUSALS[done.outcome].format(left=left))
        emptied = request.POST.copy()
        emptied["otp_token"] = ""  # the next try is a new code: an empty field for it
        form.data = emptied
    issued = services.issue_key(user, issued=request.session.get(SESSION_ISSUED))
    if issued is None:  # a device was confirmed meanwhile (another session)
        return HttpResponseRedirect(reverse("admin:index"))
    request.session[SESSION_ISSUED] = issued.fingerprint
    context = {
        **admin.site.each_context(request),
        "title": "Set up your authenticator app",
        "form": form,
        # qrcode draws the URL as paths: no text from the URL (or the username) reaches the SVG.
        "qr_svg": mark_safe(services.qr_svg(issued.device)),  # noqa: S308
        "manual_key": services.manual_key(issued.device),
        "max_failures": services.MAX_FAILURES,
    }
    return TemplateResponse(request, "enrolment/enrol.html", context)


def _verified(request, device):
    """Confirmed: the session is verified by this device, under a new session key and a new
    CSRF token (the person just gained access to the desk)."""
    otp_login(request, device)
    request.session.pop(SESSION_ISSUED, None)
    request.session.cycle_key()
    rotate_token(request)
    messages.success(
        request,
        "Your authenticator app is set up. From now on, sign in with your password and a code "
        "from it.",
    )
    return HttpResponseRedirect(reverse("admin:index"))


@never_cache
@require_POST
def sign_out(request):
    """Leave the enrolment page without setting up an app (the admin's own log out is one of
    the pages an unverified person cannot open)."""
    logout(request)
    return HttpResponseRedirect(_login_url())
