"""
Installations: a device's handle, tags and templates, stored by the hub (spec §8).

Installations are JSON. Writes are idempotent (PUT replaces, PATCH applies JSON
Patch operations whose values are strings) and the service applies them in the
background, so a read straight after a write may still see the old state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._enums import WireName
from ._errors import InvalidNotificationError, ResponseParseError
from ._tags import validate_tag

__all__ = [
    "Installation",
    "InstallationPatch",
    "InstallationPlatform",
    "InstallationTemplate",
]

# userId characters the service documents (spec §8): letters, digits and - _ @ # . : =
_USER_ID = re.compile(r"[A-Za-z0-9_@#.:=\-]+")
_MAX_ID_LENGTH = 256


class InstallationPlatform(WireName):
    """The `platform` values of installations (lower case, as the SDKs send them)."""

    APNS = "apns"
    WNS = "wns"
    MPNS = "mpns"
    GCM = "gcm"
    FCMV1 = "fcmv1"
    ADM = "adm"
    BAIDU = "baidu"
    BROWSER = "browser"
    XIAOMI = "xiaomi"

    @classmethod
    def _describe(cls) -> str:
        return "installation platform"


@dataclass(frozen=True, slots=True)
class InstallationTemplate:
    """
    A template: a body with `$(property)` placeholders, filled in by template sends.

    `headers` are for WNS/MPNS templates (for example `X-WNS-Type`); `expiry` is for
    APNs templates.
    """

    body: str
    headers: Mapping[str, str] = field(default_factory=dict)
    expiry: str | None = None
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The template as the service's JSON object."""
        document: dict[str, Any] = {"body": self.body}
        if self.headers:
            document["headers"] = dict(self.headers)

        if self.expiry is not None:
            document["expiry"] = self.expiry

        if self.tags:
            document["tags"] = list(self.tags)

        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> InstallationTemplate:
        """Read a template object as the service returns it."""
        return cls(
            body=str(document.get("body", "")),
            headers=dict(document.get("headers") or {}),
            expiry=document.get("expiry"),
            tags=tuple(document.get("tags") or ()),
        )


