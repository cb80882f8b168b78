from django_otp.admin import OTPAdminSite


class StaffAdminSite(OTPAdminSite):
    site_header = "Recovery Desk"
    site_title = "Recovery Desk"
    index_title = "Case queues and directory"
