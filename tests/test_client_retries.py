"""
Retries on the wire: what is resent, how long the hub waits, and what is not resent.

Delays are recorded by an injected sleep that waits for nothing; the injected clock
moves by each recorded delay, so Retry-After dates and token lifetimes are checked
against the hub's own idea of "now".
"""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from notifhub_async import (
    ConnectError,
    ForbiddenError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ThrottledError,
    TransportError,
)
from tests.conftest import (
    FakeClock,
    HubFactory,
    RecordingHandler,
    RecordingSleep,
    Reply,
    assert_signed,
    error_body,
    fail,
    reply,
)

pytestmark = pytest.mark.asyncio

# The jitter added to the service's advice is a fraction of a second; anything
# below one second over the advice is "honoured".
JITTER_BOUND = 1.0
PAYLOAD = {"aps": {"alert": "Hi"}}


async def test_429_retry_after_then_success(
    make_hub: HubFactory, sleeper: RecordingSleep, clock: FakeClock
) -> None:
    handler = RecordingHandler(
        reply(429, {"Retry-After": "2"}, error_body(429, "slow down")),
        reply(201, {"Location": "https://x/hub/messages/id-1?api-version=2020-06"}),
        clock=clock,
    )
    hub = make_hub(handler)

    result = await hub.send_apple_notification(PAYLOAD, "sports")

    assert result.notification_id == "id-1"
    assert len(handler.requests) == 2
    assert len(sleeper.delays) == 1
    assert 2 <= sleeper.delays[0] < 2 + JITTER_BOUND
    # The retry is the same send: same body, same headers, a valid token.
    first, second = handler.requests
    assert second.content == first.content
    assert second.url == first.url
    assert second.headers["ServiceBusNotification-Tags"] == "sports"
    for request, arrived in zip(handler.requests, handler.arrival_times, strict=True):
        assert_signed(request, now=arrived)


