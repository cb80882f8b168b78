"""Connectors carry recovery actions out on a real directory.

``LocalDirectory`` (the embedded default) acts on this project's own tables. LDAP and
SCIM 2.0 connectors implement the same ``DirectoryConnector`` protocol later.
"""

from django.utils.module_loading import import_string

from .base import Capability, ConnectorError, DirectoryConnector

DEFAULT_CONNECTOR = "directory.connectors.local.LocalDirectory"


def get_connector(path: str = DEFAULT_CONNECTOR) -> DirectoryConnector:
    return import_string(path)()


__all__ = ["Capability", "ConnectorError", "DirectoryConnector", "get_connector"]
