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
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import aiohttp

from core.cluster.answer_errors import error_for_answer
from core.cluster.answers import cancel_answer, log_chunk, submit_result
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
from core.cluster.bounds import DEADLINE, MAX_BODY, WHOLE_BODY, MalformedAnswer, decode
from core.cluster.in_flight import InFlightCap
from core.cluster.status_answer import BATCH_LIMIT, batch_from_body, status_from_body

log = logging.getLogger(__name__)
NO_TOKEN_MESSAGE = "no API token: set one in Settings or LORADESK_CLUSTER_TOKEN"
_MAX_MESSAGE = 300  # characters of a cluster's own message kept in ours
_ERROR_BODY = 64 * 1024  # bytes of a failure's body read for its message


class _NoBatchEndpoint(ClusterError):
    """404 on `POST /training/status`: the cluster has no batch endpoint (SPEC §4, optional)."""


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
        max_in_flight: int = 256,
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
        self._in_flight = InFlightCap(max_in_flight)
        self._batches: bool | None = None  # whether the cluster has the batch endpoint
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

    @property
    def in_flight_cap(self) -> int:
        """Requests allowed in flight now: the setting, or less while the cluster is loaded."""
        return self._in_flight.limit

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
        return await self._call("POST", "/training/submit", "submit", _parsed(submit_result), json=payload)

    async def status(self, external_job_id: str, since_step: int | None) -> StatusReport:
        params = None if since_step is None else {"since_step": str(since_step)}
        path = f"/training/status/{quote(external_job_id, safe='')}"
        return await self._call("GET", path, "status", status_from_body, params=params)

    async def statuses(self, asked: Sequence[tuple[str, int | None]]) -> list[StatusReport | ClusterError]:
        """The status of each (external id, since step) asked, in order, or the error its poll
        met: by the batch endpoint, BATCH_LIMIT jobs a request, where the cluster has it; else
        (404 on it, remembered for this cluster) one request per job."""
        chunks = [asked[i : i + BATCH_LIMIT] for i in range(0, len(asked), BATCH_LIMIT)]
        answers = await asyncio.gather(*(self._statuses(chunk) for chunk in chunks))
        return [outcome for chunk in answers for outcome in chunk]

    @property
    def batches(self) -> bool | None:
        """Whether the cluster answers the batch endpoint: None until it was asked."""
        return self._batches

    async def _statuses(self, asked: Sequence[tuple[str, int | None]]) -> list[StatusReport | ClusterError]:
        if self._batches is not False:
            jobs = [{"external_job_id": external_id, "since_step": since} for external_id, since in asked]
            try:
                path, body = "/training/status", {"jobs": jobs}
                found = await self._call("POST", path, "batch", batch_from_body, json=body)
            except _NoBatchEndpoint:
                if self._batches is None:
                    log.info("the cluster at %s has no batch status endpoint: polling job by job", self._host)
                self._batches = False
            except ClusterError as exc:  # the request failed: each of its jobs met that
                return [exc] * len(asked)
            else:
                self._batches = True
                missing = ClusterTransientError("the cluster's batch answer left this job out")
                return [found.get(external_id, missing) for external_id, _ in asked]
        polls = (self.status(external_id, since) for external_id, since in asked)
        outcomes = await asyncio.gather(*polls, return_exceptions=True)
        return [_outcome(o) for o in outcomes]

    async def cancel(self, external_job_id: str) -> str | None:
        path = f"/training/cancel/{quote(external_job_id, safe='')}"
        await self._call("POST", path, "cancel", _parsed(cancel_answer))
        return None  # a partial adapter, if the cluster keeps one, comes with its status answer

    async def read_log(self, external_job_id: str, offset: int) -> LogChunk:
        path = f"/training/logs/{quote(external_job_id, safe='')}"
        params = {"offset": str(max(0, offset))}
        return await self._call("GET", path, "logs", _parsed(log_chunk), params=params)

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
        read: Callable[[bytes, Callable[[], bool]], T],
        **kwargs: Any,
    ) -> T:
        if self._token is None:
            raise ClusterAuthError(NO_TOKEN_MESSAGE)
        headers = {"Authorization": f"Bearer {self._token}"}
        async with contextlib.AsyncExitStack() as held:
            try:
                async with self._in_flight as era:
                    sent = time.monotonic()
                    request = self._client().request(method, self._base + path, headers=headers, **kwargs)
                    async with request as answer:
                        status = answer.status
                        # Only a single job's poll says how loaded the cluster is by its time.
                        took = time.monotonic() - sent if endpoint == "status" else None
                        self._in_flight.answered(status, took, era)
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
                    return await asyncio.to_thread(read, body, self._closing.is_set)
                return read(body, self._closing.is_set)
            except ValueError as exc:  # MalformedAnswer and the careful reading's own
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
        if code == 404 and endpoint == "batch":
            return _NoBatchEndpoint("the cluster has no batch status endpoint")
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


def _parsed(parse: Callable[[Any], T]) -> Callable[[bytes, Callable[[], bool]], T]:
    """A reader of a 2xx body (the second argument tells a long decode the client is closing):
    decoded within the bounds, then `parse`d."""
    return lambda body, cancelled: parse(decode(body, cancelled=cancelled))


def _outcome(outcome: StatusReport | BaseException) -> StatusReport | ClusterError:
    if isinstance(outcome, StatusReport | ClusterError):
        return outcome
    raise outcome
