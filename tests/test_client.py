"""
`AsyncNotificationHub` on the wire: request bytes, results, errors, lifecycle.

Expected values come from the wire spec (nh-rest-api.md §4 and §9) and the
recorded service responses, never from what the client itself built.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
import respx

import notifhub_async
from notifhub_async import (
    AsyncNotificationHub,
    AuthenticationError,
    BadRequestError,
    ForbiddenError,
    HubClosedError,
    InvalidNotificationError,
    NotFoundError,
    Notification,
    PayloadTooLargeError,
    RetryPolicy,
    SendResult,
    ServerError,
    ServiceError,
    TagExpressionError,
    ThrottledError,
)
from tests._loopback import CountingServer
from tests.conftest import (
    CANARY_KEY,
    CONNECTION_STRING,
    HUB_NAME,
    KEY_NAME,
    MESSAGES_URL,
    NAMESPACE,
    HubFactory,
    RecordingHandler,
    assert_signed,
    error_body,
    recorded_calls,
    recorded_reply,
    reply,
)

pytestmark = pytest.mark.asyncio

JSON = "application/json;charset=utf-8"
WNS_TOAST = (
    '<toast><visual><binding template="ToastGeneric"><text>Hi</text></binding>'
    "</visual></toast>"
)
WNS_TILE = '<tile><visual><binding template="TileSmall"/></visual></tile>'
WNS_BADGE = '<badge value="7"/>'
MPNS_TOAST = (
    '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">'
    "<wp:Toast><wp:Text1>Hi</wp:Text1></wp:Toast></wp:Notification>"
)
SAMPLE_LOCATION = (
    f"https://{NAMESPACE}/{HUB_NAME}/messages/"
    "73622a22797441e4b434e8c2c14112ce-20181107001834-33331921-18?api-version=2020-06"
)

Sender = Callable[..., Awaitable[SendResult]]


@dataclass(frozen=True)
class WireCase:
    """One sender, what it is given, and the request the spec says it must make."""

    method: str
    payload: Any
    format: str
    content_type: str
    body: bytes
    extra_headers: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


WIRE_CASES = {
    "apple": WireCase(
        "send_apple_notification",
        {"aps": {"alert": "Hi", "badge": 3}},
        "apple",
        JSON,
        b'{"aps":{"alert":"Hi","badge":3}}',
    ),
    "gcm": WireCase(
        "send_gcm_notification",
        {"data": {"msg": "Hello!"}},
        "gcm",
        JSON,
        b'{"data":{"msg":"Hello!"}}',
    ),
    "fcmv1": WireCase(
        "send_fcmv1_notification",
        {"message": {"notification": {"title": "Hi", "body": "there"}}},
        "fcmv1",
        JSON,
        b'{"message":{"notification":{"title":"Hi","body":"there"}}}',
    ),
    "adm": WireCase(
        "send_adm_notification",
        {"data": {"msg": "Hello!"}},
        "adm",
        JSON,
        b'{"data":{"msg":"Hello!"}}',
    ),
    "baidu": WireCase(
        "send_baidu_notification",
        {"title": "Hi", "description": "there"},
        "baidu",
        JSON,
        b'{"title":"Hi","description":"there"}',
    ),
    "template": WireCase(
        "send_template_notification",
        {"greeting_en": "Hello", "greeting_fr": "Salut"},
        "template",
        JSON,
        b'{"greeting_en":"Hello","greeting_fr":"Salut"}',
    ),
    "browser": WireCase(
        "send_browser_notification",
        {"title": "Hi", "body": "there"},
        "browser",
        JSON,
        b'{"title":"Hi","body":"there"}',
    ),
    "xiaomi": WireCase(
        "send_xiaomi_notification",
        {"data": {"title": "Hi"}},
        "xiaomi",
        JSON,
        b'{"data":{"title":"Hi"}}',
    ),
    "json-str-sent-as-is": WireCase(
        "send_apple_notification",
        '{"aps": {"alert": "as written"}}',
        "apple",
        JSON,
        b'{"aps": {"alert": "as written"}}',
    ),
    "windows-toast": WireCase(
        "send_windows_notification",
        WNS_TOAST,
        "windows",
        "application/xml",
        WNS_TOAST.encode(),
        {"X-WNS-Type": "wns/toast"},
    ),
    "windows-tile": WireCase(
        "send_windows_notification",
        WNS_TILE,
        "windows",
        "application/xml",
        WNS_TILE.encode(),
        {"X-WNS-Type": "wns/tile"},
    ),
    "windows-badge": WireCase(
        "send_windows_notification",
        WNS_BADGE,
        "windows",
        "application/xml",
        WNS_BADGE.encode(),
        {"X-WNS-Type": "wns/badge"},
    ),
    "windows-raw": WireCase(
        "send_windows_notification",
        b"\x00\x01raw bytes",
        "windows",
        "application/octet-stream",
        b"\x00\x01raw bytes",
        {"X-WNS-Type": "wns/raw"},
        {"headers": {"X-WNS-Type": "wns/raw"}},
    ),
    "mpns-toast": WireCase(
        "send_mpns_notification",
        MPNS_TOAST,
        "windowsphone",
        "application/xml;charset=utf-8",
        MPNS_TOAST.encode(),
        {"X-WindowsPhone-Target": "toast", "X-NotificationClass": "2"},
    ),
    "windowsphone-alias": WireCase(
        "send_windowsphone_notification",
        MPNS_TOAST,
        "windowsphone",
        "application/xml;charset=utf-8",
        MPNS_TOAST.encode(),
        {"X-WindowsPhone-Target": "toast", "X-NotificationClass": "2"},
    ),
    "user-headers-merged": WireCase(
        "send_apple_notification",
        {"aps": {"alert": "Hi"}},
        "apple",
        JSON,
        b'{"aps":{"alert":"Hi"}}',
        {"apns-priority": "5", "apns-push-type": "background"},
        {"headers": {"apns-priority": "5", "apns-push-type": "background"}},
    ),
    "user-wns-type-wins": WireCase(
        "send_windows_notification",
        WNS_TOAST,
        "windows",
        "application/xml",
        WNS_TOAST.encode(),
        {"X-WNS-Type": "wns/tile", "X-WNS-TTL": "60"},
        {"headers": {"X-WNS-Type": "wns/tile", "X-WNS-TTL": "60"}},
    ),
}


def assert_send_request(
    request: httpx.Request, *, query: bytes = b"api-version=2020-06"
) -> None:
    """What every send shares: method, path, query, User-Agent and a valid token."""
    assert request.method == "POST"
    assert request.url.scheme == "https"
    assert request.url.host == NAMESPACE
    assert request.url.raw_path.split(b"?")[0] == f"/{HUB_NAME}/messages/".encode()
    assert request.url.query == query
    user_agent = request.headers["User-Agent"]
    assert user_agent.startswith(f"notifhub-async/{notifhub_async.__version__}")
    assert_signed(request)


@pytest.mark.parametrize("case", WIRE_CASES.values(), ids=WIRE_CASES.keys())
async def test_sender_wire_bytes(case: WireCase, make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    sender: Sender = getattr(hub, case.method)
    await sender(case.payload, **case.options)

    request = handler.request
    assert_send_request(request)
    assert request.content == case.body
    assert request.headers["ServiceBusNotification-Format"] == case.format
    assert request.headers["Content-Type"] == case.content_type
    assert "ServiceBusNotification-Tags" not in request.headers
    for name, value in case.extra_headers.items():
        assert request.headers[name] == value

    if case.format != "windows":
        assert "X-WNS-Type" not in request.headers


async def test_send_notification_wire_bytes(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)
    notification = Notification(
        "gcm", {"data": {"msg": "Hello!"}}, {"X-Custom-Header": "yes"}
    )

    await hub.send_notification(notification, "sports")

    request = handler.request
    assert_send_request(request)
    assert request.content == b'{"data":{"msg":"Hello!"}}'
    assert request.headers["ServiceBusNotification-Format"] == "gcm"
    assert request.headers["Content-Type"] == JSON
    assert request.headers["ServiceBusNotification-Tags"] == "sports"
    assert request.headers["X-Custom-Header"] == "yes"


@pytest.mark.parametrize("spelling", ["User-Agent", "user-agent", "USER-AGENT"])
async def test_user_header_replaces_ours_in_any_spelling(
    spelling: str, make_hub: HubFactory
) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)
    notification = Notification("gcm", {"data": {}}, {spelling: "my-app/2.0"})

    await hub.send_notification(notification)
    await hub.send_direct_notification(notification, "device-1")

    for request in handler.requests:
        user_agents = [
            value
            for name, value in request.headers.multi_items()
            if name.lower() == "user-agent"
        ]
        assert user_agents == ["my-app/2.0"]


async def test_non_ascii_json_is_utf8(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)
    payload = {"aps": {"alert": "Grüße, 世界"}}

    await hub.send_apple_notification(payload)

    body = handler.request.content
    assert json.loads(body.decode("utf-8")) == payload
    assert b" " not in body.replace("Grüße, 世界".encode(), b"")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (None, None),
        ("", None),
        ("sports", "sports"),
        (["sports", "politics"], "sports||politics"),
        (("a", "b", "a"), "a||b"),
        (
            "(follows_RedSox || follows_Cardinals) && location_Boston",
            "(follows_RedSox || follows_Cardinals) && location_Boston",
        ),
        ("$InstallationId:{abc-123}", "$InstallationId:{abc-123}"),
    ],
    ids=["none", "empty", "one-tag", "list", "duplicates", "expression", "system"],
)
async def test_tags_header(
    tags: str | list[str] | tuple[str, ...] | None,
    expected: str | None,
    make_hub: HubFactory,
) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    await hub.send_template_notification({"greeting_en": "Hello"}, tags)

    request = handler.request
    assert request.headers.get("ServiceBusNotification-Tags") == expected


async def test_test_send_adds_test_query(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    await hub.send_gcm_notification({"data": {}}, "sports", test_send=True)

    assert_send_request(handler.request, query=b"api-version=2020-06&test")


async def test_debug_hub_makes_every_send_a_test_send(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler, debug=True)

    await hub.send_notification(Notification("apple", {"aps": {}}))
    await hub.send_apple_notification({"aps": {}})

    for request in handler.requests:
        assert_send_request(request, query=b"api-version=2020-06&test")


async def test_direct_send_wire_bytes(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)
    handle = "62BCD3484834B7E2DC56733AC5509259230CC1BA82BA1AE7D06E91908A05A8FA"

    await hub.send_direct_notification(
        Notification("apple", {"aps": {"alert": "Hi"}}), handle
    )

    request = handler.request
    assert_send_request(request, query=b"api-version=2020-06&direct")
    assert request.headers["ServiceBusNotification-DeviceHandle"] == handle
    assert request.headers["ServiceBusNotification-Format"] == "apple"
    assert request.content == b'{"aps":{"alert":"Hi"}}'
    assert "ServiceBusNotification-Tags" not in request.headers


async def test_hub_own_client_sends_the_same_bytes() -> None:
    # No http_client: the hub's own pooled client, intercepted by respx.
    async with respx.mock(assert_all_called=True) as router:
        route = router.post(MESSAGES_URL).mock(return_value=httpx.Response(201))
        async with AsyncNotificationHub(CONNECTION_STRING, HUB_NAME) as hub:
            await hub.send_apple_notification({"aps": {"alert": "Hi"}}, "news")

    request = route.calls.last.request
    assert_send_request(request)
    assert request.content == b'{"aps":{"alert":"Hi"}}'
    assert request.headers["ServiceBusNotification-Tags"] == "news"


# -- results -------------------------------------------------------------------


async def test_result_from_recorded_send(make_hub: HubFactory) -> None:
    success = recorded_calls(
        "SendNotificationAsync_SendAppleNativeNotification_GetSuccessfulResultBack"
    )[0]
    # The only recording that kept TrackingId and correlation headers.
    service_headers = recorded_calls(
        "SendDirectNotificationAsync_ListenOnlyConnectionString_ThrowsUnauthorizedException"
    )[0]["Headers"]
    headers = {
        "Location": success["Headers"]["Location"],
        "TrackingId": service_headers["TrackingId"],
        "x-ms-correlation-request-id": service_headers["x-ms-correlation-request-id"],
    }
    hub = make_hub(RecordingHandler(reply(201, headers)))

    result = await hub.send_apple_notification({"aps": {"alert": "Hi"}})

    assert result.status_code == 201
    assert result.notification_id == (
        "73622a22797441e4b434e8c2c14112ce-20181107001834-33331921-18"
    )
    assert result.location == success["Headers"]["Location"]
    assert result.tracking_id == "c0f4869e-6b6e-49bd-804a-c28cf17d929a"
    assert result.correlation_id == "297c956c-c06b-4729-bc79-91e2bc6ed05c"
    assert result.outcome is None


async def test_result_from_recorded_batch_location(make_hub: HubFactory) -> None:
    batch = recorded_calls(
        "SendDirectNotificationAsync_SendDirectAppleBatchNotification_"
        "GetSuccessfulResultBack"
    )[0]
    hub = make_hub(RecordingHandler(recorded_reply(batch)))

    result = await hub.send_apple_notification({"aps": {}})

    assert result.notification_id == (
        "b755f9e4bb0844c8a2881986777aadb0-20181107001827-33331921-16"
    )


async def test_result_without_location(make_hub: HubFactory) -> None:
    hub = make_hub(RecordingHandler(reply(201)))

    result = await hub.send_apple_notification({"aps": {}})

    assert result.notification_id is None
    assert result.location is None
    assert result.tracking_id is None
    assert result.correlation_id is None


@pytest.mark.parametrize("status_code", [200, 201])
async def test_success_statuses(status_code: int, make_hub: HubFactory) -> None:
    headers = {"Location": SAMPLE_LOCATION}
    hub = make_hub(RecordingHandler(reply(status_code, headers)))

    result = await hub.send_gcm_notification({"data": {}})

    assert result.status_code == status_code
    assert result.notification_id is not None


OUTCOME_A = b"""<NotificationOutcome xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">
  <Success>1</Success>
  <Failure>1</Failure>
  <Results>
    <RegistrationResult>
      <ApplicationPlatform>apple</ApplicationPlatform>
      <PnsHandle>00FC13ADFF785122B4AD28809A3420982341241421348097878E577C991DE8F0</PnsHandle>
      <RegistrationId>849523884231660601-248604613279522266-3</RegistrationId>
      <Outcome>The Push Notification System handle for the registration is invalid</Outcome>
    </RegistrationResult>
    <RegistrationResult>
      <ApplicationPlatform>apple</ApplicationPlatform>
      <PnsHandle>7603CF2F5537AADF272DEA23B4FB4D33B56F0F8FE697F57777EC459594910786</PnsHandle>
      <RegistrationId>282625459606590828-2679902039720441464-3</RegistrationId>
      <Outcome>The Notification was successfully sent to the Push Notification System</Outcome>
    </RegistrationResult>
  </Results>
