"""The `http` backend: the GPU cluster API of SPEC §4 over one shared aiohttp session.

aiohttp rather than httpx: a poll cycle makes a thousand requests, and httpx's stack (httpcore,
anyio) cost about 0.9 ms of CPU per request here against about 0.3 ms for aiohttp (0.6 ms through
the httpx-aiohttp transport, which keeps httpx's API but not its savings); at a thousand jobs a
cycle that is the difference between one second and two (benchmarks/bench_scheduler.py).

Every failure leaves this module as one of the `ClusterError` classes of `base.py`, with a
one-line message fit for a user that never contains the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp

from core.cluster.answer_errors import error_for_answer
from core.cluster.base import (
    NO_LOGS_MESSAGE,
    ClusterAuthError,
    ClusterConflictError,
    ClusterError,
    ClusterLogsUnavailableError,
    ClusterMalformedError,
    ClusterTransientError,
    LogChunk,
    StatusReport,
    SubmitRequest,
    SubmitResult,
)
from core.cluster.bounds import (
    CLUSTER_STATUSES,
    DEADLINE,
    MAX_BODY,
    MAX_POINTS,
    WHOLE_BODY,
    Bounded,
    MalformedAnswer,
    decode,
    first_points,
)
from core.records import METRIC_FIELDS
from core.sample_answers import MAX_SAMPLES_PER_ANSWER, sample_answers

NO_TOKEN_MESSAGE = "no API token: set one in Settings or LORADESK_CLUSTER_TOKEN"
_MAX_MESSAGE = 300  # characters of a cluster's own message kept in ours
_ERROR_BODY = 64 * 1024  # bytes of a failure's body read for its message
# The lists of a status answer, and how many items of each one answer may bring.
_STATUS_LISTS = {"metrics_history": MAX_POINTS, "samples": MAX_SAMPLES_PER_ANSWER}

T = TypeVar("T")


class HttpCluster:
    """ClusterBackend over HTTP. Use it from one event loop; `aclose()` it when done."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        write_timeout: float = 10.0,
        pool_timeout: float = 10.0,
        max_in_flight: int = 100,
        deadline: float = DEADLINE,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._token = token or None
        self._base = base_url.rstrip("/")
        self._host = urlsplit(base_url).netloc.rpartition("@")[2]
        self._max_in_flight = max_in_flight
        # Requests wait for their turn here, not inside aiohttp, whose connect timeout would count
        # the wait for a free connection: a cycle of 10,000 polls queues for seconds by design.
        self._in_flight = asyncio.Semaphore(max_in_flight)
        # aiohttp has no write timeout of its own: a request's small JSON body goes out in one
        # write, and waiting for the answer after it is the read timeout's.
        del write_timeout
        # One big answer at a time is read and decoded: a hundred of them in flight at once
        # would otherwise hold a hundred bodies of up to 16 MiB.
        self._large = asyncio.Lock()
        # Set by aclose(): a big answer still being decoded in a thread is abandoned, so that
        # a stopping scheduler's process does not wait for it.
        self._closing = threading.Event()
        self._timeout = aiohttp.ClientTimeout(
            total=deadline,  # from sending the request to the answer's last byte (SPEC §4)
            connect=pool_timeout + connect_timeout,  # waiting for a free connection, then connecting
            sock_connect=connect_timeout,
            sock_read=read_timeout,
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The session, made on first use inside the event loop that will use it."""
        if self._session is None or self._session.closed:
            self._closing.clear()
            connector = aiohttp.TCPConnector(limit=self._max_in_flight, keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"Accept": "application/json", "User-Agent": "loradesk"},
                json_serialize=json.dumps,
            )
        return self._session

    async def submit(self, request: SubmitRequest) -> SubmitResult:
        payload = {
            "job_id": request.job_id,
            "dataset_url": request.dataset_url,
            "hyperparameters": request.hyperparameters,
            "gpu_config": {"gpu_type": request.gpu_type, "gpu_count": request.gpu_count},
        }
        return await self._call("POST", "/training/submit", "submit", _submit_result, json=payload)

    async def status(self, external_job_id: str, since_step: int | None) -> StatusReport:
        params = None if since_step is None else {"since_step": str(since_step)}
        path = f"/training/status/{quote(external_job_id, safe='')}"
        return await self._call("GET", path, "status", _status_report, lists=_STATUS_LISTS, params=params)

    async def cancel(self, external_job_id: str) -> str | None:
        path = f"/training/cancel/{quote(external_job_id, safe='')}"
        await self._call("POST", path, "cancel", _cancel_answer)
        return None  # a partial adapter, if the cluster keeps one, comes with its status answer

    async def read_log(self, external_job_id: str, offset: int) -> LogChunk:
        path = f"/training/logs/{quote(external_job_id, safe='')}"
        return await self._call("GET", path, "logs", _log_chunk, params={"offset": str(max(0, offset))})

    async def aclose(self) -> None:
        self._closing.set()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> HttpCluster:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        endpoint: str,
        parse: Callable[[Any], T],
        *,
        lists: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> T:
        if self._token is None:
            raise ClusterAuthError(NO_TOKEN_MESSAGE)
        headers = {"Authorization": f"Bearer {self._token}"}
        async with contextlib.AsyncExitStack() as held:
            try:
                async with (
                    self._in_flight,
                    self._client().request(method, self._base + path, headers=headers, **kwargs) as answer,
                ):
                    status = answer.status
                    body = await self._read(answer, held)
            except MalformedAnswer as exc:
                raise ClusterMalformedError(f"malformed answer from the cluster: {exc}") from None
            except aiohttp.ConnectionTimeoutError as exc:
                raise ClusterTransientError(f"timed out connecting to the cluster at {self._host}") from exc
            except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
                raise ClusterTransientError(
                    f"timed out waiting for an answer from the cluster at {self._host}"
                ) from exc
            except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
                reason = type(exc).__name__
                raise ClusterTransientError(f"malformed answer from the cluster: {reason}") from exc
            except (aiohttp.ClientError, OSError) as exc:
                reason = self._clean(str(exc)) or type(exc).__name__
                raise ClusterTransientError(f"could not reach the cluster at {self._host}: {reason}") from exc
            error = self._error_for(status, body, endpoint)
            if error is not None:
                raise error
            try:
                if len(body) > WHOLE_BODY:  # decoded off the loop, which keeps polling the others
                    data = await asyncio.to_thread(decode, body, lists=lists, cancelled=self._closing.is_set)
                else:
                    data = decode(body, lists=lists)
                del body
                return parse(data)
            except ValueError as exc:  # MalformedAnswer and _Malformed
                raise ClusterMalformedError(f"malformed answer from the cluster: {exc}") from None

    async def _read(self, answer: aiohttp.ClientResponse, held: contextlib.AsyncExitStack) -> bytes:
        """The body, read chunk by chunk and refused past MAX_BODY. A body past WHOLE_BODY waits
        for the one big-answer turn and keeps it (in `held`) until it is decoded. A failure's
        body is read only as far as its message needs."""
        if not 200 <= answer.status < 300:
            return await answer.content.read(_ERROR_BODY)
        declared = answer.content_length
        if declared is not None and declared > MAX_BODY:
            raise MalformedAnswer(f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
        large = declared is not None and declared > WHOLE_BODY
        if large:
            await held.enter_async_context(self._large)
        body = bytearray()
        async for chunk in answer.content.iter_chunked(256 * 1024):
            if not large and len(body) + len(chunk) > WHOLE_BODY:
                await held.enter_async_context(self._large)
                large = True
            body += chunk
            if len(body) > MAX_BODY:
                raise MalformedAnswer(f"the answer is larger than {MAX_BODY // (1024 * 1024)} MiB")
        return bytes(body)

    def _error_for(self, code: int, body: bytes, endpoint: str) -> ClusterError | None:
        """The exception SPEC §4 assigns to a non-2xx answer, None for a 2xx."""
        if 200 <= code < 300:
            return None
        message = self._cluster_message(body)
        if code == 404 and endpoint == "logs":
            return ClusterLogsUnavailableError(NO_LOGS_MESSAGE)
        if code == 409 and endpoint == "cancel":
            suffix = f": {message}" if message else ""
            return ClusterConflictError(f"the job has already finished on the cluster{suffix}")
        return error_for_answer(code, endpoint, message, cluster="the cluster", token="API token")

    def _cluster_message(self, body: bytes) -> str:
        """The cluster's own explanation: `error`/`message`/`detail` of a JSON body, else the text."""
        text = body.decode("utf-8", "replace")
        try:
            data = json.loads(body)
        except ValueError:
            return self._clean(text)
        if isinstance(data, dict):
            for key in ("error", "message", "detail"):
                if data.get(key):
                    value = data[key]
                    return self._clean(value if isinstance(value, str) else str(value))
        return self._clean(text)

    def _clean(self, text: str) -> str:
        """One line, the token masked (before trimming, so no part of it survives), trimmed."""
        line = " ".join(text.split())
        if self._token:
            line = line.replace(self._token, "***")
        return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


class _Malformed(ValueError):
    """A 2xx answer that breaks the contract; the message names the field."""


def _submit_result(data: Any) -> SubmitResult:
    data = _object(data)
    external_id = data.get("external_job_id")
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)  # some clusters number their jobs
    if not isinstance(external_id, str) or not external_id:
        raise _Malformed("external_job_id is missing or not a string")
    return SubmitResult(external_job_id=external_id, status=_status_text(data))


