"""
Notifications: a format, a payload and platform headers, checked and encoded once.

Everything a send needs on the wire is computed when the `Notification` is built, so
a bad notification fails before any I/O, and fanning one notification out to many
audiences reuses its body and headers.
"""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ._enums import WireName
from ._errors import (
    InvalidNotificationError,
    PayloadTooLargeError,
    ResponseParseError,
)
from ._xml import parse_xml

__all__ = [
    "MAX_APPLE_PAYLOAD_BYTES",
    "MAX_BATCH_HANDLES",
    "MAX_PAYLOAD_BYTES",
    "Notification",
    "NotificationFormat",
    "Payload",
    "batch_body",
    "check_device_handle",
]

# "The message size cannot be over 64 Kb" (wire spec §6); APNs: 4 KB, enforced by NH.
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_APPLE_PAYLOAD_BYTES = 4 * 1024

Payload: TypeAlias = "Mapping[str, Any] | list[Any] | str | bytes"

_JSON = "application/json;charset=utf-8"
_WNS_TYPES = frozenset({"wns/toast", "wns/tile", "wns/badge", "wns/raw"})
# Every control character but HTAB: h11 refuses VT and FF at send time, and NH
# has no use for any of them.
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\x7f]")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_XML_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*\?>")
# Headers the client owns; a notification may not set them.
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "content-length",
        "host",
        "servicebusnotification-devicehandle",
        "servicebusnotification-format",
        "servicebusnotification-scheduletime",
        "servicebusnotification-tags",
        # Message framing and hop-by-hop headers belong to the HTTP layer.
        "connection",
        "expect",
        "keep-alive",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


class NotificationFormat(WireName):
    """The `ServiceBusNotification-Format` values (wire spec §4.2)."""

    APPLE = "apple"
    GCM = "gcm"
    FCMV1 = "fcmv1"
    ADM = "adm"
    BAIDU = "baidu"
    WINDOWS = "windows"
    WINDOWS_PHONE = "windowsphone"
    TEMPLATE = "template"
    BROWSER = "browser"
    XIAOMI = "xiaomi"

    @classmethod
    def _describe(cls) -> str:
        return "notification format"


_XML_FORMATS = frozenset({NotificationFormat.WINDOWS, NotificationFormat.WINDOWS_PHONE})


