"""One exception tree for recops.

The faces map these to exit codes (``cli``) and HTTP statuses (``server``) in one
place each; nothing below the faces knows about either.
"""

from __future__ import annotations


class RecopsError(Exception):
    """Base of every error recops raises on purpose."""

    exit_code = 2


class InvalidInput(RecopsError):
    """The caller gave something recops cannot accept (bad argument, bad file, bad record)."""


class ConfigError(InvalidInput):
    """A configuration value is wrong; the message names the key and the file."""

    def __init__(self, message: str, *, key: str | None = None, path: str | None = None) -> None:
        where = ", ".join(p for p in (f"file {path}" if path else "", f"key {key}" if key else "") if p)
        super().__init__(f"{message} ({where})" if where else message)
        self.key = key
        self.path = path


class WorkspaceNotFound(InvalidInput):
    """No recops workspace where the command looked for one."""


class NotFound(RecopsError):
    """A named thing (model version, alert, request...) does not exist."""


class Conflict(RecopsError):
    """The operation contradicts what is already stored (e.g. a version registered twice)."""


class ReadOnlyViolation(InvalidInput):
    """A read-only interface (``recops sql``) was asked to write or reach outside the lake."""


class CheckFailed(RecopsError):
    """A check ran and failed (gate blocked, drift found with --fail-on-drift)."""

    exit_code = 1