def _status_report(data: Any) -> StatusReport:
    data = _object(data)
    history = data.get("metrics_history")
    if isinstance(history, list) and not isinstance(history, Bounded):
        history = first_points(history)  # the whole answer was decoded: bound it here
    return StatusReport(
        status=_status_text(data),
        progress=_float(data.get("progress"), "progress"),
        current_epoch=_count(data.get("current_epoch"), "current_epoch"),
        total_epochs=_count(data.get("total_epochs"), "total_epochs"),
        current_step=_count(data.get("current_step"), "current_step"),
        total_steps=_count(data.get("total_steps"), "total_steps"),
        metrics=_metrics(data.get("metrics"), "metrics"),
        metrics_history=None if history is None else _history(history),
        more_points=bool(getattr(history, "dropped", 0)),
        error_message=_optional_text(data.get("error_message"), "error_message"),
        artifact_url=_optional_text(data.get("artifact_url"), "artifact_url"),
        started_at=_timestamp(data.get("started_at")),
        completed_at=_timestamp(data.get("completed_at")),
        samples=sample_answers(data.get("samples")),
    )


def _cancel_answer(data: Any) -> None:
    _status_text(_object(data))


def _log_chunk(data: Any) -> LogChunk:
    data = _object(data)
    text, next_offset = data.get("text"), _int(data.get("next_offset"), "next_offset")
    if not isinstance(text, str):
        raise _Malformed("text is missing or not a string")
    if next_offset is None or next_offset < 0:
        raise _Malformed("next_offset is missing or negative")
    return LogChunk(text=text, next_offset=next_offset)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Malformed(f"expected a JSON object, got {type(data).__name__}")
    return data