@dataclass(frozen=True, slots=True, init=False, eq=False)
class Notification:
    """
    A notification ready to send to any audience.

    Args:
        notification_format: the platform format, a `NotificationFormat` or its
            wire name (the original sample's parameter name; the attribute is
            `format`).
        payload: a dict or list (serialised to JSON once), or a str or bytes body
            sent as it is.
        headers: platform headers such as `apns-priority` or `X-WNS-Type`, merged
            over the ones derived from the payload.

    Raises:
        InvalidNotificationError: unknown format, a payload of the wrong kind, an FCM
            v1 body without its `message` envelope, a WNS payload whose type cannot
            be decided, or a header that is not safe to send.
        PayloadTooLargeError: over 64 KB, or over 4 KB for APNs.
    """

    format: NotificationFormat
    payload: Payload = field(repr=False)
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    content_type: str
    wire_headers: Mapping[str, str] = field(repr=False)

    def __init__(
        self,
        notification_format: NotificationFormat | str,
        payload: Payload,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        notification_format = NotificationFormat.parse(notification_format)
        user_headers = _check_headers(headers or {})
        body = _encode_body(notification_format, payload)
        _check_size(notification_format, body)

        derived = _derived_headers(notification_format, body, user_headers)
        content_type = _content_type(notification_format, {**derived, **user_headers})
        # A caller's Content-Type, in any spelling, replaces ours instead of going
        # out as a second Content-Type header.
        content_type = _header(user_headers, "Content-Type") or content_type
        wire_headers = {
            "ServiceBusNotification-Format": notification_format.value,
            "Content-Type": content_type,
            **derived,
            **{
                name: value
                for name, value in user_headers.items()
                if name.lower() != "content-type"
            },
        }
        setattr_ = object.__setattr__
        setattr_(self, "format", notification_format)
        setattr_(self, "payload", payload)
        setattr_(self, "headers", user_headers)
        setattr_(self, "body", body)
        setattr_(self, "content_type", wire_headers["Content-Type"])
        setattr_(self, "wire_headers", wire_headers)


def _encode_body(notification_format: NotificationFormat, payload: Payload) -> bytes:
    if isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = payload.encode("utf-8")
    elif isinstance(payload, Mapping | list):
        if notification_format in _XML_FORMATS:
            raise InvalidNotificationError(
                f"{notification_format.value} payloads are XML: pass a str, not a "
                f"{type(payload).__name__}"
            )

        try:
            # allow_nan=False: NaN and Infinity are not JSON, the service refuses them.
            body = json.dumps(
                payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidNotificationError(
                f"{notification_format.value} payload cannot be encoded as JSON: {exc}"
            ) from exc
    else:
        raise InvalidNotificationError(
            f"payload must be a dict, list, str or bytes, not {type(payload).__name__}"
        )

    if notification_format is NotificationFormat.FCMV1:
        _check_fcmv1_envelope(payload, body)

    return body


def _check_fcmv1_envelope(payload: Payload, body: bytes) -> None:
    # FCM v1 bodies are {"message": {...}} (wire spec §4.4, azure-sdk-for-js#29371).
    document: object = payload
    if isinstance(payload, str | bytes):
        try:
            document = json.loads(body)
        except ValueError:
            document = None

    message = document.get("message") if isinstance(document, Mapping) else None
    if not isinstance(message, Mapping):
        raise InvalidNotificationError(
            'an FCM v1 payload must be a JSON object wrapped in a "message" '
            'envelope, such as {"message": {"notification": {"title": "Hi"}}}'
        )


def _check_size(notification_format: NotificationFormat, body: bytes) -> None:
    limit = MAX_PAYLOAD_BYTES
    if notification_format is NotificationFormat.APPLE:
        limit = MAX_APPLE_PAYLOAD_BYTES

    if len(body) > limit:
        raise PayloadTooLargeError(
            f"{notification_format.value} payload is {len(body)} bytes; the limit "
            f"is {limit} bytes"
        )


def _check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise InvalidNotificationError(f"header name {name!r} is not valid")

        if not isinstance(value, str):
            raise InvalidNotificationError(
                f"header {name} must have a str value, not {type(value).__name__}"
            )

        if _HEADER_VALUE_FORBIDDEN.search(value):
            raise InvalidNotificationError(
                f"header {name} has a control (CR, LF, NUL...) or non-ASCII character"
            )

        if name.lower() in _RESERVED_HEADERS:
            raise InvalidNotificationError(
                f"header {name} is set by the client and cannot be overridden"
            )

        if _header(checked, name) is not None:
            raise InvalidNotificationError(f"header {name} is given twice")

        # One spelling of the one header the client also sets, so that the client
        # merges with a plain dict update and the caller's value wins.
        if name.lower() == "user-agent":
            name = "User-Agent"

        # HTTP ignores whitespace around a value, and h11 refuses to send it.
        checked[name] = value.strip(" \t")

    return checked


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value

    return None


def _derived_headers(
    notification_format: NotificationFormat,
    body: bytes,
    user_headers: Mapping[str, str],
) -> dict[str, str]:
    if notification_format is NotificationFormat.WINDOWS:
        if _header(user_headers, "X-WNS-Type") is not None:
            return {}

        return {"X-WNS-Type": _wns_type(body)}

    if notification_format is NotificationFormat.WINDOWS_PHONE:
        return _mpns_headers(body, user_headers)

    return {}


def _content_type(
    notification_format: NotificationFormat, headers: Mapping[str, str]
) -> str:
    if notification_format is NotificationFormat.WINDOWS:
        wns_type = (_header(headers, "X-WNS-Type") or "").lower()
        if wns_type not in _WNS_TYPES:
            raise InvalidNotificationError(
                f"X-WNS-Type {wns_type!r} is not one of {sorted(_WNS_TYPES)}"
            )

        return (
            "application/octet-stream" if wns_type == "wns/raw" else "application/xml"
        )

    if notification_format is NotificationFormat.WINDOWS_PHONE:
        return "application/xml;charset=utf-8"

    return _JSON


def _xml_root(body: bytes) -> ET.Element | None:
    try:
        return parse_xml(body, what="payload")
    except ResponseParseError:
        pass

    # A str payload is sent as UTF-8 even when its declaration names another
    # encoding (.NET writes encoding="utf-16"); read it without the declaration.
    stripped = _XML_DECLARATION.sub(b"", body, count=1)
    if stripped == body:
        return None

    try:
        return parse_xml(stripped, what="payload")
    except ResponseParseError:
        return None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2].lower()


def _wns_type(body: bytes) -> str:
    root = _xml_root(body)
    name = _local(root.tag) if root is not None else None
    if name in ("toast", "tile", "badge"):
        return f"wns/{name}"

    raise InvalidNotificationError(
        "cannot tell the WNS type: the payload's root element is not <toast>, <tile> "
        "or <badge>; pass headers={'X-WNS-Type': 'wns/raw'} (or another type)"
    )


def _mpns_headers(body: bytes, user_headers: Mapping[str, str]) -> dict[str, str]:
    # MPNS: <wp:Notification><wp:Toast>… is a toast (class 2), <wp:Tile>… a tile
    # (class 1, target "token" in MPNS terms; the sample sent "tile"), else raw (3).
    root = _xml_root(body)
    kinds = {_local(child.tag) for child in root} if root is not None else set()
    if "toast" in kinds:
        derived = {"X-WindowsPhone-Target": "toast", "X-NotificationClass": "2"}
    elif "tile" in kinds:
        derived = {"X-WindowsPhone-Target": "token", "X-NotificationClass": "1"}
    else:
        derived = {"X-NotificationClass": "3"}

    return {
        name: value
        for name, value in derived.items()
        if _header(user_headers, name) is None
    }


# The batch direct endpoint takes at most 1000 handles per request (spec §4.7).
MAX_BATCH_HANDLES = 1000


def batch_body(
    notification: Notification, device_handles: list[str]
) -> tuple[str, bytes]:
    """
    The multipart/mixed body of a batch direct send, and its Content-Type.

    Two parts, `notification` (the payload with its own content type) and `devices`
    (a JSON array of handles), CRLF line ends and no whitespace on the blank lines,
    as the service requires (spec §4.7).
    """
    boundary = f"nh-batch-{uuid.uuid4().hex}"
    devices = json.dumps(device_handles, separators=(",", ":")).encode()
    head = (
        f"--{boundary}\r\n"
        f"Content-Type: {notification.content_type}\r\n"
        "Content-Disposition: inline; name=notification\r\n\r\n"
    ).encode()
    middle = (
        f"\r\n--{boundary}\r\n"
        "Content-Type: application/json\r\n"
        "Content-Disposition: inline; name=devices\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    content_type = f'multipart/mixed; boundary="{boundary}"'
    return content_type, head + notification.body + middle + devices + tail


def check_device_handle(notification: Notification, device_handle: str) -> str:
    """
    `device_handle`, if `notification` may be sent directly to it.

    Raises:
        InvalidNotificationError: a template notification, or a handle that is
            empty, not ASCII, or holds CR, LF or NUL.
    """
    if notification.format is NotificationFormat.TEMPLATE:
        raise InvalidNotificationError(
            "template notifications cannot be sent directly to a device handle"
        )

    if (
        not isinstance(device_handle, str)
        or not device_handle
        or not device_handle.isascii()
        or any(char in device_handle for char in "\r\n\x00")
    ):
        raise InvalidNotificationError(
            "device_handle must be a non-empty ASCII string without CR, LF or NUL"
        )

    return device_handle
