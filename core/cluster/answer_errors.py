"""The answer classes of SPEC §4: which `ClusterError` a cluster's non-2xx HTTP answer is.

Shared by the `http` and `ray` backends, which differ only in how they name the cluster, how they
read its own explanation, and the few answers one of them gives a meaning of its own.
"""

from __future__ import annotations

from core.cluster.base import (
    ClusterAuthError,
    ClusterError,
    ClusterJobNotFoundError,
    ClusterRejectedError,
    ClusterTransientError,
)


def error_for_answer(code: int, endpoint: str, message: str, *, cluster: str, token: str) -> ClusterError:
    """The exception for a non-2xx answer `code` to `endpoint` (submit, status, cancel, logs).

    `message` is the cluster's own explanation, already cleaned of the token (may be empty);
    `cluster` names it in our words ("the cluster") and `token` the credential ("API token").
    """
    suffix = f": {message}" if message else ""
    if code in (401, 403):
        return ClusterAuthError(
            f"{cluster} refused the {token} (HTTP {code}); "
            "set a valid one in Settings or LORADESK_CLUSTER_TOKEN"
        )
    if code in (408, 429) or code >= 500:
        return ClusterTransientError(f"{cluster} is busy or unavailable (HTTP {code}){suffix}")
    if code == 404 and endpoint in ("status", "cancel"):
        return ClusterJobNotFoundError(f"job not found on {cluster}")
    if endpoint == "submit" and 400 <= code < 500:
        return ClusterRejectedError(f"{cluster} rejected the job: {message or f'HTTP {code}'}")
    # Redirects, or a 4xx the contract does not name for status/cancel: nothing is decided
    # from an answer we do not understand, so it is retried like an outage.
    return ClusterTransientError(f"unexpected answer from {cluster} (HTTP {code}){suffix}")
