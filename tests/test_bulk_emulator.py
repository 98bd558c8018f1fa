"""send_many against the emulator, faults injected: nothing lost, nothing doubled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Literal

import anyio
import httpx
import pytest

from notifhub_async import (
    AsyncNotificationHub,
    ItemResult,
    ItemStatus,
    Notification,
    RetryPolicy,
    SendItem,
)
from notifhub_async.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    FaultRule,
)

ENDPOINT = "https://emulator.test/"
ITEMS = 2000


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


pytestmark = pytest.mark.anyio


async def no_wait(seconds: float) -> None:
    """The client's retry waits, skipped: the test is about counts, not time."""


def faulty_emulator(seed: int) -> Emulator:
    # 5 % of requests fail, in every way the service can fail a send. Half the
    # 500s and the late resets come after the send was accepted and recorded, so
    # a client that wrongly resent them would show as a second delivery.
    faults = (
        FaultRule(kind="throttle", probability=0.01, retry_after=2),
        FaultRule(kind="throttle-403", probability=0.005, retry_after=1),
        FaultRule(kind="unavailable", probability=0.015),
        FaultRule(kind="server-error", probability=0.005),
        FaultRule(kind="server-error-after", probability=0.005),
        FaultRule(kind="reset-before", probability=0.005),
        FaultRule(kind="reset-after", probability=0.005),
    )
    return Emulator(EmulatorConfig(seed=seed, faults=faults))


def drill_items(notification: Notification) -> Iterator[SendItem]:
    """Tag sends, with runs of direct sends that travel in batch requests."""
    for number in range(ITEMS):
        if number % 10 < 3:
            yield SendItem(notification, device_handle=f"handle{number}")
        else:
            yield SendItem(notification, f"item{number}")


def deliveries_per_item(emulator: Emulator) -> Counter[int]:
    """How often the emulator accepted each item, by tag or device handle."""
    delivered: Counter[int] = Counter()
    for record in emulator.records:
        if record.direct_handles is not None:
            delivered.update(
                int(handle.removeprefix("handle")) for handle in record.direct_handles
            )
        else:
            assert record.tags is not None
            delivered[int(record.tags.removeprefix("item"))] += 1

    return delivered


@pytest.mark.slow
async def test_every_item_has_one_result_and_none_is_delivered_twice() -> None:
    emulator = faulty_emulator(seed=2024)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator))
    hub = AsyncNotificationHub(
        emulator.connection_string(ENDPOINT),
        "myhub",
        http_client=client,
        sleep=no_wait,
        max_concurrency=16,
    )
    notification = Notification("apple", {"aps": {"alert": "fault drill"}})
    streamed: list[ItemResult] = []
    async with client, hub:
        report = await hub.send_many(
            drill_items(notification), on_result=streamed.append
        )

    # Exactly one result per item, tied to its position, streamed and kept alike.
    assert report.total == ITEMS
    assert sum(report.counts.values()) == ITEMS
    assert [result.index for result in report.results] == list(range(ITEMS))
    assert sorted(result.index for result in streamed) == list(range(ITEMS))

    deliveries = deliveries_per_item(emulator)
    assert any(record.direct_handles for record in emulator.records)
    by_status: dict[ItemStatus, list[int]] = {}
    for result in report.results:
        by_status.setdefault(result.status, []).append(deliveries[result.index])

    # Nothing is delivered twice: sends of unknown fate are never resent.
    assert max(deliveries.values()) == 1
    # A sent item arrived exactly once; an unknown fate at most once; the rest never.
    assert set(by_status[ItemStatus.SENT]) == {1}
    assert set(by_status.get(ItemStatus.UNKNOWN_FATE, [])) <= {0, 1}
    for status in (ItemStatus.THROTTLED, ItemStatus.FAILED, ItemStatus.REJECTED):
        assert set(by_status.get(status, [])) <= {0}

    # The faults really fired, and retries recovered from the retryable ones.
    assert report.counts[ItemStatus.UNKNOWN_FATE] > 0
    assert report.counts[ItemStatus.SENT] > ITEMS * 0.97
    assert report.counts[ItemStatus.NOT_ATTEMPTED] == 0


async def test_opting_in_to_resends_bounds_deliveries_by_the_retry_count() -> None:
    emulator = Emulator(
        EmulatorConfig(seed=1, faults=(FaultRule(kind="reset-after", count=2),))
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator))
    hub = AsyncNotificationHub(
        emulator.connection_string(ENDPOINT),
        "myhub",
        http_client=client,
        sleep=no_wait,
        retry=RetryPolicy(max_retries=3, retry_unknown_fate=True),
    )
    notification = Notification("apple", {"aps": {"alert": "at least once"}})
    async with client, hub:
        report = await hub.send_many([SendItem(notification, "only")])

    # Two answers were lost after the hub acted, so the opted-in resends delivered
    # the same notification three times: the price of at-least-once.
    assert report.all_sent
    assert [record.tags for record in emulator.records] == ["only"] * 3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("anyio_backend", "transport"),
    [("asyncio", "httpx"), ("asyncio", "aiohttp"), ("trio", "httpx")],
    ids=["asyncio-httpx", "asyncio-aiohttp", "trio-httpx"],
)
async def test_a_timeout_around_the_call_leaves_the_hubs_own_pool_healthy(
    transport: Literal["httpx", "aiohttp"],
) -> None:
    # Over real loopback HTTPS, through the hub's own connections: every send hangs
    # in the emulator, a timeout cancels the fan-out, and the same hub then sends
    # normally over the same pool.
    emulator = Emulator(
        EmulatorConfig(faults=(FaultRule(kind="latency", latency=600),))
    )
    reported: list[ItemResult] = []
    async with EmulatorServer(emulator) as server:
        hub = AsyncNotificationHub(
            server.connection_string(),
            "myhub",
            verify=server.ssl_context(),
            transport=transport,
            max_connections=4,
        )
        notification = Notification("apple", {"aps": {"alert": "cancel me"}})
        async with hub:
            # A guard, not a measurement: a cancel that hung would fail here.
            with anyio.fail_after(60):
                with anyio.move_on_after(0.5):
                    await hub.send_many(
                        (SendItem(notification, f"t{n}") for n in range(1000)),
                        on_result=reported.append,
                    )

                emulator.clear_faults()
                later = [
                    await hub.send_notification(notification, "after")
                    for _ in range(20)
                ]

    statuses = Counter(result.status for result in reported)
    # The four requests out at the time may have arrived; the rest never left.
    assert statuses[ItemStatus.UNKNOWN_FATE] == 4
    assert statuses[ItemStatus.NOT_ATTEMPTED] == len(reported) - 4
    assert sorted(result.index for result in reported) == list(range(len(reported)))
    assert all(result.status_code == 201 for result in later)
    assert [record.tags for record in emulator.records] == ["after"] * 20
