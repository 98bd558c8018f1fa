"""
What the emulator remembers of each accepted notification, for tests to inspect.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias

__all__ = [
    "OUTCOME_INVALID_HANDLE",
    "OUTCOME_SUCCESS",
    "RecordedNotification",
    "RecordedTarget",
    "TargetKind",
]

# The service's test-send outcome strings (wire spec §4.6).
OUTCOME_SUCCESS = (
    "The Notification was successfully sent to the Push Notification System"
)
OUTCOME_INVALID_HANDLE = (
    "The Push Notification System handle for the registration is invalid"
)

TargetKind: TypeAlias = Literal["installation", "registration", "direct"]


@dataclass(frozen=True, slots=True)
class RecordedTarget:
    """
    One device a notification reached.

    Attributes:
        kind: reached through an installation, a registration, or a direct send.
        id: the installation or registration id (None for direct sends).
        platform: the format the device takes natively (`apple`, `gcm`, `fcmv1`,
            `windows`, `windowsphone`, `adm`, `baidu`, `browser`, `xiaomi`).
        pns_handle: the device handle.
        template_name: the template that matched, for template sends.
        payload: what the device receives: the rendered template for template
            sends, the notification body otherwise.
        outcome: the service's outcome string for this device.
    """

    kind: TargetKind
    id: str | None
    platform: str
    pns_handle: str = field(repr=False)
    template_name: str | None
    payload: bytes = field(repr=False)
    outcome: str = OUTCOME_SUCCESS

    @property
    def succeeded(self) -> bool:
        """Whether the push system took the notification for this device."""
        return self.outcome == OUTCOME_SUCCESS

    def to_json(self) -> dict[str, Any]:
        """The JSON form `/_emulator/records` returns."""
        payload, encoding = _encode(self.payload)
        return {
            "kind": self.kind,
            "id": self.id,
            "platform": self.platform,
            "pns_handle": self.pns_handle,
            "template_name": self.template_name,
            "payload": payload,
            "payload_encoding": encoding,
            "outcome": self.outcome,
        }


@dataclass(frozen=True, slots=True)
class RecordedNotification:
    """
    One notification the emulator accepted.

    Attributes:
        notification_id: the id in the answer's Location header.
        hub: the hub's configured name.
        format: the `ServiceBusNotification-Format`, lower-cased.
        tags: the tag expression as sent, or None for a broadcast or direct send.
        direct_handles: the handles of a direct or batch direct send, else None.
        targets: every device reached (at most `max_outcome_results` for test
            sends), with the payload each receives.
        body: the request body (for batch sends, the notification part).
        content_type: the body's Content-Type.
        headers: the request headers, lower-cased, without Authorization.
        test_send: whether the send asked for the outcome (`test`).
        received_at: when the emulator accepted it (UTC).
    """

    notification_id: str
    hub: str
    format: str
    tags: str | None
    direct_handles: tuple[str, ...] | None
    targets: tuple[RecordedTarget, ...]
    body: bytes = field(repr=False)
    content_type: str
    headers: Mapping[str, str] = field(repr=False)
    test_send: bool
    received_at: datetime

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (replacing bytes that are not)."""
        return self.body.decode("utf-8", errors="replace")

    def to_json(self) -> dict[str, Any]:
        """The JSON form `/_emulator/records` returns."""
        body, encoding = _encode(self.body)
        return {
            "notification_id": self.notification_id,
            "hub": self.hub,
            "format": self.format,
            "tags": self.tags,
            "direct_handles": (
                list(self.direct_handles) if self.direct_handles is not None else None
            ),
            "targets": [target.to_json() for target in self.targets],
            "body": body,
            "body_encoding": encoding,
            "content_type": self.content_type,
            "headers": dict(self.headers),
            "test_send": self.test_send,
            "received_at": self.received_at.isoformat(),
        }


def _encode(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"
