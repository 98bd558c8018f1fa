"""
A transport that gives each connection a pool of its own.

httpcore's connection pool gets slower per request as connections to one host grow:
when several requests are queued at once, one pass can hand them all to the same idle
connection, and all but one bounce back and are queued again. We measured about 11
placement attempts per request at 16 connections, and CPU per send growing from
2.6 ms with 1 connection to 17 ms with 64 (benchmarks/pool_sizes.py).

`LanedTransport` keeps `lanes` independent single-connection transports and hands
each request to a free one, so no pool ever holds more than one request: the CPU cost
of one connection, with the parallelism of many. Lanes are reused last-in first-out,
so under light load only a few of them ever open a connection.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable

import anyio
import httpx

__all__ = ["LanedTransport"]


class LanedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over `lanes` single-connection transports."""

    def __init__(
        self,
        lanes: int,
        *,
        verify: ssl.SSLContext | bool,
        keepalive_expiry: float,
    ) -> None:
        if lanes < 1:
            raise ValueError("a LanedTransport needs at least one lane")

        limits = httpx.Limits(
            max_connections=1,
            max_keepalive_connections=1,
            keepalive_expiry=keepalive_expiry,
        )
        # One SSL context for every lane: loading the CA bundle costs about 20 ms
        # of CPU, and 64 lanes each loading their own stalled the event loop for
        # over a second when a hub was created.
        context = httpx.create_ssl_context(verify=verify)
        self._lanes = [
            httpx.AsyncHTTPTransport(verify=context, limits=limits)
            for _ in range(lanes)
        ]
        # The most recently released lane is at the end: its connection is warm.
        self._free = list(reversed(self._lanes))
        self._available = anyio.Semaphore(lanes, fast_acquire=True)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self._available.acquire()
        lane = self._free.pop()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._free.append(lane)
                self._available.release()

        try:
            response = await lane.handle_async_request(request)
        except BaseException:
            release()
            raise

        # The lane stays taken until the body is read and the response closed.
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_ReleasingStream(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.aclose()


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that frees its lane when closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]):
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()
