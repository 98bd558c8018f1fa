"""
The HTTP libraries behind the hub: the only code that talks to httpx or aiohttp.

An `Exchange` sends one request and returns a `Reply` (status, headers, body), or
raises one of our `TransportError`s chained from the library's own error:

- `HttpxExchange`: httpx, over our `LanedTransport` (the default) or a caller's
  `httpx.AsyncClient`;
- `AiohttpExchange`: aiohttp called directly, the fast path (asyncio only). Going
  through httpx's request and response models on top of aiohttp would cost more
  than half of aiohttp's speed (benchmarks/clients.py measures both).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import httpx
import sniffio

from ._errors import ConnectError, RequestTimeoutError, TransportError
from ._lanes import LanedTransport

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpExchange", "Exchange", "HttpxExchange", "Reply"]

# Idle connections are kept this long; Azure's load balancers drop idle ones later.
KEEPALIVE_EXPIRY = 30.0


class Reply(Protocol):
    """What the hub reads of a response (an `httpx.Response` is one)."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class Exchange(Protocol):
    """Sends requests for a hub; built once, closed with the hub."""

    def prepare_url(self, url: str) -> Any:
        """Parse a URL once into the library's own form, for reuse on every send."""
        ...

    async def send(
        self,
        method: str,
        url: Any,
        headers: dict[str, str],
        content: bytes | None,
        operation: str,
    ) -> Reply:
        """
        Send one request and read the whole response.

        Raises:
            TransportError: no usable answer (see its subclasses and fate_unknown).
        """
        ...

    async def aclose(self) -> None:
        """Release connections; only for exchanges the hub built itself."""
        ...


class HttpxExchange:
    """httpx: the hub's own laned client, or a client the caller passed in."""

    def __init__(self, client: httpx.AsyncClient, *, owned: bool) -> None:
        self._client = client
        self._owned = owned

    @classmethod
    def build(
        cls, max_connections: int, timeout: httpx.Timeout, verify: ssl.SSLContext | bool
    ) -> HttpxExchange:
        """The hub's own client: one single-connection lane per connection."""
        lanes = LanedTransport(
            max_connections, verify=verify, keepalive_expiry=KEEPALIVE_EXPIRY
        )
        return cls(httpx.AsyncClient(transport=lanes, timeout=timeout), owned=True)

    def prepare_url(self, url: str) -> httpx.URL:
        return httpx.URL(url)

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        content: bytes | None,
        operation: str,
    ) -> httpx.Response:
        if self._owned:
            # Our own client has no default headers, cookies or base URL worth
            # merging; skipping build_request saves a good share of httpx's CPU.
            request = httpx.Request(method, url, headers=headers, content=content)
        else:
            # A caller's client may carry headers, cookies or auth of its own.
            request = self._client.build_request(
                method, url, headers=headers, content=content
            )

        try:
            return await self._client.send(request)
        except httpx.HTTPError as exc:
            raise _httpx_error(exc, operation) from exc

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


class _AiohttpReply(NamedTuple):
    # A tuple: the cheapest read-only record to build once per send.
    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    content: bytes


class AiohttpExchange:
    """aiohttp called directly; its session is created on first use, in the loop."""

    def __init__(
        self,
        max_connections: int,
        timeout: httpx.Timeout,
        verify: ssl.SSLContext | bool,
    ) -> None:
        try:
            import aiohttp
        except ImportError as exc:
            raise ImportError(
                'transport="aiohttp" needs the extra: pip install '
                "'notifhub-async[aiohttp]'"
            ) from exc

        self._aiohttp = aiohttp
        self._max_connections = max_connections
        self._verify = verify
        # No `connect` timeout: aiohttp arms it on every request, pooled connection
        # or not. `sock_connect` bounds opening a connection; a wait for a free one
        # (only when max_concurrency exceeds max_connections) ends as running
        # requests finish, each bounded by `sock_read`.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout.connect, sock_read=timeout.read
        )
        self._session: aiohttp.ClientSession | None = None

    def prepare_url(self, url: str) -> Any:
        import yarl

        # encoded=True: our URLs are already percent-encoded; keep them as written.
        return yarl.URL(url, encoded=True)

    async def send(
        self,
        method: str,
        url: Any,
        headers: dict[str, str],
        content: bytes | None,
        operation: str,
    ) -> _AiohttpReply:
        session = self._session or self._open()
        aiohttp = self._aiohttp
        try:
            async with session.request(
                method, url, headers=headers, data=content
            ) as response:
                body = await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(_describe(operation, exc)) from exc
        except aiohttp.ConnectionTimeoutError as exc:
            raise RequestTimeoutError(
                _describe(operation, exc), fate_unknown=False
            ) from exc
        except TimeoutError as exc:
            # A read timeout (aiohttp's SocketTimeoutError is a TimeoutError).
            raise RequestTimeoutError(
                _describe(operation, exc), fate_unknown=True
            ) from exc
        except aiohttp.ClientError as exc:
            # Disconnected or reset after the request was written.
            raise TransportError(_describe(operation, exc), fate_unknown=True) from exc

        return _AiohttpReply(
            response.status, response.reason or "", response.headers, body
        )

    def _open(self) -> aiohttp.ClientSession:
        if sniffio.current_async_library() != "asyncio":
            raise RuntimeError(
                'transport="aiohttp" runs under asyncio only; use the default '
                "transport under trio"
            )

        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(
            ssl=self._verify,
            # A hub talks to one host: no per-host limit to account for as well.
            limit=self._max_connections,
            keepalive_timeout=KEEPALIVE_EXPIRY,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False
        )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _describe(operation: str, exc: BaseException) -> str:
    return f"{operation} failed: {type(exc).__name__}: {exc}"


def _httpx_error(exc: httpx.HTTPError, operation: str) -> TransportError:
    description = _describe(operation, exc)
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RequestTimeoutError(description, fate_unknown=False)

    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeoutError(description, fate_unknown=True)

    if isinstance(exc, httpx.ConnectError):
        return ConnectError(description)

    # A read error or a protocol error after the request was written: the service
    # may have received it.
    return TransportError(description, fate_unknown=True)
