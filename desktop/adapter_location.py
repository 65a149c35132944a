"""Where a job's adapter is, as a person uses it: a folder to open, a path to copy.

`artifact_url` is a file URL for local runs, or whatever URL a cluster reports.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from PySide6.QtCore import QUrl


def adapter_path(url: str | None) -> str | None:
    """The adapter's folder as a person types it: a path for a file URL, else the URL itself."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme == "file":
        return url2pathname(unquote(parts.path))
    return url


def adapter_folder_url(url: str | None) -> QUrl | None:
    """What "Open folder" opens: the local folder, or a web address; None for other stores (s3)."""
    if not url:
        return None
    scheme = urlsplit(url).scheme
    if scheme == "file":
        return QUrl.fromLocalFile(adapter_path(url) or "")
    if scheme in ("http", "https"):
        return QUrl(url)
    return None
