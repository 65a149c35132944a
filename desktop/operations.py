"""Run core calls off the UI thread and report back on it (Anki's operations pattern).

Every service call does database or network work, so the desktop never calls one directly: it
hands it to a `Runner`, which runs it on a worker thread and calls `on_done` or `on_error` on the
UI thread. Coroutine functions run on the loop given by `async_loop` (the embedded scheduler's,
so they share its cluster client), or on a private loop in the worker when there is none.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from core.errors import LoradeskError

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]
LoopGetter = Callable[[], asyncio.AbstractEventLoop | None]


def describe(error: BaseException) -> str:
    """The message a user sees for an error; unexpected ones say so."""
    if isinstance(error, LoradeskError):
        return str(error)
    return f"Unexpected error: {type(error).__name__}: {error}"


class Runner(QObject):
    """Runs functions on worker threads; results come back on the thread that owns the runner.

    Signals:
        failed(str): an operation without its own `on_error` failed; the text is for the user.
        busy_changed(int): how many operations are in flight.
    """

    failed = Signal(str)
    busy_changed = Signal(int)
    _finished = Signal(object, object, object, object)  # done callback, error callback, result, error

    def __init__(self, parent: QObject | None = None, *, threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="loradesk-op")
        self._in_flight = 0
        self._shut_down = False
        self.async_loop: LoopGetter = lambda: None
        self._finished.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def run(
        self,
        fn: Callable[..., Any],
        /,
        *args: Any,
        on_done: Callback | None = None,
        on_error: Callback | None = None,
        **kwargs: Any,
    ) -> None:
        """Call `fn(*args, **kwargs)` off the UI thread; then `on_done(result)` or `on_error(exc)`.

        Once the runner is shut down (the app closing), a call is dropped: a widget still
        refreshing as it closes wants no answer, and nothing may start on a stopped pool."""
        if self._shut_down:
            return
        self._in_flight += 1
        self.busy_changed.emit(self._in_flight)
        loop = self.async_loop() if inspect.iscoroutinefunction(fn) else None
        if loop is not None and loop.is_running():
            future: Future[Any] = asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop)
        else:
            future = self._pool.submit(_call, fn, args, kwargs)
        future.add_done_callback(lambda f: self._report(f, on_done, on_error))

    def shutdown(self) -> None:
        self._shut_down = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _report(self, future: Future[Any], on_done: Callback | None, on_error: Callback | None) -> None:
        try:
            result, error = future.result(), None
        except BaseException as exc:
            result, error = None, exc
        try:
            self._finished.emit(on_done, on_error, result, error)
        except RuntimeError:  # the runner was deleted while the call ran (app closing)
            pass

    def _deliver(self, on_done: Callback | None, on_error: Callback | None, result: Any, error: Any) -> None:
        self._in_flight -= 1
        self.busy_changed.emit(self._in_flight)
        if error is None:
            if on_done is not None:
                on_done(result)
            return
        if not isinstance(error, LoradeskError):
            log.error("background operation failed", exc_info=error)
        if on_error is not None:
            on_error(error)
        else:
            self.failed.emit(describe(error))


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return asyncio.run(fn(*args, **kwargs))
    return fn(*args, **kwargs)