def _status_text(data: dict[str, Any]) -> str:
    status = data.get("status")
    if not isinstance(status, str) or not status:
        raise _Malformed("status is missing or not a string")
    if status.lower() not in CLUSTER_STATUSES:
        shown = status if len(status) <= 40 else status[:39] + "…"
        raise _Malformed(f"status {shown!r} is not one of the contract's")
    return status


def _optional_text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _Malformed(f"{name} is not a string")


def _timestamp(value: Any) -> datetime | None:
    """An optional ISO 8601 time, read as UTC when it names no zone. One a cluster writes in a
    form we cannot read is dropped: the scheduler's own observation time then stands in."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _float(value: Any, name: str) -> float | None:
    """A number, or a numeric string; NaN and infinities pass through (the scheduler nulls them)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Malformed(f"{name} is not a number")
    try:
        return float(value)
    except ValueError:
        raise _Malformed(f"{name} is not a number") from None


def _int(value: Any, name: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _float(value, name)
    if number is None:
        return None
    if not math.isfinite(number):
        raise _Malformed(f"{name} is not a whole number")
    return int(number)  # a fractional epoch counts as the one under way


def _count(value: Any, name: str) -> int | None:
    """A step, an epoch or a total: a whole number, never negative."""
    number = _int(value, name)
    if number is not None and number < 0:
        raise _Malformed(f"{name} is negative")
    return number


def _metrics(value: Any, name: str) -> dict[str, Any]:
    """The metrics SPEC §4 names, as floats; keys it does not name are dropped."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Malformed(f"{name} is not an object")
    return {key: _float(value[key], f"{name}.{key}") for key in METRIC_FIELDS if key in value}


def _history(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise _Malformed("metrics_history is not a list")
    points = []
    for index, item in enumerate(value):
        where = f"metrics_history[{index}]"
        if not isinstance(item, dict):
            raise _Malformed(f"{where} is not an object")
        step = _count(item.get("step"), f"{where}.step")
        if step is None:
            raise _Malformed(f"{where}.step is missing")
        point: dict[str, Any] = {"step": step, **_metrics(item, where)}
        if item.get("epoch") is not None:
            point["epoch"] = _count(item["epoch"], f"{where}.epoch")
        points.append(point)
    return points
