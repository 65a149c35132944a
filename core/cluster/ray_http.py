"""A Ray dashboard over HTTP: one aiohttp session, every request under SPEC §4's total deadline
and body bound, every failure one of the ClusterError classes with Ray's own words (the reason
line of its traceback) and never the token."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from core.cluster.answer_errors import error_for_answer
from core.cluster.base import ClusterError, ClusterMalformedError, ClusterTransientError
from core.cluster.bounds import DEADLINE, MalformedAnswer, decode, read_capped

_RELAYED = re.compile(r"Request failed with status code (4\d\d)")
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+(?:Error|Exception)): (.+)$")
T = TypeVar("T")


class AnswerTooLarge(ClusterMalformedError):
    """An answer past MAX_BODY (SPEC §4)."""


class RayDashboard:
    """Requests to one dashboard. Use from one event loop; `aclose()` it."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 30.0,
        deadline: float = DEADLINE,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
    ) -> None:
        self._base = base_url.rstrip("/")
        self.host = urlsplit(base_url).netloc.rpartition("@")[2] or base_url
        self._token = token or None
        self._timeout = aiohttp.ClientTimeout(
            total=deadline,  # from sending the request to the answer's last byte (SPEC §4)
            sock_connect=5.0,
            sock_read=timeout,
        )
        self._trace_configs = list(trace_configs)  # aiohttp's request hooks (tests count requests)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session, made on first use inside the event loop that will use it."""
        if self._session is None or self._session.closed:
            headers = {"User-Agent": "loradesk"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=self._timeout, trace_configs=self._trace_configs or None
            )
        return self._session

    async def request(
        self, method: str, path: str, endpoint: str, *, text: bool = False, **kwargs: Any
    ) -> Any:
        """One request's JSON (no deeper than MAX_DEPTH), or its text."""
        body = await self.exchange(method, path, endpoint, **kwargs)
        if text:
            return body.decode("utf-8", "replace")
        return self.decoded(decode, body)

    async def exchange(self, method: str, path: str, endpoint: str, **kwargs: Any) -> bytes:
        """One request under the total deadline, its 2xx body read no further than MAX_BODY
        (SPEC §4); any other answer as the ClusterError SPEC §4 gives it."""
        try:
            async with self.session().request(method, self._base + path, **kwargs) as answer:
                code = answer.status
                body = await read_capped(answer.content.iter_chunked(256 * 1024), answer.content_length)
        except MalformedAnswer as exc:  # past MAX_BODY, the one thing read_capped refuses
            raise AnswerTooLarge(f"malformed answer from the Ray cluster: {exc}") from None
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors too
            raise ClusterTransientError(f"timed out waiting for the Ray cluster at {self.host}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            reason = self._clean(str(exc)) or type(exc).__name__
            raise ClusterTransientError(f"could not reach the Ray cluster at {self.host}: {reason}") from exc
        error = self._error_for(code, body.decode("utf-8", "replace"), endpoint)
        if error is not None:
            raise error
        return body

    @staticmethod
    def decoded(parse: Callable[[bytes], T], body: bytes) -> T:
        """`parse(body)`, its MalformedAnswer as the ClusterMalformedError of SPEC §4."""
        try:
            return parse(body)
        except MalformedAnswer as exc:
            raise ClusterMalformedError(f"malformed answer from the Ray cluster: {exc}") from None

    def _error_for(self, code: int, body: str, endpoint: str) -> ClusterError | None:
        """The class SPEC §4 gives an answer, with Ray's own words."""
        if 200 <= code < 300:
            return None
        message = self._clean(_ray_reason(body))
        # The head hands a submission to a node's agent, and answers that agent's refusal (a 400)
        # as its own 500 "Request failed with status code 400: <traceback>": a refusal still.
        relayed = _RELAYED.search(body)
        if endpoint == "submit" and code >= 500 and relayed:
            code = int(relayed.group(1))
        return error_for_answer(code, endpoint, message, cluster="the Ray cluster", token="token")

    def _clean(self, text: str) -> str:
        line = " ".join(text.split())
        if self._token:
            line = line.replace(self._token, "***")
        return line if len(line) <= 300 else line[:299] + "…"

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _ray_reason(body: str) -> str:
    """Ray answers errors with a Python traceback: its last `SomeError: reason` line is the
    reason; otherwise the last line of the text."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip(" .")]
    for line in reversed(lines):
        found = _EXCEPTION_LINE.match(line)
        if found:
            return found.group(1).rstrip(".") + "."
    return lines[-1] if lines else ""
