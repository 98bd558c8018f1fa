"""
`AsyncNotificationHub`: one hub, one pooled HTTP client, every sender.

Every operation takes the same path: build headers, build the request, send it
through `_request` (the only method that talks to httpx) expecting given statuses,
then parse. `_request` owns the concurrency limiter, the SAS token, retries, error
mapping, logging and the debug dump.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeAlias
from urllib.parse import quote, urlsplit

import anyio
import httpx

from ._auth import DEFAULT_REFRESH_MARGIN, DEFAULT_TOKEN_TTL, SasTokenProvider
from ._bulk import (
    AttemptEvent,
    BulkItem,
    BulkProgress,
    BulkReport,
    ItemResult,
    attempt_hook,
    run_send_many,
)
from ._connection_string import parse_connection_string, resolve_hub_name
from ._errors import (
    HubClosedError,
    InvalidNotificationError,
    NotFoundError,
    NotificationHubError,
    ResponseParseError,
    ServiceError,
    ThrottledError,
    TransportError,
    error_from_response,
)
from ._installation import (
    Installation,
    InstallationPatch,
    check_installation_id,
    patch_body,
)
from ._logging import dump_exchange, enable_dump, logger
from ._models import SendResult
from ._notification import (
    MAX_BATCH_HANDLES,
    Notification,
    NotificationFormat,
    Payload,
    batch_body,
    check_device_handle,
)
from ._retry import RetryPolicy, compute_delay, parse_retry_after, should_retry
from ._tags import build_tag_expression
from ._transport import AiohttpExchange, Exchange, HttpxExchange, Reply
from ._version import __version__
from ._xml import parse_error_detail, parse_notification_outcome

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_TIMEOUT",
    "AsyncNotificationHub",
    "Tags",
]

API_VERSION = "2020-06"
# Chosen by measurement (benchmarks/pool_sizes.py, docs/performance.md). Each
# connection is a lane of its own (_lanes.py), so CPU per send does not grow with
# the count, and lanes connect only when used: 64 keeps a 20 ms round trip from
# capping throughput and costs nothing under light load. Requests in flight never
# exceed it, so none ever waits inside httpx's pool (no PoolTimeout in big gathers).
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)

Tags: TypeAlias = "str | Iterable[str] | None"
Transport: TypeAlias = Literal["httpx", "aiohttp"]

_SEND_OK = frozenset({200, 201})
_READ_OK = frozenset({200})
# The docs say 204 for PATCH and 200 for PUT; the SDKs saw 200 and 204: accept both.
_WRITE_OK = frozenset({200, 201, 204})
_JSON_CONTENT_TYPE = "application/json;charset=utf-8"
_USER_AGENT = (
    f"notifhub-async/{__version__} (python {platform.python_version()}; "
    f"httpx {httpx.__version__})"
)


class AsyncNotificationHub:
    """
    An asyncio (and trio) client for one Azure Notification Hub.

    The hub owns one pool of kept-alive connections for its whole life: create it
    once, share it, and close it with `await hub.aclose()` or `async with hub:`. Its
    senders are coroutines that are safe to fan out with `asyncio.gather`; at most
    `max_concurrency` requests are in flight at once, the rest wait their turn in
    the hub (never in the HTTP library's pool, so there is no PoolTimeout).

    Args:
        connection_string: the hub's or namespace's connection string, from the
            portal (an access policy with the Send right).
        hub_name: the hub's name; may be omitted when the connection string has an
            `EntityPath`.
        debug: send every notification as a test send (the service then answers
            with the per-device outcome) and dump every request and response to
            stderr, the SAS token redacted. The third positional argument, like the
            original sample's `isDebug`.
        http_client: an `httpx.AsyncClient` to use instead of our own; the hub
            never closes it. Keep `max_concurrency` within its pool's limits.
        max_connections: connections the hub may open; each is opened on first
            need, so a quiet hub holds only one or two.
        max_concurrency: requests in flight at once (default: `max_connections`).
        timeout: httpx timeouts for the hub's own client.
        retry: the retry policy (see `RetryPolicy`).
        verify: TLS verification for the hub's own client: True, False, or an
            `ssl.SSLContext` (for example one trusting the local emulator's CA).
        transport: "httpx" (default) or "aiohttp": about five times the sends
            per second at a sixth of the CPU per send (docs/performance.md),
            asyncio only, needs the `notifhub-async[aiohttp]` extra.
        token_ttl: lifetime of each SAS token, in seconds.
        token_refresh_margin: a token is replaced when less than this remains.
        clock: the time source for tokens and Retry-After dates (for tests).
        sleep: the coroutine used to wait between retries (for tests).

    Raises:
        ConnectionStringError: the connection string or hub name is unusable.
    """

    def __init__(
        self,
        connection_string: str,
        hub_name: str | None = None,
        debug: bool = False,
        *,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_concurrency: int | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        verify: ssl.SSLContext | bool = True,
        transport: Transport = "httpx",
        token_ttl: float = DEFAULT_TOKEN_TTL,
        token_refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        connection = parse_connection_string(connection_string)
        self._hub_name = resolve_hub_name(hub_name, connection)
        self._namespace = connection.host
        self._hub_url = f"{connection.endpoint}{quote(self._hub_name, safe='/')}"
        # One token signed for the hub's URL covers every operation on the hub.
        self._tokens = SasTokenProvider(
            self._hub_url,
            connection.shared_access_key_name,
            connection.shared_access_key,
            ttl=token_ttl,
            refresh_margin=token_refresh_margin,
            clock=clock,
        )
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")

        concurrency = (
            max_concurrency if max_concurrency is not None else max_connections
        )
        if concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")

        self._debug = bool(debug)
        self._retry = retry if retry is not None else RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random()
        # Requests in flight; _attempt takes a free slot with acquire_nowait.
        self._limiter = anyio.Semaphore(concurrency)
        self._max_concurrency = concurrency
        self._closed = False
        self._throttled_until = 0.0
        self._exchange = _build_exchange(
            http_client, max_connections, timeout, verify, transport
        )
        # The only header every request shares. Notification canonicalises a
        # caller's user-agent to this spelling, so a dict merge lets it win.
        self._headers = {"User-Agent": _USER_AGENT}
        # The fixed URLs are parsed once, not on every send.
        messages = f"{self._hub_url}/messages/?api-version={API_VERSION}"
        prepare = self._exchange.prepare_url
        self._send_url = prepare(messages)
        self._test_send_url = prepare(f"{messages}&test")
        self._direct_send_url = prepare(f"{messages}&direct")
        self._batch_send_url = prepare(
            f"{self._hub_url}/messages/$batch?api-version={API_VERSION}&direct"
        )
        if self._debug:
            enable_dump()

    # -- lifecycle -----------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"AsyncNotificationHub(namespace={self._namespace!r}, "
            f"hub={self._hub_name!r})"
        )

    async def __aenter__(self) -> AsyncNotificationHub:
        self._check_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the hub and its own HTTP client (never a caller-supplied one)."""
        if self._closed:
            return

        self._closed = True
        await self._exchange.aclose()

    @property
    def closed(self) -> bool:
        """True once `aclose()` was called."""
        return self._closed

    @property
    def hub_name(self) -> str:
        """The hub this client sends to."""
        return self._hub_name

    @property
    def namespace(self) -> str:
        """The namespace host, for example `contoso.servicebus.windows.net`."""
        return self._namespace

    @property
    def debug(self) -> bool:
        """Whether every send is a test send with a dump (see the constructor)."""
        return self._debug

    @property
    def max_concurrency(self) -> int:
        """The most requests this hub has in flight at once."""
        return self._max_concurrency

    # -- sending -------------------------------------------------------------------

    async def send_notification(
        self,
        notification: Notification,
        tags: Tags = None,
        *,
        test_send: bool = False,
        tag_or_tag_expression: Tags = None,
    ) -> SendResult:
        """
        Send a notification to every device, a set of tags or a tag expression.

        Args:
            notification: what to send.
            tags: None or "" for a broadcast; a str is a tag or tag expression; any
                other iterable of str is a set of tags, any of which matches.
            test_send: ask the service for the per-device outcome (it then reaches
                at most 10 devices and is heavily throttled; for diagnosis only).
            tag_or_tag_expression: the original sample's name for `tags`.

        Returns:
            The service's answer; `outcome` is filled in for test sends.

        Raises:
            TagExpressionError: `tags` breaks the service's rules (before any I/O).
            ServiceError: the service refused the send (see its subclasses).
            TransportError: no usable answer; see `fate_unknown`.
        """
        if not isinstance(notification, Notification):
            raise TypeError(
                "send_notification takes a Notification; use the send_*_notification "
                "methods for raw payloads"
            )

        if tag_or_tag_expression is not None:
            if tags is not None:
                raise TypeError("pass tags or tag_or_tag_expression, not both")

            tags = tag_or_tag_expression

        tag_expression = build_tag_expression(tags)
        test = test_send or self._debug
        headers = {**self._headers, **notification.wire_headers}
        if tag_expression is not None:
            headers["ServiceBusNotification-Tags"] = tag_expression

        response = await self._request(
            "POST",
            self._test_send_url if test else self._send_url,
            headers,
            notification.body,
            expected=_SEND_OK,
            idempotent=False,
            operation="send",
        )
        return _send_result(response, test)

    async def send_direct_notification(
        self, notification: Notification, device_handle: str
    ) -> SendResult:
        """
        Send straight to one device handle, bypassing registrations and tags.

        Args:
            notification: what to send; not a template.
            device_handle: the platform's handle (APNs token, FCM token, WNS URI…).

        Raises:
            InvalidNotificationError: a template notification or an unusable handle.
            ServiceError, TransportError: as for `send_notification`.
        """
        headers = {
            **self._headers,
            **notification.wire_headers,
            "ServiceBusNotification-DeviceHandle": check_device_handle(
                notification, device_handle
            ),
        }
        response = await self._request(
            "POST",
            self._direct_send_url,
            headers,
            notification.body,
            expected=_SEND_OK,
            idempotent=False,
            operation="direct send",
        )
        return _send_result(response, test=False)

    async def send_direct_batch(
        self, notification: Notification, device_handles: Iterable[str]
    ) -> list[SendResult]:
        """
        Send one notification straight to many device handles.

        Uses the batch endpoint (`messages/$batch?direct`) in chunks of at most
        1000 handles, the service's limit, one request per chunk in order.

        Returns:
            One `SendResult` per chunk.

        Raises:
            InvalidNotificationError: a template notification, no handles, or an
                unusable handle (before any I/O).
            ServiceError, TransportError: as for `send_notification`; chunks sent
                before the failing one stay sent.
        """
        handles = [
            check_device_handle(notification, handle) for handle in device_handles
        ]
        if not handles:
            raise InvalidNotificationError("device_handles is empty")

        step = MAX_BATCH_HANDLES
        return [
            await self.send_direct_chunk(notification, handles[start : start + step])
            for start in range(0, len(handles), step)
        ]

    async def send_direct_chunk(
        self, notification: Notification, device_handles: list[str]
    ) -> SendResult:
        """
        Send one batch request of at most 1000 handles (see `send_direct_batch`).

        Raises:
            InvalidNotificationError: more than 1000 handles, none, or a bad one.
        """
        if not device_handles or len(device_handles) > MAX_BATCH_HANDLES:
            raise InvalidNotificationError(
                f"a batch takes 1 to {MAX_BATCH_HANDLES} device handles, not "
                f"{len(device_handles)}"
            )

        content_type, body = batch_body(
            notification,
            [check_device_handle(notification, handle) for handle in device_handles],
        )
        # Platform headers (X-WNS-Type, apns-*) go on the outer request (spec §4.7).
        headers = {**self._headers, **notification.wire_headers}
        headers["Content-Type"] = content_type
        response = await self._request(
            "POST",
            self._batch_send_url,
            headers,
            body,
            expected=_SEND_OK,
            idempotent=False,
            operation="batch direct send",
        )
        return _send_result(response, test=False)

    async def send_apple_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send an APNs payload (format `apple`); see `send_notification`."""
        return await self._send_payload(
            NotificationFormat.APPLE, payload, tags, test_send, headers
        )

    async def send_gcm_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send a legacy FCM payload (format `gcm`); see `send_notification`."""
        return await self._send_payload(
            NotificationFormat.GCM, payload, tags, test_send, headers
        )

    async def send_fcmv1_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send an FCM v1 payload, `{"message": {...}}` (format `fcmv1`)."""
        return await self._send_payload(
            NotificationFormat.FCMV1, payload, tags, test_send, headers
        )

    async def send_adm_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send an Amazon Device Messaging payload (format `adm`)."""
        return await self._send_payload(
            NotificationFormat.ADM, payload, tags, test_send, headers
        )

    async def send_baidu_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send a Baidu payload (format `baidu`)."""
        return await self._send_payload(
            NotificationFormat.BAIDU, payload, tags, test_send, headers
        )

    async def send_windows_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """
        Send a WNS payload (format `windows`).

        `X-WNS-Type` comes from the root element (`<toast>`, `<tile>`, `<badge>`)
        unless given in `headers`; raw payloads need `{"X-WNS-Type": "wns/raw"}`.
        """
        return await self._send_payload(
            NotificationFormat.WINDOWS, payload, tags, test_send, headers
        )

    async def send_mpns_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send a Windows Phone (MPNS) payload (format `windowsphone`)."""
        return await self._send_payload(
            NotificationFormat.WINDOWS_PHONE, payload, tags, test_send, headers
        )

    send_windowsphone_notification = send_mpns_notification

    async def send_template_notification(
        self,
        properties: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send template properties, such as `{"message": "Hi"}` (`template`)."""
        return await self._send_payload(
            NotificationFormat.TEMPLATE, properties, tags, test_send, headers
        )

    async def send_browser_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send a Web Push payload (format `browser`)."""
        return await self._send_payload(
            NotificationFormat.BROWSER, payload, tags, test_send, headers
        )

    async def send_xiaomi_notification(
        self,
        payload: Payload,
        tags: Tags = None,
        *,
        test_send: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        """Send a Xiaomi payload (format `xiaomi`)."""
        return await self._send_payload(
            NotificationFormat.XIAOMI, payload, tags, test_send, headers
        )

    async def _send_payload(
        self,
        notification_format: NotificationFormat,
        payload: Payload,
        tags: Tags,
        test_send: bool,
        headers: Mapping[str, str] | None,
    ) -> SendResult:
        notification = Notification(notification_format, payload, headers)
        return await self.send_notification(notification, tags, test_send=test_send)

    # -- fan-out -------------------------------------------------------------------

    async def send_many(
        self,
        items: Iterable[BulkItem] | AsyncIterable[BulkItem],
        *,
        concurrency: int | None = None,
        on_result: Callable[[ItemResult], object] | None = None,
        on_progress: Callable[[BulkProgress], object] | None = None,
        keep_results: bool = True,
        stop_after: float | None = None,
    ) -> BulkReport:
        """
        Send many notifications concurrently, with one result per item.

        Items are read lazily, so `items` may be a generator of any length. No
        single item's failure raises: each ends in an `ItemResult` whose status says
        what became of it (sent, throttled, rejected, failed, unknown fate, not
        attempted). When the hub throttles, every new send pauses for the advised
        time; a send that may already have been accepted is never resent unless the
        hub's `RetryPolicy` opts in.

        Args:
            items: `SendItem`s, `Notification`s (broadcast) or `(notification,
                tags)` pairs, as an iterable or async iterable.
            concurrency: items in progress at once (default: the hub's
                `max_concurrency`; requests in flight never exceed it either way).
            on_result: called with each `ItemResult` as it completes.
            on_progress: called with a `BulkProgress` after each completion.
            keep_results: keep every `ItemResult` in the report; pass False (and
                use `on_result`) to stream very large inputs in flat memory.
            stop_after: stop after this many seconds and return the report (an
                outer timeout would raise instead and lose it): items read
                but not sent are NOT_ATTEMPTED (or UNKNOWN_FATE if their request
                had left), and items from `report.total` on were never read.

        Returns:
            A `BulkReport` with counts per status (and the results, if kept).

        Raises:
            Exception: whatever the caller's iterator or callbacks raised; the items
                read so far have still been reported to `on_result`. Cancelling
                the call (an outer timeout, Ctrl-C) also reports them first.
        """
        self._check_open()
        return await run_send_many(
            self,
            items,
            concurrency=(
                concurrency if concurrency is not None else self._max_concurrency
            ),
            on_result=on_result,
            on_progress=on_progress,
            keep_results=keep_results,
            stop_after=stop_after,
        )

    # -- installations -------------------------------------------------------------

    async def create_or_update_installation(self, installation: Installation) -> None:
        """
        Create an installation, or replace it whole (PUT; safe to repeat).

        The service applies installation writes in the background: a read or a
        `$InstallationId:{id}` send straight afterwards may still see the old state.

        Raises:
            ServiceError, TransportError: the service refused or did not answer.
        """
        body = json.dumps(installation.to_json(), separators=(",", ":")).encode()
        await self._request(
            "PUT",
            self._installation_url(installation.installation_id),
            {**self._headers, "Content-Type": _JSON_CONTENT_TYPE},
            body,
            expected=_WRITE_OK,
            idempotent=True,
            operation="create or update installation",
        )

    async def get_installation(self, installation_id: str) -> Installation:
        """
        Read an installation.

        Raises:
            NotFoundError: no such installation (or not yet stored).
            ResponseParseError: the body is not an installation.
        """
        response = await self._request(
            "GET",
            self._installation_url(installation_id),
            dict(self._headers),
            None,
            expected=_READ_OK,
            idempotent=True,
            operation="get installation",
        )
        return Installation.from_body(response.content)

    async def installation_exists(self, installation_id: str) -> bool:
        """Whether the hub holds the installation (a 404 answers False)."""
        try:
            await self.get_installation(installation_id)
        except NotFoundError:
            return False

        return True

    async def patch_installation(
        self, installation_id: str, operations: Iterable[InstallationPatch]
    ) -> None:
        """
        Apply JSON Patch operations, such as `InstallationPatch.add_tag("news")`.

        Raises:
            InvalidNotificationError: no operations.
            ServiceError, TransportError: the service refused or did not answer.
        """
        await self._request(
            "PATCH",
            self._installation_url(installation_id),
            {**self._headers, "Content-Type": "application/json-patch+json"},
            patch_body(operations),
            expected=_WRITE_OK,
            idempotent=True,
            operation="patch installation",
        )

    async def delete_installation(self, installation_id: str) -> None:
        """
        Delete an installation; deleting one that does not exist is not an error.

        A 404 counts as success so that a retried delete whose first answer was
        lost does not fail.
        """
        try:
            await self._request(
                "DELETE",
                self._installation_url(installation_id),
                dict(self._headers),
                None,
                expected=_WRITE_OK,
                idempotent=True,
                operation="delete installation",
            )
        except NotFoundError:
            return

    def _installation_url(self, installation_id: str) -> Any:
        quoted = quote(check_installation_id(installation_id), safe="")
        return self._exchange.prepare_url(
            f"{self._hub_url}/installations/{quoted}?api-version={API_VERSION}"
        )

    # -- the one request path ------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: Any,
        headers: dict[str, str],
        content: bytes | None,
        *,
        expected: frozenset[int],
        idempotent: bool,
        operation: str,
    ) -> Reply:
        """Send with retries; return the response or raise a NotificationHubError."""
        self._check_open()
        # send_many's record of this item's attempts (None outside a fan-out).
        observe = attempt_hook.get()
        attempt = 0
        waited_for_throttle = False
        while True:
            try:
                return await self._attempt(
                    method,
                    url,
                    headers,
                    content,
                    expected,
                    operation,
                    respect_pause=not waited_for_throttle,
                    observe=observe,
                )
            except NotificationHubError as error:
                if observe is not None:
                    observe("unknown" if error.fate_unknown else "refused")

                attempt += 1
                retry = attempt <= self._retry.max_retries and should_retry(
                    error, idempotent=idempotent, policy=self._retry
                )
                throttled = isinstance(error, ThrottledError)
                if not (retry or throttled):
                    raise

                delay = compute_delay(error, attempt, self._retry, self._rng)
                if throttled:
                    # Pause the hub even when this request gives up: the other
                    # requests of a fan-out must not run into the same answer.
                    self._throttle_for(delay)

                if not retry:
                    raise

                waited_for_throttle = throttled

                logger.info(
                    "%s: retry %d of %d in %.2fs after %s",
                    operation,
                    attempt,
                    self._retry.max_retries,
                    delay,
                    type(error).__name__,
                )
                await self._sleep(delay)
                self._check_open()

    async def _attempt(
        self,
        method: str,
        url: Any,
        headers: dict[str, str],
        content: bytes | None,
        expected: frozenset[int],
        operation: str,
        *,
        respect_pause: bool,
        observe: Callable[[AttemptEvent], None] | None,
    ) -> Reply:
        # A free slot is taken without a trip through the scheduler (the exchange
        # has checkpoints of its own); only a full hub waits in the semaphore.
        limiter = self._limiter
        try:
            limiter.acquire_nowait()
        except anyio.WouldBlock:
            await limiter.acquire()

        try:
            # Checked after the limiter, so that requests queued behind it when the
            # hub throttled wait too (the task that was throttled already waited).
            # Tested inline: most sends find no pause, and skip a coroutine.
            if respect_pause and self._throttled_until:
                if self._throttled_until > self._clock():
                    await self._wait_while_throttled()

            # The hub may have been closed while this request waited its turn.
            if self._closed:
                self._check_open()

            # The token is fetched per attempt so that a retry after a long wait
            # never carries an expired one; the provider caches it.
            headers["Authorization"] = self._tokens.token()
            log_debug = logger.isEnabledFor(logging.DEBUG)
            started = time.perf_counter() if log_debug else 0.0
            if observe is not None:
                observe("sent")

            try:
                reply = await self._exchange.send(
                    method, url, headers, content, operation
                )
            except TransportError as error:
                if self._debug:
                    dump_exchange(method, str(url), headers, content, None, error)

                if log_debug:
                    logger.debug(
                        "%s %s -> %s after %.1f ms (fate unknown: %s)",
                        method,
                        urlsplit(str(url)).path,
                        type(error).__name__,
                        (time.perf_counter() - started) * 1000,
                        error.fate_unknown,
                    )

                raise
        finally:
            limiter.release()

        if self._debug:
            dump_exchange(method, str(url), headers, content, reply)

        if log_debug:
            logger.debug(
                "%s %s -> %d in %.1f ms (TrackingId %s)",
                method,
                urlsplit(str(url)).path,
                reply.status_code,
                (time.perf_counter() - started) * 1000,
                reply.headers.get("TrackingId"),
            )

        if reply.status_code in expected:
            return reply

        raise self._service_error(reply, operation)

    def _throttle_for(self, delay: float) -> None:
        # One throttled answer pauses every new request to this hub, so that a
        # fan-out backs off as a whole instead of every task hammering the hub.
        until = self._clock() + delay
        if until > self._throttled_until:
            self._throttled_until = until

    async def _wait_while_throttled(self) -> None:
        remaining = self._throttled_until - self._clock()
        if remaining > 0:
            # Jitter, so that the paused requests do not resume in lock-step.
            await self._sleep(remaining + self._rng.uniform(0, min(1.0, remaining)))

    def _service_error(self, response: Reply, operation: str) -> ServiceError:
        return error_from_response(
            response.status_code,
            response.headers,
            parse_error_detail(response.content),
            retry_after=parse_retry_after(response.headers, self._clock()),
            operation=operation,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise HubClosedError(f"{self!r} is closed")


def _build_exchange(
    http_client: httpx.AsyncClient | None,
    max_connections: int,
    timeout: httpx.Timeout,
    verify: ssl.SSLContext | bool,
    transport: Transport,
) -> Exchange:
    if http_client is not None:
        return HttpxExchange(http_client, owned=False)

    # TODO: no connection max age: after a DNS change, old addresses serve until idle
    if transport == "httpx":
        return HttpxExchange.build(max_connections, timeout, verify)

    if transport == "aiohttp":
        return AiohttpExchange(max_connections, timeout, verify)

    raise ValueError(f"transport must be 'httpx' or 'aiohttp', not {transport!r}")


def _send_result(response: Reply, test: bool) -> SendResult:
    location = response.headers.get("Location")
    outcome = None
    if test and response.content.strip():
        try:
            outcome = parse_notification_outcome(response.content)
        except ResponseParseError as error:
            # The send was accepted: raising would report a delivered notification
            # as failed (and tempt a resend). Its outcome is what is lost.
            logger.warning(
                "test send accepted (TrackingId %s) but its outcome is unreadable: %s",
                response.headers.get("TrackingId"),
                error,
            )

    return SendResult(
        status_code=response.status_code,
        notification_id=_notification_id(location),
        tracking_id=response.headers.get("TrackingId"),
        correlation_id=response.headers.get("x-ms-correlation-request-id"),
        location=location,
        outcome=outcome,
    )


def _notification_id(location: str | None) -> str | None:
    # The last path segment (wire spec §4.5); the JS SDK's fixed index breaks on
    # batch sends, whose Location ends in messages/$batch/{id}.
    if not location:
        return None

    # String operations rather than urlsplit: this runs for every send.
    path = location.partition("?")[0].partition("#")[0]
    if "//" in path:
        # Drop the scheme and host: a bare host has no notification id.
        path = path.split("//", 1)[1].partition("/")[2]

    return path.rstrip("/").rpartition("/")[2] or None
