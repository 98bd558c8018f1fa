"""
The canary: the SAS key, the token and its signature never leak anywhere.

Every path a send can take (success, 401, 403, throttling with retries, 5xx, a
transport error) is driven with DEBUG logging on for every logger and with debug
hubs, and everything a person could ever see is swept for the secrets: log
messages and their arguments, stderr, reprs and strs of the hub, results and
exceptions, and formatted tracebacks with their chained causes.
"""

from __future__ import annotations

import contextlib
import logging
import re
import traceback
from urllib.parse import quote, unquote

import httpx
import pytest
import respx

from notifhub_async import (
    AsyncNotificationHub,
    AuthenticationError,
    ConnectError,
    ForbiddenError,
    Notification,
    NotificationHubError,
    RequestTimeoutError,
    ServerError,
    ThrottledError,
    TransportError,
)
from notifhub_async.emulator import EmulatorServer, FaultKind, FaultRule
from tests.conftest import (
    CANARY_KEY,
    CONNECTION_STRING,
    HUB_NAME,
    HubFactory,
    RecordingHandler,
    Reply,
    error_body,
    fail,
    reply,
)

pytestmark = pytest.mark.asyncio

# Each path: the replies the service gives, and the error the caller receives.
PATHS: dict[str, tuple[list[Reply], type[NotificationHubError] | None]] = {
    "success": ([reply(201, {"Location": "https://x/h/messages/id-9"})], None),
    "401": (
        [reply(401, {"TrackingId": "t"}, error_body(401, "bad sig"))],
        AuthenticationError,
    ),
    "403": ([reply(403, {"TrackingId": "t"})], ForbiddenError),
    "429-retried": ([reply(429, {"Retry-After": "1"})], ThrottledError),
    "403-retry-after": ([reply(403, {"Retry-After": "2"})], ThrottledError),
    "5xx": ([reply(500, {}, error_body(500, "oops"))], ServerError),
    "503-retried": ([reply(503, {}, error_body(503, "busy"))], ServerError),
    "connect-error": ([fail(httpx.ConnectError, "connection refused")], ConnectError),
    # The request may have arrived: these carry httpx's own error text.
    "read-timeout": ([fail(httpx.ReadTimeout, "timed out")], RequestTimeoutError),
    "protocol-error": (
        [fail(httpx.RemoteProtocolError, "peer closed connection")],
        TransportError,
    ),
}
RETRIED_PATHS = ("429-retried", "403-retry-after", "503-retried", "connect-error")


def secret_forms(token: str) -> set[str]:
    """The key, the token, and its signature raw and percent-encoded (any case)."""
    fields = dict(part.split("=", 1) for part in token.split(" ", 1)[1].split("&"))
    encoded_signature = fields["sig"]
    raw_signature = unquote(encoded_signature)
    forms = {
        CANARY_KEY,
        quote(CANARY_KEY, safe=""),
        token,
        raw_signature,
        encoded_signature,
        encoded_signature.lower(),
        quote(raw_signature, safe="").lower(),
    }
    # The signature without base64 padding would still identify it.
    forms.add(raw_signature.rstrip("="))
    return forms


def enable_debug_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    names = set(logging.root.manager.loggerDict)
    names |= {"httpx", "httpcore", "notifhub_async", "notifhub_async.dump"}
    for name in sorted(names):
        caplog.set_level(logging.DEBUG, logger=name)


def exception_texts(error: BaseException) -> list[str]:
    texts = [
        repr(error),
        str(error),
        "".join(traceback.format_exception(error)),
        repr(vars(error)),
    ]
    # A chain can loop (an error re-raised while handling itself): visit once.
    visited = {id(error)}
    cause: BaseException | None = error.__cause__ or error.__context__
    while cause is not None and id(cause) not in visited:
        visited.add(id(cause))
        texts.extend([repr(cause), str(cause)])
        cause = cause.__cause__ or cause.__context__

    return texts


