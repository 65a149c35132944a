"""Cluster backends: the interface of `base.py` and `make_backend`, which picks one from Settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.cluster.base import (
    ClusterAuthError,
    ClusterBackend,
    ClusterConflictError,
    ClusterError,
    ClusterJobNotFoundError,
    ClusterLogsUnavailableError,
    ClusterMalformedError,
    ClusterRejectedError,
    ClusterTransientError,
    LogChunk,
    StatusReport,
    SubmitRequest,
    SubmitResult,
)
from core.config import ConfigError

if TYPE_CHECKING:
    from core.config import Settings

__all__ = [
    "ClusterAuthError",
    "ClusterBackend",
    "ClusterConflictError",
    "ClusterError",
    "ClusterJobNotFoundError",
    "ClusterLogsUnavailableError",
    "ClusterMalformedError",
    "ClusterRejectedError",
    "ClusterTransientError",
    "LogChunk",
    "StatusReport",
    "SubmitRequest",
    "SubmitResult",
    "make_backend",
]


def make_backend(settings: Settings, *, token: str | None = None) -> ClusterBackend:
    """The backend `settings.cluster` names; `token` overrides the stored one for `http`/`ray`."""
    # Imported here so that starting the app loads only the backend it uses.
    if settings.cluster == "http":
        from core.cluster.http import HttpCluster
        from core.secrets import get_cluster_token

        if not settings.cluster_url:
            raise ConfigError("the http cluster backend needs a cluster URL (LORADESK_CLUSTER_URL)")
        url = settings.cluster_url
        return HttpCluster(url, token or get_cluster_token(url), max_in_flight=settings.max_in_flight)
    if settings.cluster == "ray":
        from core.cluster.ray import RayCluster
        from core.secrets import get_cluster_token
        from core.storage import open_storage

        if not settings.cluster_url:
            raise ConfigError("the ray cluster backend needs the dashboard's URL (LORADESK_CLUSTER_URL)")
        url = settings.cluster_url
        # A Ray dashboard needs a token only behind an authenticating proxy.
        token = token or get_cluster_token(url, required=False)
        return RayCluster(url, token, open_storage(settings), settings)
    if settings.cluster == "local":
        from core.cluster.local import LocalCluster

        return LocalCluster(settings)
    raise ConfigError(f"unknown cluster backend {settings.cluster!r}; use local, http or ray")
