"""send_many: one result per item, bounded reading, throttling as a whole, batching."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator

import anyio
import httpx
import pytest

from notifhub_async import (
    AsyncNotificationHub,
    BulkProgress,
    InvalidNotificationError,
    ItemResult,
    ItemStatus,
    Notification,
    RetryPolicy,
    SendItem,
)

CONNECTION_STRING = (
    "Endpoint=sb://bulk.servicebus.windows.net/;"
    "SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=a2V5"
)
APPLE = Notification("apple", {"aps": {"alert": "hi"}})


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


pytestmark = pytest.mark.anyio


class FakeClock:
    """Time that moves only when the hub sleeps, so waits are exact and instant."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()


def make_hub(
    handler: Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]],
    clock: FakeClock | None = None,
    **options: object,
) -> AsyncNotificationHub:
    clock = clock or FakeClock()
    transport = httpx.MockTransport(handler)
    return AsyncNotificationHub(
        CONNECTION_STRING,
        "hub",
        http_client=httpx.AsyncClient(transport=transport),
        clock=clock,
        sleep=clock.sleep,
        **options,  # type: ignore[arg-type]
    )


def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201,
        headers={
            "Location": "https://bulk.servicebus.windows.net/hub/messages/n1?x=1",
            "TrackingId": "tracking",
        },
    )


async def test_every_item_gets_exactly_one_result_in_position() -> None:
    items: list[object] = [
        APPLE,
        (APPLE, "sports && !news"),
        (APPLE, "bad tag!"),
        42,
        SendItem(APPLE, {"a", "b"}),
        (APPLE, set()),
    ]
    async with make_hub(created) as hub:
        report = await hub.send_many(items)  # type: ignore[arg-type]

    assert [result.index for result in report.results] == list(range(len(items)))
    assert [result.status for result in report.results] == [
        ItemStatus.SENT,
        ItemStatus.SENT,
        ItemStatus.REJECTED,
        ItemStatus.REJECTED,
        ItemStatus.SENT,
        ItemStatus.REJECTED,
    ]
    assert report.total == 6
    assert report.counts[ItemStatus.SENT] == 3
    assert report.counts[ItemStatus.REJECTED] == 3
    assert sum(report.counts.values()) == 6
    assert isinstance(report.results[3].error, InvalidNotificationError)
    assert report.results[0].result is not None
    assert report.results[0].result.notification_id == "n1"
    assert not report.all_sent


