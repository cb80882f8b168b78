from django.apps import AppConfig


class DeskConfig(AppConfig):
    """The staff workbench: the pages agents, managers and security reviewers work in, inside
    the second-factor admin site (docs/design.md "The staff desk")."""

    name = "desk"
    verbose_name = "Staff desk"
