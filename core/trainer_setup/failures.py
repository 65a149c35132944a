"""Why a trainer setup stopped, in words for the person who asked for it."""

from core.errors import LoradeskError


class TrainerSetupError(LoradeskError):
    """The setup could not finish; nothing was changed."""


class NoPythonError(TrainerSetupError):
    """No Python 3.11+ that can make a virtual environment; the message says what to install."""


class NoPackageIndexError(TrainerSetupError):
    """pip could reach no package index (offline, a proxy, or indexes turned off)."""


class SetupCancelled(TrainerSetupError):
    """The person cancelled; the partial environment was removed."""
