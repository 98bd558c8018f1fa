"""transport="aiohttp": the same wire behaviour as httpx, over real loopback HTTPS."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest

from notifhub_async import (
    AsyncNotificationHub,
    AuthenticationError,
    ConnectError,
    RequestTimeoutError,
    RetryPolicy,
    ThrottledError,
    TransportError,
)
from notifhub_async.emulator import EmulatorServer, FaultRule
from tests._loopback import CountingServer
from tests._sas_verifier import verify_sas_token

HUB = "myhub"
ALERT = {"aps": {"alert": "over aiohttp"}}


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as running:
        yield running


@pytest.fixture
def emulator_server(server: EmulatorServer) -> EmulatorServer:
    server.emulator.reset()
    return server


def aiohttp_hub(
    server: EmulatorServer, *, sleep: RecordingSleep | None = None, **options: object
) -> AsyncNotificationHub:
    return AsyncNotificationHub(
        server.connection_string(),
        HUB,
        transport="aiohttp",
        verify=server.ssl_context(),
        sleep=sleep or RecordingSleep(),
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.asyncio
async def test_sends_are_signed_recorded_and_answered(
    emulator_server: EmulatorServer,
) -> None:
    async with aiohttp_hub(emulator_server) as hub:
        result = await hub.send_apple_notification(ALERT, "sports && !news")

    record = emulator_server.emulator.records[-1]
    assert result.status_code == 201
    assert result.notification_id == record.notification_id
    assert result.tracking_id
    assert record.tags == "sports && !news"
    assert record.format == "apple"
    assert record.body == b'{"aps":{"alert":"over aiohttp"}}'
    assert record.headers["content-type"] == "application/json;charset=utf-8"
    assert "authorization" not in record.headers


@pytest.mark.asyncio
async def test_the_request_on_the_wire_matches_the_spec() -> None:
    server = CountingServer()
    await server.start()
    try:
        connection_string = (
            f"Endpoint=http://127.0.0.1:{server.port}/;"
            "SharedAccessKeyName=rule;SharedAccessKey=plain-key"
        )
        async with AsyncNotificationHub(
            connection_string, HUB, transport="aiohttp"
        ) as hub:
            await hub.send_gcm_notification({"data": {}}, {"a", "b"})
    finally:
        await server.stop()

    lines = server.heads[0].decode().split("\r\n")
    assert lines[0] == "POST /myhub/messages/?api-version=2020-06 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    assert headers["ServiceBusNotification-Format"] == "gcm"
    assert sorted(headers["ServiceBusNotification-Tags"].split("||")) == ["a", "b"]
    assert headers["Content-Type"] == "application/json;charset=utf-8"
    assert headers["Content-Length"] == str(len(b'{"data":{}}'))
    assert headers["User-Agent"].startswith("notifhub-async/")
    verify_sas_token(
        headers["Authorization"],
        key_name="rule",
        key="plain-key",
        request_url=f"http://127.0.0.1:{server.port}/myhub/messages/",
        now=time.time(),
    )


@pytest.mark.asyncio
async def test_test_send_outcome_is_parsed(emulator_server: EmulatorServer) -> None:
    async with aiohttp_hub(emulator_server) as hub:
        result = await hub.send_apple_notification(ALERT, test_send=True)

    assert result.outcome is not None
    assert (result.outcome.success, result.outcome.failure) == (0, 0)


@pytest.mark.asyncio
async def test_a_wrong_key_is_an_authentication_error(
    emulator_server: EmulatorServer,
) -> None:
    connection_string = emulator_server.connection_string().replace(
        "SharedAccessKey=", "SharedAccessKey=x"
    )
    async with AsyncNotificationHub(
        connection_string,
        HUB,
        transport="aiohttp",
        verify=emulator_server.ssl_context(),
    ) as hub:
        with pytest.raises(AuthenticationError) as caught:
            await hub.send_apple_notification(ALERT)

    assert caught.value.status_code == 401
    assert caught.value.tracking_id


@pytest.mark.asyncio
async def test_throttling_is_retried_after_the_advised_time(
    emulator_server: EmulatorServer,
) -> None:
    emulator_server.emulator.add_fault(FaultRule("throttle", count=1, retry_after=3))
    sleep = RecordingSleep()
    async with aiohttp_hub(emulator_server, sleep=sleep) as hub:
        result = await hub.send_apple_notification(ALERT)

    assert result.status_code == 201
    assert len(emulator_server.emulator.records) == 1
    assert 3 <= sleep.delays[0] <= 4


@pytest.mark.asyncio
async def test_throttling_that_persists_raises_throttled(
    emulator_server: EmulatorServer,
) -> None:
    emulator_server.emulator.add_fault(FaultRule("throttle", retry_after=1))
    async with aiohttp_hub(emulator_server, retry=RetryPolicy(max_retries=1)) as hub:
        with pytest.raises(ThrottledError):
            await hub.send_apple_notification(ALERT)


@pytest.mark.asyncio
async def test_a_reset_after_the_request_is_an_unknown_fate_not_resent(
    emulator_server: EmulatorServer,
) -> None:
    emulator_server.emulator.add_fault(FaultRule("reset-after", count=1))
    async with aiohttp_hub(emulator_server) as hub:
        with pytest.raises(TransportError) as caught:
            await hub.send_apple_notification(ALERT, "once")

        # The pool is healthy afterwards.
        await hub.send_apple_notification(ALERT, "after")

    assert caught.value.fate_unknown
    assert [record.tags for record in emulator_server.emulator.records] == [
        "once",
        "after",
    ]


@pytest.mark.asyncio
async def test_a_refused_connection_is_retried_then_a_connect_error() -> None:
    # A port with nothing listening: bind one, note it, close it.
    server = CountingServer()
    await server.start()
    port = server.port
    await server.stop()
    sleep = RecordingSleep()
    hub = AsyncNotificationHub(
        f"Endpoint=http://127.0.0.1:{port}/;SharedAccessKeyName=a;SharedAccessKey=b",
        HUB,
        transport="aiohttp",
        sleep=sleep,
        retry=RetryPolicy(max_retries=2),
    )
    async with hub:
        with pytest.raises(ConnectError) as caught:
            await hub.send_apple_notification(ALERT)

    assert not caught.value.fate_unknown
    assert len(sleep.delays) == 2


@pytest.mark.asyncio
async def test_a_read_timeout_is_an_unknown_fate_not_resent() -> None:
    # The server reads the request and never answers until released.
    server = CountingServer()
    await server.start()
    sleep = RecordingSleep()
    hub = AsyncNotificationHub(
        f"Endpoint=http://127.0.0.1:{server.port}/;"
        "SharedAccessKeyName=a;SharedAccessKey=b",
        "hold",
        transport="aiohttp",
        timeout=httpx.Timeout(5.0, read=0.2),
        sleep=sleep,
    )
    try:
        async with hub:
            with pytest.raises(RequestTimeoutError) as caught:
                await hub.send_apple_notification(ALERT)
    finally:
        server.release.set()
        await server.stop()

    assert caught.value.fate_unknown
    assert server.requests == 1
    assert sleep.delays == []


@pytest.mark.asyncio
async def test_no_more_connections_than_configured() -> None:
    server = CountingServer()
    await server.start()
    try:
        hub = AsyncNotificationHub(
            f"Endpoint=http://127.0.0.1:{server.port}/;"
            "SharedAccessKeyName=a;SharedAccessKey=b",
            HUB,
            transport="aiohttp",
            max_connections=4,
        )
        async with hub:
            results = await asyncio.gather(
                *(hub.send_gcm_notification({"data": {}}) for _ in range(400))
            )
    finally:
        await server.stop()

    assert [result.status_code for result in results] == [201] * 400
    assert server.max_open_connections <= 4


@pytest.mark.asyncio
async def test_the_debug_dump_redacts_the_token(
    emulator_server: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="notifhub_async.dump")
    async with aiohttp_hub(emulator_server, debug=True) as hub:
        await hub.send_apple_notification(ALERT)

    dump = "\n".join(record.getMessage() for record in caplog.records)
    assert "--> POST https://127.0.0.1:" in dump
    assert "Authorization: [redacted]" in dump
    assert "SharedAccessSignature" not in dump
    assert "<-- 201" in dump


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@pytest.mark.anyio
async def test_under_trio_the_aiohttp_transport_says_it_needs_asyncio() -> None:
    hub = AsyncNotificationHub(
        "Endpoint=http://127.0.0.1:1/;SharedAccessKeyName=a;SharedAccessKey=b",
        HUB,
        transport="aiohttp",
    )
    with pytest.raises(RuntimeError, match="asyncio only"):
        await hub.send_apple_notification(ALERT)

    await hub.aclose()
    await anyio.lowlevel.checkpoint()
