"""
The body of a batch direct send (wire spec §4.7): a multipart/mixed body with a
`notification` part (the payload and its content type) and a `devices` part (a JSON
array of device handles). MIME parsing is left to the standard library's `email`
package, which also copes with the JS SDK's `boundary = "..."` spacing.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

__all__ = ["BatchBody", "MultipartInvalid", "parse_batch_body"]

# The service's own text for a body without the expected parts.
MISSING_PART = "Could not find a part of the multipart content supplied."
_SINGLE_QUOTED = re.compile(r"'([^']*)'")


class MultipartInvalid(ValueError):
    """The batch body is unusable; the message is the Detail to answer with."""


@dataclass(frozen=True, slots=True)
class BatchBody:
    """The parts of a batch direct send."""

    notification: bytes
    content_type: str
    devices: tuple[str, ...]


def parse_batch_body(content_type: str, body: bytes) -> BatchBody:
    """
    Split a batch body into the notification and the device handles.

    Raises:
        MultipartInvalid: not multipart, a part missing, or devices that are not a
            list of strings.
    """
    if not content_type.lower().startswith("multipart/"):
        raise MultipartInvalid(MISSING_PART)

    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts = _parts_by_name(message)
    notification = parts.get("notification")
    devices = parts.get("devices")
    if notification is None or devices is None:
        raise MultipartInvalid(MISSING_PART)

    return BatchBody(
        notification=_payload(notification),
        content_type=notification.get("content-type", ""),
        devices=_devices(_payload(devices)),
    )


def _parts_by_name(message: Message) -> dict[str, Message]:
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise MultipartInvalid(MISSING_PART)

    parts: dict[str, Message] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            parts.setdefault(name.strip().lower(), part)

    return parts


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _devices(payload: bytes) -> tuple[str, ...]:
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        devices: object = json.loads(text)
    except ValueError:
        # The documentation's own example quotes handles with single quotes.
        if not (text.startswith("[") and text.endswith("]")):
            raise MultipartInvalid(
                "The devices part must be a JSON array of device handles."
            ) from None

        devices = _SINGLE_QUOTED.findall(text)

    if not isinstance(devices, list) or not all(
        isinstance(device, str) and device for device in devices
    ):
        raise MultipartInvalid(
            "The devices part must be a JSON array of device handles."
        )

    return tuple(devices)
