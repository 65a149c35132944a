"""The one base class of every error whose message is meant for the user.

The CLI prints such a message as one line on stderr and exits 1; the desktop shows it in a dialog
or banner. Anything else that escapes is a bug and is logged with its traceback.
"""


class LoradeskError(Exception):
    """An error with a message fit for a user."""


class NotFoundError(LoradeskError):
    """A dataset, job or notification that does not exist for the current user."""


class InvalidRequestError(LoradeskError):
    """A request that cannot be carried out as asked (bad value, wrong status)."""