@dataclass(frozen=True, slots=True, init=False)
class Installation:
    """
    One device installation.

    Args:
        installation_id: your id for the device (a UUID is typical).
        platform: an `InstallationPlatform` or its name, such as "apns".
        push_channel: the platform handle (APNs token, FCM token, WNS channel URI),
            or for `browser` a mapping with `endpoint`, `p256dh` and `auth`.
        tags: tags the device listens to.
        user_id: sends to `$UserId:{user_id}` reach every device of that user.
        templates: named templates for template sends.
        push_variables: variables the service substitutes in templates.

    The remaining fields are read-only: the service fills them in.

    Raises:
        InvalidNotificationError: an empty or unusable id, user id or channel.
        TagExpressionError: a tag breaks the service's rules.
    """

    installation_id: str
    platform: InstallationPlatform
    push_channel: str | Mapping[str, str] = field(repr=False)
    tags: tuple[str, ...] = ()
    user_id: str | None = None
    templates: Mapping[str, InstallationTemplate] = field(default_factory=dict)
    push_variables: Mapping[str, str] = field(default_factory=dict)
    push_channel_expired: bool | None = None
    expiration_time: str | None = None
    last_active_on: str | None = None
    last_update: str | None = None

    def __init__(
        self,
        installation_id: str,
        platform: InstallationPlatform | str,
        push_channel: str | Mapping[str, str],
        tags: Iterable[str] = (),
        user_id: str | None = None,
        templates: Mapping[str, InstallationTemplate] | None = None,
        push_variables: Mapping[str, str] | None = None,
        push_channel_expired: bool | None = None,
        expiration_time: str | None = None,
        last_active_on: str | None = None,
        last_update: str | None = None,
    ) -> None:
        check_installation_id(installation_id)
        if isinstance(tags, str):
            raise InvalidNotificationError("tags must be a list of tags, not a str")

        if user_id is not None and not _USER_ID.fullmatch(user_id):
            raise InvalidNotificationError(
                "user_id may only use letters, digits and - _ @ # . : ="
            )

        if not push_channel:
            raise InvalidNotificationError("push_channel must not be empty")

        values = {
            "installation_id": installation_id,
            "platform": InstallationPlatform.parse(platform),
            "push_channel": push_channel,
            "tags": tuple(validate_tag(tag) for tag in tags),
            "user_id": user_id,
            "templates": dict(templates or {}),
            "push_variables": dict(push_variables or {}),
            "push_channel_expired": push_channel_expired,
            "expiration_time": expiration_time,
            "last_active_on": last_active_on,
            "last_update": last_update,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def to_json(self) -> dict[str, Any]:
        """The installation as the service's JSON (writable fields only)."""
        document: dict[str, Any] = {
            "installationId": self.installation_id,
            "platform": self.platform.value,
            "pushChannel": (
                self.push_channel
                if isinstance(self.push_channel, str)
                else dict(self.push_channel)
            ),
        }
        if self.tags:
            document["tags"] = list(self.tags)

        if self.user_id is not None:
            document["userId"] = self.user_id

        if self.templates:
            document["templates"] = {
                name: template.to_json() for name, template in self.templates.items()
            }

        if self.push_variables:
            document["pushVariables"] = dict(self.push_variables)

        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Installation:
        """
        Read an installation as the service returns it.

        Raises:
            ResponseParseError: a required field is missing or malformed.
        """
        try:
            return cls(
                installation_id=document["installationId"],
                platform=document["platform"],
                push_channel=document["pushChannel"],
                tags=tuple(document.get("tags") or ()),
                # The docs spell it userID; the SDKs and the service use userId.
                user_id=document.get("userId", document.get("userID")),
                templates={
                    name: InstallationTemplate.from_json(template)
                    for name, template in (document.get("templates") or {}).items()
                },
                push_variables=dict(document.get("pushVariables") or {}),
                push_channel_expired=document.get("pushChannelExpired"),
                expiration_time=document.get("expirationTime"),
                last_active_on=document.get("lastActiveOn"),
                last_update=document.get("lastUpdate"),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ResponseParseError(
                f"installation: unexpected JSON ({type(exc).__name__}: {exc})"
            ) from None

    @classmethod
    def from_body(cls, body: bytes) -> Installation:
        """
        Parse a GET installation body (JSON, whatever its Content-Type says).

        Raises:
            ResponseParseError: not a JSON object of an installation.
        """
        try:
            document = json.loads(body)
        except ValueError:
            raise ResponseParseError("installation: the body is not JSON") from None

        if not isinstance(document, dict):
            raise ResponseParseError("installation: the body is not a JSON object")

        return cls.from_json(document)


@dataclass(frozen=True, slots=True)
class InstallationPatch:
    """
    One JSON Patch operation on an installation (spec §8 lists the paths).

    Build them with the class methods, for example
    `InstallationPatch.add_tag("sports")` or `InstallationPatch.set_user_id("ann")`.
    """

    op: Literal["add", "remove", "replace"]
    path: str
    value: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """The operation as the service's JSON object."""
        document: dict[str, str | None] = {"op": self.op, "path": self.path}
        if self.op != "remove":
            document["value"] = self.value

        return document

    @classmethod
    def add_tag(cls, tag: str) -> InstallationPatch:
        """Add one tag."""
        return cls("add", "/tags", validate_tag(tag))

    @classmethod
    def remove_tag(cls, tag: str) -> InstallationPatch:
        """Remove one tag."""
        return cls("remove", f"/tags/{_pointer(validate_tag(tag))}")

    @classmethod
    def set_user_id(cls, user_id: str) -> InstallationPatch:
        """Set (or replace) the user id."""
        if not _USER_ID.fullmatch(user_id):
            raise InvalidNotificationError(
                "user_id may only use letters, digits and - _ @ # . : ="
            )

        return cls("add", "/userId", user_id)

    @classmethod
    def remove_user_id(cls) -> InstallationPatch:
        """Remove the user id."""
        return cls("remove", "/userId")

    @classmethod
    def set_push_channel(cls, push_channel: str) -> InstallationPatch:
        """Replace the device handle."""
        if not push_channel:
            raise InvalidNotificationError("push_channel must not be empty")

        return cls("add", "/pushChannel", push_channel)

    @classmethod
    def set_template(
        cls, name: str, template: InstallationTemplate
    ) -> InstallationPatch:
        """Add or replace a whole template (its value is a JSON string)."""
        return cls(
            "add", f"/templates/{_pointer(name)}", json.dumps(template.to_json())
        )

    @classmethod
    def remove_template(cls, name: str) -> InstallationPatch:
        """Remove a template."""
        return cls("remove", f"/templates/{_pointer(name)}")


def check_installation_id(installation_id: object) -> str:
    """
    Check an installation id before it is put in a URL.

    Raises:
        InvalidNotificationError: not a non-empty printable ASCII string.
    """
    if (
        not isinstance(installation_id, str)
        or not installation_id
        or len(installation_id) > _MAX_ID_LENGTH
        or not installation_id.isascii()
        or not installation_id.isprintable()
    ):
        raise InvalidNotificationError(
            f"installation_id must be 1-{_MAX_ID_LENGTH} printable ASCII characters"
        )

    return installation_id


def patch_body(operations: Iterable[InstallationPatch]) -> bytes:
    """
    Serialise patch operations.

    Raises:
        InvalidNotificationError: no operations.
    """
    documents = [operation.to_json() for operation in operations]
    if not documents:
        raise InvalidNotificationError("a patch needs at least one operation")

    return json.dumps(documents, separators=(",", ":")).encode()


def _pointer(segment: str) -> str:
    # RFC 6901: "~" and "/" inside a path segment are escaped.
    return segment.replace("~", "~0").replace("/", "~1")
