"""Notifications: formats, bodies, content types and platform headers (spec §4)."""

from __future__ import annotations

from typing import Any

import pytest

from notifhub_async import (
    MAX_APPLE_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    InvalidNotificationError,
    Notification,
    NotificationFormat,
    PayloadTooLargeError,
)

JSON = "application/json;charset=utf-8"
FCMV1_BODY = {"message": {"notification": {"title": "Hi"}}}
TOAST = '<toast><visual><binding template="ToastText01"><text id="1">Hi</text>'
TOAST += "</binding></visual></toast>"
MPNS_TOAST = (
    '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">'
    "<wp:Toast><wp:Text1>Hi</wp:Text1></wp:Toast></wp:Notification>"
)
MPNS_TILE = (
    '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">'
    "<wp:Tile><wp:Count>3</wp:Count></wp:Tile></wp:Notification>"
)


@pytest.mark.parametrize(
    ("notification_format", "payload", "headers", "content_type"),
    [
        pytest.param("apple", {"aps": {"alert": "Hi"}}, None, JSON, id="apple"),
        pytest.param("gcm", {"data": {"m": "Hi"}}, None, JSON, id="gcm"),
        pytest.param("fcmv1", FCMV1_BODY, None, JSON, id="fcmv1"),
        pytest.param("adm", {"data": {"m": "Hi"}}, None, JSON, id="adm"),
        pytest.param("baidu", {"title": "Hi"}, None, JSON, id="baidu"),
        pytest.param("browser", {"title": "Hi"}, None, JSON, id="browser"),
        pytest.param("xiaomi", {"title": "Hi"}, None, JSON, id="xiaomi"),
        pytest.param("template", {"message": "Hi"}, None, JSON, id="template"),
        pytest.param("windows", TOAST, None, "application/xml", id="wns-toast"),
        pytest.param("windows", "<tile/>", None, "application/xml", id="wns-tile"),
        pytest.param("windows", "<badge/>", None, "application/xml", id="wns-badge"),
        pytest.param(
            "windows",
            b"\x00\x01raw bytes",
            {"X-WNS-Type": "wns/raw"},
            "application/octet-stream",
            id="wns-raw",
        ),
        pytest.param(
            "windowsphone",
            MPNS_TOAST,
            None,
            "application/xml;charset=utf-8",
            id="mpns",
        ),
    ],
)
def test_content_type_and_format_header_per_format(
    notification_format: str,
    payload: Any,
    headers: dict[str, str] | None,
    content_type: str,
) -> None:
    notification = Notification(notification_format, payload, headers)

    assert notification.format.value == notification_format
    assert notification.content_type == content_type
    assert notification.wire_headers["Content-Type"] == content_type
    assert (
        notification.wire_headers["ServiceBusNotification-Format"]
        == notification_format
    )


@pytest.mark.parametrize(
    ("name", "member"),
    [
        pytest.param("fcmV1", NotificationFormat.FCMV1, id="fcmV1"),
        pytest.param("FcmV1", NotificationFormat.FCMV1, id="FcmV1"),
        pytest.param("APPLE", NotificationFormat.APPLE, id="APPLE"),
        pytest.param(" template ", NotificationFormat.TEMPLATE, id="padded"),
        pytest.param("WindowsPhone", NotificationFormat.WINDOWS_PHONE, id="mixed"),
        pytest.param(NotificationFormat.GCM, NotificationFormat.GCM, id="member"),
    ],
)
def test_format_names_are_case_insensitive(
    name: str | NotificationFormat, member: NotificationFormat
) -> None:
    assert NotificationFormat.parse(name) is member
    # On the wire the format is always the service's lower-case spelling.
    payload: Any = FCMV1_BODY if member is NotificationFormat.FCMV1 else {"a": 1}
    if member is NotificationFormat.WINDOWS_PHONE:
        payload = MPNS_TOAST

    notification = Notification(name, payload)
    assert notification.wire_headers["ServiceBusNotification-Format"] == member.value


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("nokiax", id="legacy-nokiax"),
        pytest.param("ios", id="ios"),
        pytest.param("fcm", id="fcm"),
        pytest.param("", id="empty"),
        pytest.param(42, id="int"),
    ],
)
def test_unknown_format_is_named_in_the_error(value: Any) -> None:
    with pytest.raises(InvalidNotificationError) as caught:
        Notification(value, {"a": 1})

    assert repr(value) in str(caught.value)
    assert "fcmv1" in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        pytest.param(
            {"aps": {"alert": "Hi", "badge": 1}},
            b'{"aps":{"alert":"Hi","badge":1}}',
            id="compact",
        ),
        pytest.param(
            {"t": "caf\u00e9"}, b'{"t":"caf\xc3\xa9"}', id="utf-8-not-escaped"
        ),
        pytest.param(
            {"n": None, "b": True, "f": 1.5, "l": [1, "x"]},
            b'{"n":null,"b":true,"f":1.5,"l":[1,"x"]}',
            id="json-types",
        ),
        pytest.param(["a", 1], b'["a",1]', id="list"),
    ],
)
def test_dicts_and_lists_become_compact_json(payload: Any, body: bytes) -> None:
    assert Notification("template", payload).body == body


