"""
Fault injection in-process: throttling with Retry-After, 503, 500, latency and
connection resets, counted and seeded, as our client meets them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from notifhub_async import (
    Installation,
    InstallationPlatform,
    RetryPolicy,
    ServerError,
    ThrottledError,
    TransportError,
)
from notifhub_async.emulator import (
    ConnectionReset,
    EmulatorConfig,
    FaultKind,
    FaultRule,
)

from ._emulator_support import API, ENDPOINT, HUB, Harness, make_harness

pytestmark = pytest.mark.asyncio

APPLE_JSON = {
    "ServiceBusNotification-Format": "apple",
    "Content-Type": "application/json",
}


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = make_harness()
    async with harness.client:
        yield harness


async def send_raw(harness: Harness) -> httpx.Response:
    return await harness.call(
        "POST", f"{HUB}/messages/?{API}", headers=APPLE_JSON, content=b"{}"
    )


@pytest.mark.parametrize("kind", ["throttle", "throttle-403"])
async def test_throttling_is_retried_after_the_advertised_wait(
    harness: Harness, kind: str
) -> None:
    harness.emulator.add_fault(FaultRule(kind, count=1, retry_after=7))  # type: ignore[arg-type]
    result = await harness.hub().send_apple_notification({}, "news")
    assert result.status_code == 201
    assert len(harness.attempts) == 2
    [delay] = harness.sleep.delays
    # Retry-After plus the client's small jitter.
    assert 7 <= delay <= 8
    assert len(harness.emulator.records) == 1
    assert harness.emulator.faults == ()


@pytest.mark.parametrize(("kind", "status"), [("throttle", 429), ("throttle-403", 403)])
async def test_throttle_answers_carry_retry_after_and_an_error_body(
    harness: Harness, kind: str, status: int
) -> None:
    harness.emulator.add_fault(FaultRule(kind, retry_after=2.5))  # type: ignore[arg-type]
    response = await send_raw(harness)
    assert response.status_code == status
    assert response.headers["Retry-After"] == "2.5"
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert response.headers["TrackingId"]
    root = ET.fromstring(response.content)
    assert root.findtext("Code") == str(status)
    assert harness.emulator.records == []


async def test_throttling_advertises_one_second_by_default(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("throttle"))
    assert (await send_raw(harness)).headers["Retry-After"] == "1"


async def test_503_is_retried_with_backoff_or_the_advertised_wait(
    harness: Harness,
) -> None:
    harness.emulator.add_fault(FaultRule("unavailable", count=1))
    harness.emulator.add_fault(FaultRule("unavailable", count=1, retry_after=3))
    result = await harness.hub().send_apple_notification({})
    assert result.status_code == 201
    assert len(harness.attempts) == 3
    first, second = harness.sleep.delays
    # No Retry-After: the client's first exponential step, jittered into [0.5, 1].
    assert 0.5 <= first <= 1.0
    assert 3 <= second <= 4


async def test_503_sends_retry_after_only_when_configured(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("unavailable", count=1))
    response = await send_raw(harness)
    assert response.status_code == 503
    assert "Retry-After" not in response.headers


async def test_a_500_on_a_send_is_not_retried(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("server-error"))
    with pytest.raises(ServerError) as caught:
        await harness.hub().send_apple_notification({})

    # The service may have pushed it: resending could duplicate the notification.
    assert caught.value.status_code == 500
    assert caught.value.fate_unknown is True
    assert len(harness.attempts) == 1
    assert harness.sleep.delays == []


@pytest.mark.parametrize(
    ("kind", "recorded"), [("server-error", 0), ("server-error-after", 1)]
)
async def test_a_500_acts_on_the_send_only_when_told_to(
    kind: FaultKind, recorded: int, harness: Harness
) -> None:
    harness.emulator.add_fault(FaultRule(kind, count=1))
    with pytest.raises(ServerError) as caught:
        await harness.hub().send_apple_notification({}, "drill")

    assert caught.value.status_code == 500
    assert caught.value.fate_unknown is True
    assert [record.tags for record in harness.emulator.records] == ["drill"] * recorded


async def test_a_counted_fault_fires_that_many_times(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("throttle", count=2))
    hub = harness.hub(retry=RetryPolicy(max_retries=0))
    for _ in range(2):
        with pytest.raises(ThrottledError):
            await hub.send_apple_notification({})

    assert (await hub.send_apple_notification({})).status_code == 201
    assert harness.emulator.faults == ()


async def test_a_fault_can_target_a_path(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("unavailable", path="/installations/"))
    assert (await send_raw(harness)).status_code == 201
    response = await harness.call("GET", f"{HUB}/installations/any?{API}")
    assert response.status_code == 503


async def test_faults_never_touch_the_emulator_endpoints(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("server-error"))
    response = await harness.client.get(f"{ENDPOINT}_emulator/health")
    assert response.status_code == 200


async def test_latency_waits_through_the_injected_sleep(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("latency", latency=0.25, count=1))
    harness.emulator.add_fault(FaultRule("latency", latency=0.5, count=1))
    assert (await send_raw(harness)).status_code == 201
    assert harness.emulator_sleep.delays == [0.75]
    assert (await send_raw(harness)).status_code == 201
    assert harness.emulator_sleep.delays == [0.75]


async def test_latency_adds_to_another_fault(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("latency", latency=0.1))
    harness.emulator.add_fault(FaultRule("unavailable"))
    assert (await send_raw(harness)).status_code == 503
    assert harness.emulator_sleep.delays == [0.1]


async def test_a_reset_before_reading_reaches_the_client_as_a_transport_error(
    harness: Harness,
) -> None:
    harness.emulator.add_fault(FaultRule("reset-before", count=1))
    with pytest.raises(TransportError) as caught:
        await harness.hub().send_apple_notification({})

    # Through ASGITransport the reset is an httpx.RemoteProtocolError, as a
    # dropped connection is over TCP: the client cannot know whether it was sent.
    assert isinstance(caught.value.__cause__, ConnectionReset)
    assert caught.value.__cause__.before_read is True
    assert caught.value.fate_unknown is True
    assert len(harness.attempts) == 1
    assert harness.emulator.records == []


async def test_a_reset_after_reading_loses_only_the_answer(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("reset-after", count=1))
    with pytest.raises(TransportError) as caught:
        await harness.hub().send_apple_notification({}, "news")

    assert isinstance(caught.value.__cause__, ConnectionReset)
    assert caught.value.__cause__.before_read is False
    # The notification went out although the client saw no answer.
    [record] = harness.emulator.records
    assert record.tags == "news"
    assert len(harness.attempts) == 1


async def test_an_idempotent_write_is_retried_after_a_reset(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("reset-before", count=1))
    installation = Installation("device", InstallationPlatform.APNS, "TOKEN")
    await harness.hub().create_or_update_installation(installation)
    assert len(harness.attempts) == 2
    assert "device" in harness.emulator.installations(HUB)


async def test_a_raw_reset_raises_connection_reset(harness: Harness) -> None:
    harness.emulator.add_fault(FaultRule("reset-before"))
    with pytest.raises(ConnectionReset):
        await send_raw(harness)


async def statuses(seed: int, count: int = 24) -> list[int]:
    config = EmulatorConfig(seed=seed, faults=(FaultRule("throttle", probability=0.5),))
    harness = make_harness(config)
    async with harness.client:
        return [(await send_raw(harness)).status_code for _ in range(count)]


async def test_faults_repeat_under_the_same_seed() -> None:
    first = await statuses(seed=7)
    assert first == await statuses(seed=7)
    assert {201, 429} <= set(first)
    assert first != await statuses(seed=8)


async def test_configured_faults_are_active_from_the_start_and_after_reset() -> None:
    harness = make_harness(EmulatorConfig(faults=(FaultRule("unavailable", count=1),)))
    async with harness.client:
        assert (await send_raw(harness)).status_code == 503
        assert (await send_raw(harness)).status_code == 201
        assert len(harness.emulator.records) == 1

        harness.emulator.reset()
        assert harness.emulator.records == []
        assert (await send_raw(harness)).status_code == 503


async def test_faults_can_be_managed_over_http(harness: Harness) -> None:
    faults_url = f"{ENDPOINT}_emulator/faults"
    added = await harness.client.post(
        faults_url, json={"kind": "throttle", "count": 1, "retry_after": 3}
    )
    assert added.status_code == 201
    assert added.json()["kind"] == "throttle"
    listed = (await harness.client.get(faults_url)).json()
    assert [(rule["kind"], rule["count"]) for rule in listed] == [("throttle", 1)]

    response = await send_raw(harness)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "3")
    assert (await harness.client.get(faults_url)).json() == []

    await harness.client.post(faults_url, json={"kind": "server-error"})
    assert (await harness.client.delete(faults_url)).status_code == 204
    assert (await send_raw(harness)).status_code == 201


@pytest.mark.parametrize(
    "document",
    [
        {"kind": "meteor"},
        {"kind": "throttle", "probability": 2},
        {"kind": "throttle", "count": -1},
        {"kind": "throttle", "count": 1.5},
        {"kind": "throttle", "retry_after": "soon"},
        {"kind": "throttle", "colour": "red"},
        {"count": 1},
        ["throttle"],
    ],
)
async def test_bad_faults_posted_over_http_are_400(
    harness: Harness, document: object
) -> None:
    response = await harness.client.post(f"{ENDPOINT}_emulator/faults", json=document)
    assert response.status_code == 400
    assert response.json()["error"]
    assert harness.emulator.faults == ()


@pytest.mark.parametrize(
    "arguments",
    [
        {"kind": "meteor"},
        {"kind": "throttle", "probability": -0.1},
        {"kind": "throttle", "count": -1},
        {"kind": "throttle", "retry_after": -1},
        {"kind": "latency", "latency": -1},
    ],
)
async def test_fault_rules_check_their_values(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultRule(**arguments)  # type: ignore[arg-type]
