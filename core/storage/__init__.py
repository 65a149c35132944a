"""Dataset and adapter storage: the seed's two buckets on local folders (the default) or S3.

`buckets` holds the interface every backend meets, `folder` the local backend (`$LORADESK_HOME/storage/`
with signed `file://` URLs), `s3` the S3-compatible one. `open_storage` picks the one the settings name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.storage.buckets import Storage
from core.storage.folder import LocalStorage, local_storage_root

if TYPE_CHECKING:
    from core.config import Settings


def open_storage(settings: Settings) -> Storage:
    """The storage `settings.storage_url` names: S3, a folder, or `home`/storage by default."""
    if settings.storage_url.startswith("s3://"):
        from core.storage.s3 import S3Storage

        return S3Storage(settings.storage_url)
    return LocalStorage(local_storage_root(settings))
