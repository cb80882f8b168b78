from recovery_desk.errors import DomainError


class VerificationError(DomainError):
    code = "verification_error"
