"""What the window says after a cancel that is not done yet: a trainer saving its adapter is
normal and says so; only a cluster that could not be reached is a warning."""

from __future__ import annotations

from core.scheduler.cancelling import CancelResult


def cancel_words(result: CancelResult) -> tuple[str, str] | None:
    """(text, banner kind) for a cancel still waiting, or None when there is nothing to say."""
    if not result.waiting:
        return None
    name = result.job.name
    if result.waiting_for == "adapter":
        return f"Cancelling “{name}”: the trainer is saving its adapter.", "info"
    if result.waiting_for == "submit":
        return f"Cancelling “{name}”: it is cancelled on the cluster once its submit is recorded.", "info"
    if result.waiting_for == "token":
        return (
            f"Cancel of “{name}” requested; the cluster refused the API token (see Settings); "
            "retrying each cycle.",
            "warning",
        )
    if result.waiting_for == "cluster":
        return (
            f"Cancel of “{name}” requested; the cluster could not be reached, retrying each cycle.",
            "warning",
        )
    return None
