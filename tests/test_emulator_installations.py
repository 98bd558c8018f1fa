"""
Installations over HTTP: PUT, GET, PATCH and DELETE with raw JSON requests, then
the same through our client's installation methods.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from notifhub_async import (
    Installation,
    InstallationPatch,
    InstallationPlatform,
    InstallationTemplate,
    NotFoundError,
)

from ._emulator_support import API, ENDPOINT, HUB, LISTEN, Harness, make_harness

pytestmark = pytest.mark.asyncio

TOKEN = "62BCD3484834B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A8FA"
INSTALLATION_ID = "8b3e1b9e-79c2-4c2b-902b-68085b41968c"
PATH = f"{HUB}/installations/{INSTALLATION_ID}?{API}"


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = make_harness()
    async with harness.client:
        yield harness


async def put(harness: Harness, document: dict[str, Any], rule: str = LISTEN) -> None:
    response = await harness.call("PUT", PATH, json=document, rule=rule)
    assert response.status_code == 200, response.text


async def get_json(harness: Harness) -> Any:
    response = await harness.call("GET", PATH, rule=LISTEN)
    assert response.status_code == 200, response.text
    return json.loads(response.content)


async def patch(harness: Harness, operations: Any) -> httpx.Response:
    return await harness.call(
        "PATCH",
        PATH,
        rule=LISTEN,
        headers={"Content-Type": "application/json-patch+json"},
        content=json.dumps(operations),
    )


def error_detail(response: httpx.Response) -> str:
    root = ET.fromstring(response.content)
    assert root.findtext("Code") == str(response.status_code)
    return root.findtext("Detail") or ""


async def test_put_then_get_answers_like_the_recordings(harness: Harness) -> None:
    response = await harness.call(
        "PUT",
        PATH,
        rule=LISTEN,
        json={
            "installationId": INSTALLATION_ID,
            "platform": "apns",
            "pushChannel": TOKEN,
            "tags": ["tag1"],
        },
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Location"] == f"{ENDPOINT}{PATH}"

    read = await harness.call("GET", PATH, rule=LISTEN)
    # The recorded GET: JSON labelled application/xml, keys in this order.
    assert read.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert read.text == (
        '{"installationId":"8b3e1b9e-79c2-4c2b-902b-68085b41968c",'
        f'"pushChannel":"{TOKEN}","pushChannelExpired":false,"platform":"apns",'
        '"expirationTime":"9999-12-31T23:59:59.9999999Z","tags":["tag1"]}'
    )


async def test_a_missing_installation_is_404(harness: Harness) -> None:
    response = await harness.call("GET", PATH)
    assert response.status_code == 404
    assert error_detail(response).startswith("Installation not found.TrackingId:")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (
            b'{"installationId": "other", "platform": "apns", "pushChannel": "x"}',
            "match",
        ),
        (b'{"platform": "blackberry", "pushChannel": "x"}', "not supported"),
        (b'{"platform": "apns"}', "pushChannel"),
    ],
)
async def test_invalid_installations_are_400(
    harness: Harness, body: bytes, reason: str
) -> None:
    response = await harness.call("PUT", PATH, content=body)
    assert response.status_code == 400
    assert reason in error_detail(response)


BASE = {"installationId": INSTALLATION_ID, "platform": "apns", "pushChannel": TOKEN}


@pytest.mark.parametrize(
    ("start", "operations", "changed"),
    [
        # The recorded scenarios: add a tag, add, update and remove a user id.
        ({}, [{"op": "add", "path": "/tags", "value": "tag1"}], {"tags": ["tag1"]}),
        ({}, [{"op": "add", "path": "/userId", "value": "ab25"}], {"userId": "ab25"}),
        (
            {"userId": "old"},
            [{"op": "replace", "path": "/userId", "value": "new"}],
            {"userId": "new"},
        ),
        ({"userId": "old"}, [{"op": "remove", "path": "/userId", "value": None}], {}),
        (
            {"tags": ["a", "b"]},
            [
                {"op": "remove", "path": "/tags/a"},
                {"op": "add", "path": "/tags", "value": "c"},
            ],
            {"tags": ["b", "c"]},
        ),
    ],
)
async def test_patch_applies_the_operations(
    harness: Harness,
    start: dict[str, Any],
    operations: list[dict[str, Any]],
    changed: dict[str, Any],
) -> None:
    await put(harness, {**BASE, **start})
    response = await patch(harness, operations)
    assert response.status_code == 200
    assert response.content == b""
    document = await get_json(harness)
    for name in ("tags", "userId"):
        assert document.get(name) == changed.get(name)


async def test_patching_a_missing_installation_is_404(harness: Harness) -> None:
    response = await patch(harness, [{"op": "add", "path": "/tags", "value": "x"}])
    assert response.status_code == 404


async def test_a_bad_patch_is_400_and_changes_nothing(harness: Harness) -> None:
    await put(harness, {**BASE, "tags": ["keep"]})
    response = await patch(
        harness,
        [
            {"op": "add", "path": "/tags", "value": "new"},
            {"op": "add", "path": "/platform", "value": "wns"},
        ],
    )
    assert response.status_code == 400
    assert "/platform" in error_detail(response)
    assert (await get_json(harness))["tags"] == ["keep"]


async def test_delete_answers_204_even_when_absent(harness: Harness) -> None:
    await put(harness, BASE)
    for _ in range(2):
        response = await harness.call("DELETE", PATH, rule=LISTEN)
        assert response.status_code == 204
        assert response.content == b""

    assert (await harness.call("GET", PATH)).status_code == 404


async def test_state_read_in_process_is_a_copy(harness: Harness) -> None:
    await put(harness, {**BASE, "tags": ["a"]})
    copy = harness.emulator.installations(HUB)
    copy[INSTALLATION_ID]["tags"].append("tampered")
    assert harness.emulator.installations(HUB)[INSTALLATION_ID]["tags"] == ["a"]


# -- through our client ---------------------------------------------------------------


async def test_the_client_round_trips_an_installation(harness: Harness) -> None:
    hub = harness.hub(LISTEN)
    installation = Installation(
        installation_id="device-1",
        platform=InstallationPlatform.WNS,
        push_channel="https://db5.notify.windows.com/?token=abc",
        tags=("news", "sports"),
        user_id="ann",
        templates={
            "toast": InstallationTemplate(
                body="<toast>$(message)</toast>",
                headers={"X-WNS-Type": "wns/toast"},
                tags=("loud",),
            )
        },
    )
    await hub.create_or_update_installation(installation)
    read = await hub.get_installation("device-1")
    assert read.to_json() == installation.to_json()
    assert read.push_channel_expired is False
    assert read.expiration_time == "9999-12-31T23:59:59.9999999Z"

    await hub.patch_installation(
        "device-1",
        [
            InstallationPatch.add_tag("weather"),
            InstallationPatch.remove_tag("sports"),
            InstallationPatch.set_user_id("bob"),
            InstallationPatch.set_template(
                "a/b~c", InstallationTemplate(body="<toast/>", tags=("odd",))
            ),
        ],
    )
    patched = harness.emulator.installations(HUB)["device-1"]
    assert patched["tags"] == ["news", "weather"]
    assert patched["userId"] == "bob"
    # RFC 6901 escapes in the path name the template "a/b~c".
    assert patched["templates"]["a/b~c"] == {"body": "<toast/>", "tags": ["odd"]}

    await hub.delete_installation("device-1")
    assert await hub.installation_exists("device-1") is False
    with pytest.raises(NotFoundError):
        await hub.get_installation("device-1")
