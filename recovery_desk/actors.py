"""Who acts, besides staff users: markers shared by the rules (``cases.access``) and the
audit trail, so that a subject's dispute is recorded as the subject's, not the system's."""


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


SYSTEM = _Marker("SYSTEM")  # the sweep and the tasks: moves that happen by themselves
SUBJECT = _Marker("SUBJECT")  # the person being recovered, on a public page (no staff login)
