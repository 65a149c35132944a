"""The opened Loradesk home: settings, database, storage, events and the cluster backend.

Every service takes a Workspace as its first argument; the CLI opens one per command, the desktop
one for its lifetime.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from core.cluster.base import ClusterBackend
from core.config import Settings
from core.db.engine import Database, DatabaseError
from core.db.migrate import upgrade
from core.db.team import Identity, act_as, identify
from core.events import EventBus
from core.storage import open_storage
from core.storage.buckets import Storage

log = logging.getLogger(__name__)


@dataclass
class Workspace:
    settings: Settings
    db: Database
    storage: Storage
    events: EventBus = field(default_factory=EventBus)
    # Who the database connects as (PostgreSQL); in team mode `settings.user` is that role.
    identity: Identity | None = None
    _backend: ClusterBackend | None = None

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Workspace:
        """Open the database (applying migrations unless told not to) and the storage.

        In team mode the user becomes the connecting role, and a user setting naming anyone else
        is refused (TeamModeError)."""
        db = Database(settings.database_url, home=settings.home)
        try:
            if migrate:
                upgrade(db)
            else:
                db.check_connection()
            identity = identify(db)
            settings = act_as(settings, identity)
        except BaseException:
            db.dispose()
            raise
        storage = open_storage(settings)
        return cls(settings=settings, db=db, storage=storage, identity=identity)

    @classmethod
    def open_when_reachable(
        cls,
        settings: Settings,
        *,
        wait: Callable[[float], bool],
        first_wait: float = 1.0,
        longest_wait: float = 30.0,
    ) -> Workspace | None:
        """`open`, waiting while the database's server cannot be reached (down or restarting):
        said once, retried with back-off. `wait(seconds)` sleeps and returns True when told to
        stop instead (then None). Any other failure is raised at once."""
        pause, said = first_wait, False
        while True:
            try:
                return cls.open(settings)
            except DatabaseError as exc:
                if not exc.unreachable:
                    raise
                if not said:
                    log.warning("%s; waiting for it (retrying with back-off)", exc)
                    said = True
            if wait(pause):
                return None
            pause = min(pause * 2, longest_wait)

    @property
    def user(self) -> str:
        return self.settings.user

    def backend(self) -> ClusterBackend:
        """The cluster backend of the settings, made on first use."""
        if self._backend is None:
            from core.cluster import make_backend

            self._backend = make_backend(self.settings)
        return self._backend

    def use_backend(self, backend: ClusterBackend) -> None:
        """Put in a backend made elsewhere (tests, benchmarks, a settings change)."""
        self._backend = backend

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    def close(self) -> None:
        self.db.dispose()