async def test_403_with_retry_after_is_throttling(
    make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(
        reply(403, {"Retry-After": "5"}, error_body(403, "quota")),
        reply(201),
    )
    hub = make_hub(handler)

    await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 2
    assert 5 <= sleeper.delays[0] < 5 + JITTER_BOUND


async def test_403_with_retry_after_exhausted_raises_throttled(
    make_hub: HubFactory,
) -> None:
    handler = RecordingHandler(reply(403, {"Retry-After": "1"}))
    hub = make_hub(handler, retry=RetryPolicy(max_retries=1))

    with pytest.raises(ThrottledError) as caught:
        await hub.send_gcm_notification({"data": {}})

    assert caught.value.status_code == 403
    assert caught.value.retry_after == 1
    assert len(handler.requests) == 2


async def test_403_without_retry_after_is_not_retried(
    make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(403, {}, b""), reply(201))
    hub = make_hub(handler)

    with pytest.raises(ForbiddenError):
        await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 1
    assert sleeper.delays == []


async def test_503_is_retried_with_backoff(
    make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(503), reply(503), reply(503), reply(201))
    hub = make_hub(handler, retry=RetryPolicy(max_retries=3, base_delay=1.0))

    result = await hub.send_gcm_notification({"data": {}})

    assert result.status_code == 201
    assert len(handler.requests) == 4
    # Exponential steps of 1, 2 and 4 seconds, each jittered into [step/2, step].
    for delay, step in zip(sleeper.delays, [1.0, 2.0, 4.0], strict=True):
        assert step / 2 <= delay <= step


@pytest.mark.parametrize("header", ["retry-after-ms", "x-ms-retry-after-ms"])
async def test_retry_after_ms_is_honoured(
    header: str, make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(
        reply(429, {header: "1500", "Retry-After": "30"}), reply(201)
    )
    hub = make_hub(handler)

    await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 2
    assert 1.5 <= sleeper.delays[0] < 1.5 + JITTER_BOUND


async def test_retry_after_http_date_uses_injected_clock(
    make_hub: HubFactory, sleeper: RecordingSleep, clock: FakeClock
) -> None:
    # The clock is far from the real time: only the injected clock gives 30 s.
    clock.now = 1_500_000_000.0
    retry_at = formatdate(clock.now + 30, usegmt=True)
    handler = RecordingHandler(reply(429, {"Retry-After": retry_at}), reply(201))
    hub = make_hub(handler)

    await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 2
    assert 30 <= sleeper.delays[0] < 30 + JITTER_BOUND


async def test_retry_after_is_capped_by_max_delay(
    make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(429, {"Retry-After": "86400"}), reply(201))
    hub = make_hub(handler, retry=RetryPolicy(max_delay=10.0))

    await hub.send_gcm_notification({"data": {}})

    assert 10 <= sleeper.delays[0] < 10 + JITTER_BOUND


@pytest.mark.parametrize("max_retries", [0, 1, 4])
async def test_max_retries_respected(
    max_retries: int, make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(429, {"Retry-After": "1", "TrackingId": "last"}))
    hub = make_hub(handler, retry=RetryPolicy(max_retries=max_retries))

    with pytest.raises(ThrottledError) as caught:
        await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 1 + max_retries
    assert len(sleeper.delays) == max_retries
    assert caught.value.status_code == 429
    assert caught.value.tracking_id == "last"


@pytest.mark.parametrize("status_code", [500, 502, 504])
async def test_unknown_fate_status_not_resent(
    status_code: int, make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(status_code), reply(201))
    hub = make_hub(handler)

    with pytest.raises(ServerError) as caught:
        await hub.send_apple_notification(PAYLOAD)

    assert caught.value.status_code == status_code
    assert caught.value.fate_unknown is True
    assert len(handler.requests) == 1
    assert sleeper.delays == []


UNKNOWN_FATE_TRANSPORT = {
    "read-timeout": (httpx.ReadTimeout, RequestTimeoutError),
    "write-timeout": (httpx.WriteTimeout, RequestTimeoutError),
    "remote-protocol": (httpx.RemoteProtocolError, TransportError),
    "read-error": (httpx.ReadError, TransportError),
}


@pytest.mark.parametrize(
    ("httpx_error", "error_class"),
    UNKNOWN_FATE_TRANSPORT.values(),
    ids=UNKNOWN_FATE_TRANSPORT.keys(),
)
async def test_unknown_fate_transport_error_not_resent(
    httpx_error: type[httpx.RequestError],
    error_class: type[TransportError],
    make_hub: HubFactory,
    sleeper: RecordingSleep,
) -> None:
    handler = RecordingHandler(fail(httpx_error, "lost after sending"), reply(201))
    hub = make_hub(handler)

    with pytest.raises(TransportError) as caught:
        await hub.send_apple_notification(PAYLOAD)

    assert type(caught.value) is error_class
    assert caught.value.fate_unknown is True
    assert isinstance(caught.value.__cause__, httpx_error)
    assert len(handler.requests) == 1
    assert sleeper.delays == []


@pytest.mark.parametrize(
    "first",
    [reply(500), reply(502), reply(504), fail(httpx.ReadTimeout, "read timeout")],
    ids=["500", "502", "504", "read-timeout"],
)
async def test_unknown_fate_resent_when_caller_opts_in(
    first: Reply, make_hub: HubFactory
) -> None:
    handler = RecordingHandler(first, reply(201))
    hub = make_hub(handler, retry=RetryPolicy(retry_unknown_fate=True))

    result = await hub.send_apple_notification(PAYLOAD)

    assert result.status_code == 201
    assert len(handler.requests) == 2
    assert handler.requests[1].content == handler.requests[0].content


NEVER_SENT = {
    "connect-error": httpx.ConnectError,
    "connect-timeout": httpx.ConnectTimeout,
    "pool-timeout": httpx.PoolTimeout,
}


@pytest.mark.parametrize("httpx_error", NEVER_SENT.values(), ids=NEVER_SENT.keys())
async def test_connection_failure_is_retried(
    httpx_error: type[httpx.RequestError],
    make_hub: HubFactory,
    sleeper: RecordingSleep,
) -> None:
    handler = RecordingHandler(fail(httpx_error, "no connection"), reply(201))
    hub = make_hub(handler)

    result = await hub.send_apple_notification(PAYLOAD)

    assert result.status_code == 201
    assert len(handler.requests) == 2
    assert len(sleeper.delays) == 1


async def test_connect_error_exhausted_is_chained(make_hub: HubFactory) -> None:
    handler = RecordingHandler(fail(httpx.ConnectError, "refused"))
    hub = make_hub(handler, retry=RetryPolicy(max_retries=2))

    with pytest.raises(ConnectError) as caught:
        await hub.send_apple_notification(PAYLOAD)

    assert caught.value.fate_unknown is False
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert len(handler.requests) == 3


async def test_retry_after_long_wait_carries_refreshed_token(
    make_hub: HubFactory, sleeper: RecordingSleep, clock: FakeClock
) -> None:
    # Waiting 3400 s leaves the first token (1 h, refreshed 5 min early) too close
    # to expiry: the retry must carry a new one, valid when it is sent.
    handler = RecordingHandler(
        reply(429, {"Retry-After": "3400"}), reply(201), clock=clock
    )
    hub = make_hub(handler, retry=RetryPolicy(max_delay=4000.0))

    await hub.send_apple_notification(PAYLOAD)

    assert len(handler.requests) == 2
    first, second = handler.requests
    assert first.headers["Authorization"] != second.headers["Authorization"]
    for request, arrived in zip(handler.requests, handler.arrival_times, strict=True):
        assert_signed(request, now=arrived)

    # The first token would already be refused at the retry's arrival.
    with pytest.raises(AssertionError, match="expired"):
        assert_signed(first, now=handler.arrival_times[1] + 300)


async def test_retry_after_short_wait_reuses_token(
    make_hub: HubFactory, clock: FakeClock
) -> None:
    handler = RecordingHandler(reply(503), reply(201), clock=clock)
    hub = make_hub(handler)

    await hub.send_apple_notification(PAYLOAD)

    first, second = handler.requests
    assert first.headers["Authorization"] == second.headers["Authorization"]
    assert_signed(second, now=handler.arrival_times[1])


async def test_non_retryable_statuses_are_sent_once(
    make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    for status_code in (400, 401, 404, 413):
        handler = RecordingHandler(reply(status_code), reply(201))
        hub = make_hub(handler)

        with pytest.raises(Exception) as caught:
            await hub.send_apple_notification(PAYLOAD)

        assert getattr(caught.value, "status_code", None) == status_code
        assert len(handler.requests) == 1

    assert sleeper.delays == []


async def test_503_retry_after_is_honoured(
    make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(503, {"Retry-After": "7"}), reply(201))
    hub = make_hub(handler)

    await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 2
    assert 7 <= sleeper.delays[0] < 7 + JITTER_BOUND


@pytest.mark.parametrize(
    "headers", [{}, {"Retry-After": "soon"}, {"Retry-After": "-5"}], ids=str
)
async def test_429_without_usable_advice_backs_off(
    headers: dict[str, str], make_hub: HubFactory, sleeper: RecordingSleep
) -> None:
    handler = RecordingHandler(reply(429, headers), reply(201))
    hub = make_hub(handler, retry=RetryPolicy(base_delay=1.0))

    await hub.send_gcm_notification({"data": {}})

    assert len(handler.requests) == 2
    # The first exponential step, jittered into [base/2, base].
    assert 0.5 <= sleeper.delays[0] <= 1.0
