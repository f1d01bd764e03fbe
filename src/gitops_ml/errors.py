"""Errors a user can fix: the CLI prints their message and exits non-zero, without a traceback."""


class UserError(Exception):
    """A mistake in the user's input; its message says where and what was expected."""


class ParamsError(UserError):
    """params.yaml is missing, malformed or holds a value of the wrong kind."""


class DataError(UserError):
    """A data file cannot be read or does not fit the expected schema."""
