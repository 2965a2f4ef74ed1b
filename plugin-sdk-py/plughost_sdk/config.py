"""Read-only settings the operator grants in the manifest's `[config]` (grant `config`)."""

from typing import Optional

from . import _host


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """The value of `key`, or `default` when absent or not granted."""
    value = _host.imports("config").get(key)
    return default if value is None else value
