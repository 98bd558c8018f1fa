"""
Fan-out: thousands of concurrent sends on one hub, under asyncio and trio.

A gate transport holds requests in flight with events (never sleeps): it lets a
batch through only when `limit` requests are waiting at once, so the test proves
both that the hub reaches its concurrency limit and that it never exceeds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
import pytest_asyncio
import respx

from notifhub_async import AsyncNotificationHub, RetryPolicy, _auth
from tests._loopback import CountingServer
from tests.conftest import (
    CONNECTION_STRING,
    HUB_NAME,
    KEY_NAME,
    MESSAGES_URL,
    FakeClock,
    RecordingSleep,
    assert_signed,
)

# A hang here would mean the hub let fewer requests run than it promises; fail
# instead of waiting forever (this bounds a hang, it measures nothing).
HANG_GUARD_SECONDS = 60


class BatchGate:
    """
    An async transport handler that keeps requests in flight until a batch is full.

    Requests wait on the current gate; the `limit`-th waiter (or the last request
    of the run) opens it and installs a fresh one for the next batch. Counts how
    many requests are inside the handler at once, and every Authorization seen.
    """

    def __init__(self, limit: int, total: int) -> None:
        self.limit = limit
        self.total = total
        self.started = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.authorizations: set[str] = set()
        self.last_request: httpx.Request | None = None
        self._waiting = 0
        self._gate = anyio.Event()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.started += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.authorizations.add(request.headers["Authorization"])
        self.last_request = request

        gate = self._gate
        self._waiting += 1
        if self._waiting == self.limit or self.started == self.total:
            self._waiting = 0
            self._gate = anyio.Event()
            gate.set()

        await gate.wait()
        self.in_flight -= 1
        return httpx.Response(201)


class MintCounter:
    """Counts SAS tokens minted, by wrapping the signing function."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = _auth.generate_sas_token

        def counting(
            resource_uri: str, key_name: str, key: str, expires_at: int
        ) -> str:
            self.count += 1
            return original(resource_uri, key_name, key, expires_at)

        monkeypatch.setattr(_auth, "generate_sas_token", counting)


@pytest.fixture
def mints(monkeypatch: pytest.MonkeyPatch) -> MintCounter:
    return MintCounter(monkeypatch)


# About 0.3-0.5 ms of httpx per request: a few seconds for 10,000 on 2 cores.
@pytest.mark.slow
@pytest.mark.asyncio
async def test_ten_thousand_sends_stay_within_limit_and_share_one_token(
    mints: MintCounter,
) -> None:
    total, limit = 10_000, 8
    gate = BatchGate(limit, total)
    # Every reading of the clock moves it on: the token must still be reused.
    clock = FakeClock(step=0.01)
    async with httpx.AsyncClient(transport=httpx.MockTransport(gate)) as client:
        hub = AsyncNotificationHub(
            CONNECTION_STRING,
            HUB_NAME,
            http_client=client,
            max_concurrency=limit,
            clock=clock,
            sleep=RecordingSleep(clock),
            retry=RetryPolicy(max_retries=0),
        )
        async with hub:
            with anyio.fail_after(HANG_GUARD_SECONDS):
                results = await asyncio.gather(
                    *(
                        hub.send_apple_notification({"aps": {"alert": n}}, "fans")
                        for n in range(total)
                    )
                )

    assert len(results) == total
    assert all(result.status_code == 201 for result in results)
    assert gate.started == total
    assert gate.max_in_flight == limit
    assert mints.count == 1
    assert len(gate.authorizations) == 1
    assert clock.readings >= total
    assert gate.last_request is not None
    assert_signed(gate.last_request, now=clock.now)


@pytest.mark.asyncio
async def test_own_client_limit_follows_max_connections() -> None:
    # No http_client: the hub's own client, intercepted by respx; the in-flight
    # limit defaults to max_connections.
    total, limit = 400, 4
    gate = BatchGate(limit, total)
    async with respx.mock(assert_all_called=True) as router:
        router.post(MESSAGES_URL).mock(side_effect=gate)
        async with AsyncNotificationHub(
            CONNECTION_STRING, HUB_NAME, max_connections=limit
        ) as hub:
            assert hub.max_concurrency == limit
            with anyio.fail_after(HANG_GUARD_SECONDS):
                await asyncio.gather(
                    *(hub.send_gcm_notification({"data": {}}) for _ in range(total))
                )

    assert gate.started == total
    assert gate.max_in_flight == limit


@pytest_asyncio.fixture
async def loopback() -> AsyncIterator[CountingServer]:
    server = CountingServer()
    await server.start()
    yield server
    await server.stop()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_real_pool_large_gather_without_pool_timeout(
    loopback: CountingServer,
) -> None:
    total, limit = 10_000, 4
    connection_string = (
        f"Endpoint=http://127.0.0.1:{loopback.port}/;"
        f"SharedAccessKeyName={KEY_NAME};SharedAccessKey=loopback-key"
    )
    # No retries: a PoolTimeout (or any other failure) would surface as an error.
    async with AsyncNotificationHub(
        connection_string,
        HUB_NAME,
        max_connections=limit,
        retry=RetryPolicy(max_retries=0),
    ) as hub:
        with anyio.fail_after(HANG_GUARD_SECONDS):
            results = await asyncio.gather(
                *(hub.send_gcm_notification({"data": {}}) for _ in range(total))
            )

    assert [result.status_code for result in results] == [201] * total
    assert loopback.requests == total
    assert 1 <= loopback.connections <= limit
    assert loopback.max_open_connections <= limit


@pytest.fixture
def anyio_backend() -> str:
    return "trio"


@pytest.mark.anyio
async def test_fan_out_under_trio(mints: MintCounter) -> None:
    total, limit = 400, 5
    gate = BatchGate(limit, total)
    results = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(gate)) as client:
        async with AsyncNotificationHub(
            CONNECTION_STRING, HUB_NAME, http_client=client, max_concurrency=limit
        ) as hub:

            async def send_one(number: int) -> None:
                result = await hub.send_template_notification({"n": str(number)})
                results.append(result)

            with anyio.fail_after(HANG_GUARD_SECONDS):
                async with anyio.create_task_group() as group:
                    for number in range(total):
                        group.start_soon(send_one, number)

    assert len(results) == total
    assert all(result.status_code == 201 for result in results)
    assert gate.max_in_flight == limit
    assert mints.count == 1
    assert len(gate.authorizations) == 1
