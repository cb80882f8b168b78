from recovery_desk.errors import DomainError


class CaseError(DomainError):
    code = "case_error"


class TransitionNotAllowed(CaseError):
    code = "transition_not_allowed"


class PermissionRefused(CaseError):
    code = "permission_refused"


class GuardFailed(CaseError):
    code = "guard_failed"
