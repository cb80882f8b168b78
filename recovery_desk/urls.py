from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from cases import subject_views
from recovery_desk import enrolment

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before the admin: a person with no authenticator yet is not verified, so no admin page
    # (admin_view) lets them in; these pages check for themselves (recovery_desk/enrolment.py).
    path("admin/enrol/", enrolment.enrol, name="staff_enrol"),
    path("admin/enrol/sign-out/", enrolment.sign_out, name="staff_enrol_sign_out"),
    path("admin/", admin.site.urls),
    path("dispute/<str:token>/", subject_views.dispute, name="subject_dispute"),
]
