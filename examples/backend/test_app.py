"""
Tests of the example backend against the local Notification Hubs emulator.

The backend runs in-process (httpx.ASGITransport) and talks to the emulator over
real loopback HTTPS through the `nh_hub` fixture; `nh_emulator` shows what reached
the hub: stored installations and recorded notifications. Each test starts with an
empty emulator.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from notifhub_async import AsyncNotificationHub
from notifhub_async.emulator import EmulatorServer, FaultRule

from .app import create_app

pytestmark = pytest.mark.asyncio

HUB = "myhub"
ALICE_IPHONE = "a1" * 32
ALICE_PIXEL = "fcm-token-alice-pixel"
BOB_IPHONE = "b2" * 32


@pytest_asyncio.fixture
async def backend(nh_hub: AsyncNotificationHub) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the backend, which uses the emulator's hub."""
    app = create_app(nh_hub)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://backend.test"
    ) as client:
        yield client


async def register(
    backend: httpx.AsyncClient, device: str, platform: str, channel: str, user: str
) -> httpx.Response:
    return await backend.post(
        "/devices",
        json={
            "installation_id": device,
            "platform": platform,
            "push_channel": channel,
            "user_id": user,
            "tags": ["news"],
        },
    )


async def test_registering_a_device_stores_its_installation(
    backend: httpx.AsyncClient, nh_emulator: EmulatorServer
) -> None:
    response = await register(backend, "alice-iphone", "apns", ALICE_IPHONE, "alice")

    assert response.status_code == 201
    installation = nh_emulator.emulator.installations(HUB)["alice-iphone"]
    assert installation["platform"] == "apns"
    assert installation["pushChannel"] == ALICE_IPHONE
    assert installation["userId"] == "alice"
    assert installation["tags"] == ["news"]
    assert "$(message)" in installation["templates"]["alert"]["body"]


async def test_notifying_a_user_reaches_each_of_their_devices_only(
    backend: httpx.AsyncClient, nh_emulator: EmulatorServer
) -> None:
    await register(backend, "alice-iphone", "apns", ALICE_IPHONE, "alice")
    await register(backend, "alice-pixel", "fcmv1", ALICE_PIXEL, "alice")
    await register(backend, "bob-iphone", "apns", BOB_IPHONE, "bob")

    response = await backend.post("/notify/alice", json={"message": 'Say "hi"'})

    assert response.status_code == 202
    [record] = nh_emulator.emulator.records
    assert response.json() == {"notification_id": record.notification_id}
    assert (record.format, record.tags) == ("template", "$UserId:{alice}")
    # Each device got its own platform's payload, the message rendered into it.
    payloads = {target.id: json.loads(target.payload) for target in record.targets}
    assert payloads == {
        "alice-iphone": {"aps": {"alert": 'Say "hi"'}},
        "alice-pixel": {"message": {"notification": {"body": 'Say "hi"'}}},
    }


async def test_a_device_the_hub_would_refuse_is_refused_before_sending(
    backend: httpx.AsyncClient, nh_emulator: EmulatorServer
) -> None:
    response = await backend.post(
        "/devices",
        json={
            "installation_id": "alice-iphone",
            "platform": "apns",
            "push_channel": ALICE_IPHONE,
            "tags": ["not a valid tag!"],
        },
    )

    assert response.status_code == 400
    assert nh_emulator.emulator.installations(HUB) == {}


async def test_a_failing_hub_is_reported_as_a_bad_gateway(
    backend: httpx.AsyncClient, nh_emulator: EmulatorServer
) -> None:
    # A 500 leaves the send's fate unknown, so the client does not resend it.
    nh_emulator.emulator.add_fault(FaultRule("server-error", count=1))

    response = await backend.post("/notify/alice", json={"message": "Hello"})

    assert response.status_code == 502
    assert "HTTP 500" in response.json()["error"]
    assert nh_emulator.emulator.records == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/devices", {"installation_id": "x", "platform": "palm", "push_channel": "c"}),
        ("/devices", "not an object"),
        ("/notify/alice", {"message": ""}),
        ("/notify/no spaces allowed", {"message": "Hello"}),
    ],
    ids=["unknown-platform", "not-an-object", "empty-message", "unusable-user-id"],
)
async def test_bad_requests_are_refused_without_reaching_the_hub(
    backend: httpx.AsyncClient,
    nh_emulator: EmulatorServer,
    path: str,
    body: object,
) -> None:
    response = await backend.post(path, json=body)

    assert response.status_code == 400
    assert nh_emulator.emulator.installations(HUB) == {}
    assert nh_emulator.emulator.records == []