def test_json_is_encoded_once_at_construction() -> None:
    payload: dict[str, Any] = {"aps": {"alert": "before"}}
    notification = Notification("apple", payload)

    payload["aps"]["alert"] = "after"

    assert notification.body == b'{"aps":{"alert":"before"}}'
    assert notification.body is notification.body


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        pytest.param('{ "aps" : { "alert" : "Hi" } }', None, id="str-spacing-kept"),
        pytest.param("caf\u00e9", "caf\u00e9".encode(), id="str-as-utf-8"),
        pytest.param(b'{"x":  1}', None, id="bytes"),
        pytest.param(b"\xff\xfe not utf-8", None, id="non-utf-8-bytes"),
    ],
)
def test_str_and_bytes_are_sent_as_they_are(
    payload: str | bytes, body: bytes | None
) -> None:
    expected = body if body is not None else payload
    if isinstance(expected, str):
        expected = expected.encode("utf-8")

    assert Notification("template", payload).body == expected


@pytest.mark.parametrize(
    ("notification_format", "payload", "fragment"),
    [
        pytest.param("apple", {"x": float("nan")}, "JSON", id="nan"),
        pytest.param("apple", {"x": float("inf")}, "JSON", id="infinity"),
        pytest.param("apple", {"x": object()}, "JSON", id="unserialisable"),
        pytest.param("apple", 42, "dict, list, str or bytes", id="int"),
        pytest.param("apple", None, "dict, list, str or bytes", id="None"),
        pytest.param("windows", {"toast": 1}, "XML", id="dict-for-wns"),
        pytest.param("windowsphone", ["x"], "XML", id="list-for-mpns"),
    ],
)
def test_unusable_payloads(
    notification_format: str, payload: Any, fragment: str
) -> None:
    with pytest.raises(InvalidNotificationError, match=fragment):
        Notification(notification_format, payload)


@pytest.mark.parametrize(
    ("payload", "wns_type"),
    [
        pytest.param(TOAST, "wns/toast", id="toast"),
        pytest.param('<tile><visual version="2"/></tile>', "wns/tile", id="tile"),
        pytest.param('<badge value="3"/>', "wns/badge", id="badge"),
        pytest.param(
            '<?xml version="1.0" encoding="utf-8"?>\n<toast/>',
            "wns/toast",
            id="xml-declaration",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="utf-16"?><toast><visual/></toast>',
            "wns/toast",
            id="utf-16-declaration-on-a-str",
        ),
        pytest.param(
            '<tile xmlns="http://schemas.microsoft.com/notifications/2012/tile"/>',
            "wns/tile",
            id="default-namespace",
        ),
        pytest.param('<w:badge xmlns:w="urn:w" value="1"/>', "wns/badge", id="prefix"),
        pytest.param("\n   <toast/>", "wns/toast", id="leading-whitespace"),
        pytest.param("\ufeff<toast/>", "wns/toast", id="utf-8-bom"),
        pytest.param(
            "\ufeff<toast>caf\u00e9</toast>".encode("utf-16-le"),
            "wns/toast",
            id="utf-16-bytes-with-bom",
        ),
    ],
)
def test_wns_type_comes_from_the_root_element(
    payload: str | bytes, wns_type: str
) -> None:
    notification = Notification("windows", payload)

    assert notification.wire_headers["X-WNS-Type"] == wns_type
    assert notification.content_type == "application/xml"


