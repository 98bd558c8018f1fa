"""send_many: one result per item, bounded reading, throttling as a whole, batching."""

from __future__ import annotations

import json
import re
import tracemalloc
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
        "timeout": httpx.Response(408),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        tag = request.headers.get("ServiceBusNotification-Tags", "")
        return answers.get(tag) or created(request)

    tags = ("throttled", "rejected", "unknown", "failed", "timeout")
    items = [(APPLE, tag) for tag in tags]
    async with make_hub(handler, retry=RetryPolicy(max_retries=1)) as hub:
        report = await hub.send_many(items)

    assert [result.status for result in report.results] == [
        ItemStatus.THROTTLED,
        ItemStatus.REJECTED,
        ItemStatus.UNKNOWN_FATE,
        ItemStatus.FAILED,
        # 408: the service did not get to it; resending later may well work.
        ItemStatus.FAILED,
    ]
    statuses = [getattr(result.error, "status_code", None) for result in report.results]
    assert statuses == [429, 400, 500, 503, 408]


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


async def peak_traced_memory(items: int) -> int:
    """Peak bytes allocated while streaming `items` generated items, results off."""

    def generator() -> Iterator[tuple[Notification, str]]:
        for number in range(items):
            # A hundred audiences: the hub's bounded cache of parsed tag
            # expressions fills at once and is not what this measures.
            yield APPLE, f"user_{number % 100}"

    async with make_hub(created, max_concurrency=16) as hub:
        tracemalloc.start()
        try:
            report = await hub.send_many(
                generator(), keep_results=False, on_result=lambda result: None
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert report.sent == items
    return peak


@pytest.mark.slow
async def test_memory_stays_flat_in_the_number_of_items() -> None:
    # Ten times the items, about the same peak: nothing grows per item read. (The
    # million-item run is benchmarks/memory_send_many.py; this is its quick form.)
    small = await peak_traced_memory(500)
    large = await peak_traced_memory(5_000)
    assert large < small + 256 * 1024, (small, large)


async def test_async_iterables_are_accepted() -> None:
    async def items() -> AsyncIterator[Notification]:
        for _ in range(50):
            yield APPLE

    async with make_hub(created) as hub:
        report = await hub.send_many(items())

    assert report.counts[ItemStatus.SENT] == 50


async def test_a_failing_iterator_escapes_as_itself_after_reporting() -> None:
    # The two items read before the bug are in flight when it strikes: they finish
    # and are reported as sent, not abandoned as unknown fate.
    in_flight = anyio.Event()
    answered = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        answered += 1
        if answered == 2:
            in_flight.set()

        await in_flight.wait()
        return created(request)

    async def generator() -> AsyncIterator[Notification]:
        yield APPLE
        yield APPLE
        await in_flight.wait()
        raise LookupError("the caller's bug")

    reported: list[ItemResult] = []
    async with make_hub(handler) as hub:
        with pytest.raises(LookupError, match="the caller's bug"):
            await hub.send_many(generator(), on_result=reported.append)

        # The hub stays usable.
        assert (await hub.send_notification(APPLE)).status_code == 201

    assert sorted(result.index for result in reported) == [0, 1]
    assert {result.status for result in reported} == {ItemStatus.SENT}
    assert answered == 3


async def test_a_failing_callback_still_counts_the_rest_of_its_batch() -> None:
    reported: list[ItemResult] = []

    def on_result(result: ItemResult) -> None:
        reported.append(result)
        if result.index == 1:
            raise KeyError("callback bug")

    items = [SendItem(APPLE, device_handle=f"h{number}") for number in range(5)]
    async with make_hub(created) as hub:
        with pytest.raises(KeyError, match="callback bug"):
            await hub.send_many(items, on_result=on_result)

    # The callback saw items up to the one it failed on, and nothing twice.
    assert [result.index for result in reported] == [0, 1]


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


async def test_a_throttle_that_ends_an_item_still_pauses_the_others() -> None:
    # No retries at all: the throttled item gives up at once, but the items after
    # it must still wait out the advice instead of running into the same answer.
    clock = FakeClock()
    start = clock.now
    started_at: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        started_at.append(clock.now - start)
        if len(started_at) == 1:
            return httpx.Response(429, headers={"Retry-After": "30"})

        return created(request)

    retry = RetryPolicy(max_retries=0)
    async with make_hub(handler, clock, max_concurrency=1, retry=retry) as hub:
        report = await hub.send_many([APPLE] * 10)

    assert report.counts[ItemStatus.THROTTLED] == 1
    assert report.counts[ItemStatus.SENT] == 9
    assert len(started_at) == 10
    assert all(moment >= 30 for moment in started_at[1:]), started_at


@pytest.mark.parametrize(
    ("hub_limit", "concurrency", "expected"),
    [(64, 5, 5), (8, 32, 8)],
    ids=["the-callers-limit", "the-hubs-limit-wins"],
)
async def test_concurrency_bounds_the_requests_in_flight(
    hub_limit: int, concurrency: int, expected: int
) -> None:
    in_flight = 0
    peak = 0
    # The first requests wait until `expected` of them are in flight together, so
    # the peak is reached for sure; one more than allowed would show in `peak`.
    full = anyio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= expected:
            full.set()

        await full.wait()
        await anyio.lowlevel.checkpoint()
        in_flight -= 1
        return created(request)

    async with make_hub(handler, max_concurrency=hub_limit) as hub:
        report = await hub.send_many([APPLE] * 200, concurrency=concurrency)

    assert report.all_sent
    assert peak == expected


async def test_concurrency_below_one_is_refused() -> None:
    async with make_hub(created) as hub:
        with pytest.raises(ValueError, match="concurrency"):
            await hub.send_many([APPLE], concurrency=0)


async def test_one_bad_handle_rejects_only_its_own_item() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return created(request)

    handles = [f"handle-{number}" for number in range(10)]
    handles[4] = "bad\nhandle"
    items = [SendItem(APPLE, device_handle=handle) for handle in handles]
    async with make_hub(handler) as hub:
        report = await hub.send_many(items)

    statuses = [result.status for result in report.results]
    assert statuses[4] is ItemStatus.REJECTED
    assert isinstance(report.results[4].error, InvalidNotificationError)
    assert statuses[:4] + statuses[5:] == [ItemStatus.SENT] * 9
    # The good handles around it still travelled, in batches, each exactly once.
    sent: list[str] = []
    for request in requests:
        if request.url.path.endswith("$batch"):
            sent.extend(_parts(request)[1])
        else:
            sent.append(request.headers["ServiceBusNotification-DeviceHandle"])

    assert sorted(sent) == sorted(handles[:4] + handles[5:])


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


async def test_a_slow_async_source_does_not_hold_a_batch_back() -> None:
    # The source pauses after three direct items until their batch has been sent:
    # without a timer on the held batch, neither side would ever go on.
    batches: list[list[str]] = []
    first_batch_sent = anyio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        batches.append(_parts(request)[1])
        first_batch_sent.set()
        return created(request)

    async def items() -> AsyncIterator[SendItem]:
        for number in range(3):
            yield SendItem(APPLE, device_handle=f"h{number}")

        await first_batch_sent.wait()
        for number in range(3, 5):
            yield SendItem(APPLE, device_handle=f"h{number}")

    async with make_hub(handler) as hub:
        # A guard, not a measurement: a held batch would hang here.
        with anyio.fail_after(10):
            report = await hub.send_many(items())

    assert report.all_sent
    assert batches == [["h0", "h1", "h2"], ["h3", "h4"]]


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


@pytest.mark.parametrize(
    ("answer", "retry", "expected"),
    [
        # Refused, then cancelled while waiting to retry: it never reached anyone.
        (httpx.Response(503), RetryPolicy(), ItemStatus.NOT_ATTEMPTED),
        (
            httpx.Response(429, headers={"Retry-After": "5"}),
            RetryPolicy(),
            ItemStatus.NOT_ATTEMPTED,
        ),
        # A 500 may have been acted on: with resends opted in, the wait to resend
        # is cancelled, but the first attempt may still have been delivered.
        (
            httpx.Response(500),
            RetryPolicy(retry_unknown_fate=True),
            ItemStatus.UNKNOWN_FATE,
        ),
    ],
    ids=["503", "429", "500-opted-in"],
)
async def test_a_cancelled_retry_wait_tells_whether_the_item_may_have_arrived(
    answer: httpx.Response, retry: RetryPolicy, expected: ItemStatus
) -> None:
    waiting = anyio.Event()

    async def wait_forever(seconds: float) -> None:
        waiting.set()
        await anyio.sleep_forever()

    hub = AsyncNotificationHub(
        CONNECTION_STRING,
        "hub",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer)),
        sleep=wait_forever,
        retry=retry,
    )
    reported: list[ItemResult] = []
    async with hub, anyio.create_task_group() as task_group:

        async def fan_out() -> None:
            await hub.send_many([APPLE], on_result=reported.append)

        task_group.start_soon(fan_out)
        await waiting.wait()
        task_group.cancel_scope.cancel()

    assert [result.status for result in reported] == [expected]


async def test_send_item_refuses_tags_and_a_device_handle_together() -> None:
    with pytest.raises(InvalidNotificationError, match="not both"):
        SendItem(APPLE, "sports", device_handle="handle")
