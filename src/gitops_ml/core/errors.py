"""Errors a user can fix: the CLI prints their message and exits non-zero, without a traceback.

Every error the package raises on purpose is one of these, so one `except UserError` at the top
(`cli.main`) turns them all into one line and exit code 1.
"""


class UserError(Exception):
    """A mistake in the user's input; its message says where and what was expected."""


class ParamsError(UserError):
    """params.yaml (or another settings file) is missing, malformed or holds a wrong value."""


class DataError(UserError):
    """A data file cannot be read or does not fit the expected schema."""


class GitError(UserError):
    """A git command failed; the message names the command and what git said."""


class ModelError(UserError):
    """A model file or registered model cannot be found, trusted or loaded."""


class RegistryError(UserError):
    """The model registry refused a request or is not reachable."""


class ConcurrentChangeError(RegistryError):
    """The registry changed between reading and writing; nothing was moved."""


class DriftSpecError(UserError):
    """A `simulate --drift` specification cannot be parsed or does not fit the data."""