async def test_statuses_follow_the_kind_of_failure() -> None:
    answers = {
        "throttled": httpx.Response(429, headers={"Retry-After": "1"}),
        "rejected": httpx.Response(400),
        "unknown": httpx.Response(500),
        "failed": httpx.Response(503),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        tag = request.headers.get("ServiceBusNotification-Tags", "")
        return answers.get(tag) or created(request)

    items = [(APPLE, tag) for tag in ("throttled", "rejected", "unknown", "failed")]
    async with make_hub(handler, retry=RetryPolicy(max_retries=1)) as hub:
        report = await hub.send_many(items)

    assert [result.status for result in report.results] == [
        ItemStatus.THROTTLED,
        ItemStatus.REJECTED,
        ItemStatus.UNKNOWN_FATE,
        ItemStatus.FAILED,
    ]
    statuses = [getattr(result.error, "status_code", None) for result in report.results]
    assert statuses == [429, 400, 500, 503]


async def test_reads_a_lazy_generator_a_little_ahead_only() -> None:
    read = 0
    ahead: list[int] = []

    def generator() -> Iterator[tuple[Notification, str]]:
        nonlocal read
        for number in range(3000):
            read += 1
            yield APPLE, f"t{number}"

    completed = 0

    def on_result(result: ItemResult) -> None:
        nonlocal completed
        completed += 1
        ahead.append(read - completed)

    async with make_hub(created, max_concurrency=8) as hub:
        report = await hub.send_many(
            generator(), keep_results=False, on_result=on_result
        )

    assert report.total == 3000
    assert report.results == ()
    assert completed == 3000
    # Never more than the buffer plus the workers' items are held in memory.
    assert max(ahead) <= 2 * 8 + 1


async def test_async_iterables_are_accepted() -> None:
    async def items() -> AsyncIterator[Notification]:
        for _ in range(50):
            yield APPLE

    async with make_hub(created) as hub:
        report = await hub.send_many(items())

    assert report.counts[ItemStatus.SENT] == 50


async def test_a_failing_iterator_escapes_as_itself_after_reporting() -> None:
    def generator() -> Iterator[Notification]:
        yield APPLE
        yield APPLE
        raise LookupError("the caller's bug")

    reported: list[ItemResult] = []
    async with make_hub(created) as hub:
        with pytest.raises(LookupError, match="the caller's bug"):
            await hub.send_many(generator(), on_result=reported.append)

        # The hub stays usable.
        assert (await hub.send_notification(APPLE)).status_code == 201

    assert sorted(result.index for result in reported) == [0, 1]


async def test_a_failing_callback_escapes_as_itself() -> None:
    def on_progress(progress: BulkProgress) -> None:
        raise KeyError("callback bug")

    async with make_hub(created) as hub:
        with pytest.raises(KeyError, match="callback bug"):
            await hub.send_many([APPLE] * 10, on_progress=on_progress)


async def test_progress_counts_up_to_the_total() -> None:
    progress: list[BulkProgress] = []
    async with make_hub(created) as hub:
        await hub.send_many([APPLE, (APPLE, "x&&")], on_progress=progress.append)

    assert [(step.completed, step.sent, step.failed) for step in progress][-1] == (
        2,
        1,
        1,
    )
    assert [step.completed for step in progress] == [1, 2]


async def test_throttling_pauses_every_new_send_for_the_advised_time() -> None:
    clock = FakeClock()
    start = clock.now
    started_at: list[float] = []
    throttled_once = False

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal throttled_once
        started_at.append(clock.now - start)
        if not throttled_once:
            throttled_once = True
            return httpx.Response(429, headers={"Retry-After": "30"})

        return created(request)

    async with make_hub(handler, clock, max_concurrency=4) as hub:
        report = await hub.send_many([APPLE] * 40)

    assert report.counts[ItemStatus.SENT] == 40
    # The first request was throttled at t=0; every other request started after the
    # advised 30 s, not just the retried one.
    assert started_at[0] == 0
    assert all(moment >= 30 for moment in started_at[1:]), started_at


async def test_paused_sends_resume_with_jitter_not_in_lock_step() -> None:
    # A frozen clock: every waiter sees the whole pause ahead of it.
    clock = FakeClock()
    frozen_sleeps: list[float] = []

    async def record(seconds: float) -> None:
        frozen_sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    throttled = anyio.Event()
    answered = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        answered += 1
        if answered == 1:
            throttled.set()
            return httpx.Response(429, headers={"Retry-After": "30"})

        return created(request)

    hub = AsyncNotificationHub(
        CONNECTION_STRING,
        "hub",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        clock=clock,
        sleep=record,
        max_concurrency=1,
    )
    async with hub:
        report = await hub.send_many([APPLE] * 6, concurrency=6)

    assert report.all_sent
    waits = [wait for wait in frozen_sleeps if wait >= 30]
    # The retried item and the five paused ones each waited at least the advice...
    assert len(waits) == 6
    # ...each with its own jitter.
    assert len(set(waits)) == 6
    # The advice, plus at most 1 s of jitter on the pause and 1 s on each waiter.
    assert all(30 <= wait <= 32 for wait in waits)


def _parts(request: httpx.Request) -> tuple[str, list[str]]:
    boundary = re.search(r'boundary="([^"]+)"', request.headers["Content-Type"])
    assert boundary is not None
    body = request.content.decode()
    sections = body.split(f"--{boundary.group(1)}")
    # preamble, notification part, devices part, closing "--\r\n"
    assert sections[0] == "" and sections[-1] == "--\r\n"
    notification_part, devices_part = sections[1], sections[2]
    headers, _, payload = notification_part.partition("\r\n\r\n")
    assert "Content-Disposition: inline; name=notification" in headers
    device_headers, _, devices = devices_part.partition("\r\n\r\n")
    assert "Content-Type: application/json" in device_headers
    assert "name=devices" in device_headers
    return payload.removesuffix("\r\n"), json.loads(devices)


async def test_direct_items_travel_in_batches_of_at_most_1000() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return created(request)

    handles = [f"handle-{number}" for number in range(2500)]
    items = [SendItem(APPLE, device_handle=handle) for handle in handles]
    async with make_hub(handler) as hub:
        report = await hub.send_many(items)

    assert report.counts[ItemStatus.SENT] == 2500
    batches = [request for request in requests if request.url.path.endswith("$batch")]
    assert len(batches) == len(requests) == 3
    seen: list[str] = []
    for request in batches:
        assert request.url.params.get("direct") == ""
        assert request.headers["ServiceBusNotification-Format"] == "apple"
        payload, devices = _parts(request)
        assert json.loads(payload) == {"aps": {"alert": "hi"}}
        assert len(devices) <= 1000
        seen.extend(devices)

    assert sorted(seen) == sorted(handles)


async def test_a_lone_direct_item_uses_the_single_direct_endpoint() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return created(request)

    async with make_hub(handler) as hub:
        report = await hub.send_many([SendItem(APPLE, device_handle="only-one")])

    assert report.all_sent
    assert requests[0].url.path == "/hub/messages/"
    assert requests[0].headers["ServiceBusNotification-DeviceHandle"] == "only-one"


async def test_stop_after_reports_unsent_items_and_leaves_the_hub_healthy() -> None:
    release = anyio.Event()
    blocking = True

    async def handler(request: httpx.Request) -> httpx.Response:
        if blocking:
            await release.wait()

        return created(request)

    transport = httpx.MockTransport(handler)
    hub = AsyncNotificationHub(
        CONNECTION_STRING,
        "hub",
        http_client=httpx.AsyncClient(transport=transport),
        max_concurrency=4,
    )
    reported: list[ItemResult] = []
    async with hub:
        report = await hub.send_many(
            [APPLE] * 100, on_result=reported.append, stop_after=0.05
        )
        blocking = False
        later = await hub.send_notification(APPLE)

    assert report.stopped_early
    assert later.status_code == 201
    # Four requests were in flight (fate unknown), the rest read but never sent.
    assert report.counts[ItemStatus.UNKNOWN_FATE] == 4
    assert report.counts[ItemStatus.NOT_ATTEMPTED] == report.total - 4
    assert len(reported) == report.total < 100


async def test_outer_cancellation_still_reports_every_item_read() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    reported: list[ItemResult] = []
    read = 0

    def generator() -> Iterator[Notification]:
        nonlocal read
        while True:
            read += 1
            yield APPLE

    async with make_hub(handler, max_concurrency=2) as hub:
        with anyio.move_on_after(0.05):
            await hub.send_many(generator(), on_result=reported.append)

    assert len(reported) == read
    assert {result.status for result in reported} == {
        ItemStatus.UNKNOWN_FATE,
        ItemStatus.NOT_ATTEMPTED,
    }


async def test_send_item_refuses_tags_and_a_device_handle_together() -> None:
    with pytest.raises(InvalidNotificationError, match="not both"):
        SendItem(APPLE, "sports", device_handle="handle")