@pytest.mark.parametrize(
    ("headers", "wns_type", "content_type"),
    [
        pytest.param(
            {"X-WNS-Type": "wns/tile"}, "wns/tile", "application/xml", id="header-wins"
        ),
        pytest.param(
            {"x-wns-type": "wns/badge"},
            "wns/badge",
            "application/xml",
            id="header-in-lower-case",
        ),
        pytest.param(
            {"X-WNS-Type": "wns/raw"},
            "wns/raw",
            "application/octet-stream",
            id="raw",
        ),
        pytest.param(
            {"X-WNS-Type": "WNS/RAW"},
            "WNS/RAW",
            "application/octet-stream",
            id="raw-upper-case",
        ),
    ],
)
def test_explicit_wns_type_wins(
    headers: dict[str, str], wns_type: str, content_type: str
) -> None:
    notification = Notification("windows", TOAST, headers)

    types = [
        value
        for name, value in notification.wire_headers.items()
        if name.lower() == "x-wns-type"
    ]
    assert types == [wns_type]
    assert notification.content_type == content_type


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("<foo/>", id="unknown-root"),
        pytest.param("plain text", id="not-xml"),
        pytest.param("", id="empty"),
        pytest.param("<toast>", id="malformed"),
        pytest.param('<!DOCTYPE toast [<!ENTITY e "x">]><toast/>', id="doctype"),
        pytest.param(b"\x89PNG", id="binary"),
    ],
)
def test_undecidable_wns_payload_is_rejected(payload: str | bytes) -> None:
    with pytest.raises(InvalidNotificationError, match="X-WNS-Type"):
        Notification("windows", payload)


def test_unknown_explicit_wns_type_is_rejected() -> None:
    with pytest.raises(InvalidNotificationError, match="wns/other"):
        Notification("windows", TOAST, {"X-WNS-Type": "wns/other"})


@pytest.mark.parametrize(
    ("payload", "headers", "expected"),
    [
        pytest.param(
            MPNS_TOAST,
            None,
            {"X-WindowsPhone-Target": "toast", "X-NotificationClass": "2"},
            id="toast",
        ),
        pytest.param(
            MPNS_TILE,
            None,
            {"X-WindowsPhone-Target": "token", "X-NotificationClass": "1"},
            id="tile",
        ),
        pytest.param(
            "<root><data/></root>",
            None,
            {"X-NotificationClass": "3"},
            id="raw",
        ),
        pytest.param(
            MPNS_TILE,
            {"X-WindowsPhone-Target": "tile", "x-notificationclass": "11"},
            {"X-WindowsPhone-Target": "tile", "x-notificationclass": "11"},
            id="explicit-headers-win",
        ),
    ],
)
def test_mpns_headers_come_from_the_payload(
    payload: str, headers: dict[str, str] | None, expected: dict[str, str]
) -> None:
    notification = Notification("windowsphone", payload, headers)

    platform = {
        name: value
        for name, value in notification.wire_headers.items()
        if name.lower().startswith(("x-windowsphone", "x-notificationclass"))
    }
    assert platform == expected


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(FCMV1_BODY, id="dict"),
        pytest.param('{"message": {"token": "t", "data": {}}}', id="str"),
        pytest.param(b'{"message":{"topic":"news"}}', id="bytes"),
    ],
)
def test_fcmv1_with_its_envelope(payload: Any) -> None:
    assert Notification("fcmv1", payload).content_type == JSON


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"notification": {"title": "Hi"}}, id="dict"),
        pytest.param('{"notification": {"title": "Hi"}}', id="str"),
        pytest.param(b'{"data": {"k": "v"}}', id="bytes"),
        pytest.param({"message": "Hi"}, id="message-not-an-object"),
        pytest.param([{"message": {}}], id="list"),
        pytest.param("not json", id="invalid-json"),
        pytest.param(b"\xff\xfe", id="undecodable-bytes"),
    ],
)
def test_fcmv1_without_the_message_envelope_is_rejected(payload: Any) -> None:
    with pytest.raises(InvalidNotificationError, match='"message" envelope'):
        Notification("fcmv1", payload)


@pytest.mark.parametrize(
    ("notification_format", "size", "fits"),
    [
        pytest.param("template", MAX_PAYLOAD_BYTES, True, id="65536-fits"),
        pytest.param("template", MAX_PAYLOAD_BYTES + 1, False, id="65537-too-large"),
        pytest.param("gcm", MAX_PAYLOAD_BYTES + 1, False, id="gcm-65537"),
        pytest.param("apple", MAX_APPLE_PAYLOAD_BYTES, True, id="apple-4096-fits"),
        pytest.param("apple", MAX_APPLE_PAYLOAD_BYTES + 1, False, id="apple-4097"),
    ],
)
def test_size_limits(notification_format: str, size: int, fits: bool) -> None:
    assert (MAX_PAYLOAD_BYTES, MAX_APPLE_PAYLOAD_BYTES) == (65536, 4096)
    payload = b"x" * size

    if fits:
        assert len(Notification(notification_format, payload).body) == size
        return

    with pytest.raises(PayloadTooLargeError) as caught:
        Notification(notification_format, payload)

    error = caught.value
    assert error.status_code is None
    assert error.fate_unknown is False
    assert isinstance(error, ValueError)
    assert str(size) in str(error)


