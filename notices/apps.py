from django.apps import AppConfig


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = "Notices to subjects"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system check)
