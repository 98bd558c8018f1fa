"""LanedTransport: one connection per lane, lanes reused warm, always released."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
import pytest_asyncio

from notifhub_async._lanes import LanedTransport
from tests._loopback import CountingServer

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def server() -> AsyncIterator[CountingServer]:
    counting = CountingServer()
    await counting.start()
    yield counting
    counting.release.set()
    await counting.stop()


def client(lanes: int) -> httpx.AsyncClient:
    transport = LanedTransport(lanes, verify=False, keepalive_expiry=30)
    return httpx.AsyncClient(transport=transport, timeout=10)


async def test_sequential_requests_reuse_one_warm_lane(server: CountingServer) -> None:
    async with client(8) as http:
        for _ in range(50):
            response = await http.post(f"http://127.0.0.1:{server.port}/x")
            assert response.status_code == 201

    # Lanes are reused last-in first-out: a quiet hub keeps one connection, not 8.
    assert server.connections == 1
    assert server.requests == 50


async def test_concurrent_requests_use_at_most_one_connection_per_lane(
    server: CountingServer,
) -> None:
    lanes = 4
    server.expected_holds = lanes
    async with client(lanes) as http:
        url = f"http://127.0.0.1:{server.port}/hold"
        async with anyio.create_task_group() as task_group:
            for _ in range(20):
                task_group.start_soon(http.post, url)

            # Four requests reach the server and wait there; the other sixteen must
            # queue in the transport, not open more connections.
            await server.all_held.wait()
            assert server.in_flight == lanes
            server.release.set()

    assert server.requests == 20
    assert server.max_in_flight == lanes
    assert server.connections == lanes


async def test_a_failed_request_frees_its_lane(server: CountingServer) -> None:
    async with client(1) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post(f"http://127.0.0.1:{server.port}/drop")

        # With one lane, a leaked lane would make this wait forever.
        with anyio.fail_after(5):
            response = await http.post(f"http://127.0.0.1:{server.port}/x")

    assert response.status_code == 201


async def test_a_cancelled_request_frees_its_lane(server: CountingServer) -> None:
    server.expected_holds = 1
    async with client(1) as http:
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(http.post, f"http://127.0.0.1:{server.port}/hold")
            await server.all_held.wait()
            task_group.cancel_scope.cancel()

        with anyio.fail_after(5):
            response = await http.post(f"http://127.0.0.1:{server.port}/x")

    assert response.status_code == 201


async def test_a_streamed_response_holds_its_lane_until_closed(
    server: CountingServer,
) -> None:
    async with client(1) as http:
        url = f"http://127.0.0.1:{server.port}/x"
        async with http.stream("POST", url) as response:
            # The only lane is taken until this response is closed.
            with anyio.move_on_after(0.05) as scope:
                await http.post(url)

            assert scope.cancelled_caught
            assert await response.aread() == b"ok"

        with anyio.fail_after(5):
            assert (await http.post(url)).status_code == 201


async def test_needs_a_lane() -> None:
    with pytest.raises(ValueError, match="at least one lane"):
        LanedTransport(0, verify=True, keepalive_expiry=5)


async def test_every_lane_shares_one_ssl_context() -> None:
    # Loading the CA bundle once per lane made a default hub (64 lanes) cost over a
    # second of CPU to create, blocking the event loop it was created in.
    transport = LanedTransport(64, verify=True, keepalive_expiry=30)
    contexts = {id(lane._pool._ssl_context) for lane in transport._lanes}
    assert len(contexts) == 1
