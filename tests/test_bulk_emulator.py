"""send_many against the emulator, faults injected: nothing lost, nothing doubled."""

from __future__ import annotations

from collections import Counter

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
from notifhub_async.emulator import Emulator, EmulatorConfig, FaultRule

ENDPOINT = "https://emulator.test/"
ITEMS = 2000


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


pytestmark = pytest.mark.anyio


async def no_wait(seconds: float) -> None:
    """The client's retry waits, skipped: the test is about counts, not time."""


def faulty_emulator(seed: int) -> Emulator:
    # 5 % of requests fail, in every way the service can fail a send.
    faults = (
        FaultRule(kind="throttle", probability=0.01, retry_after=2),
        FaultRule(kind="throttle-403", probability=0.005, retry_after=1),
        FaultRule(kind="unavailable", probability=0.015),
        FaultRule(kind="server-error", probability=0.01),
        FaultRule(kind="reset-before", probability=0.005),
        FaultRule(kind="reset-after", probability=0.005),
    )
    return Emulator(EmulatorConfig(seed=seed, faults=faults))


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
            (SendItem(notification, f"item{number}") for number in range(ITEMS)),
            on_result=streamed.append,
        )

    # Exactly one result per item, tied to its position, streamed and kept alike.
    assert report.total == ITEMS
    assert sum(report.counts.values()) == ITEMS
    assert [result.index for result in report.results] == list(range(ITEMS))
    assert sorted(result.index for result in streamed) == list(range(ITEMS))

    deliveries = Counter(record.tags for record in emulator.records)
    by_status: dict[ItemStatus, list[int]] = {}
    for result in report.results:
        by_status.setdefault(result.status, []).append(
            deliveries[f"item{result.index}"]
        )

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
