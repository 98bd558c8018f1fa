"""
The original sample's usage, awaited, runs unchanged against a mock.

Each call below is written exactly as the article wrote it (same names, same
argument order and values), with `await` in front; the checks are the headers and
bodies the sample itself would have sent.
"""

from __future__ import annotations

import json

import httpx
import pytest

from notifhub_async import AsyncNotificationHub, Notification
from tests.conftest import CONNECTION_STRING, HUB_NAME, RecordingHandler

pytestmark = pytest.mark.asyncio

wns_payload = (
    '<toast><visual><binding template="ToastText01"><text id="1">Hello world!</text>'
    "</binding></visual></toast>"
)
# A Windows Phone 8 toast in the MPNS schema (root wp:Notification, child wp:Toast).
toast = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<wp:Notification xmlns:wp="WPNotification"><wp:Toast>'
    "<wp:Text1>Hello from Python!</wp:Text1></wp:Toast></wp:Notification>"
)
mpns_tile = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<wp:Notification xmlns:wp="WPNotification"><wp:Tile>'
    "<wp:Title>Hello</wp:Title></wp:Tile></wp:Notification>"
)


def sample_hub(
    handler: RecordingHandler, *debug: object
) -> tuple[AsyncNotificationHub, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    hub = AsyncNotificationHub(
        CONNECTION_STRING,
        HUB_NAME,
        *debug,  # type: ignore[arg-type]
        http_client=client,
    )
    return hub, client


async def test_windows_toast_examples() -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await hub.send_windows_notification(wns_payload)
        await hub.send_windows_notification(wns_payload, "sports")
        await hub.send_windows_notification(wns_payload, {"sports", "politics"})

    untagged, one_tag, two_tags = handler.requests
    for request in handler.requests:
        assert request.content == wns_payload.encode()
        assert request.headers["ServiceBusNotification-Format"] == "windows"
        assert request.headers["Content-Type"] == "application/xml"
        assert request.headers["X-WNS-Type"] == "wns/toast"

    assert "ServiceBusNotification-Tags" not in untagged.headers
    assert one_tag.headers["ServiceBusNotification-Tags"] == "sports"
    joined = two_tags.headers["ServiceBusNotification-Tags"]
    assert sorted(joined.split("||")) == ["politics", "sports"]


@pytest.mark.parametrize(
    ("method", "wire_format"),
    [
        ("send_apple_notification", "apple"),
        ("send_gcm_notification", "gcm"),
        ("send_adm_notification", "adm"),
        ("send_baidu_notification", "baidu"),
    ],
)
async def test_json_examples(method: str, wire_format: str) -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await getattr(hub, method)({"data": {"msg": "Hello!"}})

    request = handler.request
    assert request.headers["ServiceBusNotification-Format"] == wire_format
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.content) == {"data": {"msg": "Hello!"}}
    assert "ServiceBusNotification-Tags" not in request.headers


async def test_windows_phone_toast_example() -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await hub.send_mpns_notification(toast)

    request = handler.request
    assert request.headers["ServiceBusNotification-Format"] == "windowsphone"
    assert request.headers["X-WindowsPhone-Target"] == "toast"
    assert request.headers["X-NotificationClass"] == "2"
    assert request.headers["Content-Type"].startswith("application/xml")
    assert request.content == toast.encode()


async def test_windows_phone_tile_class() -> None:
    # The sample sent target "tile"; MPNS itself names tiles "token" (as the .NET
    # SDK does), which is what we send. The notification class is the same: 1.
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await hub.send_mpns_notification(mpns_tile)

    request = handler.request
    assert request.headers["X-WindowsPhone-Target"] in ("tile", "token")
    assert request.headers["X-NotificationClass"] == "1"


@pytest.mark.parametrize(
    ("payload", "wns_type"),
    [
        (
            '<tile><visual><binding template="TileSquareText01"/></visual></tile>',
            "tile",
        ),
        ('<badge value="2"/>', "badge"),
    ],
)
async def test_windows_tile_and_badge_types(payload: str, wns_type: str) -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await hub.send_windows_notification(payload)

    assert handler.request.headers["X-WNS-Type"] == f"wns/{wns_type}"


async def test_template_example() -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await hub.send_template_notification(
            {"greeting_en": "Hello", "greeting_fr": "Salut"}
        )

    request = handler.request
    assert request.headers["ServiceBusNotification-Format"] == "template"
    assert request.headers["Content-Type"].startswith("application/json")
    assert json.loads(request.content) == {
        "greeting_en": "Hello",
        "greeting_fr": "Salut",
    }


@pytest.mark.parametrize("is_debug", [True, 1], ids=["True", "truthy-int"])
async def test_third_positional_debug_argument(is_debug: object) -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler, is_debug)
    async with client, hub:
        assert hub.debug is True
        await hub.send_apple_notification({"data": {"msg": "Hello!"}})

    # Debug mode makes every send a test send, as the sample's isDebug did.
    assert handler.request.url.query == b"api-version=2020-06&test"


@pytest.mark.parametrize("is_debug", [False, 0], ids=["False", "zero"])
async def test_third_positional_debug_off(is_debug: object) -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler, is_debug)
    async with client, hub:
        assert hub.debug is False
        await hub.send_apple_notification({"data": {"msg": "Hello!"}})

    assert handler.request.url.query == b"api-version=2020-06"


async def test_notification_object_with_tags() -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        notification = Notification("gcm", {"data": {"msg": "Hello!"}})
        await hub.send_notification(notification, "sports")
        with_headers = Notification(
            "apple", {"aps": {"alert": "Hi"}}, {"apns-expiration": "1700003600"}
        )
        await hub.send_notification(with_headers, {"sports"})

    plain, headed = handler.requests
    assert plain.headers["ServiceBusNotification-Format"] == "gcm"
    assert plain.headers["ServiceBusNotification-Tags"] == "sports"
    assert headed.headers["ServiceBusNotification-Format"] == "apple"
    assert headed.headers["ServiceBusNotification-Tags"] == "sports"
    assert headed.headers["apns-expiration"] == "1700003600"


async def test_the_samples_keyword_names() -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        notification = Notification(
            notification_format="gcm", payload={"data": {"msg": "Hello!"}}
        )
        await hub.send_notification(notification, tag_or_tag_expression="sports")
        with pytest.raises(TypeError, match="not both"):
            await hub.send_notification(notification, "a", tag_or_tag_expression="b")

    [request] = handler.requests
    assert request.headers["ServiceBusNotification-Format"] == "gcm"
    assert request.headers["ServiceBusNotification-Tags"] == "sports"
    assert json.loads(request.content) == {"data": {"msg": "Hello!"}}


async def test_empty_string_tags_mean_broadcast() -> None:
    handler = RecordingHandler()
    hub, client = sample_hub(handler)
    async with client, hub:
        await hub.send_apple_notification({"data": {"msg": "Hello!"}}, "")
        await hub.send_notification(Notification("windows", wns_payload), "")
        await hub.send_template_notification({"greeting_en": "Hello"}, tags="")

    for request in handler.requests:
        assert "ServiceBusNotification-Tags" not in request.headers


async def test_sample_format_names_accepted() -> None:
    # The sample's Notification validated against these names.
    for name in ("template", "apple", "gcm", "windows", "windowsphone", "adm", "baidu"):
        payload: object = "<toast/>" if name == "windows" else {"a": "b"}
        if name == "windowsphone":
            payload = toast

        notification = Notification(name, payload)  # type: ignore[arg-type]
        assert notification.format.value == name
