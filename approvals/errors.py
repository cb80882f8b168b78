from recovery_desk.errors import DomainError


class ApprovalError(DomainError):
    code = "approval_error"