@pytest.mark.parametrize("own_client", [False, True], ids=["mock", "own-pool"])
@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug-hub"])
@pytest.mark.parametrize("path", PATHS, ids=PATHS.keys())
async def test_no_secret_anywhere(
    path: str,
    debug: bool,
    own_client: bool,
    make_hub: HubFactory,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    enable_debug_everywhere(caplog)
    replies, expected_error = PATHS[path]
    handler = RecordingHandler(*replies)
    async with contextlib.AsyncExitStack() as stack:
        if own_client:
            # The hub's own laned pool (httpcore logging included), under respx.
            router = await stack.enter_async_context(respx.mock)
            router.route().mock(side_effect=handler)
            hub = await stack.enter_async_context(
                AsyncNotificationHub(CONNECTION_STRING, HUB_NAME, debug, sleep=no_sleep)
            )
        else:
            hub = make_hub(handler, debug=debug)

        seen = await drive(hub, expected_error)

    assert_nothing_leaked(handler, path, debug, seen, caplog, capfd)


async def no_sleep(seconds: float) -> None:
    """Retries without waiting."""


async def drive(
    hub: AsyncNotificationHub, expected_error: type[NotificationHubError] | None
) -> list[str]:
    """A tagged send and a direct send; everything they show a person."""
    seen: list[str] = [repr(hub), str(hub)]

    try:
        result = await hub.send_notification(
            Notification("apple", {"aps": {"alert": "canary"}}), ["a", "b"]
        )
    except NotificationHubError as error:
        assert type(error) is expected_error
        seen.extend(exception_texts(error))
    else:
        assert expected_error is None
        seen.extend([repr(result), str(result)])

    try:
        await hub.send_direct_notification(Notification("gcm", {"data": {}}), "dev")
    except NotificationHubError as error:
        seen.extend(exception_texts(error))

    return seen


def add_logs_and_output(
    seen: list[str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Add every log record (message, arguments, traceback) and stdout/stderr."""
    assert caplog.records, "nothing was logged, so nothing was swept"
    for record in caplog.records:
        seen.extend([record.getMessage(), repr(record.msg), repr(record.args)])
        if record.exc_info and record.exc_info[1] is not None:
            seen.extend(exception_texts(record.exc_info[1]))

    seen.append(caplog.text)
    captured = capfd.readouterr()
    seen.extend([captured.out, captured.err])


def assert_nothing_leaked(
    handler: RecordingHandler,
    path: str,
    debug: bool,
    seen: list[str],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    add_logs_and_output(seen, caplog, capfd)
    assert handler.requests, "the path was not driven"
    if path in RETRIED_PATHS:
        # Both sends were retried: first attempt plus three retries each.
        assert len(handler.requests) == 8

    if debug:
        # The sweep must cover a dump that shows the request headers.
        assert any("[redacted]" in text for text in seen)

    tokens = {request.headers["Authorization"] for request in handler.requests}
    everything = "\n".join(seen)
    for token in tokens:
        for secret in secret_forms(token):
            assert secret not in everything, f"a secret leaked ({len(secret)} chars)"


# The aiohttp transport, over real loopback HTTPS against the emulator: its own
# loggers and error texts are swept too. (right key, fault, error) per path.
AIOHTTP_PATHS: dict[
    str, tuple[bool, FaultKind | None, type[NotificationHubError] | None]
] = {
    "success": (True, None, None),
    "401-wrong-key": (False, None, AuthenticationError),
    "429-retried": (True, "throttle", ThrottledError),
    "5xx": (True, "server-error", ServerError),
    "reset-after-sending": (True, "reset-after", TransportError),
}


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug-hub"])
@pytest.mark.parametrize("path", AIOHTTP_PATHS, ids=AIOHTTP_PATHS.keys())
async def test_no_secret_anywhere_on_the_aiohttp_transport(
    path: str,
    debug: bool,
    nh_emulator: EmulatorServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    enable_debug_everywhere(caplog)
    right_key, fault, expected_error = AIOHTTP_PATHS[path]
    connection_string = nh_emulator.connection_string()
    if not right_key:
        connection_string = re.sub(
            r"SharedAccessKey=[^;]*", f"SharedAccessKey={CANARY_KEY}", connection_string
        )

    key = re.search(r"SharedAccessKey=([^;]*)", connection_string)
    assert key is not None
    if fault is not None:
        nh_emulator.emulator.add_fault(FaultRule(fault, retry_after=1))

    hub = AsyncNotificationHub(
        connection_string,
        "myhub",
        debug,
        verify=nh_emulator.ssl_context(),
        transport="aiohttp",
        sleep=no_sleep,
    )
    async with hub:
        seen = await drive(hub, expected_error)
        tokens = {hub._tokens.token()}

    add_logs_and_output(seen, caplog, capfd)
    everything = "\n".join(seen)
    assert key.group(1) not in everything
    for token in tokens:
        for secret in secret_forms(token):
            assert secret not in everything, f"a secret leaked ({len(secret)} chars)"
