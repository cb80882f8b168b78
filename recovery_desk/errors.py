class DomainError(Exception):
    """Base of every app's domain error: a stable ``code`` and a sentence a person can act on.

    Raised by services *before* anything is written; the admin shows the message, the API
    maps it to problem+json. Nothing else catches it.
    """

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message