</NotificationOutcome>"""  # noqa: E501 -- verbatim from wire spec §4.6, Example A
OUTCOME_B = b"""<NotificationOutcome xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect">
  <Success>0</Success>
  <Failure>0</Failure>
  <Results />
</NotificationOutcome>"""  # noqa: E501 -- verbatim from wire spec §4.6, Example B
OUTCOME_C = b"""<NotificationOutcome xmlns="http://schemas.microsoft.com/netservices/2010/10/servicebus/connect" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Success>0</Success><Failure>0</Failure><Results i:nil="true"/></NotificationOutcome>"""  # noqa: E501 -- verbatim from wire spec §4.6, Example C
OUTCOME_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
LOCATION_URL = (
    "https://contoso-test.servicebus.windows.net/myhub/messages/n-7?api-version=2020-06"
)


async def test_test_send_outcome_example_a(make_hub: HubFactory) -> None:
    hub = make_hub(RecordingHandler(reply(201, OUTCOME_HEADERS, OUTCOME_A)))

    result = await hub.send_apple_notification({"aps": {}}, test_send=True)

    outcome = result.outcome
    assert outcome is not None
    assert (outcome.success, outcome.failure) == (1, 1)
    assert [r.registration_id for r in outcome.results] == [
        "849523884231660601-248604613279522266-3",
        "282625459606590828-2679902039720441464-3",
    ]
    invalid, delivered = outcome.results
    assert invalid.platform == "apple"
    assert invalid.pns_handle.startswith("00FC13ADFF78")
    assert invalid.handle_invalid and not invalid.succeeded
    assert delivered.succeeded and not delivered.handle_invalid
    # Device handles are personal data: kept out of reprs.
    assert "00FC13ADFF78" not in repr(result)


@pytest.mark.parametrize("body", [OUTCOME_B, OUTCOME_C], ids=["empty", "nil"])
async def test_test_send_outcome_no_results(body: bytes, make_hub: HubFactory) -> None:
    hub = make_hub(RecordingHandler(reply(201, OUTCOME_HEADERS, body)))

    result = await hub.send_template_notification({"a": "b"}, "x", test_send=True)

    assert result.outcome is not None
    assert result.outcome.success == 0
    assert result.outcome.failure == 0
    assert result.outcome.results == ()


async def test_debug_hub_parses_outcome(make_hub: HubFactory) -> None:
    hub = make_hub(RecordingHandler(reply(201, OUTCOME_HEADERS, OUTCOME_C)), True)

    result = await hub.send_gcm_notification({"data": {}})

    assert result.outcome is not None
    assert result.outcome.results == ()


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><NotificationOutcome/>',
        b"<NotificationOutcome>" + b" " * (1024 * 1024) + b"</NotificationOutcome>",
        b"<NotificationOutcome><Success>",
    ],
    ids=["doctype", "oversized", "truncated"],
)
async def test_unreadable_outcome_still_returns_the_accepted_send(
    body: bytes, make_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # The service accepted the send (201): reporting it as failed would invite a
    # resend, and a duplicate push. The result comes back without its outcome.
    headers = {**OUTCOME_HEADERS, "TrackingId": "t-9", "Location": LOCATION_URL}
    hub = make_hub(RecordingHandler(reply(201, headers, body)))

    result = await hub.send_gcm_notification({"data": {}}, test_send=True)

    assert result.outcome is None
    assert result.tracking_id == "t-9"
    assert result.notification_id == "n-7"
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "t-9" in warning.getMessage()
    assert "outcome is unreadable" in warning.getMessage()


async def test_normal_send_ignores_body(make_hub: HubFactory) -> None:
    hub = make_hub(RecordingHandler(reply(201, OUTCOME_HEADERS, OUTCOME_A)))

    result = await hub.send_gcm_notification({"data": {}})

    assert result.outcome is None


# -- validation before I/O -----------------------------------------------------


BAD_SENDS: dict[str, tuple[str, tuple[Any, ...], dict[str, Any], type[Exception]]] = {
    "bad-tag-char": (
        "send_apple_notification",
        ({"aps": {}}, "has space"),
        {},
        TagExpressionError,
    ),
    "unbalanced-expression": (
        "send_apple_notification",
        ({"aps": {}}, "(a && b"),
        {},
        TagExpressionError,
    ),
    "crlf-in-tag": (
        "send_apple_notification",
        ({"aps": {}}, "a\r\nX-Evil: 1"),
        {},
        TagExpressionError,
    ),
    "too-many-or-tags": (
        "send_apple_notification",
        ({"aps": {}}, [f"t{n}" for n in range(21)]),
        {},
        TagExpressionError,
    ),
    "too-many-mixed-tags": (
        "send_apple_notification",
        ({"aps": {}}, " && ".join(f"t{n}" for n in range(7))),
        {},
        TagExpressionError,
    ),
    "empty-tag-set": (
        "send_apple_notification",
        ({"aps": {}}, set()),
        {},
        TagExpressionError,
    ),
    "tag-too-long": (
        "send_apple_notification",
        ({"aps": {}}, "x" * 121),
        {},
        TagExpressionError,
    ),
    "payload-over-64kb": (
        "send_gcm_notification",
        ({"data": {"x": "y" * 65536}},),
        {},
        PayloadTooLargeError,
    ),
    "apple-over-4kb": (
        "send_apple_notification",
        ({"aps": {"alert": "y" * 4096}},),
        {},
        PayloadTooLargeError,
    ),
    "fcmv1-without-envelope": (
        "send_fcmv1_notification",
        ({"notification": {"title": "Hi"}},),
        {},
        InvalidNotificationError,
    ),
    "undecidable-wns": (
        "send_windows_notification",
        ("just some text",),
        {},
        InvalidNotificationError,
    ),
    "wns-unknown-root": (
        "send_windows_notification",
        ("<popup/>",),
        {},
        InvalidNotificationError,
    ),
    "wns-dict-payload": (
        "send_windows_notification",
        ({"toast": "no"},),
        {},
        InvalidNotificationError,
    ),
    "crlf-user-header": (
        "send_apple_notification",
        ({"aps": {}},),
        {"headers": {"apns-topic": "a\r\nb"}},
        InvalidNotificationError,
    ),
}


@pytest.mark.parametrize(
    ("method", "args", "options", "error"), BAD_SENDS.values(), ids=BAD_SENDS.keys()
)
async def test_validation_happens_before_io(
    method: str,
    args: tuple[Any, ...],
    options: dict[str, Any],
    error: type[Exception],
    make_hub: HubFactory,
) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    sender: Sender = getattr(hub, method)
    with pytest.raises(error):
        await sender(*args, **options)

    assert handler.requests == []


async def test_unknown_format_is_refused_before_io(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    make_hub(handler)

    with pytest.raises(InvalidNotificationError, match="unknown notification format"):
        Notification("windowsphone8", "<x/>")

    assert handler.requests == []


async def test_send_notification_refuses_raw_payload(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    with pytest.raises(TypeError):
        await hub.send_notification({"aps": {}})  # type: ignore[arg-type]

    assert handler.requests == []


async def test_bad_tags_on_send_notification_before_io(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    with pytest.raises(TagExpressionError):
        await hub.send_notification(Notification("gcm", {}), "a && && b")

    assert handler.requests == []


@pytest.mark.parametrize(
    ("notification", "handle"),
    [
        (Notification("template", {"a": "b"}), "handle"),
        (Notification("gcm", {}), ""),
        (Notification("gcm", {}), "handle\r\nX-Evil: 1"),
    ],
    ids=["template", "empty-handle", "crlf-handle"],
)
async def test_direct_send_validation_before_io(
    notification: Notification, handle: str, make_hub: HubFactory
) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)

    with pytest.raises(InvalidNotificationError):
        await hub.send_direct_notification(notification, handle)

    assert handler.requests == []


# -- error mapping -------------------------------------------------------------

ERROR_CLASSES: dict[int, type[ServiceError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: ThrottledError,
    500: ServerError,
    503: ServerError,
}


@pytest.mark.parametrize(
    ("status_code", "error_class"),
    ERROR_CLASSES.items(),
    ids=[str(status) for status in ERROR_CLASSES],
)
async def test_error_mapping(
    status_code: int, error_class: type[ServiceError], make_hub: HubFactory
) -> None:
    detail = f"Something about {status_code}.TrackingId:abc_G6,TimeStamp:1/1/2024"
    headers = {
        "Content-Type": "application/xml; charset=utf-8",
        "TrackingId": "d7f2a0c4-0000-4000-8000-000000000001",
        "x-ms-correlation-request-id": "11111111-2222-3333-4444-555555555555",
    }
    handler = RecordingHandler(
        reply(status_code, headers, error_body(status_code, detail))
    )
    hub = make_hub(handler, retry=RetryPolicy(max_retries=0))

    with pytest.raises(ServiceError) as caught:
        await hub.send_apple_notification({"aps": {}})

    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status_code
    assert error.tracking_id == "d7f2a0c4-0000-4000-8000-000000000001"
    assert error.correlation_id == "11111111-2222-3333-4444-555555555555"
    assert error.detail == detail
    assert detail in str(error)
    assert len(handler.requests) == 1


async def test_recorded_listen_only_403_is_forbidden(make_hub: HubFactory) -> None:
    call = recorded_calls(
        "SendDirectNotificationAsync_ListenOnlyConnectionString_ThrowsUnauthorizedException"
    )[0]
    handler = RecordingHandler(recorded_reply(call))
    hub = make_hub(handler)

    with pytest.raises(ForbiddenError) as caught:
        await hub.send_direct_notification(Notification("apple", {"aps": {}}), "abc")

    error = caught.value
    assert error.status_code == 403
    assert error.tracking_id == "c0f4869e-6b6e-49bd-804a-c28cf17d929a"
    assert error.correlation_id == "297c956c-c06b-4729-bc79-91e2bc6ed05c"
    assert error.detail is None
    assert not error.fate_unknown
    # 403 without Retry-After is a missing right, not throttling: never retried.
    assert len(handler.requests) == 1


async def test_unreadable_error_body_keeps_status(make_hub: HubFactory) -> None:
    handler = RecordingHandler(reply(400, {"TrackingId": "t-1"}, b"<Error><Code>"))
    hub = make_hub(handler)

    with pytest.raises(BadRequestError) as caught:
        await hub.send_apple_notification({"aps": {}})

    assert caught.value.detail is None
    assert caught.value.tracking_id == "t-1"


# -- lifecycle -----------------------------------------------------------------


async def test_async_with_closes_own_connections() -> None:
    server = CountingServer()
    await server.start()
    try:
        connection_string = (
            f"Endpoint=http://127.0.0.1:{server.port}/;"
            f"SharedAccessKeyName={KEY_NAME};SharedAccessKey=loopback-key"
        )
        async with AsyncNotificationHub(connection_string, HUB_NAME) as hub:
            await hub.send_gcm_notification({"data": {}})
            assert server.open_connections == 1

        assert hub.closed
        # The server sees the hub's kept-alive connection end when the hub closes.
        with anyio.fail_after(5):
            await server.no_connections.wait()
    finally:
        await server.stop()


async def test_caller_client_is_used_and_not_closed() -> None:
    handler = RecordingHandler()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        async with AsyncNotificationHub(
            CONNECTION_STRING, HUB_NAME, http_client=client
        ) as hub:
            await hub.send_gcm_notification({"data": {}})

        assert hub.closed
        assert not client.is_closed
        # The caller's client still works after the hub is gone.
        await client.get("https://example.invalid/still-open")

    assert len(handler.requests) == 2


async def test_closed_hub_refuses_before_any_request(make_hub: HubFactory) -> None:
    handler = RecordingHandler()
    hub = make_hub(handler)
    await hub.aclose()

    with pytest.raises(HubClosedError):
        await hub.send_apple_notification({"aps": {}})

    with pytest.raises(HubClosedError):
        await hub.send_direct_notification(Notification("gcm", {}), "h")

    with pytest.raises(HubClosedError):
        async with hub:
            pass

    assert handler.requests == []


async def test_sends_queued_at_close_are_refused(make_hub: HubFactory) -> None:
    # One request is in flight and two wait behind the limiter when the hub is
    # closed: the waiting ones must not go out afterwards.
    entered = anyio.Event()
    release = anyio.Event()
    requests: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        entered.set()
        await release.wait()
        return httpx.Response(201)

    hub = make_hub(handler, max_concurrency=1)
    tasks = [
        asyncio.ensure_future(hub.send_gcm_notification({"data": {}})) for _ in range(3)
    ]
    await entered.wait()
    await hub.aclose()
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(outcomes[0], SendResult)
    assert [type(outcome) for outcome in outcomes[1:]] == [HubClosedError] * 2
    assert len(requests) == 1


async def test_aclose_is_idempotent() -> None:
    hub = AsyncNotificationHub(CONNECTION_STRING, HUB_NAME)

    await hub.aclose()
    await hub.aclose()

    assert hub.closed
    with pytest.raises(HubClosedError):
        await hub.send_gcm_notification({"data": {}})


async def test_repr_shows_namespace_and_hub_only(make_hub: HubFactory) -> None:
    hub = make_hub(RecordingHandler())

    text = repr(hub)

    assert text == f"AsyncNotificationHub(namespace={NAMESPACE!r}, hub={HUB_NAME!r})"
    assert CANARY_KEY not in str(hub)


async def test_third_positional_argument_is_debug() -> None:
    hub = AsyncNotificationHub(CONNECTION_STRING, HUB_NAME, True)
    try:
        assert hub.debug is True
        assert hub.hub_name == HUB_NAME
        assert hub.namespace == NAMESPACE
    finally:
        await hub.aclose()


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        pytest.param(
            "https://ns.servicebus.windows.net/hub/messages/abc?api-version=2020-06",
            "abc",
            id="send",
        ),
        pytest.param(
            "https://ns/hub/messages/$batch/b755?api-version=2017-04&direct",
            "b755",
            id="batch",
        ),
        pytest.param("https://ns/hub/messages/abc/", "abc", id="trailing-slash"),
        pytest.param("https://ns/hub/messages/abc#part", "abc", id="fragment"),
        pytest.param("/hub/messages/xyz", "xyz", id="relative"),
        pytest.param("https://ns/", None, id="bare-host-slash"),
        pytest.param("https://ns", None, id="bare-host"),
        pytest.param("", None, id="empty"),
    ],
)
async def test_notification_id_is_the_last_path_segment(
    location: str, expected: str | None
) -> None:
    from notifhub_async._client import _notification_id

    assert _notification_id(location) == expected
