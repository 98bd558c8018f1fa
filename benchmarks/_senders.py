"""
The clients under test, each sending the same notification the same way.

Every client sends the request a Notification Hubs send is: a POST of a ~100-byte
APNs JSON body to `/{hub}/messages/?api-version=2020-06` with the Format, Tags,
Content-Type, Authorization (a SAS token minted once) and User-Agent headers, and
checks for `201 Created`. Raw clients get every advantage: the URL, headers and body
are built once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal
from urllib.parse import quote

from ._harness import HUB_NAME, Workload

__all__ = ["ASYNC_CLIENTS", "BODY", "PAYLOAD", "SYNC_CLIENTS", "TAGS"]

Send = Callable[[], Awaitable[None]]
SenderFactory = Callable[[Workload], AbstractAsyncContextManager[Send]]

PATH = f"/{HUB_NAME}/messages/?api-version=2020-06"
TAGS = "sports"
PAYLOAD: dict[str, Any] = {
    "aps": {"alert": "Match starts in 10 minutes", "badge": 1, "sound": "default"},
    "match": 1234,
}
BODY = json.dumps(PAYLOAD, separators=(",", ":")).encode()
# Generous, so that a slow configuration is measured rather than failed.
_TIMEOUT_SECONDS = 60.0


def _sas_token(url: str) -> str:
    resource = quote(url.lower(), safe="")
    expiry = int(time.time()) + 3600
    digest = hmac.new(b"y", f"{resource}\n{expiry}".encode(), hashlib.sha256)
    signature = quote(base64.b64encode(digest.digest()).decode(), safe="")
    return f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}&skn=x"


def _headers(port: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json;charset=utf-8",
        "ServiceBusNotification-Format": "apple",
        "ServiceBusNotification-Tags": TAGS,
        "Authorization": _sas_token(f"https://127.0.0.1:{port}/{HUB_NAME}"),
        "User-Agent": "notifhub-benchmark/1.0",
    }


def _url(port: int) -> str:
    return f"https://127.0.0.1:{port}{PATH}"


def _ssl_context(workload: Workload) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=workload.ca_file)


def _connections(workload: Workload) -> int:
    return workload.connections if workload.connections is not None else 64


class UnexpectedStatusError(RuntimeError):
    """The sink answered something other than 201: the run is void."""


def _httpx_post(client: Any, url: Any, headers: dict[str, str]) -> Send:
    """One POST of BODY through an httpx.AsyncClient, checked for 201."""

    async def post() -> None:
        response = await client.post(url, content=BODY, headers=headers)
        if response.status_code != 201:
            raise UnexpectedStatusError(response.status_code)

    return post


def _limited(send: Send, slots: int) -> Send:
    """`send` behind a semaphore of `slots`: requests queue here, not in the pool."""
    import asyncio

    limiter = asyncio.Semaphore(slots)

    async def limited_send() -> None:
        async with limiter:
            await send()

    return limited_send


# -- raw httpx -------------------------------------------------------------------------


@asynccontextmanager
async def raw_httpx(workload: Workload) -> AsyncIterator[Send]:
    """httpx.AsyncClient with `connections` connections, optionally a limiter."""

    import httpx

    connections = _connections(workload)
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections
    )
    url = httpx.URL(_url(workload.port))
    headers = _headers(workload.port)
    async with httpx.AsyncClient(
        verify=_ssl_context(workload), limits=limits, timeout=_TIMEOUT_SECONDS
    ) as client:
        post = _httpx_post(client, url, headers)
        yield _limited(post, connections) if workload.limiter else post


@asynccontextmanager
async def sharded_httpx(workload: Workload) -> AsyncIterator[Send]:
    """
    `connections` httpx.AsyncClients of one connection each, lent out one send at a
    time: the layout of our default transport (notifhub_async/_lanes.py), built
    here from raw httpx.

    httpcore's pool does work for every connection it holds on every request, and
    with more than one idle connection it can hand one connection to two waiting
    requests, one of which then retries. A pool of one connection never does
    either; the free list here is the limiter.
    """
    import asyncio
    from contextlib import AsyncExitStack

    import httpx

    url = httpx.URL(_url(workload.port))
    headers = _headers(workload.port)
    context = _ssl_context(workload)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    # Last in, first out: at low load the same few connections stay warm.
    free: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
    async with AsyncExitStack() as stack:
        for _ in range(_connections(workload)):
            client = httpx.AsyncClient(
                verify=context, limits=limits, timeout=_TIMEOUT_SECONDS
            )
            free.put_nowait(await stack.enter_async_context(client))

        async def post() -> None:
            client = await free.get()
            try:
                response = await client.post(url, content=BODY, headers=headers)
            finally:
                free.put_nowait(client)

            if response.status_code != 201:
                raise UnexpectedStatusError(response.status_code)

        yield post


# -- raw aiohttp -----------------------------------------------------------------------


@asynccontextmanager
async def raw_aiohttp(workload: Workload) -> AsyncIterator[Send]:
    """aiohttp.ClientSession; its connector queues requests above `connections`."""

    import aiohttp
    import yarl

    connections = _connections(workload)
    url = yarl.URL(_url(workload.port))
    headers = _headers(workload.port)
    connector = aiohttp.TCPConnector(ssl=_ssl_context(workload), limit=connections)
    # The cheapest settings aiohttp offers, the same our transport uses: a total
    # timeout arms a timer per request, and decompression is never needed here.
    timeout = aiohttp.ClientTimeout(total=None, sock_read=_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:

        async def post() -> None:
            async with session.post(url, data=BODY, headers=headers) as response:
                await response.read()
                if response.status != 201:
                    raise UnexpectedStatusError(response.status)

        yield _limited(post, connections) if workload.limiter else post


# -- httpx over aiohttp ----------------------------------------------------------------


@asynccontextmanager
async def httpx_over_aiohttp(workload: Workload) -> AsyncIterator[Send]:
    """httpx.AsyncClient with httpx_aiohttp.AiohttpTransport."""

    import httpx
    from httpx_aiohttp import AiohttpTransport

    connections = _connections(workload)
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections
    )
    transport = AiohttpTransport(verify=_ssl_context(workload), limits=limits)
    url = httpx.URL(_url(workload.port))
    headers = _headers(workload.port)
    async with httpx.AsyncClient(
        transport=transport, timeout=_TIMEOUT_SECONDS
    ) as client:
        post = _httpx_post(client, url, headers)
        yield _limited(post, connections) if workload.limiter else post


# -- ours ------------------------------------------------------------------------------


def _hub(workload: Workload, transport: Literal["httpx", "aiohttp"]) -> Any:
    from notifhub_async import AsyncNotificationHub

    options: dict[str, Any] = {}
    if workload.connections is not None:
        options["max_connections"] = workload.connections

    return AsyncNotificationHub(
        f"Endpoint=https://127.0.0.1:{workload.port}/;"
        "SharedAccessKeyName=x;SharedAccessKey=y",
        HUB_NAME,
        verify=_ssl_context(workload),
        transport=transport,
        **options,
    )


def _ours(transport: Literal["httpx", "aiohttp"]) -> SenderFactory:
    """AsyncNotificationHub on `transport`, one Notification built once."""

    @asynccontextmanager
    async def ours(workload: Workload) -> AsyncIterator[Send]:
        from notifhub_async import Notification

        notification = Notification("apple", PAYLOAD)
        async with _hub(workload, transport) as hub:

            async def send() -> None:
                await hub.send_notification(notification, TAGS)

            yield send

    return ours


@asynccontextmanager
async def ours_per_call_payload(workload: Workload) -> AsyncIterator[Send]:
    """AsyncNotificationHub, default transport, the payload dict on every call."""
    async with _hub(workload, "httpx") as hub:

        async def send() -> None:
            await hub.send_apple_notification(PAYLOAD, TAGS)

        yield send


ASYNC_CLIENTS: dict[str, SenderFactory] = {
    "httpx": raw_httpx,
    "httpx-sharded": sharded_httpx,
    "aiohttp": raw_aiohttp,
    "httpx-aiohttp": httpx_over_aiohttp,
    "ours": _ours("httpx"),
    "ours-aiohttp": _ours("aiohttp"),
    "ours-dict": ours_per_call_payload,
}


# -- the original sample's way ---------------------------------------------------------


def sample_style(workload: Workload) -> Callable[[], None]:
    """
    One send the way the original sample's per-send `requests.post` does it.

    A fresh SSL context loading the CA bundle, a new TCP and TLS connection, one
    request, then close. (`requests` is not installed here; this is the same work
    without its own overhead, so the real sample is slower still.)
    """
    try:
        import certifi

        bundle: str | None = certifi.where()
    except ImportError:
        bundle = None

    headers = _headers(workload.port)

    def send() -> None:
        context = ssl.create_default_context(cafile=bundle)
        context.load_verify_locations(cafile=workload.ca_file)
        connection = http.client.HTTPSConnection(
            "127.0.0.1", workload.port, context=context, timeout=_TIMEOUT_SECONDS
        )
        try:
            connection.request("POST", PATH, body=BODY, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 201:
                raise UnexpectedStatusError(response.status)
        finally:
            connection.close()

    return send


SYNC_CLIENTS: dict[str, Callable[[Workload], Callable[[], None]]] = {
    "sample": sample_style,
}