def test_limits_count_utf_8_bytes_not_characters() -> None:
    # "é" is two bytes in UTF-8: 2048 of them fill the APNs limit exactly.
    Notification("apple", {"a": "\u00e9" * (2048 - 4)})

    with pytest.raises(PayloadTooLargeError):
        Notification("apple", {"a": "\u00e9" * (2048 - 3)})


def test_wns_raw_over_64_kb_is_refused() -> None:
    with pytest.raises(PayloadTooLargeError):
        Notification("windows", b"r" * 65537, {"X-WNS-Type": "wns/raw"})


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Authorization", id="authorization"),
        pytest.param("content-length", id="content-length"),
        pytest.param("Host", id="host"),
        pytest.param("ServiceBusNotification-Format", id="format"),
        pytest.param("servicebusnotification-tags", id="tags"),
        pytest.param("ServiceBusNotification-DeviceHandle", id="device-handle"),
        pytest.param("ServiceBusNotification-ScheduleTime", id="schedule-time"),
        pytest.param("Transfer-Encoding", id="transfer-encoding"),
        pytest.param("Connection", id="connection"),
        pytest.param("Upgrade", id="upgrade"),
    ],
)
def test_reserved_headers_are_refused(name: str) -> None:
    with pytest.raises(InvalidNotificationError, match="set by the client"):
        Notification("apple", {"a": 1}, {name: "x"})


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        pytest.param({"bad name": "x"}, "not valid", id="space-in-name"),
        pytest.param({"x:y": "x"}, "not valid", id="colon-in-name"),
        pytest.param({"": "x"}, "not valid", id="empty-name"),
        pytest.param({"X-A": "a\r\nInjected: 1"}, "control", id="crlf-in-value"),
        pytest.param({"X-A": "a\nb"}, "control", id="lf-in-value"),
        pytest.param({"X-A": "a\x00"}, "control", id="nul-in-value"),
        pytest.param({"X-A": "a\x0bb"}, "control", id="vertical-tab-in-value"),
        pytest.param({"X-A": "caf\u00e9"}, "non-ASCII", id="non-ascii-value"),
        pytest.param({"X-A": 10}, "str value", id="int-value"),
        pytest.param({"apns-priority": "5", "APNS-Priority": "10"}, "twice", id="dup"),
    ],
)
def test_unsafe_headers_are_refused(headers: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidNotificationError, match=fragment):
        Notification("apple", {"a": 1}, headers)


def test_platform_headers_pass_through() -> None:
    headers = {
        "apns-priority": "10",
        "apns-push-type": "alert",
        "ServiceBusNotification-Apns-Expiry": "2030-01-01T00:00Z",
        "X-Custom": " padded\t",
    }
    notification = Notification("apple", {"aps": {}}, headers)

    assert notification.wire_headers == {
        "ServiceBusNotification-Format": "apple",
        "Content-Type": JSON,
        "apns-priority": "10",
        "apns-push-type": "alert",
        "ServiceBusNotification-Apns-Expiry": "2030-01-01T00:00Z",
        # Surrounding whitespace is not sendable (h11 refuses it) nor meaningful.
        "X-Custom": "padded",
    }


def test_callers_content_type_replaces_ours_in_any_spelling() -> None:
    notification = Notification(
        "baidu", {"a": 1}, {"content-type": "application/x-www-form-urlencoded"}
    )

    content_types = [
        value
        for name, value in notification.wire_headers.items()
        if name.lower() == "content-type"
    ]
    assert content_types == ["application/x-www-form-urlencoded"]
    assert notification.content_type == "application/x-www-form-urlencoded"


def test_repr_shows_neither_payload_nor_body() -> None:
    notification = Notification("apple", {"aps": {"alert": "private-message"}})

    assert "private-message" not in repr(notification)
    assert "apple" in repr(notification)


def test_notification_is_frozen() -> None:
    notification = Notification("apple", {"a": 1})

    with pytest.raises(AttributeError):
        notification.body = b"{}"  # type: ignore[misc]
